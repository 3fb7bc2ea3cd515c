/**
 * Render a chart the way `helm template` does: decide which subcharts are
 * enabled (conditions, tags, aliases), coalesce values down the chart tree
 * (each subchart sees its own section plus `global`), and render every
 * manifest template, recording per template either its output or its error.
 * @module
 */
import { posix } from "node:path";
import type { Chart, ChartDependency } from "./chart.ts";
import { TemplateError } from "./errors.ts";
import { deepCopy, type GoMap, isMap } from "./gotypes.ts";
import { capabilitiesObject, chartObject, filesObject, releaseObject, type ReleaseOptions } from "./objects.ts";
import { createEngine, helmOrder, parseTemplates, stripNoValue, type TemplateSource } from "./template.ts";
import { semverSatisfies } from "./semver.ts";
import { coalesceGlobals, coalesceTables } from "./values.ts";

/** A chart as rendered: where it sits in the tree and the values its templates see. */
export interface ScopedChart {
  /** The chart itself. */
  chart: Chart;
  /** Its name in the parent (the alias, if any). */
  name: string;
  /** Helm's template name prefix: `parent` or `parent/charts/sub`. */
  path: string;
  /** Keys from the top-level values down to this chart's section (`[]` for the root). */
  valuesPath: string[];
  /** The coalesced values its templates see as `.Values`. */
  values: GoMap;
  /** Names (keys in `values`) of its enabled subcharts. */
  subchartNames: string[];
}

/** One manifest template's result. */
export interface RenderedTemplate {
  /** The chart the template belongs to. */
  scope: ScopedChart;
  /** Helm's template name, e.g. `cert-manager/templates/deployment.yaml`. */
  template: string;
  /** The rendered text, when it rendered. */
  output?: string;
  /** Why it did not render. */
  error?: TemplateError;
}

/** Everything a render produced. */
export interface RenderResult {
  /** The chart and its enabled subcharts, root first. */
  charts: ScopedChart[];
  /** Every manifest template, rendered or failed. */
  templates: RenderedTemplate[];
  /** Problems that are not a template's fault (e.g. a declared dependency missing from `charts/`). */
  notes: string[];
}

interface Node {
  chart: Chart;
  name: string;
  children: Node[];
}

/** Helm's `IsCompatibleRange`: the vendored chart's version is inside the dependency's range (none: not). */
function compatible(dep: ChartDependency, sub: Chart): boolean {
  try {
    return dep.version !== undefined && semverSatisfies(dep.version, sub.version);
  } catch {
    return false;
  }
}

/**
 * A chart's subchart candidates as Helm's `processDependencyEnabled` builds them: vendored charts that no
 * dependency entry matches (by name and version range) stay under their own name; each entry takes the first
 * matching vendored chart under its alias, or is noted missing.
 */
function candidates(chart: Chart, notes: string[]): { chart: Chart; name: string; dep?: ChartDependency }[] {
  const out: { chart: Chart; name: string; dep?: ChartDependency }[] = [];
  for (const sub of chart.subcharts) {
    if (!chart.dependencies.some((d) => d.name === sub.name && compatible(d, sub))) {
      out.push({ chart: sub, name: sub.name });
    }
  }
  for (const dep of chart.dependencies) {
    const sub = chart.subcharts.find((s) => s.name === dep.name && compatible(dep, s));
    if (sub) out.push({ chart: sub, name: dep.alias ?? dep.name, dep });
    else notes.push(`chart ${chart.name}: dependency "${dep.name}" (${dep.version ?? "no version"}) is not in charts/`);
  }
  return out;
}

function tree(chart: Chart, name: string, notes: string[]): Node {
  return { chart, name, children: candidates(chart, notes).map((c) => tree(c.chart, c.name, notes)) };
}

function pathValue(values: GoMap, path: string[]): unknown {
  let current: unknown = values;
  for (const key of path) {
    if (!isMap(current) || !(key in current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Helm's rules: tags enable unless all named tags are false; the first boolean condition wins over tags. */
function enabled(dep: ChartDependency, probe: GoMap, path: string[]): boolean {
  let on = true;
  if (dep.tags && dep.tags.length > 0) {
    const tags = isMap(probe.tags) ? probe.tags : {};
    const states = dep.tags.map((tag) => tags[tag]).filter((v) => typeof v === "boolean");
    if (states.length > 0 && !states.includes(true)) on = false;
  }
  for (const condition of (dep.condition ?? "").split(",").map((c) => c.trim()).filter(Boolean)) {
    const value = pathValue(probe, [...path, ...condition.split(".")]);
    if (typeof value === "boolean") return value;
  }
  return on;
}

/** Helm removes every candidate whose name is that of a disabled dependency entry (declared name or alias). */
function prune(node: Node, probe: GoMap, path: string[]): Node {
  const disabled = new Set(
    node.chart.dependencies.filter((d) => !enabled(d, probe, path)).map((d) => d.alias ?? d.name),
  );
  const children = node.children.filter((child) => !disabled.has(child.name));
  return { ...node, children: children.map((child) => prune(child, probe, [...path, child.name])) };
}

/** Chart defaults under user values, then each subchart's section with globals, recursively. */
function coalesceTree(dest: GoMap, node: Node): GoMap {
  coalesceTables(dest, node.chart.values);
  for (const child of node.children) {
    if (!isMap(dest[child.name])) dest[child.name] = {};
    const section = dest[child.name] as GoMap;
    coalesceGlobals(section, dest);
    coalesceTree(section, child);
  }
  return dest;
}

function flatten(node: Node, values: GoMap, path: string, valuesPath: string[], out: ScopedChart[]): void {
  out.push({
    chart: node.chart,
    name: node.name,
    path,
    valuesPath,
    values,
    subchartNames: node.children.map((c) => c.name),
  });
  for (const child of node.children) {
    flatten(child, values[child.name] as GoMap, `${path}/charts/${child.name}`, [...valuesPath, child.name], out);
  }
}

/** The final values a chart's templates see, after Helm's coalescing (exported for tests and `values` views). */
export function computeValues(chart: Chart, userValues: GoMap): { charts: ScopedChart[]; notes: string[] } {
  const notes: string[] = [];
  const all = tree(chart, chart.name, notes);
  const probe = coalesceTree(deepCopy(userValues), all);
  const kept = prune(all, probe, []);
  const values = coalesceTree(deepCopy(userValues), kept);
  const charts: ScopedChart[] = [];
  flatten(kept, values, chart.name, [], charts);
  return { charts, notes };
}

function isPartial(relative: string): boolean {
  return posix.basename(relative).startsWith("_");
}

function isManifestTemplate(relative: string): boolean {
  return !isPartial(relative) && !posix.basename(relative).endsWith("NOTES.txt");
}

/** Helm loads only the partials of a library chart. */
function loadedTemplates(chart: Chart): [string, string][] {
  const library = chart.metadata.type === "library";
  return [...chart.templates].filter(([relative]) => !library || isPartial(relative));
}

/**
 * The root object (`$`) of each chart, one per chart and shared by all its templates as in Helm: a template
 * that `set`s `$.Values` or a new key is seen by the templates that run after it. `.Subcharts` holds the
 * subcharts' own roots.
 */
function rootObjects(charts: ScopedChart[], release: GoMap, capabilities: GoMap): Map<ScopedChart, GoMap> {
  const roots = new Map<ScopedChart, GoMap>();
  for (const scope of [...charts].reverse()) {
    const subcharts: GoMap = {};
    for (const sub of charts.filter((c) => c.path.startsWith(`${scope.path}/charts/`))) {
      if (!sub.path.slice(scope.path.length + "/charts/".length).includes("/")) subcharts[sub.name] = roots.get(sub);
    }
    roots.set(scope, {
      Values: scope.values,
      Chart: chartObject(scope.chart, scope.name),
      Release: release,
      Capabilities: capabilities,
      Files: filesObject(scope.chart.files),
      Subcharts: subcharts,
    });
  }
  return roots;
}

/** Render every manifest template of a chart and its enabled subcharts. */
export function renderChart(
  chart: Chart,
  userValues: GoMap,
  options: ReleaseOptions & { lenient?: boolean } = {},
): RenderResult {
  const { charts, notes } = computeValues(chart, userValues);
  const sources: TemplateSource[] = charts.flatMap((scope) =>
    loadedTemplates(scope.chart).map(([relative, text]) => ({ name: `${scope.path}/${relative}`, text }))
  );
  const { templates, errors } = parseTemplates(sources);
  const engine = createEngine(templates, options.lenient);
  const release = releaseObject(options);
  const capabilities = capabilitiesObject(options);
  const rendered: RenderedTemplate[] = [];
  const roots = rootObjects(charts, release, capabilities);
  // Helm executes templates in its parse order (deepest path first, then names in reverse), all sharing each
  // chart's root: a template that `set`s a value (or `$.Values`) is seen by those that run after it, only by those.
  const order = charts.flatMap((scope) =>
    loadedTemplates(scope.chart).map(([relative]) => ({ scope, relative, name: `${scope.path}/${relative}` }))
  ).sort((a, b) => helmOrder(a.name, b.name));
  for (const { scope, relative, name } of order) {
    // A partial that does not parse loses its defines, which Helm would refuse outright: report it.
    const parseError = errors.find((e) => e.template === name);
    if (parseError) {
      rendered.push({ scope, template: name, error: parseError });
      continue;
    }
    if (!isManifestTemplate(relative)) continue;
    const top = roots.get(scope)!;
    top.Template = { Name: name, BasePath: `${scope.path}/templates` };
    try {
      rendered.push({ scope, template: name, output: stripNoValue(engine.render(name, top)) });
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      rendered.push({ scope, template: name, error: e });
    }
  }
  return { charts, templates: rendered, notes };
}
