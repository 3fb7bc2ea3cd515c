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
import { parseAllDocuments, stringify } from "yaml";
import { stringify as stringifyToml } from "smol-toml";
import { execError, TemplateError } from "./errors.ts";
import { type ExecEnv, executeNodes, executeTemplate, type TemplateFunction } from "./evaluate.ts";
import { collectionFunctions } from "./funcs_collections.ts";
import { coreFunctions } from "./funcs_core.ts";
import { cryptoFunctions } from "./funcs_crypto.ts";
import { stringFunctions } from "./funcs_strings.ts";
import { timeFunctions } from "./funcs_time.ts";
import { toPlain, toStr, type Value } from "./gotypes.ts";
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

/** Helm's parse order: deepest paths first, then reverse lexical, so a parent chart's defines win. */
function helmOrder(a: TemplateSource, b: TemplateSource): number {
  const depth = (s: TemplateSource) => s.name.split("/").length;
  if (depth(a) !== depth(b)) return depth(b) - depth(a);
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

/**
 * Parse template files into one namespace. A file that does not parse is
 * reported in `errors` and left out; the rest still render.
 */
export function parseTemplates(sources: TemplateSource[]): ParsedTemplates {
  const templates = new Map<string, TemplateDef>();
  const errors: TemplateError[] = [];
  for (const source of [...sources].sort(helmOrder)) {
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

/** YAML as Helm's `toYaml` writes it: sorted keys, no trailing newline. */
export function toYaml(value: Value): string {
  const text = stringify(toPlain(value), {
    version: "1.1",
    indentSeq: false,
    lineWidth: 0,
    sortMapEntries: true,
  });
  return text.replace(/\n$/, "");
}

function fromYaml(text: Value, wantArray: boolean): Value {
  try {
    const docs = parseAllDocuments(toStr(text), { version: "1.1" });
    const first = Array.isArray(docs) ? docs[0] : undefined;
    if (first?.errors.length) throw first.errors[0];
    const value = first?.toJS() ?? (wantArray ? [] : {});
    if (wantArray !== Array.isArray(value)) throw new Error(`expected ${wantArray ? "a list" : "a map"}`);
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

function toJson(value: Value, pretty = false): string {
  return JSON.stringify(toPlain(value), null, pretty ? "  " : undefined) ?? "null";
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
    toRawJson: (value) => toJson(value),
    mustToRawJson: (value) => toJson(value),
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

/** An engine over a set of parsed templates. */
export function createEngine(templates: Map<string, TemplateDef>): Engine {
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
  env.functions = {
    ...coreFunctions,
    ...stringFunctions,
    ...collectionFunctions,
    ...timeFunctions,
    ...cryptoFunctions,
    ...helmFunctions(engine, env),
  };
  return engine;
}
