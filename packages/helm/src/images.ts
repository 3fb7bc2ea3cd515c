/**
 * The images a Helm chart deploys: render it as `helm template` would and
 * collect every `image:` string in the manifests, plus the references it
 * passes outside `image:` fields (args, env, ConfigMaps, CR image maps) when
 * its values name them (outside.ts); add the images the chart declares in its
 * `helm.sh/images` (or `artifacthub.io/images`) annotation. A template that
 * cannot be rendered falls back without inventing: rendered again with
 * `fail`/`required` disarmed, or else only the enabled, tagged image blocks of
 * values it names — each such image marked with the template and the reason.
 * @module
 */
import { parseAllDocuments } from "yaml";
import { parseReference } from "./host.ts";
import { type Chart, loadChart } from "./chart.ts";
import { formatValue, type GoMap, isMap } from "./gotypes.ts";
import type { ReleaseOptions } from "./objects.ts";
import { outsideImages, valuesRepositories } from "./outside.ts";
import { renderChart, type RenderedTemplate, type ScopedChart } from "./render.ts";
import { TemplateError } from "./errors.ts";
import { applySet, applyValueAt, mergeValues, parseYaml11, yaml11Options } from "./values.ts";

/** How an image was found. */
export type ImageMethod = "template" | "values-scan" | "annotation" | "injected";

/** One image a chart needs. */
export interface ChartImage {
  /** The reference as written in the manifest or values, e.g. `quay.io/jetstack/cert-manager-controller:v1.12.3`. */
  image: string;
  /** Where it was found. */
  origin: {
    /** Name of the chart (or subchart) it belongs to. */
    chart: string;
    /** Helm's template name, e.g. `cert-manager/templates/deployment.yaml`. */
    template?: string;
    /** Where in the top-level values it came from, as a `--set` path (best effort). */
    valuesPath?: string;
    /** Where in the rendered object, when not an `image:` field: `args of container x`, `Logging.spec.fluentd.image`. */
    field?: string;
    /** For the fallback: the template that could not be rendered, and why. */
    fallback?: { template: string; reason: string };
  };
  /** How it was found: rendered, declared in an annotation, by the values-scan fallback, or injected at run time. */
  method: ImageMethod;
}

/** Something the caller should know: a template that failed, a bad annotation. */
export interface ChartImagesWarning {
  /** Name of the chart (or subchart) concerned. */
  chart: string;
  /** The template concerned, when the problem is one template. */
  template?: string;
  /** What went wrong, on one line. */
  message: string;
}

/** The images of a chart, with what went wrong finding them. */
export interface ChartImagesResult {
  /** Name, version and appVersion of the chart (from its Chart.yaml). */
  chart: { name: string; version: string; appVersion?: string };
  /** Every image, each reference once (the first finding wins: templates, annotations, values scan). */
  images: ChartImage[];
  /** Templates that failed, bad annotations, fallbacks taken; empty when all went well. */
  warnings: ChartImagesWarning[];
}

/** Values and release settings, as given to `helm template`. */
export interface ChartImagesOptions extends ReleaseOptions {
  /** User values (as from `-f values.yaml`; several files should be merged by the caller in order). */
  values?: Record<string, unknown>;
  /** `--set` arguments, applied in order over `values`. */
  set?: string[];
  /** `--set-string` arguments, applied after `set`. */
  setString?: string[];
  /** `--set-json key=JSON` arguments, applied before `set` (Helm's order). */
  setJson?: string[];
  /** `--set-file key=PATH` arguments, already read: the file's text for each key (applied last). */
  setFile?: { key: string; text: string }[];
  /** Leave out `helm test` pods (hook `test`), like `helm template --skip-tests`. */
  skipTests?: boolean;
  /** How to name the chart archive in errors (a path, or `repo/chart:version`). */
  where?: string;
  /** Add the images the chart's software injects at run time (Istio's sidecar); default true. */
  injected?: boolean;
}

const ANNOTATIONS = ["helm.sh/images", "artifacthub.io/images"];

function isImageReference(text: string): boolean {
  try {
    parseReference(text);
    return true;
  } catch {
    return false;
  }
}

/** A values path as `--set` spells it: dots between keys, dots inside keys escaped. */
function formatPath(path: (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += (out === "" ? "" : ".") + part.replaceAll(".", "\\.");
  }
  return out;
}

/** Every `image:` string in a manifest tree (containers, init and ephemeral containers, lists, CRs). */
function imageFields(node: unknown, out: string[]): void {
  if (Array.isArray(node)) { for (const item of node) imageFields(item, out); }
  else if (isMap(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === "image" && typeof value === "string") out.push(value.trim());
      else imageFields(value, out);
    }
  }
}

/** A `helm test` hook: `metadata.annotations["helm.sh/hook"]` lists `test` (or the old `test-success`). */
function isTestHook(manifest: unknown): boolean {
  const metadata = isMap(manifest) && isMap(manifest.metadata) ? manifest.metadata : {};
  const hooks = isMap(metadata.annotations) ? metadata.annotations["helm.sh/hook"] : undefined;
  return typeof hooks === "string" && hooks.split(",").some((h) => ["test", "test-success"].includes(h.trim()));
}

/** Walk a chart's own values (not its subcharts' sections, nor a subchart's copy of `global`). */
function walkValues(scope: ScopedChart, root: boolean, visit: (map: GoMap, path: (string | number)[]) => void): void {
  const walk = (node: unknown, path: (string | number)[]) => {
    if (Array.isArray(node)) node.forEach((item, i) => walk(item, [...path, i]));
    else if (isMap(node)) {
      visit(node, path);
      for (const [key, value] of Object.entries(node)) {
        if (path.length === 0 && (scope.subchartNames.includes(key) || (key === "global" && !root))) continue;
        walk(value, [...path, key]);
      }
    }
  };
  walk(scope.values, []);
}

/** Best effort: the values leaf a rendered image was built from (the full reference, or its name). */
function traceValuesPath(image: string, scope: ScopedChart, root: boolean): string | undefined {
  const name = image.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
  let best: { score: number; path: (string | number)[] } | undefined;
  walkValues(scope, root, (map, path) => {
    for (const [key, value] of Object.entries(map)) {
      if (typeof value !== "string" || value.trim().length < 2) continue;
      const text = value.trim();
      let score = text === image ? 4 : text === name ? 3 : text.includes("/") && name.endsWith(`/${text}`) ? 2 : 0;
      if (score === 0) continue;
      if (/^(repository|image|.*Image)$/.test(key)) score += 0.5;
      if (!best || score > best.score) best = { score, path: [...path, key] };
    }
  });
  return best ? formatPath([...scope.valuesPath, ...best.path]) : undefined;
}

function hasTagOrDigest(reference: string): boolean {
  return reference.includes("@") || /:[^/]*$/.test(reference);
}

/** A block named (as prefix or extension) by one of the paths, with no `enabled: false` on the way. */
function wanted(values: GoMap, path: (string | number)[], only: string[][]): boolean {
  const keys = path.map(String);
  if (keys[keys.length - 1] === "repository") keys.pop();
  const named = only.some((p) =>
    p.every((k, i) => i >= keys.length || keys[i] === k) || keys.every((k, i) => i >= p.length || p[i] === k)
  );
  if (!named) return false;
  let node: unknown = values;
  for (const key of keys) {
    if (!isMap(node) && !Array.isArray(node)) break;
    if (isMap(node) && node.enabled === false) return false;
    node = (node as GoMap)[key];
  }
  return true;
}

/** A reference's first component names a registry (a host: a dot, a port, or localhost). */
function hasRegistry(reference: string): boolean {
  const first = reference.split("/")[0];
  return reference.includes("/") && (/[.:]/.test(first) || first === "localhost");
}

/**
 * The registry a chart's values name for all its images, by the conventions charts follow (Bitnami's
 * `global.imageRegistry`, `global.image.registry`, RKE2's `global.systemDefaultRegistry`, Rancher's
 * `global.cattle.systemDefaultRegistry`), if any: the one place this policy is decided.
 */
export function conventionRegistry(values: GoMap): string | undefined {
  const global = isMap(values.global) ? values.global : {};
  const candidates = [
    global.imageRegistry,
    isMap(global.image) ? global.image.registry : undefined,
    global.systemDefaultRegistry,
    isMap(global.cattle) ? global.cattle.systemDefaultRegistry : undefined,
  ];
  for (const c of candidates) if (typeof c === "string" && c.trim() !== "") return c.trim().replace(/\/+$/, "");
  return undefined;
}

/** Istio's convention: bare image names under `hub` (or `global.hub`), tagged with `tag` (or `global.tag`). */
function istioHub(values: GoMap): { hub?: string; tag?: unknown } {
  const global = isMap(values.global) ? values.global : {};
  const hub = typeof values.hub === "string" && values.hub ? values.hub : global.hub;
  const tag = values.tag ?? global.tag;
  return { hub: typeof hub === "string" && hub.trim() ? hub.trim().replace(/\/+$/, "") : undefined, tag };
}

/**
 * Images written in a chart's values: maps with `repository` (plus optional
 * `registry`, `tag`, `digest`), and `image`/`…Image` strings (with a sibling
 * `…Tag` if there is one). A missing tag defaults to the chart's appVersion,
 * the convention nearly every chart's templates follow.
 */
export function scanValues(
  scope: ScopedChart,
  root = true,
  only?: string[][],
): { image: string; valuesPath: string }[] {
  const found: { image: string; valuesPath: string }[] = [];
  // Restricted (the fallback): no tag is composed from any appVersion, and only named, enabled blocks count.
  const appVersion = only ? undefined : scope.chart.appVersion;
  const registry = conventionRegistry(scope.values);
  const istio = istioHub(scope.values);
  const add = (reference: string, tag: unknown, path: (string | number)[]) => {
    if (only && !wanted(scope.values, path, only)) return;
    let image = reference.trim();
    if (image === "") return;
    const tagText = tag === undefined || tag === null || tag === "" ? "" : formatValue(tag);
    if (!hasTagOrDigest(image)) {
      if (tagText) image += `:${tagText}`;
      else if (appVersion) image += `:${appVersion}`;
    }
    if (only && !hasTagOrDigest(image)) return;
    if (isImageReference(image)) found.push({ image, valuesPath: formatPath([...scope.valuesPath, ...path]) });
  };
  walkValues(scope, root, (map, path) => {
    if (typeof map.repository === "string" && map.repository.trim() !== "") {
      const own = typeof map.registry === "string" && map.registry.trim() !== "" ? map.registry.trim() : undefined;
      const chosen = own ?? (hasRegistry(map.repository.trim()) ? undefined : registry);
      const registryPrefix = chosen ? `${chosen}/` : "";
      const digest = typeof map.digest === "string" && map.digest.trim() !== "" ? `@${map.digest.trim()}` : "";
      let reference = registryPrefix + map.repository.trim();
      const tag = map.tag === undefined || map.tag === null || map.tag === "" ? undefined : formatValue(map.tag);
      if (digest) reference += (tag && !hasTagOrDigest(reference) ? `:${tag}` : "") + digest;
      add(reference, tag, [...path, "repository"]);
    }
    for (const [key, value] of Object.entries(map)) {
      if (typeof value === "string" && (key === "image" || /.Image$/.test(key))) {
        const bare = value.trim() !== "" && !value.includes("/") && !value.includes(":") && istio.hub;
        const text = bare ? `${istio.hub}/${value.trim()}` : value;
        add(text, map[`${key}Tag`] ?? (bare ? istio.tag : undefined), [...path, key]);
      }
    }
  });
  return found;
}

/** Images a chart declares in its Chart.yaml annotations (a YAML list of `{name, image}`). */
function annotationImages(chart: Chart, warn: (message: string) => void): string[] {
  const annotations = isMap(chart.metadata.annotations) ? chart.metadata.annotations : {};
  const out: string[] = [];
  for (const key of ANNOTATIONS) {
    const text = annotations[key];
    if (typeof text !== "string") continue;
    let list: unknown;
    try {
      list = parseYaml11(text);
    } catch (e) {
      warn(`annotation ${key} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
      continue;
    }
    for (const entry of Array.isArray(list) ? list : []) {
      const image = isMap(entry) && typeof entry.image === "string" ? entry.image.trim() : "";
      if (image && isImageReference(image)) out.push(image);
      else warn(`annotation ${key} has an entry without a valid image: ${JSON.stringify(entry)}`);
    }
  }
  return out;
}

/** The user values `helm template` would use: values, `--set-json`, `--set`, `--set-string`, `--set-file`. */
export function userValues(options: ChartImagesOptions): GoMap {
  const values = mergeValues({}, (options.values ?? {}) as GoMap);
  for (const arg of options.setJson ?? []) applyValueAt(values, arg, "--set-json", (text) => JSON.parse(text));
  for (const arg of options.set ?? []) applySet(values, arg);
  for (const arg of options.setString ?? []) applySet(values, arg, true);
  for (const { key, text } of options.setFile ?? []) applyValueAt(values, `${key}=x`, "--set-file", () => text);
  return values;
}

interface Collector {
  options: ChartImagesOptions;
  repositories: Set<string>;
  root: ScopedChart;
  add(entry: ChartImage): void;
  warn(warning: ChartImagesWarning): void;
}

/** The images of one rendered template: `image:` fields, then confirmed references elsewhere. Null if YAML fails. */
function collectRendered(
  c: Collector,
  scope: ScopedChart,
  template: string,
  output: string,
  fallback?: ChartImage["origin"]["fallback"],
): string | undefined {
  const root = scope === c.root;
  const method: ImageMethod = fallback ? "values-scan" : "template";
  const docs = [];
  for (const text of output.split(/^---(?=[ \t]*(?:#.*)?$)/m)) {
    // A CRD without an `image:` key has no image to give (its schema text is not searched): not parsed, as
    // CRDs are most of the YAML some charts render (argo-cd: 1.9 MB).
    if (/^kind:[ \t]*CustomResourceDefinition[ \t]*$/m.test(text) && !text.includes("image:")) continue;
    for (const doc of parseAllDocuments(text, yaml11Options())) {
      if (doc.errors.length > 0) return `rendered YAML does not parse: ${doc.errors[0].message.split("\n")[0]}`;
      docs.push(doc);
    }
  }
  for (const doc of docs) {
    const manifest = doc.toJS();
    if (c.options.skipTests && isTestHook(manifest)) continue;
    const found: string[] = [];
    imageFields(manifest, found);
    for (const image of found.filter((i) => i !== "")) {
      if (!isImageReference(image)) {
        c.warn({
          chart: scope.chart.name,
          template,
          message: `renders image "${image}", which is not a valid reference`,
        });
        continue;
      }
      const valuesPath = traceValuesPath(image, scope, root);
      c.add({ image, origin: { chart: scope.chart.name, template, valuesPath, fallback }, method });
    }
    for (const { image, field } of outsideImages(manifest, c.repositories)) {
      const valuesPath = traceValuesPath(image, scope, root);
      c.add({ image, origin: { chart: scope.chart.name, template, valuesPath, field, fallback }, method });
    }
  }
  return undefined;
}

/** `.Values.a.b` paths a template's text names. */
function referencedPaths(text: string): string[][] {
  return Array.from(text.matchAll(/\.Values((?:\.[A-Za-z_][\w-]*)+)/g), (m) => m[1].slice(1).split("."));
}

/**
 * The fallback for templates that did not render: render them again with
 * `fail`/`required` disarmed (their own logic, helpers and registry overrides
 * still decide the images); a template that still fails gives only the image
 * blocks of values it names, with a tag of their own, under no `enabled: false`.
 */
function fallBack(c: Collector, chart: Chart, failed: RenderedTemplate[]): void {
  const again = renderChart(chart, userValues(c.options), { ...c.options, lenient: true });
  for (const { scope, template, error } of failed) {
    const fallback = { template, reason: error!.message };
    const retry = again.templates.find((t) => t.template === template);
    if (retry?.output !== undefined && collectRendered(c, scope, template, retry.output, fallback) === undefined) {
      continue;
    }
    const relative = template.slice(scope.path.length + 1);
    const paths = referencedPaths(scope.chart.templates.get(relative) ?? "");
    for (const found of scanValues(scope, scope === c.root, paths)) {
      c.add({
        image: found.image,
        origin: { chart: scope.chart.name, valuesPath: found.valuesPath, fallback },
        method: "values-scan",
      });
    }
  }
}

/**
 * Images no manifest names, which the chart's software injects into other pods at run time. Covered: Istio's
 * sidecar (`proxyv2`), which istiod's injector adds to every meshed pod from `global.proxy.image` under
 * `global.hub` with `global.tag`. Only a complete reference is given (no hub or no tag: nothing).
 */
function injectedImages(scope: ScopedChart): { image: string; valuesPath: string; field: string }[] {
  const values = scope.values;
  const global = isMap(values.global) ? values.global : {};
  const proxy = isMap(global.proxy) ? global.proxy : {};
  if (typeof proxy.image !== "string" || proxy.image.trim() === "") return [];
  if (!isMap(values.sidecarInjectorWebhook) && !isMap(values.pilot)) return [];
  const { hub, tag } = istioHub(values);
  let image = proxy.image.trim();
  if (!image.includes("/")) {
    if (!hub) return [];
    image = `${hub}/${image}`;
  }
  if (!hasTagOrDigest(image)) {
    if (tag === undefined || tag === null || tag === "") return [];
    image += `:${formatValue(tag)}`;
  }
  if (!isImageReference(image)) return [];
  const valuesPath = formatPath([...scope.valuesPath, "global", "proxy", "image"]);
  return [{ image, valuesPath, field: "injected at run time: Istio's sidecar (istiod adds it to meshed pods)" }];
}

/** Find the images of an already loaded chart. */
export function imagesOfChart(chart: Chart, options: ChartImagesOptions = {}): ChartImagesResult {
  const result = renderChart(chart, userValues(options), options);
  const images = new Map<string, ChartImage>();
  const warnings: ChartImagesWarning[] = result.notes.map((message) => ({ chart: chart.name, message }));
  const c: Collector = {
    options,
    repositories: valuesRepositories(result.charts),
    root: result.charts[0],
    add: (entry) => {
      if (!entry.origin.valuesPath) delete entry.origin.valuesPath;
      for (const key of ["field", "fallback"] as const) if (!entry.origin[key]) delete entry.origin[key];
      const known = images.get(entry.image);
      // An image: field is the better origin than the same reference seen in args or a CR.
      if (!known || (known.origin.field && !entry.origin.field && entry.method === known.method)) {
        images.set(entry.image, entry);
      }
    },
    warn: (w) => warnings.push(w),
  };
  const failed: RenderedTemplate[] = [];
  for (const rendered of result.templates) {
    const { scope, template, output } = rendered;
    const problem = rendered.error?.message ?? collectRendered(c, scope, template, output ?? "");
    if (problem === undefined) continue;
    const error = rendered.error ?? new TemplateError("exec", problem);
    failed.push({ ...rendered, error });
    warnings.push({ chart: scope.chart.name, template, message: problem });
  }
  for (const scope of result.charts) {
    const warn = (message: string) => warnings.push({ chart: scope.chart.name, message });
    for (const image of annotationImages(scope.chart, warn)) {
      c.add({ image, origin: { chart: scope.chart.name }, method: "annotation" });
    }
  }
  if (options.injected !== false) {
    for (const scope of result.charts) {
      for (const found of injectedImages(scope)) {
        if (images.has(found.image)) continue;
        c.add({
          image: found.image,
          origin: { chart: scope.chart.name, valuesPath: found.valuesPath, field: found.field },
          method: "injected",
        });
      }
    }
  }
  if (failed.length > 0) {
    fallBack(c, chart, failed);
    for (const name of new Set(failed.map((f) => f.scope.chart.name))) {
      const count = failed.filter((f) => f.scope.chart.name === name).length;
      warnings.push({
        chart: name,
        message: `chart ${name}: ${count} template${count === 1 ? "" : "s"} could not be rendered; ` +
          'their images come from the fallback (marked "from values" in --why)',
      });
    }
  }

  return {
    chart: { name: chart.name, version: chart.version, appVersion: chart.appVersion },
    images: [...images.values()],
    warnings,
  };
}

/**
 * The images a packaged chart (`.tgz` bytes) deploys with the given values,
 * as `helm template` would render them.
 */
export async function chartImages(
  chartBytes: Uint8Array,
  options: ChartImagesOptions = {},
): Promise<ChartImagesResult> {
  return imagesOfChart(await loadChart(chartBytes, options.where), options);
}
