/**
 * The template engine's front door: parse a chart's template files into one
 * set of named templates (as Helm does, so every `define` is visible to every
 * file), and render them with Go template builtins, Sprig and Helm's own
 * functions (`include`, `tpl`, `required`, `toYaml`, `lookup`, …).
 *
 * @example
 * ```ts
 * const { templates } = parseTemplates([{ name: "c/templates/a.yaml", text: "image: {{ .Values.image }}" }]);
 * const engine = createEngine(templates);
 * engine.render("c/templates/a.yaml", { Values: { image: "nginx:1" } }); // "image: nginx:1"
 * ```
 * @module
 */
import { Document, type Scalar, visit } from "yaml";
import { goYaml, resolvePlain } from "./goyaml.ts";
import { stringify as stringifyToml } from "smol-toml";
import { execError, TemplateError } from "./errors.ts";
import { type ExecEnv, executeNodes, executeTemplate, type TemplateFunction } from "./evaluate.ts";
import { collectionFunctions } from "./funcs_collections.ts";
import { coreFunctions } from "./funcs_core.ts";
import { cryptoFunctions } from "./funcs_crypto.ts";
import { stringFunctions } from "./funcs_strings.ts";
import { timeFunctions } from "./funcs_time.ts";
import { isMap, toPlain, toStr, type Value } from "./gotypes.ts";
import { parseFile, type TemplateDef } from "./parser.ts";

/** A template file: its Helm name (`chart/templates/x.yaml`) and text. */
export interface TemplateSource {
  name: string;
  text: string;
}

/** All named templates of a render, and the files that did not parse. */
export interface ParsedTemplates {
  templates: Map<string, TemplateDef>;
  errors: TemplateError[];
}

/** Renders named templates or ad-hoc text against data. */
export interface Engine {
  /** Render a named template (a file or a `define`); nil values print as `<no value>` like Go. */
  render(name: string, data: Value): string;
  /** Render template text (as `tpl` does), with access to every named template. */
  renderText(text: string, data: Value, name?: string): string;
}

/**
 * Helm's order for parsing and executing templates (engine.go `sortTemplates`): deepest paths first, then
 * names in reverse, so a parent chart's defines win.
 */
export function helmOrder(a: string, b: string): number {
  const depth = (name: string) => name.split("/").length;
  if (depth(a) !== depth(b)) return depth(b) - depth(a);
  return a < b ? 1 : a > b ? -1 : 0;
}

/**
 * Parse template files into one namespace. A file that does not parse is
 * reported in `errors` and left out; the rest still render.
 */
export function parseTemplates(sources: TemplateSource[]): ParsedTemplates {
  const templates = new Map<string, TemplateDef>();
  const errors: TemplateError[] = [];
  for (const source of [...sources].sort((a, b) => helmOrder(a.name, b.name))) {
    try {
      const parsed = parseFile(source.name, source.text);
      templates.set(source.name, parsed.main);
      for (const define of parsed.defines) templates.set(define.name, define);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      errors.push(e);
    }
  }
  return { templates, errors };
}

const isLetter = (c: string) => /\p{L}/u.test(c);
const isDigit = (c: string) => /\p{Nd}/u.test(c);

/** yaml.v2's key order: letters by code point, non-letters first, runs of digits by numeric value (`a9` < `a10`). */
export function yamlKeyLess(a: string, b: string): boolean {
  const ar = Array.from(a), br = Array.from(b);
  for (let i = 0; i < ar.length && i < br.length; i++) {
    if (ar[i] === br[i]) continue;
    const al = isLetter(ar[i]), bl = isLetter(br[i]);
    if (al && bl) return ar[i] < br[i];
    if (al || bl) return bl;
    let an = 0, bn = 0, ai = i, bi = i;
    if (ar[i] === "0" || br[i] === "0") {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--) {
        if (ar[j] !== "0") {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = an * 10 + Number(ar[ai]);
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = bn * 10 + Number(br[bi]);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return ar[i] < br[i];
  }
  return ar.length < br.length;
}

/** Would yaml.v2 read this plain text as something other than a string (its `resolve`, or a base-60 float)? */
function goResolvesNonString(text: string): boolean {
  if (text === "<<" || typeof resolvePlain(text).value !== "string") return true;
  if (/^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/.test(text)) return true;
  // yaml.v2's timestamp layouts: a date, a date-time with T and a zone, or with a space and no zone.
  const date = "\\d{4}-\\d\\d?-\\d\\d?", time = "\\d\\d?:\\d\\d?:\\d\\d?(?:\\.\\d*)?";
  return new RegExp(`^${date}(?:[Tt]${time}(?:Z|[+-]\\d\\d:\\d\\d)| ${time})?$`).test(text);
}

/** yaml.v2's choice of style for a string: double quotes when it would not read back as a string or has specials. */
function goStringStyle(text: string): Scalar.Type | undefined {
  if (text === "" || goResolvesNonString(text)) return "QUOTE_DOUBLE";
  // libyaml single-quotes what cannot be plain even when it holds a quote (the yaml library would switch to double).
  if (text.includes("'") && !text.includes("\n") && /^['"]|: | #|^[-?:,[\]{}#&*!|>%@`]|[: ]$/.test(text)) {
    return "QUOTE_SINGLE";
  }
  // Tabs and other non-printables, or a space before a line break, allow only double quotes.
  // deno-lint-ignore no-control-regex -- yaml.v2 double-quotes exactly these non-printables
  if (/[\x00-\x09\x0b-\x1f\x7f]| \n/.test(text)) return "QUOTE_DOUBLE";
  if (text.includes("\n")) return / $/.test(text) ? "QUOTE_DOUBLE" : "BLOCK_LITERAL";
  return undefined;
}

const BEST_WIDTH = 80;

/**
 * libyaml's folding of a flow scalar: a space becomes a line break (to
 * `indent`) when the column is already past 80, it is not the second of two
 * spaces, and (plain, single-quoted) the next character is no space; in double quotes a
 * following space is escaped.
 */
function foldScalar(text: string, start: number, indent: number, style: "plain" | "single" | "double"): string {
  let out = "", column = start, spaces = false;
  const inner = style === "plain" ? [0, text.length] : [1, text.length - 1];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === " " && i >= inner[0] && i < inner[1]) {
      const edge = style !== "plain" && (i === inner[0] || i === inner[1] - 1);
      const nextSpace = text[i + 1] === " ";
      if (!spaces && column > BEST_WIDTH && !edge && (style === "double" || !nextSpace)) {
        out += `\n${" ".repeat(indent)}`;
        column = indent;
        if (style === "double" && nextSpace) {
          out += "\\";
          column++;
        }
      } else {
        out += c;
        column++;
      }
      spaces = true;
    } else {
      out += c;
      column++;
      spaces = false;
    }
  }
  return out;
}

/** yaml.v2 writes at most about 80 columns: fold long plain and quoted values (block scalars are left alone). */
function foldLongLines(text: string): string {
  const lines = text.split("\n");
  let blockParent = -1;
  return lines.map((line) => {
    const lead = line.length - line.trimStart().length;
    if (blockParent >= 0 && (line.trim() === "" || lead > blockParent)) return line;
    blockParent = -1;
    const m = /^( *)((?:- )*)(.*)$/.exec(line)!;
    const base = m[1].length + m[2].length;
    const pair = /^((?:[^\s'"#&*!|>%@`{[-][^:]*?|"(?:[^"\\]|\\.)*"|'(?:[^']|'')*')): (.*)$/.exec(m[3]);
    const value = pair ? pair[2] : m[3];
    const start = pair ? base + pair[1].length + 2 : base;
    if (/^[|>][-+0-9]*$/.test(value)) {
      blockParent = m[1].length;
      return line;
    }
    if (line.length <= BEST_WIDTH || (!pair && m[2] === "") || value === "" || /^[\[{|>&*!]/.test(value)) return line;
    const style = value.startsWith("'") ? "single" : value.startsWith('"') ? "double" : "plain";
    return line.slice(0, start) + foldScalar(value, start, pair ? base + 2 : base, style);
  }).join("\n");
}

/**
 * libyaml's literal blocks: a value that starts with a space or a line break gets the indentation indicator
 * `best_indent` (always `|2`, whatever the nesting), and an empty line of the value is written empty (the
 * yaml library writes `|1` at the top, none for a leading line break, and indents a leading empty line).
 * A block's content is 2 deeper than its key, sequence dash or (at the top) the margin.
 */
function blockIndicators(text: string): string {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const header = /^( *)((?:- )*)(.*?)\|\d*([-+]?)$/.exec(lines[i]);
    if (!header || !(header[3] === "" || header[3].endsWith(": "))) continue;
    const key = header[3] !== "";
    const indent = header[1].length + header[2].length + (key || header[2] === "" ? 2 : 0);
    let end = i + 1;
    while (
      end < lines.length && (lines[end].trim() === "" || lines[end].length - lines[end].trimStart().length >= indent)
    ) {
      end++;
    }
    if (end === i + 1) continue;
    const first = lines[i + 1];
    const special = first.trim() === "" || first.length - first.trimStart().length > indent;
    lines[i] = lines[i].replace(/\|\d*([-+]?)$/, `|${special ? "2" : ""}$1`);
    for (let j = i + 1; j < end; j++) if (lines[j].trim() === "" && lines[j].length <= indent) lines[j] = "";
    i = end - 1;
  }
  return lines.join("\n");
}

/**
 * YAML as Helm's `toYaml` writes it (sigs.k8s.io/yaml over yaml.v2): keys in
 * yaml.v2's order, sequences not indented under their key, a multi-line
 * string as a literal block (at the top level indented by two, as yaml.v2
 * does), no trailing newline.
 */
export function toYaml(value: Value): string {
  const plain = toPlain(value, true);
  // YAML 1.2's core schema quotes no plain string that Go would write plain (1.1's quotes `.`, `1:2` differently);
  // the strings Go quotes are marked by goStringStyle below.
  const doc = new Document(plain, {
    version: "1.2",
    sortMapEntries: (a, b) => {
      const x = String((a.key as { value?: unknown })?.value ?? a.key),
        y = String((b.key as { value?: unknown })?.value ?? b.key);
      return yamlKeyLess(x, y) ? -1 : yamlKeyLess(y, x) ? 1 : 0;
    },
  });
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === "string") node.type = goStringStyle(node.value);
      // -0 goes through JSON as "-0", which yaml.v2 reads back as the integer 0.
      if (Object.is(node.value, -0)) node.value = 0;
    },
  });
  const text = doc.toString({
    indentSeq: false,
    lineWidth: 0,
    singleQuote: true,
    doubleQuotedAsJSON: true,
  });
  if (typeof plain === "string" && /^[|>][-+0-9]*\n/.test(text)) {
    const [head, ...body] = text.replace(/\n$/, "").split("\n");
    return blockIndicators([head, ...body.map((line) => (line === "" ? line : `  ${line}`))].join("\n"));
  }
  const flat = blockIndicators(text.replace(/\n$/, ""));
  if (typeof plain === "string") {
    // A string document: libyaml folds it too, continuing at the flow indent (2) it gives a root scalar.
    if (flat.length <= BEST_WIDTH || flat.includes("\n")) return flat;
    return foldScalar(flat, 0, 2, flat.startsWith("'") ? "single" : flat.startsWith('"') ? "double" : "plain");
  }
  return foldLongLines(flat);
}

/** Helm's `fromYaml`/`fromYamlArray`: the first document as sigs.k8s.io/yaml reads it, or the error as data. */
function fromYaml(text: Value, wantArray: boolean): Value {
  try {
    const value = goYaml(toStr(text)) ?? (wantArray ? [] : {});
    if (wantArray !== Array.isArray(value) || (!wantArray && !isMap(value))) {
      // sigs.k8s.io/yaml's words, from encoding/json.
      const kind = Array.isArray(value)
        ? "array"
        : isMap(value)
        ? "object"
        : typeof value === "boolean"
        ? "bool"
        : typeof value;
      const target = wantArray ? "[]interface {}" : "map[string]interface {}";
      throw new Error(
        `error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${kind} into Go value of type ${target}`,
      );
    }
    return value;
  } catch (e) {
    return wantArray ? [(e as Error).message] : { Error: (e as Error).message };
  }
}

function fromJson(text: Value, wantArray: boolean): Value {
  try {
    const value = JSON.parse(toStr(text));
    if (wantArray !== Array.isArray(value)) throw new Error(`expected ${wantArray ? "a list" : "a map"}`);
    return value;
  } catch (e) {
    return wantArray ? [(e as Error).message] : { Error: (e as Error).message };
  }
}

/** encoding/json's view: map keys sorted, `<`, `>`, `&` escaped (except in `toRawJson`). */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortedKeys(v)]));
}

/**
 * encoding/json writes an int64 with every digit (a bigint goes out as its decimal text, not as a double) and
 * keeps the sign of a float's -0 (`ceil -0.5 | toJson` is "-0"), which JSON.stringify drops.
 */
function bigintsInFull(_key: string, value: unknown): unknown {
  const raw = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
  if (typeof value === "bigint") return raw(String(value));
  return Object.is(value, -0) ? raw("-0") : value;
}

function toJson(value: Value, pretty = false, raw = false): string {
  const text = JSON.stringify(sortedKeys(toPlain(value, true)), bigintsInFull, pretty ? "  " : undefined) ?? "null";
  if (raw) return text;
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Helm removes Go's `<no value>` from rendered output. */
export function stripNoValue(text: string): string {
  return text.replaceAll("<no value>", "");
}

function helmFunctions(engine: Engine, env: ExecEnv): Record<string, TemplateFunction> {
  return {
    include: (name, data) => executeTemplate(env, toStr(name), data),
    tpl: (text, data) => stripNoValue(engine.renderText(toStr(text), data)),
    required: (message, value) => {
      if (value === null || value === undefined || value === "") throw new TemplateError("fail", toStr(message));
      return value;
    },
    toYaml: (value) => toYaml(value),
    mustToYaml: (value) => toYaml(value),
    toYamlPretty: (value) => toYaml(value),
    fromYaml: (text) => fromYaml(text, false),
    fromYamlArray: (text) => fromYaml(text, true),
    toJson: (value) => toJson(value),
    mustToJson: (value) => toJson(value),
    toRawJson: (value) => toJson(value, false, true),
    mustToRawJson: (value) => toJson(value, false, true),
    toPrettyJson: (value) => toJson(value, true),
    mustToPrettyJson: (value) => toJson(value, true),
    fromJson: (text) => fromJson(text, false),
    fromJsonArray: (text) => fromJson(text, true),
    mustFromJson: (text) => {
      try {
        return JSON.parse(toStr(text));
      } catch (e) {
        throw execError(`mustFromJson: ${(e as Error).message}`);
      }
    },
    toToml: (value) => {
      try {
        return stringifyToml(toPlain(value) as Record<string, unknown>) + "\n";
      } catch (e) {
        return (e as Error).message;
      }
    },
    // `helm template` talks to no cluster: lookup always finds nothing.
    lookup: () => ({}),
  };
}

/**
 * An engine over a set of parsed templates. `lenient` is the fallback's
 * second try: `fail` and `required` no longer stop the render, so a template
 * that refuses its values still shows the images its own logic composes.
 */
export function createEngine(templates: Map<string, TemplateDef>, lenient = false): Engine {
  const env: ExecEnv = { templates, functions: {}, depth: 0 };
  const engine: Engine = {
    render: (name, data) => executeTemplate(env, name, data),
    renderText: (text, data, name = "tpl") => {
      const parsed = parseFile(name, text);
      // Defines inside tpl text are visible only while that text renders
      // (helpers it includes see them too, so they go into the shared set).
      const shadowed = parsed.defines.map((d) => [d.name, templates.get(d.name)] as const);
      for (const define of parsed.defines) templates.set(define.name, define);
      try {
        return executeNodes(env, parsed.main, data);
      } finally {
        for (const [defineName, previous] of shadowed) {
          if (previous) templates.set(defineName, previous);
          else templates.delete(defineName);
        }
      }
    },
  };
  env.functions = allFunctions(engine, env);
  if (lenient) {
    env.functions.fail = () => "";
    env.functions.required = (_message, value) => value ?? "";
  }
  return engine;
}

/** Every function a template can call: Sprig's, then Helm's (bound to the engine). */
function allFunctions(engine: Engine, env: ExecEnv): Record<string, TemplateFunction> {
  return {
    ...coreFunctions,
    ...stringFunctions,
    ...collectionFunctions,
    ...timeFunctions,
    ...cryptoFunctions,
    ...helmFunctions(engine, env),
  };
}

/** The names of every function a template can call (for tests and `--help`-style listings). */
export function functionNames(): string[] {
  const env: ExecEnv = { templates: new Map(), functions: {}, depth: 0 };
  const engine = createEngine(new Map());
  return [
    ...Object.keys(allFunctions(engine, env)),
    "and",
    "or",
  ].sort();
}
