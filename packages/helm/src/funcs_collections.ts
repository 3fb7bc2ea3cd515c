/**
 * Sprig's list, dict and semver functions.
 * @module
 */
import { execError } from "./errors.ts";
import type { TemplateFunction } from "./evaluate.ts";
import { asMap } from "./funcs_core.ts";
import {
  deepCopy,
  formatValue,
  type GoMap,
  isDataMap,
  isEmpty,
  isMap,
  narrowType,
  toIndex,
  toInt,
  toStr,
  typed,
  typeOf,
  type Value,
  valuesEqual,
  withMethods,
} from "./gotypes.ts";
import { compareSemver, parseSemver, semverSatisfies } from "./semver.ts";

function asList(name: string, value: Value): Value[] {
  if (Array.isArray(value)) return value;
  if (value === null || value === undefined) return [];
  throw execError(`${name}: cannot find ${name} on type ${typeOf(value)}`);
}

function same(a: Value, b: Value): boolean {
  try {
    return valuesEqual(a, b);
  } catch {
    return formatValue(a) === formatValue(b) && typeOf(a) === typeOf(b);
  }
}

/**
 * mergo.Merge (0.3.x) of one map into another, as Sprig's merge/mergeOverwrite call it: maps in both merge
 * deeply; otherwise a value fills a key `dst` lacks or holds empty — with `overwrite`, any non-nil scalar or
 * list replaces, a nil deletes to nil, and a map never replaces a non-empty non-map. Values are shared, not
 * copied (a later `set` on one is seen through the other, as in Go).
 */
function mergeInto(dst: GoMap, src: GoMap, overwrite: boolean): GoMap {
  // A map[string]string (split's) takes no element of a map[string]interface{}: reflect panics on the first set.
  const strings = narrowType(dst) === "map[string]string" && narrowType(src) !== "map[string]string";
  for (const [key, value] of Object.entries(src)) {
    const has = key in dst, current = dst[key];
    const sets = value !== null && value !== undefined &&
      (isDataMap(value) ? !has || isEmpty(current) : overwrite || !has || isEmpty(current));
    if (strings && sets && !(isDataMap(value) && isDataMap(current))) {
      throw execError("reflect.Value.SetMapIndex: value of type interface {} is not assignable to type string");
    }
    if (value === null || value === undefined) {
      if (overwrite) dst[key] = null;
    } else if (isDataMap(value) && isDataMap(current)) mergeInto(current, value, overwrite);
    else if (isDataMap(value)) {
      if (!has || isEmpty(current)) dst[key] = value;
    } else if (overwrite || !has || isEmpty(current)) dst[key] = value;
  }
  return dst;
}

/** Sprig asks reflect for a list's kind: a nil one is a nil-pointer panic, which a template sees as an error. */
function notNil(list: Value): Value {
  if (list === null || list === undefined) {
    throw execError("runtime error: invalid memory address or nil pointer dereference");
  }
  return list;
}

/** Sprig's `untilStep`: down when stop < start and step < 0, up when step > 0, else nothing. */
function until(start: bigint, stop: bigint, step: bigint): bigint[] {
  const out: bigint[] = [];
  if (stop < start ? step >= 0n : step <= 0n) return out;
  for (let i = start; step > 0n ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

function seq(...args: Value[]): string {
  const numbers = args.map(toInt);
  let [start, step, end] = [1n, 1n, 0n];
  if (numbers.length === 1) end = numbers[0];
  else if (numbers.length === 2) [start, end] = numbers;
  else if (numbers.length === 3) [start, step, end] = numbers;
  else throw execError(`seq: wrong number of arguments: ${args.length}`);
  if (numbers.length < 3 && start > end) step = -1n;
  const out: bigint[] = [];
  if (step === 0n) return "";
  for (let i = start; step > 0n ? i <= end : i >= end; i += step) out.push(i);
  return out.join(" ");
}

function dig(...args: Value[]): Value {
  if (args.length < 3) throw execError("dig needs at least three arguments");
  // Sprig asserts its last argument to a map: a nil there (a missing value) is Go's failed interface conversion.
  const last = args[args.length - 1];
  if (last === null || last === undefined) {
    throw execError("interface conversion: interface {} is nil, not map[string]interface {}");
  }
  const map = asMap("dig", last);
  const fallback = args[args.length - 2];
  let current: Value = map;
  for (const key of args.slice(0, -2)) {
    if (!isMap(current) || !(toStr(key) in current)) return fallback;
    current = current[toStr(key)];
  }
  return current;
}

function semverObject(text: Value): GoMap {
  const v = parseSemver(toStr(text));
  return withMethods({}, {
    Major: () => BigInt(v.major),
    Minor: () => BigInt(v.minor),
    Patch: () => BigInt(v.patch),
    Prerelease: () => v.prerelease,
    Metadata: () => v.metadata,
    Original: () => v.original,
    String: () =>
      `${v.major}.${v.minor}.${v.patch}${v.prerelease ? `-${v.prerelease}` : ""}${v.metadata ? `+${v.metadata}` : ""}`,
    Compare: (other: Value) => BigInt(compareSemver(v, parseSemver(toStr(other)))),
  });
}

const listFunctions: Record<string, TemplateFunction> = {
  list: (...items) => items,
  first: (list) => asList("first", notNil(list))[0] ?? null,
  last: (list) => asList("last", notNil(list)).at(-1) ?? null,
  rest: (list) => asList("rest", notNil(list)).slice(1),
  initial: (list) => asList("initial", notNil(list)).slice(0, -1),
  append: (list, item) => [...asList("append", notNil(list)), item],
  prepend: (list, item) => [item, ...asList("prepend", notNil(list))],
  concat: (...lists) => {
    // Sprig asks reflect for each list's kind: a nil one is a nil-pointer panic.
    if (lists.some((l) => l === null || l === undefined)) {
      throw execError("runtime error: invalid memory address or nil pointer dereference");
    }
    return lists.flatMap((list) => asList("concat", list));
  },
  reverse: (list) => [...asList("reverse", notNil(list))].reverse(),
  uniq: (list) =>
    asList("uniq", notNil(list)).filter((item, i, all) => all.findIndex((other) => same(other, item)) === i),
  without: (list, ...omit) => asList("without", notNil(list)).filter((item) => !omit.some((o) => same(o, item))),
  has: (needle, list) => asList("has", list).some((item) => same(item, needle)),
  compact: (list) => asList("compact", notNil(list)).filter((item) => !isEmpty(item)),
  chunk: (size, list) => {
    if (list === null || list === undefined) {
      throw execError("runtime error: invalid memory address or nil pointer dereference");
    }
    const n = toIndex(size, "chunk size"), items = asList("chunk", list), out: Value[][] = [];
    for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
    return typed(out, "[][]interface {}");
  },
  until: (count) => typed(until(0n, toInt(count), toInt(count) < 0n ? -1n : 1n), "[]int"),
  untilStep: (start, stop, step) => typed(until(toInt(start), toInt(stop), toInt(step)), "[]int"),
  seq,
};

const dictFunctions: Record<string, TemplateFunction> = {
  dict: (...pairs) => {
    const out: GoMap = {};
    for (let i = 0; i < pairs.length; i += 2) out[toStr(pairs[i])] = i + 1 < pairs.length ? pairs[i + 1] : "";
    return out;
  },
  get: (map, key) => {
    const m = asMap("get", map);
    return toStr(key) in m ? m[toStr(key)] : "";
  },
  set: (map, key, value) => {
    asMap("set", map)[toStr(key)] = value;
    return map;
  },
  unset: (map, key) => {
    delete asMap("unset", map)[toStr(key)];
    return map;
  },
  hasKey: (map, key) => Object.prototype.hasOwnProperty.call(asMap("hasKey", map), toStr(key)),
  keys: (...maps) => typed(maps.flatMap((m) => Object.keys(asMap("keys", m))), "[]string"),
  values: (map) => Object.values(asMap("values", map)),
  pick: (map, ...keys) => {
    const m = asMap("pick", map), names = keys.map(toStr);
    return Object.fromEntries(Object.entries(m).filter(([k]) => names.includes(k)));
  },
  omit: (map, ...keys) => {
    const m = asMap("omit", map), names = keys.map(toStr);
    return Object.fromEntries(Object.entries(m).filter(([k]) => !names.includes(k)));
  },
  pluck: (key, ...maps) => maps.map((m) => asMap("pluck", m)).filter((m) => toStr(key) in m).map((m) => m[toStr(key)]),
  dig,
  merge: (dst, ...srcs) =>
    srcs.reduce<GoMap>((acc, src) => mergeInto(acc, asMap("merge", src), false), asMap("merge", dst)),
  mergeOverwrite: (dst, ...srcs) =>
    srcs.reduce<GoMap>((acc, src) => mergeInto(acc, asMap("mergeOverwrite", src), true), asMap("mergeOverwrite", dst)),
  deepCopy: (value) => {
    if (value === null || value === undefined) throw execError("reflect: call of reflect.Value.Type on zero Value");
    return deepCopy(value);
  },
};

const semverFunctions: Record<string, TemplateFunction> = {
  semverCompare: (constraint, version) => semverSatisfies(toStr(constraint), toStr(version)),
  semver: semverObject,
};

/** Lists, dicts and semver; the `must*` variants behave the same here (errors, not panics). */
export const collectionFunctions: Record<string, TemplateFunction> = {
  ...listFunctions,
  ...dictFunctions,
  ...semverFunctions,
  push: listFunctions.append,
  mustAppend: listFunctions.append,
  mustPush: listFunctions.append,
  mustPrepend: listFunctions.prepend,
  mustFirst: listFunctions.first,
  mustLast: listFunctions.last,
  mustRest: listFunctions.rest,
  mustInitial: listFunctions.initial,
  mustReverse: listFunctions.reverse,
  mustUniq: listFunctions.uniq,
  mustWithout: listFunctions.without,
  mustHas: listFunctions.has,
  mustCompact: listFunctions.compact,
  mustChunk: listFunctions.chunk,
  mustMerge: dictFunctions.merge,
  mustMergeOverwrite: dictFunctions.mergeOverwrite,
  mustDeepCopy: dictFunctions.deepCopy,
};
