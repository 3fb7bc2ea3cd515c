/**
 * Chart values as Helm computes them: YAML 1.1 parsing, `--set` strings
 * (strvals), and coalescing user values over chart defaults, where an
 * explicit `null` deletes a default.
 * @module
 */
import type { DocumentOptions, ParseOptions, SchemaOptions, Tags } from "yaml";
import { AirgapError } from "./host.ts";
import { deepCopy, type GoMap, isMap } from "./gotypes.ts";
import { goYaml } from "./goyaml.ts";

/** yaml.v2 reads `0o17` as 15 (Go's ParseInt with base 0), which YAML 1.1 leaves a string. */
const GO_OCTAL = {
  identify: () => false,
  default: true,
  tag: "tag:yaml.org,2002:int",
  test: /^[-+]?0o[0-7_]+$/,
  resolve: (text: string) => {
    const value = parseInt(text.replace(/_/g, "").replace(/0o/, ""), 8);
    return text.startsWith("-") ? -value : value;
  },
};

/** yaml.v2 also reads `y`/`n` as booleans (so a values key `n:` becomes "false" in Helm, as here). */
const GO_SHORT_BOOL = {
  identify: () => false,
  default: true,
  tag: "tag:yaml.org,2002:bool",
  test: /^(?:y|Y|n|N)$/,
  resolve: (text: string) => text === "y" || text === "Y",
};

const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.1",
  // go-yaml leaves timestamps as strings when decoding into interface{}, and knows no base-60 numbers (`1:20`).
  customTags: (tags: Tags) => [
    GO_OCTAL,
    GO_SHORT_BOOL,
    ...tags.filter((tag) =>
      !(typeof tag === "object" && (tag.tag === "tag:yaml.org,2002:timestamp" || tag.format === "TIME"))
    ),
  ],
  uniqueKeys: false,
};

/**
 * sigs.k8s.io/yaml goes through JSON, which has no infinities, NaN or
 * cycles (an alias inside its own anchor, `a: &a [*a]`): Helm refuses such
 * values.
 */
function finiteOnly(value: unknown, file: string, within: Set<unknown> = new Set()): void {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new AirgapError(`${file}: invalid values: json: unsupported value: ${value}`, { where: file });
  }
  if (!Array.isArray(value) && !isMap(value)) return;
  if (within.has(value)) {
    throw new AirgapError(`${file}: invalid values: json: unsupported value: encountered a cycle`, { where: file });
  }
  within.add(value);
  for (const item of Array.isArray(value) ? value : Object.values(value)) finiteOnly(item, file, within);
  within.delete(value);
}

/** Parse one YAML document as Helm reads values (sigs.k8s.io/yaml over yaml.v2: goyaml.ts). */
export function parseYaml11(text: string): unknown {
  return goYaml(text);
}

/** The YAML 1.1 options, for callers parsing several documents. */
export function yaml11Options(): ParseOptions & DocumentOptions & SchemaOptions {
  return YAML_OPTIONS;
}

/** Parse a values file; empty means `{}`. */
export function parseValues(text: string, file: string): GoMap {
  let value: unknown;
  try {
    value = parseYaml11(text);
  } catch (e) {
    throw new AirgapError(`${file}: invalid YAML: ${(e as Error).message.split("\n")[0]}`, { where: file });
  }
  if (value === null || value === undefined) return {};
  finiteOnly(value, file);
  if (!isMap(value)) {
    throw new AirgapError(`${file}: values must be a map, not ${Array.isArray(value) ? "a list" : typeof value}`, {
      where: file,
    });
  }
  return value;
}

/**
 * Fill `dst` (higher precedence) with what it lacks from `src` (defaults).
 * A `null` in `dst` deletes the default, as `helm --set key=null` does.
 */
export function coalesceTables(dst: GoMap, src: GoMap): GoMap {
  for (const [key, value] of Object.entries(src)) {
    if (!(key in dst)) dst[key] = deepCopy(value);
    else if (dst[key] === null) delete dst[key];
    else if (isMap(dst[key]) && isMap(value)) coalesceTables(dst[key] as GoMap, value);
  }
  return dst;
}

/**
 * Give a subchart's values the parent's globals: `dest` is the subchart's
 * section of the parent values; parent globals win over the subchart's own.
 */
export function coalesceGlobals(dest: GoMap, parent: GoMap): void {
  const parentGlobal = isMap(parent.global) ? parent.global : {};
  const global: GoMap = isMap(dest.global) ? dest.global : {};
  for (const [key, value] of Object.entries(parentGlobal)) {
    if (isMap(value)) {
      const copy = deepCopy(value);
      if (isMap(global[key])) coalesceTables(copy, global[key] as GoMap);
      if (!(key in global) || isMap(global[key])) global[key] = copy;
    } else if (!isMap(global[key])) global[key] = value;
  }
  dest.global = global;
}

// ---- --set (Helm's strvals) ----

interface Cursor {
  text: string;
  pos: number;
}

const MAX_INDEX = 65536;

function setError(text: string, message: string): AirgapError {
  return new AirgapError(`--set ${text}: ${message}`, {}, { exitCode: 2 });
}

/** Read up to (and consume) one of `stops`, honouring backslash escapes. */
function readUntil(c: Cursor, stops: string): { text: string; stop?: string } {
  let text = "";
  while (c.pos < c.text.length) {
    const char = c.text[c.pos++];
    if (char === "\\" && c.pos < c.text.length) text += c.text[c.pos++];
    else if (stops.includes(char)) return { text, stop: char };
    else text += char;
  }
  return { text };
}

/** strvals' `typedVal`: true/false/null and plain integers are typed; the rest are strings. */
function typed(text: string, asString: boolean): unknown {
  if (asString) return text;
  const lower = text.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  if (lower === "null") return null;
  if (text === "0") return 0n;
  if (/^-?[1-9]\d*$/.test(text) && BigInt(text) <= 9223372036854775807n && BigInt(text) >= -9223372036854775808n) {
    return BigInt(text);
  }
  return text;
}

function readIndex(c: Cursor): number {
  const { text, stop } = readUntil(c, "]");
  if (stop !== "]" || !/^\d+$/.test(text)) throw setError(c.text, `invalid list index "${text}"`);
  const index = Number(text);
  if (index > MAX_INDEX) throw setError(c.text, `list index ${index} is larger than the maximum ${MAX_INDEX}`);
  return index;
}

/** The value after `=`: a `{a,b}` list or a scalar up to the next comma. */
function readValue(c: Cursor, asString: boolean): unknown {
  if (c.text[c.pos] !== "{") return typed(readUntil(c, ",").text, asString);
  c.pos++;
  const list: unknown[] = [];
  for (;;) {
    const { text, stop } = readUntil(c, ",}");
    if (stop === undefined) throw setError(c.text, "list value is missing a closing }");
    if (text !== "" || stop === ",") list.push(typed(text, asString));
    if (stop === "}") break;
  }
  const next = c.text[c.pos];
  if (next !== undefined && next !== ",") throw setError(c.text, `unexpected "${next}" after list`);
  c.pos++;
  return list;
}

function setListItem(c: Cursor, list: unknown[], index: number, asString: boolean): unknown[] {
  while (list.length <= index) list.push(null);
  const next = c.text[c.pos++];
  if (next === "=") list[index] = readValue(c, asString);
  else if (next === ".") {
    const inner = isMap(list[index]) ? list[index] as GoMap : {};
    readKey(c, inner, asString);
    list[index] = inner;
  } else if (next === "[") {
    const inner = Array.isArray(list[index]) ? list[index] as unknown[] : [];
    list[index] = setListItem(c, inner, readIndex(c), asString);
  } else throw setError(c.text, `unexpected ${next === undefined ? "end" : `"${next}"`} after list index`);
  return list;
}

function readKey(c: Cursor, data: GoMap, asString: boolean): void {
  const { text: key, stop } = readUntil(c, "=[,.");
  if (key === "" && stop !== undefined) throw setError(c.text, "empty key");
  switch (stop) {
    case undefined:
      if (key !== "") throw setError(c.text, `key "${key}" has no value`);
      return;
    case ",":
      throw setError(c.text, `key "${key}" has no value (cannot end with ,)`);
    case "=":
      data[key] = readValue(c, asString);
      return;
    case ".": {
      const inner = isMap(data[key]) ? data[key] as GoMap : {};
      readKey(c, inner, asString);
      data[key] = inner;
      return;
    }
    case "[": {
      const list = Array.isArray(data[key]) ? data[key] as unknown[] : [];
      data[key] = setListItem(c, list, readIndex(c), asString);
      return;
    }
  }
}

/**
 * Apply one `--set` argument (`a.b=c,list={x,y},arr[0].k=v`) to `values`,
 * in place, with Helm's typing (`--set-string` when `asString`).
 */
export function applySet(values: GoMap, text: string, asString = false): GoMap {
  const c: Cursor = { text, pos: 0 };
  while (c.pos < text.length) readKey(c, values, asString);
  return values;
}

/** Parse `--set` arguments into a fresh values map. */
export function parseSet(args: string[], asString = false): GoMap {
  const values: GoMap = {};
  for (const arg of args) applySet(values, arg, asString);
  return values;
}

/** Deep-merge user values files: later wins, maps merge (Helm's `mergeMaps`). */
export function mergeValues(base: GoMap, override: GoMap): GoMap {
  const out: GoMap = deepCopy(base);
  for (const [key, value] of Object.entries(override)) {
    out[key] = isMap(out[key]) && isMap(value) ? mergeValues(out[key] as GoMap, value) : deepCopy(value);
  }
  return out;
}

const PLACEHOLDER = "\u0000airgap-set-value\u0000";

function replacePlaceholder(node: unknown, value: unknown): boolean {
  if (Array.isArray(node) || isMap(node)) {
    for (const [key, item] of Object.entries(node)) {
      if (item === PLACEHOLDER) {
        (node as Record<string, unknown>)[key] = value;
        return true;
      }
      if (replacePlaceholder(item, value)) return true;
    }
  }
  return false;
}

/**
 * Set one value at a `--set`-style key path: `--set-json key=JSON` (the value
 * parsed as JSON) and `--set-file key=PATH` (the caller reads the file) use it.
 */
export function applyValueAt(values: GoMap, arg: string, flag: string, convert: (text: string) => unknown): GoMap {
  const m = /^((?:[^=\\]|\\.)+)=([\s\S]*)$/.exec(arg);
  if (!m) throw new AirgapError(`${flag} ${arg}: expected key=value`, {}, { exitCode: 2 });
  let value: unknown;
  try {
    value = convert(m[2]);
  } catch (e) {
    throw new AirgapError(`${flag} ${arg}: ${(e as Error).message.split("\n")[0]}`, {}, { exitCode: 2 });
  }
  applySet(values, `${m[1]}=${PLACEHOLDER}`, true);
  replacePlaceholder(values, value);
  return values;
}
