/**
 * YAML documents validated by zod schemas, with every error reported as
 * `FILE:LINE:COLUMN: path: message`.
 * @module
 */
import { type Document, isMap, isNode, isPair, isScalar, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { AirgapError } from "./errors.ts";

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

function flattenIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string; key?: string } {
  if (issue.code === "invalid_union") {
    // Report the branch whose shape matched (an object with a bad field),
    // not "none of the alternatives".
    const branch = issue.errors.find((errors) =>
      errors.length > 0 && !(errors[0].code === "invalid_type" && errors[0].path.length === 0)
    );
    if (branch) {
      const inner = flattenIssue(branch[0]);
      return { ...inner, path: [...issue.path, ...inner.path] };
    }
  }
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0];
    return {
      path: issue.path,
      key,
      message: `unknown key "${key}"${
        issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).map((k) => `"${k}"`).join(", ")})` : ""
      }`,
    };
  }
  return { path: issue.path, message: issue.message };
}

/** A validated document and a way to point at its parts. */
export interface LocatedYaml<T> {
  value: T;
  /** `FILE:LINE:COLUMN` of the node at `path` (or its closest ancestor). */
  locate(path: readonly PropertyKey[]): string;
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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const pos = lineCounter.linePos(error.pos[0]);
    const reason = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new AirgapError(`${file}:${pos.line}:${pos.col}: ${reason}`, { where: file }, { exitCode: 2 });
  }
  const value = doc.toJS() ?? {};
  const result = schema.safeParse(value);
  if (result.success) {
    return {
      value: result.data,
      locate(path) {
        const pos = lineCounter.linePos(offsetOf(doc, path));
        return `${file}:${pos.line}:${pos.col}`;
      },
    };
  }
  const issue = flattenIssue(result.error.issues[0]);
  const pos = lineCounter.linePos(offsetOf(doc, issue.path, issue.key));
  const where = describePath(issue.key ? [...issue.path, issue.key] : issue.path);
  throw new AirgapError(
    `${file}:${pos.line}:${pos.col}: ${where ? `${where}: ` : ""}${issue.message}`,
    { where: file },
    { exitCode: 2 },
  );
}
