/**
 * Go's view of template data, over plain JavaScript values. Helm hands
 * templates `map[string]interface{}` trees from YAML, so the mapping is:
 *
 * | Go                         | here                                   |
 * | -------------------------- | -------------------------------------- |
 * | invalid value (no data)    | `undefined`                            |
 * | nil interface              | `null`                                 |
 * | int, int64                 | `bigint` (named `int` by typeOf)       |
 * | float64 (every YAML number)| `number`                               |
 * | string, bool               | `string`, `boolean`                    |
 * | []interface{}              | array                                  |
 * | map[string]interface{}     | plain object                           |
 * | struct with methods        | plain object whose methods are non-enumerable functions |
 *
 * Keeping ints and floats apart matters for output: Go prints the float64
 * 1000000 as `1e+06`, and `helm template` does exactly that.
 * @module
 */
import { execError } from "./errors.ts";

/** A template value: see the module table. */
export type Value = unknown;

/** A map as Helm sees it: `map[string]interface{}`. */
export type GoMap = Record<string, unknown>;

/** True for a plain map (not an array, not null, not bytes). */
export function isMap(value: Value): value is GoMap {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True for an int or a float. */
export function isNumber(value: Value): value is number | bigint {
  return typeof value === "number" || typeof value === "bigint";
}

/**
 * Attach methods to a data object without making them data: they are
 * non-enumerable, so ranging, `keys` and `toYaml` never see them, while field
 * access (`.Capabilities.APIVersions.Has "x"`) finds and calls them.
 */
export function withMethods<T extends object>(data: T, methods: Record<string, (...args: never[]) => unknown>): T {
  methodCarriers.add(data);
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(data, name, { value: fn, enumerable: false });
  }
  return data;
}

/** Objects given methods by {@link withMethods}. */
const methodCarriers: WeakSet<object> = new WeakSet();

/** Maps that carry methods (Helm's `Files`, a `map[string][]byte`): empty is false, like any map. */
export const mapsWithMethods: WeakSet<object> = new WeakSet();

/** A "struct": an object carrying methods, which Go never calls empty. */
function hasMethods(value: object): boolean {
  return methodCarriers.has(value) && !mapsWithMethods.has(value);
}

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false. */
export function truth(value: Value): boolean {
  if (value === undefined || value === null) return false;
  switch (typeof value) {
    case "boolean":
      return value;
    case "number":
      return value !== 0 && !Number.isNaN(value);
    case "bigint":
      return value !== 0n;
    case "string":
      return value.length > 0;
    case "function":
      return true;
  }
  if (Array.isArray(value) || value instanceof Uint8Array) return value.length > 0;
  if (typeof value === "object") return Object.keys(value).length > 0 || hasMethods(value);
  return true;
}

/** Sprig's `empty`: the opposite of truth. */
export function isEmpty(value: Value): boolean {
  return !truth(value);
}

/** `reflect.Kind` names, as Sprig's `kindOf` reports them. */
export function kindOf(value: Value): string {
  if (value === undefined || value === null) return "invalid";
  switch (typeof value) {
    case "boolean":
      return "bool";
    case "number":
      return "float64";
    case "bigint":
      // Go's int (literals, len, int, atoi) and int64 (add, mul, int64…) are one integer type here; most are ints.
      return "int";
    case "string":
      return "string";
    case "function":
      return "func";
  }
  if (Array.isArray(value) || value instanceof Uint8Array) return "slice";
  return isMap(value) && !hasMethods(value) ? "map" : "struct";
}

/** Lists and maps of a narrower Go type than `[]interface {}`/`map[string]interface {}` (`splitList`, `split`). */
const narrowTypes: WeakMap<object, string> = new WeakMap();

/** Mark a function's result with its Go type (`[]string`, `[]int`, `map[string]string`). */
export function typed<T extends object>(
  value: T,
  goType: "[]string" | "[]int" | "map[string]string" | "[][]interface {}",
): T {
  narrowTypes.set(value, goType);
  return value;
}

/** The narrower Go type of a list or map, if it has one. */
export function narrowType(value: Value): string | undefined {
  return typeof value === "object" && value !== null ? narrowTypes.get(value) : undefined;
}

/** Go type names, as Sprig's `typeOf` reports them. */
export function typeOf(value: Value): string {
  if (value === undefined || value === null) return "<nil>";
  const narrow = narrowType(value);
  if (narrow) return narrow;
  if (Array.isArray(value)) return "[]interface {}";
  if (value instanceof Uint8Array) return "[]uint8";
  const kind = kindOf(value);
  if (kind === "map") return "map[string]interface {}";
  return kind;
}

/**
 * `.name` on a value, with Helm's `missingkey=zero` rules: a missing map key
 * is nil; a field of nil is an error (Go's "nil pointer evaluating"); a field
 * of no data at all is no data.
 */
export function fieldOf(receiver: Value, name: string): Value {
  if (receiver === undefined) return undefined;
  if (receiver === null) throw execError(`nil pointer evaluating interface {}.${name}`);
  if (typeof receiver === "object" && !Array.isArray(receiver) && !(receiver instanceof Uint8Array)) {
    return Object.prototype.hasOwnProperty.call(receiver, name) ? (receiver as GoMap)[name] : null;
  }
  // A list with methods (Capabilities.APIVersions) is a Go type with a method set.
  if (Array.isArray(receiver) && Object.prototype.hasOwnProperty.call(receiver, name)) {
    const method = (receiver as unknown as GoMap)[name];
    if (typeof method === "function") return method;
  }
  throw execError(`can't evaluate field ${name} in type ${typeOf(receiver)}`);
}

/** Go's shortest `%v` of a float64: `3`, `0.5`, `1e+06`, `1.5e-07`. */
export function formatFloat(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const [mantissa, exponentText] = n.toExponential().split("e");
  const exponent = Number(exponentText);
  // strconv uses %e when the exponent is < -4 or >= 6 for the shortest form.
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? "-" : "+";
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return String(n);
}

/** Go's `strconv.FormatFloat(n, 'g', -1, 32)`: the shortest digits that read back as the same float32. */
export function formatFloat32(n: number): string {
  if (!Number.isFinite(n) || n === 0) return formatFloat(n);
  const target = Math.fround(n);
  let digits = "";
  for (let p = 1; p <= 9; p++) {
    digits = target.toPrecision(p);
    if (Math.fround(Number(digits)) === target) break;
  }
  const [mantissa, exponentText] = Number(digits).toExponential().split("e");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return String(Number(digits));
}

/** Go's `%v`: how `print`, `toString` and template output show a value. */
export function formatValue(value: Value): string {
  if (value === undefined || value === null) return "<nil>";
  switch (typeof value) {
    case "string":
      return value;
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return formatFloat(value);
    case "bigint":
      return value.toString();
    case "function":
      return "<func>";
  }
  if (Array.isArray(value)) return `[${value.map(formatValue).join(" ")}]`;
  if (value instanceof Uint8Array) return `[${Array.from(value).join(" ")}]`;
  const object = value as GoMap;
  if (typeof object.String === "function") return String((object.String as () => unknown)());
  const entries = Object.keys(object).sort().map((key) => `${key}:${formatValue(object[key])}`);
  return `map[${entries.join(" ")}]`;
}

/** Sprig's `strval`: strings as they are, bytes decoded, anything else `%v`. */
export function toStr(value: Value): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return formatValue(value);
}

/** Sprig's `toInt64` (spf13/cast): lenient, 0 when it cannot convert. */
export function toInt(value: Value): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") {
    // Go's float64 → int64 conversion out of range gives the minimum int64 (amd64).
    if (!Number.isFinite(value) || Math.abs(value) >= 2 ** 63) return Number.isNaN(value) ? 0n : -(2n ** 63n);
    return BigInt(Math.trunc(value));
  }
  if (typeof value === "boolean") return value ? 1n : 0n;
  if (typeof value === "string") {
    const text = value.trim().replace(/\.0*$/, "");
    if (/^[+-]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|\d+)$/.test(text)) {
      const negative = text.startsWith("-");
      const digits = text.replace(/^[+-]/, "");
      const octal = /^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits;
      const parsed = BigInt(octal);
      return negative ? -parsed : parsed;
    }
  }
  return 0n;
}

/** Sprig's `toFloat64`: lenient, 0 when it cannot convert. */
export function toFloat(value: Value): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "string") return parseGoFloat(value);
  return 0;
}

/**
 * strconv.ParseFloat as cast.ToFloat64 uses it, 0 where it fails: decimal only, no surrounding space (`floor " 7"`
 * is 0 in Sprig), no `0x10` or `0b1` integers; `inf`/`infinity`/`nan` in any case, signed.
 */
function parseGoFloat(text: string): number {
  // Underscores between digits are accepted (`1_000` is 1000), as strconv's underscoreOK allows.
  const plain = /(^|\D)_|_(\D|$)/.test(text) ? text : text.replaceAll("_", "");
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(plain)) return Number(plain);
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (!special) return 0;
  if (special[2].toLowerCase() === "nan") return NaN;
  return special[1] === "-" ? -Infinity : Infinity;
}

/** A JS number for indexes and counts (ints and floats alike). */
export function toIndex(value: Value, what: string): number {
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && /^-?\d+$/.test(value.trim())) return Number(value);
  throw execError(`cannot use ${typeOf(value)} as an integer ${what}`);
}

/** Go's text/template refuses to compare an int with a float (`eq 1 1.0`, `gt .Values.replicas 1`). */
function sameNumberKind(a: number | bigint, b: number | bigint): void {
  if (typeof a !== typeof b) throw execError("incompatible types for comparison");
}

/** Comparison keys of Go struct values compared by value (a `time.Time`: instant and zone), see {@link valuesEqual}. */
const structKeys: WeakMap<object, string> = new WeakMap();

/** Make `value` a Go struct that `eq` compares by `key` (equal keys, equal values). */
export function comparableAs<T extends object>(value: T, key: string): T {
  structKeys.set(value, key);
  return value;
}

type BasicKind = "bool" | "int" | "float" | "string" | "other";

function basicKind(value: Value): BasicKind {
  switch (typeof value) {
    case "boolean":
      return "bool";
    case "bigint":
      return "int";
    case "number":
      return "float";
    case "string":
      return "string";
  }
  return "other";
}

/** `reflect.Kind` of a non-basic value: slices and maps cannot be compared; structs and pointers can. */
function compositeKind(value: object): "slice" | "map" | "struct" | "func" {
  if (typeof value === "function") return "func";
  if (Array.isArray(value) || value instanceof Uint8Array) return "slice";
  if (mapsWithMethods.has(value) || !hasMethods(value)) return "map";
  return "struct";
}

/**
 * Go's `eq`/`ne` (text/template funcs.go): basic values of one kind compare by value (an int never with a
 * float: an error); nil equals only nil, and comparing nil with anything is no error; among other values,
 * structs and pointers compare (a time by its instant and zone, others by identity), maps and slices are an
 * error, as are two different kinds.
 */
export function valuesEqual(a: Value, b: Value): boolean {
  const nilA = a === undefined || a === null, nilB = b === undefined || b === null;
  const ka = basicKind(a), kb = basicKind(b);
  if (ka !== kb) {
    if (!nilA && !nilB) throw execError("incompatible types for comparison");
    return false;
  }
  if (ka !== "other") return a === b;
  if (nilA || nilB) return nilA && nilB;
  const ca = compositeKind(a as object), cb = compositeKind(b as object);
  if (ca !== cb) {
    throw execError(`non-comparable types ${formatValue(a)}: ${typeOf(a)}, ${typeOf(b)}: ${formatValue(b)}`);
  }
  if (ca !== "struct") throw execError(`non-comparable type ${formatValue(b)}: ${typeOf(b)}`);
  const keyA = structKeys.get(a as object), keyB = structKeys.get(b as object);
  return keyA !== undefined && keyB !== undefined ? keyA === keyB : a === b;
}

/** Go's `lt` for basic values: numbers with numbers, strings with strings. */
export function valuesLess(a: Value, b: Value): boolean {
  if (isNumber(a) && isNumber(b)) {
    sameNumberKind(a, b);
    return a < b;
  }
  if (typeof a === "string" && typeof b === "string") return a < b;
  if (typeof a === "boolean" || typeof b === "boolean" || a === null || b === null) {
    throw execError(`invalid type for comparison: ${typeOf(a)} and ${typeOf(b)}`);
  }
  throw execError(`incompatible types for comparison: ${typeOf(a)} and ${typeOf(b)}`);
}

/**
 * True for a map that is plain data, not a Go value with methods (`.Files`, `.Capabilities`, a time): those
 * are shared, never copied field by field, so a `merge` or `deepCopy` of the root keeps `.Files.Get`.
 */
export function isDataMap(value: Value): value is GoMap {
  return isMap(value) && !mapsWithMethods.has(value) && !hasMethods(value);
}

/** Deep copy of plain data (maps and lists), keeping scalars and Go values with methods as they are. */
export function deepCopy<T>(value: T): T {
  const narrow = narrowType(value);
  if (Array.isArray(value)) {
    if (hasMethods(value)) return value;
    const out = value.map(deepCopy);
    if (narrow) narrowTypes.set(out, narrow);
    return out as T;
  }
  if (isDataMap(value)) {
    const out: GoMap = {};
    for (const [key, item] of Object.entries(value)) out[key] = deepCopy(item);
    if (narrow) narrowTypes.set(out, narrow);
    return out as T;
  }
  return value;
}

/**
 * Plain data: methods and undefined vanish; ints become numbers, or stay bigints with `keepInts` (Go's encoders
 * write an int64 in full: `toJson`/`toYaml` of 9223372036854775807 must not round it to a double).
 */
export function toPlain(value: Value, keepInts = false): unknown {
  if (typeof value === "bigint") return keepInts ? value : Number(value);
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map((item) => toPlain(item, keepInts));
  if (value instanceof Uint8Array) return Array.from(value);
  if (typeof value === "object" && value !== null) {
    const out: GoMap = {};
    for (const key of Object.keys(value)) out[key] = toPlain((value as GoMap)[key], keepInts);
    return out;
  }
  return value;
}
