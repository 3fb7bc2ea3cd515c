/**
 * Go's template builtins and Sprig's flow, type and math functions.
 * @module
 */
import { execError, TemplateError } from "./errors.ts";
import type { TemplateFunction } from "./evaluate.ts";
import { goSprint, goSprintf, goSprintln } from "./format.ts";
import {
  formatValue,
  type GoMap,
  isEmpty,
  isMap,
  kindOf,
  narrowType,
  toFloat,
  toIndex,
  toInt,
  toStr,
  truth,
  typed,
  typeOf,
  type Value,
  valuesEqual,
  valuesLess,
} from "./gotypes.ts";

function arity(name: string, args: Value[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    throw execError(`wrong number of args for ${name}: want ${min === max ? min : `${min}-${max}`} got ${args.length}`);
  }
}

function length(value: Value): bigint {
  if (typeof value === "string") return BigInt(new TextEncoder().encode(value).length);
  if (Array.isArray(value) || value instanceof Uint8Array) return BigInt(value.length);
  if (isMap(value)) return BigInt(Object.keys(value).length);
  if (value === undefined || value === null) throw execError("len of nil pointer");
  throw execError(`len of type ${typeOf(value)}`);
}

function indexOne(item: Value, key: Value): Value {
  if (item === undefined || item === null) throw execError("index of untyped nil");
  if (Array.isArray(item) || typeof item === "string") {
    const i = toIndex(key, "index");
    if (i < 0 || i >= item.length) throw execError(`index out of range: ${i}`);
    return typeof item === "string" ? BigInt(new TextEncoder().encode(item)[i]) : item[i];
  }
  if (isMap(item)) {
    const name = toStr(key);
    if (Object.prototype.hasOwnProperty.call(item, name)) return item[name];
    // A missing key gives the map's zero element: "" from a map[string]string (split), nil otherwise.
    return narrowType(item) === "map[string]string" ? "" : null;
  }
  throw execError(`can't index item of type ${typeOf(item)}`);
}

/** Go's `slice`, also Sprig's list `slice`. */
function sliceOf(item: Value, ...bounds: Value[]): Value {
  if (typeof item !== "string" && !Array.isArray(item)) throw execError(`can't slice item of type ${typeOf(item)}`);
  const start = bounds.length > 0 ? toIndex(bounds[0], "slice bound") : 0;
  const end = bounds.length > 1 ? toIndex(bounds[1], "slice bound") : item.length;
  if (start < 0 || end < start || end > item.length) throw execError(`slice bounds out of range [${start}:${end}]`);
  return item.slice(start, end);
}

function htmlEscape(text: string): string {
  return text.replace(
    /[&'<>"\0]/g,
    (c) => ({ "&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "\0": "\uFFFD" })[c]!,
  );
}

function jsEscape(text: string): string {
  return text.replace(/[\\'"<>&=\n\r\t]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`)
    .replace(/\\u005C/g, "\\\\").replace(/\\u0027/g, "\\'").replace(/\\u0022/g, '\\"');
}

function compare(name: string, test: (a: Value, b: Value) => boolean): TemplateFunction {
  return (...args) => {
    arity(name, args, 2);
    return test(args[0], args[1]);
  };
}

/** A result as Go's int64 holds it: wrapped around at 64 bits. */
function int64(n: bigint): bigint {
  return BigInt.asIntN(64, n);
}

function numbers(args: Value[]): bigint[] {
  return args.map(toInt);
}

/**
 * Sprig's `round`: the fraction as math.Modf gives it (negative below zero) decides between Ceil and Floor, so a
 * negative number never reaches `roundOn` and always goes down: `round -0.4 0` is -1, `round -2.5 0` is -3.
 */
function round(value: Value, precision: Value = 0n, roundOn: Value = 0.5): number {
  const p = Math.pow(10, Number(toInt(precision)));
  const scaled = toFloat(value) * p;
  const fraction = scaled - Math.trunc(scaled);
  return (fraction >= toFloat(roundOn) ? Math.ceil(scaled) : Math.floor(scaled)) / p;
}

function deepEqual(a: Value, b: Value): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  if (typeof a !== typeof b) return false;
  return a === b;
}

/** Builtins of text/template plus Sprig's flow control, types, conversions and math. */
export const coreFunctions: Record<string, TemplateFunction> = {
  // text/template builtins (and/or are lazy and live in the evaluator)
  not: (...args) => {
    arity("not", args, 1);
    return !truth(args[0]);
  },
  len: (...args) => {
    arity("len", args, 1);
    return length(args[0]);
  },
  index: (item, ...keys) => keys.reduce(indexOne, item),
  slice: sliceOf,
  print: (...args) => goSprint(args),
  printf: (format, ...args) => goSprintf(toStr(format), args),
  println: (...args) => goSprintln(args),
  html: (...args) => htmlEscape(goSprint(args)),
  js: (...args) => jsEscape(goSprint(args)),
  urlquery: (...args) => encodeURIComponent(goSprint(args)).replace(/%20/g, "+"),
  eq: (a, ...rest) => {
    if (rest.length === 0) throw execError("missing argument for comparison");
    return rest.some((b) => valuesEqual(a, b));
  },
  ne: compare("ne", (a, b) => !valuesEqual(a, b)),
  lt: compare("lt", valuesLess),
  le: compare("le", (a, b) => valuesLess(a, b) || valuesEqual(a, b)),
  gt: compare("gt", (a, b) => valuesLess(b, a)),
  ge: compare("ge", (a, b) => !valuesLess(a, b)),

  // Sprig: defaults and flow
  default: (fallback, ...given) => (given.length === 0 || isEmpty(given[0]) ? fallback : given[0]),
  empty: (value) => isEmpty(value),
  coalesce: (...args) => args.find((arg) => !isEmpty(arg)) ?? null,
  all: (...args) => args.every(truth),
  any: (...args) => args.some(truth),
  ternary: (whenTrue, whenFalse, condition) => (truth(condition) ? whenTrue : whenFalse),
  fail: (message) => {
    throw new TemplateError("fail", toStr(message));
  },

  // Sprig: types
  kindOf: (value) => kindOf(value),
  kindIs: (kind, value) => kindOf(value) === toStr(kind),
  typeOf: (value) => typeOf(value),
  typeIs: (type, value) => typeOf(value) === toStr(type),
  typeIsLike: (type, value) => typeOf(value) === toStr(type) || `*${typeOf(value)}` === toStr(type),
  deepEqual: (a, b) => deepEqual(a, b),

  // Sprig: conversions
  int: (value) => toInt(value),
  int64: (value) => toInt(value),
  float64: (value) => toFloat(value),
  atoi: (value) => (/^[+-]?\d+$/.test(toStr(value).trim()) ? BigInt(toStr(value).trim()) : 0n),
  toString: (value: Value) => toStr(value),
  toStrings: (value) =>
    typed(
      Array.isArray(value)
        ? value.filter((v) => v !== null && v !== undefined).map(toStr)
        : value === null
        ? []
        : [toStr(value)],
      "[]string",
    ),
  toDecimal: (value) => (/^[0-7]+$/.test(toStr(value)) ? BigInt(`0o${toStr(value)}`) : 0n),

  // Sprig: integer math (int64) and float math
  // Go's int64 arithmetic wraps around (a huge float read as int64 is its minimum, and doubling that is 0).
  add: (...args) => numbers(args).reduce((a, b) => int64(a + b), 0n),
  add1: (value) => int64(toInt(value) + 1n),
  sub: (a, b) => int64(toInt(a) - toInt(b)),
  mul: (...args) => numbers(args).reduce((a, b) => int64(a * b), 1n),
  div: (a, b) => {
    if (toInt(b) === 0n) throw execError("integer divide by zero");
    return int64(toInt(a) / toInt(b));
  },
  mod: (a, b) => {
    if (toInt(b) === 0n) throw execError("integer divide by zero");
    return int64(toInt(a) % toInt(b));
  },
  max: (...args) => numbers(args).reduce((a, b) => (b > a ? b : a)),
  min: (...args) => numbers(args).reduce((a, b) => (b < a ? b : a)),
  // Sprig computes these with shopspring/decimal, which has no negative zero.
  addf: (...args) => noNegativeZero(args.map(toFloat).reduce((a, b) => a + b, 0)),
  add1f: (value) => toFloat(value) + 1,
  subf: (first, ...rest) => noNegativeZero(rest.map(toFloat).reduce((a, b) => a - b, toFloat(first))),
  mulf: (...args) => noNegativeZero(args.map(toFloat).reduce((a, b) => a * b, 1)),
  divf: (first, ...rest) => noNegativeZero(rest.map(toFloat).reduce((a, b) => a / b, toFloat(first))),
  maxf: (...args) => Math.max(...args.map(toFloat)),
  minf: (...args) => Math.min(...args.map(toFloat)),
  floor: (value) => Math.floor(toFloat(value)),
  ceil: (value) => Math.ceil(toFloat(value)),
  round: (value, precision, roundOn) => round(value, precision, roundOn),
};

function noNegativeZero(n: number): number {
  return Object.is(n, -0) ? 0 : n;
}

/** A value as a map (nil is Go's nil map: empty), or an error naming the function. */
export function asMap(name: string, value: Value): GoMap {
  if (value === null || value === undefined) return {};
  if (!isMap(value)) throw execError(`${name}: expected a map, got ${typeOf(value)} ${formatValue(value)}`);
  return value;
}

/** Sprig's aliases and the rest of its math: `tuple`, `mustSlice`, `biggest`, `randInt`. */
Object.assign(coreFunctions, {
  tuple: (...items: Value[]) => items,
  call: (fn: Value, ...args: Value[]) => {
    if (typeof fn !== "function") throw execError(`call of non-function ${typeOf(fn)}`);
    return fn(...args);
  },
  mustSlice: sliceOf,
  biggest: coreFunctions.max,
  randInt: (min: Value, max: Value) => {
    const low = Number(toInt(min)), span = Number(toInt(max)) - low;
    if (span <= 0) throw execError("invalid argument to Intn");
    return BigInt(low + (crypto.getRandomValues(new Uint32Array(1))[0] % span));
  },
});
