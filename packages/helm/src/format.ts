/**
 * Go's fmt as templates meet it: `printf`, `print`, `println` and `%q`
 * quoting, including Go's `%!d(float64=3)` for a verb that does not fit its
 * value — what `helm template` prints is what gets deployed.
 * @module
 */
import { formatFloat, formatValue, type GoMap, isMap, typeOf, type Value } from "./gotypes.ts";

const NAMED_ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  "\\": "\\\\",
  '"': '\\"',
};

/**
 * Go's `strconv.IsPrint` is `unicode.IsPrint`: letters, marks, numbers, punctuation and symbols, and the ASCII
 * space — every other space (U+00A0, U+3000), format character (U+200B, U+00AD), private-use or unassigned code
 * point is escaped by `strconv.Quote` and `%q`.
 */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's `strconv.Quote`: double quotes, escapes for controls and non-printables. */
export function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (NAMED_ESCAPES[char]) out += NAMED_ESCAPES[char];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code < 0x80 || PRINTABLE.test(char)) out += char;
    else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += `\\U${code.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}

/** Go's `fmt.Sprint`: spaces only between operands when neither is a string. */
export function goSprint(args: Value[]): string {
  let out = "";
  args.forEach((arg, i) => {
    if (i > 0 && typeof arg !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += formatValue(arg);
  });
  return out;
}

/** Go's `fmt.Sprintln`: spaces between all operands, newline at the end. */
export function goSprintln(args: Value[]): string {
  return `${args.map(formatValue).join(" ")}\n`;
}

interface Directive {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  sharpV?: boolean;
  space: boolean;
  zero: boolean;
  width?: number;
  precision?: number;
  verb: string;
}

/** Go's `%!d(string=x)`: the value printed with `%v` under the directive's flags and width. */
function bad(d: Directive, value: Value): string {
  if (value === undefined || value === null) return `%!${d.verb}(<nil>)`;
  return `%!${d.verb}(${typeOf(value)}=${formatOne(value, { ...d, verb: "v" })})`;
}

/** Round a decimal digit string at `keep` digits after the point, half to even (Go's strconv on exact values). */
function roundDecimal(exact: string, keep: number): string {
  const negative = exact.startsWith("-");
  const [int, frac = ""] = exact.replace("-", "").split(".");
  const digits = int + frac.padEnd(keep, "0");
  const cut = int.length + keep;
  const head = digits.slice(0, cut), tail = digits.slice(cut);
  let up = false;
  if (tail.length > 0) {
    if (tail[0] > "5") up = true;
    else if (tail[0] === "5") up = /[1-9]/.test(tail.slice(1)) || Number(head[head.length - 1] ?? "0") % 2 === 1;
  }
  let n = BigInt(head || "0") + (up ? 1n : 0n);
  let text = n.toString().padStart(keep + 1, "0");
  text = keep > 0 ? `${text.slice(0, -keep)}.${text.slice(-keep)}` : text;
  n = 0n;
  return (negative && /[1-9]/.test(text) ? "-" : negative ? "-" : "") + text;
}

/** `%.Nf` as Go prints it: the exact binary value, rounded half to even. */
function fixed(value: number, precision: number): string {
  if (!Number.isFinite(value)) return formatFloat(value);
  // toFixed drops the sign of -0 (ceil -0.5); Go's fmt keeps it: "-0.0".
  if (Object.is(value, -0)) return `-${fixed(0, precision)}`;
  return roundDecimal(value.toFixed(Math.min(100, precision + 30)), precision);
}

/** `%.Ne` as Go prints it. */
function exponential(value: number, precision: number): string {
  if (!Number.isFinite(value)) return formatFloat(value);
  if (value === 0) return `${Object.is(value, -0) ? "-" : ""}${(0).toFixed(precision)}e+00`;
  let exponent = Math.floor(Math.log10(Math.abs(value)));
  let mantissa = roundDecimal((value / 10 ** exponent).toFixed(Math.min(100, precision + 20)), precision);
  if (/^-?10/.test(mantissa)) {
    exponent++;
    mantissa = roundDecimal((value / 10 ** exponent).toFixed(Math.min(100, precision + 20)), precision);
  }
  if (/^-?0\./.test(mantissa) || /^-?0$/.test(mantissa)) {
    exponent--;
    mantissa = roundDecimal((value / 10 ** exponent).toFixed(Math.min(100, precision + 20)), precision);
  }
  return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

/** `%.Ng`: N significant digits, exponent form when the exponent is < -4 or >= N, trailing zeros dropped. */
function generalPrecision(value: number, precision: number): string {
  if (!Number.isFinite(value) || value === 0) return formatFloat(value);
  const e = exponential(value, precision - 1);
  const exponent = Number(e.slice(e.indexOf("e") + 1));
  const trim = (t: string) => (t.includes(".") ? t.replace(/0+$/, "").replace(/\.$/, "") : t);
  if (exponent < -4 || exponent >= precision) return trim(e.slice(0, e.indexOf("e"))) + e.slice(e.indexOf("e"));
  return trim(fixed(value, precision - 1 - exponent));
}

/** Go's `%x` of a float: `0x1.8p+00` (shortest hex mantissa). */
function hexFloat(value: number, upper: boolean): string {
  if (!Number.isFinite(value)) return formatFloat(value);
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  let m = Math.abs(value), e = 0;
  if (m !== 0) {
    e = Math.floor(Math.log2(m));
    if (m / 2 ** e >= 2) e++;
    if (m / 2 ** e < 1) e--;
    m = m / 2 ** e;
  }
  let digits = "";
  let frac = m === 0 ? 0 : m - 1;
  while (frac > 0 && digits.length < 13) {
    frac *= 16;
    const d = Math.floor(frac);
    digits += d.toString(16);
    frac -= d;
  }
  const text = `${sign}0x${m === 0 ? 0 : 1}${digits ? `.${digits}` : ""}p${e < 0 ? "-" : "+"}${
    String(Math.abs(e)).padStart(2, "0")
  }`;
  return upper ? text.toUpperCase() : text;
}

function withSign(text: string, d: Directive): string {
  if (text.startsWith("-")) return text;
  return d.plus ? `+${text}` : d.space ? ` ${text}` : text;
}

/** A rune as text; an invalid code point is U+FFFD, as Go prints it. */
function runeText(value: bigint): string {
  const n = Number(value);
  return n < 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff) ? "\ufffd" : String.fromCodePoint(n);
}

function formatInteger(value: bigint, d: Directive): string {
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  let digits: string;
  switch (d.verb) {
    case "d":
    case "v":
      digits = magnitude.toString(10);
      break;
    case "x":
      digits = (d.sharp ? "0x" : "") + magnitude.toString(16);
      break;
    case "X":
      digits = (d.sharp ? "0X" : "") + magnitude.toString(16).toUpperCase();
      break;
    case "o":
      digits = (d.sharp ? "0" : "") + magnitude.toString(8);
      break;
    case "O":
      digits = `0o${magnitude.toString(8)}`;
      break;
    case "b":
      digits = magnitude.toString(2);
      break;
    case "c":
      return runeText(value);
    case "q": {
      // Go's fmtQc: a value that is not a Unicode code point (negative, a surrogate, past U+10FFFF) is U+FFFD.
      const valid = value >= 0n && value <= 0x10ffffn && !(value >= 0xd800n && value <= 0xdfffn);
      const rune = String.fromCodePoint(valid ? Number(value) : 0xfffd);
      return `'${goQuote(rune).slice(1, -1).replace(/^\\"$/, '"').replace(/^'$/, "\\'")}'`;
    }
    case "U":
      return `U+${(negative ? (1n << 64n) + value : value).toString(16).toUpperCase().padStart(4, "0")}`;
    default:
      return bad(d, value);
  }
  if (d.precision !== undefined) digits = digits.padStart(d.precision, "0");
  return withSign(negative ? `-${digits}` : digits, d);
}

function formatFloatVerb(value: number, d: Directive): string {
  const precision = d.precision;
  let text: string;
  switch (d.verb) {
    case "f":
    case "F":
      text = fixed(value, precision ?? 6);
      break;
    case "e":
    case "E": {
      text = exponential(value, precision ?? 6);
      if (d.verb === "E") text = text.toUpperCase();
      break;
    }
    case "g":
    case "G":
    case "v":
      text = precision === undefined ? formatFloat(value) : generalPrecision(value, Math.max(precision, 1));
      if (d.verb === "G") text = text.toUpperCase();
      break;
    case "x":
    case "X":
      text = hexFloat(value, d.verb === "X");
      break;
    default:
      return bad(d, value);
  }
  return withSign(text, d);
}

function formatString(value: string, d: Directive): string {
  const text = d.precision !== undefined ? Array.from(value).slice(0, d.precision).join("") : value;
  switch (d.verb) {
    case "s":
    case "v":
      return text;
    case "q":
      return goQuote(text);
    case "x":
    case "X": {
      const hex = Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
      return d.verb === "X" ? hex.toUpperCase() : hex;
    }
    default:
      return bad(d, value);
  }
}

/** A leaf value under one verb, padded to the width (a bad verb pads inside its parentheses). */
function formatLeaf(value: Value, d: Directive): string {
  if (value === undefined || value === null) return "<nil>";
  const numeric = typeof value === "bigint" || typeof value === "number";
  if (d.verb === "v" && d.sharpV) return pad(goSyntax(value), d, numeric);
  if (d.verb === "v" && d.precision === undefined && typeof value !== "number") {
    return pad(formatValue(value), d, numeric);
  }
  let text: string;
  if (typeof value === "string") text = formatString(value, d);
  else if (typeof value === "bigint") text = formatInteger(value, d);
  else if (typeof value === "number") text = formatFloatVerb(value, d);
  else if (typeof value === "boolean") text = d.verb === "t" || d.verb === "v" ? String(value) : bad(d, value);
  else if (value instanceof Uint8Array && (d.verb === "s" || d.verb === "q" || d.verb === "x")) {
    text = formatString(new TextDecoder().decode(value), d);
  } else text = bad(d, value);
  return text.startsWith("%!") ? text : pad(text, d, numeric);
}

/** Go's `%#v`: Go syntax, as for a value inside an interface{}. */
function goSyntax(value: Value, inside = false): string {
  if (value === undefined || value === null) return inside ? "interface {}(nil)" : "<nil>";
  if (typeof value === "string") return goQuote(value);
  if (typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (typeof value === "number") return formatFloat(value);
  if (Array.isArray(value)) {
    const type = typeOf(value);
    return `${type}{${value.map((item) => goSyntax(item, type === "[]interface {}")).join(", ")}}`;
  }
  if (isMap(value)) {
    const type = typeOf(value);
    const inner = Object.keys(value).sort().map((k) =>
      `${goQuote(k)}:${goSyntax(value[k], type.endsWith("interface {}"))}`
    );
    return `${type}{${inner.join(", ")}}`;
  }
  return formatValue(value);
}

/** One value under one verb: Go formats slices and maps element by element, each element padded. */
function formatOne(value: Value, d: Directive): string {
  if (d.verb === "T") return pad(typeOf(value), d, false);
  if (d.sharpV) return formatLeaf(value, d);
  if (Array.isArray(value)) return `[${value.map((item) => formatOne(item, d)).join(" ")}]`;
  if (isMap(value) && (d.verb !== "v" || d.precision !== undefined)) {
    const map = value as GoMap;
    const keys = Object.keys(map).sort();
    return `map[${keys.map((key) => `${formatOne(key, d)}:${formatOne(map[key], d)}`).join(" ")}]`;
  }
  return formatLeaf(value, d);
}

/** A top-level operand: nil is `<nil>` only under %v (and %T); elsewhere a bad verb. */
function formatOperand(value: Value, d: Directive): string {
  if ((value === undefined || value === null) && d.verb !== "v" && d.verb !== "T") return `%!${d.verb}(<nil>)`;
  return formatOne(value, d);
}

/**
 * Go's padding: spaces, or with `0` zeros — after the sign for a number, plainly on the left for anything else
 * (`%03d` of the string "-1" is `%!d(string=0-1)`, as Go up to 1.22 writes it).
 */
function pad(text: string, d: Directive, numeric: boolean): string {
  const length = Array.from(text).length;
  if (d.width === undefined || length >= d.width) return text;
  const fill = d.width - length;
  if (d.minus) return text + " ".repeat(fill);
  if (d.zero) {
    const sign = numeric && /^[+-]/.test(text) ? text[0] : "";
    return sign + "0".repeat(fill) + text.slice(sign.length);
  }
  return " ".repeat(fill) + text;
}

/** Go's `fmt.Sprintf` for the verbs templates use. */
export function goSprintf(format: string, args: Value[]): string {
  let out = "";
  let next = 0;
  let i = 0;
  while (i < format.length) {
    const percent = format.indexOf("%", i);
    if (percent === -1) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, percent);
    i = percent + 1;
    const d: Directive = { minus: false, plus: false, sharp: false, space: false, zero: false, verb: "" };
    for (; i < format.length && "-+# 0".includes(format[i]); i++) {
      if (format[i] === "-") d.minus = true;
      else if (format[i] === "+") d.plus = true;
      else if (format[i] === "#") d.sharp = true;
      else if (format[i] === " ") d.space = true;
      else d.zero = true;
    }
    const takeNumber = (): number | undefined => {
      if (format[i] === "*") {
        i++;
        const arg = args[next++];
        return typeof arg === "bigint" ? Number(arg) : undefined;
      }
      const match = /^\d+/.exec(format.slice(i));
      if (!match) return undefined;
      i += match[0].length;
      return Number(match[0]);
    };
    d.width = takeNumber();
    if (format[i] === ".") {
      i++;
      d.precision = takeNumber() ?? 0;
    }
    if (i >= format.length) {
      out += "%!(NOVERB)";
      break;
    }
    d.verb = String.fromCodePoint(format.codePointAt(i)!);
    i += d.verb.length;
    // Under %v, `+` asks for struct field names and `#` for Go syntax: neither signs a number.
    if (d.verb === "v") {
      d.sharpV = d.sharp;
      d.sharp = d.plus = false;
    }
    if (d.verb === "%") {
      out += "%";
      continue;
    }
    if (next >= args.length) {
      out += `%!${d.verb}(MISSING)`;
      continue;
    }
    out += formatOperand(args[next++], d);
  }
  if (next < args.length) {
    const extra = args.slice(next).map((
      arg,
    ) => (arg === null || arg === undefined ? "<nil>" : `${typeOf(arg)}=${formatValue(arg)}`));
    out += `%!(EXTRA ${extra.join(", ")})`;
  }
  return out;
}
