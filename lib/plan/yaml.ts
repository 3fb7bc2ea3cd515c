/**
 * YAML documents validated by zod schemas, with every error reported as
 * `FILE:LINE:COLUMN: path: message`.
 * @module
 */
import { type Document, isMap, isNode, isPair, isScalar, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { AirgapError, errorMessage } from "../errors.ts";
import { echo } from "../text.ts";
import { checkSize } from "../limits.ts";
import { didYouMean } from "../suggest.ts";

function describePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** Offset in the text of the node at `path`, or of the closest ancestor that exists. */
function offsetOf(doc: Document, path: readonly PropertyKey[], key?: string): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (!isNode(node)) continue;
    if (key !== undefined && n === path.length && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      if (pair && isNode(pair.key) && pair.key.range) return pair.key.range[0];
    }
    if (node.range) return node.range[0];
  }
  return 0;
}

// deno-lint-ignore no-explicit-any
type AnySchema = { _zod: { def: any } };

/** The keys an object schema at `path` allows (through optionals, arrays, unions and records). */
export function allowedKeys(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  const keysOf = (s: AnySchema, rest: readonly PropertyKey[]): string[] => {
    const def = s._zod.def;
    switch (def.type) {
      case "optional":
      case "nullable":
      case "default":
        return keysOf(def.innerType, rest);
      case "union":
        return [...new Set(def.options.flatMap((o: AnySchema) => keysOf(o, rest)))] as string[];
      case "array":
        return typeof rest[0] === "number" ? keysOf(def.element, rest.slice(1)) : [];
      case "record":
        return rest.length > 0 ? keysOf(def.valueType, rest.slice(1)) : [];
      case "object":
        if (rest.length === 0) return Object.keys(def.shape);
        return def.shape[rest[0] as string] ? keysOf(def.shape[rest[0] as string], rest.slice(1)) : [];
      default:
        return [];
    }
  };
  return keysOf(schema, path);
}

/**
 * An issue with its union unfolded: of the alternatives, the branch whose
 * shape matched (an object with bad or unknown fields), not "none of the
 * alternatives" — every issue of that branch, so an unknown key in it gets
 * its "did you mean" like anywhere else.
 */
function unfold(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): z.core.$ZodIssue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "invalid_union") {
    const branch = issue.errors.find((errors) =>
      errors.length > 0 && !(errors[0].code === "invalid_type" && errors[0].path.length === 0)
    );
    if (branch) return branch.flatMap((inner) => unfold(inner, path));
  }
  return [{ ...issue, path } as z.core.$ZodIssue];
}

/** A validated document and a way to point at its parts. */
export interface LocatedYaml<T> {
  value: T;
  /** `FILE:LINE:COLUMN` of the node at `path` (or its closest ancestor). */
  locate(path: readonly PropertyKey[]): string;
}

/** Every problem of a YAML document, each `FILE:LINE:COLUMN: path: message`; the value when there are none. */
export interface YamlCheck<T> {
  /** The validated value (only when `problems` is empty). */
  value?: T;
  /**
   * With schema problems: what is left valid once the offending parts are
   * removed, so that later checks can still look at the rest.
   */
  rest?: T;
  /** `FILE:LINE:COLUMN` of the node at `path` (or its closest ancestor). */
  locate(path: readonly PropertyKey[]): string;
  /** Every syntax error, or else every schema error, one line each. */
  problems: string[];
}

/**
 * Remove what a schema rejects until the rest validates: an unknown key, a
 * bad value, or (for a missing key or a bad array item) the object or array
 * holding it. Array items are never spliced out, so every path keeps pointing
 * at the same place in the text.
 */
function validRest<T extends z.ZodType>(value: unknown, schema: T): z.infer<T> | undefined {
  for (let round = 0; round < 50; round++) {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      let path: PropertyKey[] = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]] : [...issue.path];
      // deno-lint-ignore no-explicit-any
      const get = (p: PropertyKey[]) => p.reduce((node: any, k) => node?.[k as string], value);
      while (path.length > 0 && (get(path) === undefined || typeof path[path.length - 1] === "number")) {
        path = path.slice(0, -1);
      }
      if (path.length === 0) return undefined;
      delete get(path.slice(0, -1))[path[path.length - 1] as string];
    }
  }
  return undefined;
}

/** Sort `FILE:LINE:COL: …` lines by line, then column (stable; lines without a position first). */
export function byPosition(lines: string[]): string[] {
  const key = (l: string) => (l.match(/:(\d+):(\d+): /) ?? []).slice(1).map(Number);
  return lines.sort((a, b) => {
    const [la = 0, ca = 0] = key(a);
    const [lb = 0, cb = 0] = key(b);
    return la - lb || ca - cb;
  });
}

/**
 * Aliases a document may expand (the `yaml` package's `maxAliasCount`): a
 * "billion laughs" document of nested aliases is refused, not expanded.
 */
export const MAX_ALIAS_COUNT = 100;

/** Problems listed for one document; past them the document is not what it should be, and the rest is counted. */
const MAX_PROBLEMS = 100;

/** The document as plain values, its aliases bounded; an alias bomb is a problem at its position. */
function plainValue(doc: Document, at: (offset: number) => string): { value?: unknown; problem?: string } {
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {} };
  } catch (e) {
    return { problem: `${at(0)}: ${echo(errorMessage(e))} (more than ${MAX_ALIAS_COUNT} alias expansions)` };
  }
}

/** Parse and validate, collecting every problem instead of stopping at the first. */
export function checkYaml<T extends z.ZodType>(text: string, file: string, schema: T): YamlCheck<z.infer<T>> {
  checkSize("declaration", text.length, file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, logLevel: "error" });
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const locate = (path: readonly PropertyKey[]) => at(offsetOf(doc, path));
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => {
      const reason = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      return `${at(error.pos[0])}: ${echo(reason)}`;
    }).slice(0, MAX_PROBLEMS);
    return { locate, problems };
  }
  const plain = plainValue(doc, at);
  if (plain.problem !== undefined) return { locate, problems: [plain.problem] };
  const result = schema.safeParse(plain.value);
  if (result.success) return { value: result.data, locate, problems: [] };
  const allowed = (path: readonly PropertyKey[]) => allowedKeys(schema as unknown as AnySchema, path);
  const issues = result.error.issues.slice(0, MAX_PROBLEMS).flatMap((issue) => unfold(issue));
  // An unknown key that is a typo of a missing one: the "required" line for that key says the same, less well.
  const suggested = new Set<string>();
  // …and a rule of the object's own ("repo or path required") is moot once its typo is pointed out.
  const suggestedIn = new Set<string>();
  const problems: string[] = [];
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    // One line per unknown key, each at its own position, with the closest allowed key.
    for (const key of issue.keys) {
      const hint = didYouMean(key, allowed(issue.path));
      const match = hint.match(/"(.*)"/)?.[1];
      if (match) {
        suggested.add(JSON.stringify([...issue.path, match]));
        suggestedIn.add(JSON.stringify(issue.path));
      }
      const where = describePath([...issue.path, key]);
      problems.push(`${at(offsetOf(doc, issue.path, key))}: ${echo(where)}: unknown key "${echo(key)}"${hint}`);
    }
  }
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") continue;
    const missing = /received undefined$/.test(issue.message);
    if (missing && suggested.has(JSON.stringify(issue.path))) continue;
    const rule = issue.code === "custom" && /^required/.test(issue.message);
    if (rule && suggestedIn.has(JSON.stringify(issue.path.slice(0, -1)))) continue;
    const where = describePath(issue.path);
    problems.push(
      `${at(offsetOf(doc, issue.path))}: ${where ? `${echo(where)}: ` : ""}${
        missing ? "required, but missing" : echo(issue.message)
      }`,
    );
  }
  if (result.error.issues.length > MAX_PROBLEMS) {
    // So many problems that this is not the declaration it should be: say so, and check no further.
    const more = result.error.issues.length - MAX_PROBLEMS;
    return { locate, problems: [...byPosition(problems), `${file}: ${more} more problems`] };
  }
  return { locate, problems: byPosition(problems), rest: validRest(plain.value, schema) };
}

/**
 * Parse YAML text and validate it. Throws an {@link AirgapError} naming the
 * file, line and column of the first problem.
 */
export function parseYaml<T extends z.ZodType>(text: string, file: string, schema: T): z.infer<T> {
  return parseYamlLocated(text, file, schema).value;
}

/** Like {@link parseYaml}, also returning a locator for later messages. */
export function parseYamlLocated<T extends z.ZodType>(text: string, file: string, schema: T): LocatedYaml<z.infer<T>> {
  const checked = checkYaml(text, file, schema);
  if (checked.problems.length > 0) throw new AirgapError(checked.problems[0], { where: file }, { exitCode: 2 });
  return { value: checked.value as z.infer<T>, locate: checked.locate };
}
