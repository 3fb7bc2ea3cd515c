/**
 * YAML read as Helm reads it: sigs.k8s.io/yaml, i.e. go-yaml v2 into
 * `interface{}`, then through JSON. The `yaml` library parses (its syntax
 * tree is exact), but every plain scalar is resolved here by a port of
 * yaml.v2's `resolve()` rather than by the library's YAML 1.1 schema, which
 * differs on the forms charts actually write: a bare `.` (CoreDNS's
 * `zone: .`) is a string to Go and NaN to YAML 1.1; `09` is the float 9;
 * `1e3` is a float; `1:20` (sexagesimal) and timestamps stay strings; `0o17`
 * is 15; `y`/`n` are booleans. Merge keys (`<<`) apply in document order as
 * yaml.v2 does (a merge overwrites keys written before it). Map keys become
 * strings as sigs.k8s.io/yaml writes them (floats with 32-bit precision).
 * Every number is a float64 afterwards (the JSON step), here a JS `number`.
 * @module
 */
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type Node, parseAllDocuments, Scalar } from "yaml";
import { formatFloat32 } from "./gotypes.ts";

const STR = "tag:yaml.org,2002:str";
const BINARY = "tag:yaml.org,2002:binary";
const MERGE = "tag:yaml.org,2002:merge";

/** A resolved scalar: its value, and whether yaml.v2 saw an int (map keys print ints and floats differently). */
interface Resolved {
  value: unknown;
  int?: boolean;
}

const MAP: Record<string, unknown> = {};
for (const s of ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]) MAP[s] = true;
for (const s of ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]) MAP[s] = false;
for (const s of ["", "~", "null", "Null", "NULL"]) MAP[s] = null;
for (const s of [".nan", ".NaN", ".NAN"]) MAP[s] = NaN;
for (const s of [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"]) MAP[s] = Infinity;
for (const s of ["-.inf", "-.Inf", "-.INF"]) MAP[s] = -Infinity;

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const INT64_MAX = 9223372036854775807n, INT64_MIN = -9223372036854775808n, UINT64_MAX = 18446744073709551615n;

/** The magnitude Go's base-0 integer syntax gives (`0x1f`, `0o17`, `017`, `0b101`, `17`); undefined if none. */
function goIntMagnitude(digits: string): bigint | undefined {
  if (!/^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.test(digits)) return undefined;
  return BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits);
}

/** Go's `strconv.ParseInt(s, 0, 64)` (underscores already removed); undefined when it fails. */
function parseGoInt(s: string): bigint | undefined {
  const sign = s[0] === "-" ? -1n : 1n;
  const n = goIntMagnitude(/^[-+]/.test(s) ? s.slice(1) : s);
  if (n === undefined) return undefined;
  const v = n * sign;
  return v >= INT64_MIN && v <= INT64_MAX ? v : undefined;
}

/** Go's `strconv.ParseUint(s, 0, 64)`: no sign. */
function parseGoUint(s: string): bigint | undefined {
  const n = goIntMagnitude(s);
  return n !== undefined && n <= UINT64_MAX ? n : undefined;
}

/** Go's `strconv.ParseFloat` for the decimal forms yaml.v2 hands it; out of range is a failure. */
function parseGoFloat(s: string): number | undefined {
  // Go accepts `_` between digits in a float literal.
  if (/(^|[^0-9])_|_($|[^0-9])/.test(s)) return undefined;
  const plain = s.replaceAll("_", "");
  if (!/^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/.test(plain)) return undefined;
  const n = Number(plain);
  return Number.isFinite(n) ? n : undefined;
}

/** yaml.v2's `resolve("", in)` for a plain scalar. */
export function resolvePlain(text: string): Resolved {
  if (text in MAP) return { value: MAP[text] };
  const c = text[0];
  if (c === ".") {
    const f = parseGoFloat(text);
    return { value: f ?? text };
  }
  if (c === "+" || c === "-" || (c >= "0" && c <= "9")) {
    const plain = text.replaceAll("_", "");
    const i = parseGoInt(plain);
    if (i !== undefined) return { value: Number(i), int: true };
    const u = parseGoUint(plain);
    if (u !== undefined) return { value: Number(u), int: true };
    if (YAML_STYLE_FLOAT.test(plain)) {
      const n = Number(plain);
      if (Number.isFinite(n)) return { value: n };
    }
    const bin = /^(-?)0b([01]+)$/.exec(plain);
    if (bin) {
      const n = BigInt(`0b${bin[2]}`) * (bin[1] ? -1n : 1n);
      if (n >= INT64_MIN && n <= UINT64_MAX) return { value: Number(n), int: true };
    }
  }
  return { value: text };
}

class GoYamlError extends Error {}

function scalar(w: Walk, node: Scalar): Resolved {
  let source = typeof node.source === "string" ? node.source : String(node.value ?? "");
  // libyaml ends a block scalar that runs to the end of unterminated input without a line break; the yaml
  // library adds one. Templates hit this every time: `toYaml` output has no final newline, `fromYaml` reads it.
  const block = node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED;
  if (block && !w.text.endsWith("\n") && node.range && node.range[1] >= w.text.length) {
    source = source.replace(/\n$/, "");
  }
  const tag = node.tag;
  if (tag === STR || tag === "!") return { value: source };
  if (tag === BINARY) {
    try {
      return {
        value: new TextDecoder().decode(Uint8Array.from(atob(source.replace(/\s/g, "")), (x) => x.charCodeAt(0))),
      };
    } catch {
      throw new GoYamlError(`cannot decode !!binary \`${source}\``);
    }
  }
  if (tag && !tag.startsWith("tag:yaml.org,2002:")) return { value: source }; // an application tag: the text
  if (!tag && node.type !== Scalar.PLAIN) return { value: source };
  return resolvePlain(source);
}

/** sigs.k8s.io/yaml's JSON key for a resolved key. */
function keyText(key: Resolved): string {
  const v = key.value;
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return key.int ? String(v) : formatFloat32(v);
  if (v === null) throw new GoYamlError("Unsupported map key of type: %!s(<nil>)");
  throw new GoYamlError("Unsupported map key: a map or list");
}

interface Walk {
  doc: Document.Parsed;
  text: string;
  depth: number;
  /** The collections being decoded, outermost first: one met again is an anchor holding an alias of itself. */
  open?: Set<unknown>;
  /** The maps whose pairs are being decoded (their own or merged in): one met again merges itself. */
  merging?: Set<unknown>;
}

function resolveAlias(w: Walk, node: unknown): unknown {
  let n = node;
  for (let i = 0; isAlias(n) && i < 100; i++) n = (n as { resolve(doc: Document): unknown }).resolve(w.doc);
  if (isAlias(n)) throw new GoYamlError("anchor cycle");
  return n;
}

function goValue(w: Walk, node: unknown): unknown {
  if (++w.depth > 1_000) throw new GoYamlError("document nests too deep (or aliases expand too far)");
  try {
    const n = resolveAlias(w, node);
    if (n === null || n === undefined) return null;
    if (isScalar(n)) return scalar(w, n as Scalar).value;
    if (isSeq(n) || isMap(n)) return collection(w, n);
    throw new GoYamlError("unexpected YAML node");
  } finally {
    w.depth--;
  }
}

/** A sequence or map, refused when it contains itself (yaml.v2: "anchor value contains itself"). */
function collection(w: Walk, n: unknown): unknown {
  const open = w.open ??= new Set();
  if (open.has(n)) throw new GoYamlError("anchor value contains itself");
  open.add(n);
  try {
    if (isSeq(n)) return n.items.map((item) => goValue(w, item));
    const out: Record<string, unknown> = {};
    mapInto(w, n as { items: unknown[] }, out);
    return out;
  } finally {
    open.delete(n);
  }
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (key as Scalar).source === "<<" &&
    (((key as Scalar).type === Scalar.PLAIN && !(key as Scalar).tag) || (key as Scalar).tag === MERGE);
}

/** yaml.v2's merge: a map (or alias of one) is decoded over `out`; a list of them last-first, so earlier win. */
function mergeInto(w: Walk, value: unknown, out: Record<string, unknown>): void {
  const n = resolveAlias(w, value);
  if (isMap(n)) return mapInto(w, n as { items: unknown[] }, out);
  if (isSeq(n)) {
    for (let i = n.items.length - 1; i >= 0; i--) {
      const item = resolveAlias(w, n.items[i]);
      if (!isMap(item)) throw new GoYamlError("map merge requires map or sequence of maps as the value");
      mapInto(w, item as { items: unknown[] }, out);
    }
    return;
  }
  throw new GoYamlError("map merge requires map or sequence of maps as the value");
}

function mapInto(w: Walk, map: { items: unknown[] }, out: Record<string, unknown>): void {
  const merging = w.merging ??= new Set();
  if (merging.has(map)) throw new GoYamlError("anchor value contains itself");
  merging.add(map);
  try {
    mapPairs(w, map, out);
  } finally {
    merging.delete(map);
  }
}

function mapPairs(w: Walk, map: { items: unknown[] }, out: Record<string, unknown>): void {
  for (const pair of map.items) {
    if (!isPair(pair)) continue;
    if (isMergeKey(pair.key)) {
      mergeInto(w, pair.value, out);
      continue;
    }
    const keyNode = resolveAlias(w, pair.key);
    let key: Resolved;
    if (keyNode === null || keyNode === undefined) key = { value: null };
    else if (isScalar(keyNode)) key = scalar(w, keyNode as Scalar);
    else throw new GoYamlError("Unsupported map key: a map or list");
    Object.defineProperty(out, keyText(key), {
      value: goValue(w, pair.value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
}

const OPTIONS = {
  version: "1.1",
  schema: "failsafe",
  uniqueKeys: false,
  strict: false,
  merge: false,
  logLevel: "silent",
} as const;

/**
 * Every document of `text` as Go values, or the first syntax error. Helm's
 * readers take the first document (values, `fromYaml`); a manifest stream
 * has several.
 */
export function goYamlDocuments(text: string, first = false): { values: unknown[]; error?: string } {
  const docs = parseAllDocuments(text, OPTIONS);
  const list = (Array.isArray(docs) ? docs : []).slice(0, first ? 1 : undefined);
  const values: unknown[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) return { values, error: doc.errors[0].message.split("\n")[0] };
    try {
      values.push(goValue({ doc, text, depth: 0 }, doc.contents as Node | null));
    } catch (e) {
      if (!(e instanceof GoYamlError)) throw e;
      return { values, error: e.message };
    }
  }
  return { values };
}

/** The first document of `text` as Go values (null when empty); throws on a syntax error. */
export function goYaml(text: string): unknown {
  const { values, error } = goYamlDocuments(text, true);
  if (error !== undefined && values.length === 0) throw new Error(error);
  return values[0] ?? null;
}
