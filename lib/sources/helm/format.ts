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

/** Go's `strconv.Quote`: double quotes, escapes for controls and non-printables. */
export function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (NAMED_ESCAPES[char]) out += NAMED_ESCAPES[char];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if ((code >= 0x80 && code <= 0x9f) || code === 0xad || code === 0x2028 || code === 0x2029 || code === 0xfeff) {
      out += `\\u${code.toString(16).padStart(4, "0")}`;
    } else out += char;
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
  space: boolean;
  zero: boolean;
  width?: number;
  precision?: number;
  verb: string;
}

function bad(verb: string, value: Value): string {
  if (value === undefined || value === null) return `%!${verb}(<nil>)`;
  return `%!${verb}(${typeOf(value)}=${formatValue(value)})`;
}

function withSign(text: string, d: Directive): string {
  if (text.startsWith("-")) return text;
  return d.plus ? `+${text}` : d.space ? ` ${text}` : text;
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
      return String.fromCodePoint(Number(value));
    case "q":
      return `'${String.fromCodePoint(Number(value))}'`;
    case "U":
      return `U+${magnitude.toString(16).toUpperCase().padStart(4, "0")}`;
    default:
      return bad(d.verb, value);
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
      text = value.toFixed(precision ?? 6);
      break;
    case "e":
    case "E": {
      const [mantissa, exponent] = value.toExponential(precision ?? 6).split("e");
      const sign = exponent.startsWith("-") ? "-" : "+";
      text = `${mantissa}e${sign}${exponent.replace(/^[+-]/, "").padStart(2, "0")}`;
      if (d.verb === "E") text = text.toUpperCase();
      break;
    }
    case "g":
    case "G":
    case "v":
      text = precision === undefined ? formatFloat(value) : String(Number(value.toPrecision(precision)));
      if (d.verb === "G") text = text.toUpperCase();
      break;
    default:
      return bad(d.verb, value);
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
      return bad(d.verb, value);
  }
}

/** One value under one verb, before padding. */
function formatOne(value: Value, d: Directive): string {
  if (d.verb === "T") return typeOf(value);
  if (d.verb === "v" && d.precision === undefined && typeof value !== "number") return formatValue(value);
  if (typeof value === "string") return formatString(value, d);
  if (typeof value === "bigint") return formatInteger(value, d);
  if (typeof value === "number") return formatFloatVerb(value, d);
  if (typeof value === "boolean") return d.verb === "t" || d.verb === "v" ? String(value) : bad(d.verb, value);
  if (value instanceof Uint8Array && (d.verb === "s" || d.verb === "q" || d.verb === "x")) {
    return formatString(new TextDecoder().decode(value), d);
  }
  // Go formats slices and maps element by element under the same verb.
  if (Array.isArray(value)) return `[${value.map((item) => formatOne(item, d)).join(" ")}]`;
  if (isMap(value)) {
    const map = value as GoMap;
    const keys = Object.keys(map).sort();
    return `map[${keys.map((key) => `${formatOne(key, d)}:${formatOne(map[key], d)}`).join(" ")}]`;
  }
  return bad(d.verb, value);
}

function pad(text: string, d: Directive): string {
  if (d.width === undefined || text.length >= d.width) return text;
  const fill = d.width - text.length;
  if (d.minus) return text + " ".repeat(fill);
  if (d.zero && /^[+-]?[0-9.]/.test(text) && d.verb !== "s" && d.verb !== "q") {
    const sign = /^[+-]/.test(text) ? text[0] : "";
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
    if (d.verb === "%") {
      out += "%";
      continue;
    }
    if (next >= args.length) {
      out += `%!${d.verb}(MISSING)`;
      continue;
    }
    out += pad(formatOne(args[next++], d), d);
  }
  if (next < args.length) {
    out += `%!(EXTRA ${args.slice(next).map((arg) => `${typeOf(arg)}=${formatValue(arg)}`).join(", ")})`;
  }
  return out;
}
