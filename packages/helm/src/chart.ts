/**
 * Read a packaged Helm chart (`.tgz`, in memory: charts are small) into its
 * parts: Chart.yaml, values, templates, other files and subcharts (packaged
 * `.tgz` or plain directories under `charts/`).
 * @module
 */
import { posix } from "node:path";
import {
  AirgapError,
  checkSize,
  errorMessage,
  LIMITS,
  type RandomAccess,
  readAll,
  scanTar,
  TarFormatError,
  tooLarge,
} from "./host.ts";
import { type GoMap, isMap } from "./gotypes.ts";
import { parseValues, parseYaml11 } from "./values.ts";

/** A dependency as declared in Chart.yaml (v2) or requirements.yaml (v1). */
export interface ChartDependency {
  /** The dependency's chart name (a subchart's Chart.yaml name). */
  name: string;
  /** The name it takes in the parent (its values key); undefined when not aliased. */
  alias?: string;
  /** Comma-separated values paths; the first that holds a boolean enables or disables it. */
  condition?: string;
  /** Names under `.Values.tags`; when all those set are false, it is disabled. */
  tags?: string[];
  /** The version range; a vendored subchart outside it is not this dependency (Helm keeps it under its own name). */
  version?: string;
}

/** A loaded chart. */
export interface Chart {
  /** Chart.yaml as written. */
  metadata: GoMap;
  /** The chart name from Chart.yaml. */
  name: string;
  /** The chart version from Chart.yaml (empty when absent). */
  version: string;
  /** The appVersion from Chart.yaml, when set. */
  appVersion?: string;
  /** values.yaml (empty map when absent). */
  values: GoMap;
  /** Files under `templates/`, by path relative to the chart (`templates/x.yaml`). */
  templates: Map<string, string>;
  /** Everything else Helm exposes as `.Files`, by relative path. */
  files: Map<string, Uint8Array>;
  /** Declared dependencies (for conditions, tags, aliases). */
  dependencies: ChartDependency[];
  /** Subcharts found under `charts/`. */
  subcharts: Chart[];
}

/** Helm's own ceiling on a decompressed chart. */
const MAX_CHART_BYTES = LIMITS.chart;
const decoder = new TextDecoder();

function text(bytes: Uint8Array): string {
  return decoder.decode(bytes).replace(/^\uFEFF/, "");
}

function dependencyList(value: unknown): ChartDependency[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isMap).filter((d) => typeof d.name === "string").map((d) => ({
    name: d.name as string,
    alias: typeof d.alias === "string" && d.alias !== "" ? d.alias : undefined,
    condition: typeof d.condition === "string" && d.condition !== "" ? d.condition : undefined,
    tags: Array.isArray(d.tags) ? d.tags.map(String) : undefined,
    version: d.version === undefined || d.version === null ? undefined : String(d.version),
  }));
}

/**
 * Bytes a chart may still inflate to: one budget for a chart and all its
 * packaged subcharts, so a chart of many small subcharts, each inflating to
 * the limit, is refused like one large chart.
 */
interface Budget {
  left: number;
}

/** A chart's files that are parsed as one YAML document (bounded by `LIMITS.values`). */
const PARSED_WHOLE = new Set(["Chart.yaml", "values.yaml", "requirements.yaml", "Chart.lock", "requirements.lock"]);

/** Compressed bytes handed to the inflater at a time: deflate expands at most ~1032×, so one step yields ≤ 4.2 MiB. */
const GZIP_STEP = 4 * 1024;

/**
 * Gunzip a chart in memory, refusing more than Helm's ceiling. The
 * compressed bytes go to the inflater a small slice at a time, pulled only as
 * the output is consumed, and the limit is checked as the output grows: a
 * 3 MB chart inflating to 3 GiB stops at the limit, not after inflating it all.
 */
async function gunzip(bytes: Uint8Array, where: string, budget: Budget): Promise<Uint8Array> {
  let at = 0;
  const compressed = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at += GZIP_STEP));
    },
  }, { highWaterMark: 0 });
  try {
    const out = await readAll(compressed.pipeThrough(new DecompressionStream("gzip")), budget.left);
    budget.left -= out.byteLength;
    return out;
  } catch (e) {
    if (/^content larger than/.test(errorMessage(e))) throw tooLarge("chart", where);
    throw new AirgapError(`chart ${where}: cannot decompress: ${errorMessage(e)}`, { where });
  }
}

/**
 * Unpack a `.tgz` (or plain tar) into relative paths, with the top-level chart
 * directory stripped. The archive's own tar reader does it (one tar
 * implementation in the program): regular files only, no links.
 */
async function unpackChart(bytes: Uint8Array, where: string, budget: Budget): Promise<Map<string, Uint8Array>> {
  const tar = bytes[0] === 0x1f && bytes[1] === 0x8b ? await gunzip(bytes, where, budget) : bytes;
  const source: RandomAccess = {
    size: tar.byteLength,
    read: (offset, length) => Promise.resolve(tar.subarray(offset, offset + length)),
  };
  const files = new Map<string, Uint8Array>();
  try {
    for await (const entry of scanTar(source)) {
      if (entry.type !== "0" && entry.type !== "7") continue; // regular files (`7`: contiguous, the same)
      const path = posix.normalize(entry.name.replace(/^\/+/, ""));
      const slash = path.indexOf("/");
      if (slash === -1 || path.startsWith("../")) continue;
      // The YAML parsed whole and at once (Chart.yaml, values.yaml…) is bounded like a values file.
      if (PARSED_WHOLE.has(posix.basename(path))) checkSize("values", entry.size, `chart ${where}: ${path}`);
      files.set(path.slice(slash + 1), tar.slice(entry.offset, entry.offset + entry.size));
    }
  } catch (e) {
    if (!(e instanceof TarFormatError)) throw e;
    throw new AirgapError(`chart ${where}: not a tar archive: ${errorMessage(e)}`, { where });
  }
  if (files.size === 0) throw new AirgapError(`chart ${where}: archive holds no chart files`, { where });
  return files;
}

/** Build a chart from its files (paths relative to the chart directory). */
async function chartFromFiles(files: Map<string, Uint8Array>, where: string, budget: Budget): Promise<Chart> {
  const chartYaml = files.get("Chart.yaml");
  if (!chartYaml) throw new AirgapError(`chart ${where}: Chart.yaml is missing`, { where });
  let metadata: unknown;
  try {
    metadata = parseYaml11(text(chartYaml));
  } catch (e) {
    throw new AirgapError(`chart ${where}: Chart.yaml: ${errorMessage(e)}`, { where });
  }
  if (!isMap(metadata) || typeof metadata.name !== "string" || metadata.name === "") {
    throw new AirgapError(`chart ${where}: Chart.yaml has no name`, { where });
  }
  const name = metadata.name;
  const valuesFile = files.get("values.yaml");
  const values = valuesFile ? parseValues(text(valuesFile), `${name}/values.yaml`) : {};
  const requirements = files.get("requirements.yaml");
  let declared: unknown;
  try {
    declared = metadata.dependencies ??
      (requirements ? (parseYaml11(text(requirements)) as GoMap | null)?.dependencies : undefined);
  } catch (e) {
    throw new AirgapError(`chart ${where}: requirements.yaml: ${errorMessage(e)}`, { where });
  }

  const templates = new Map<string, string>();
  const other = new Map<string, Uint8Array>();
  const packaged: [string, Uint8Array][] = [];
  const unpacked = new Map<string, Map<string, Uint8Array>>();
  const special = new Set(["Chart.yaml", "values.yaml", "Chart.lock", "requirements.yaml", "requirements.lock"]);
  for (const [path, data] of files) {
    if (path.startsWith("templates/")) templates.set(path, text(data));
    else if (path.startsWith("charts/")) {
      const rest = path.slice("charts/".length);
      const slash = rest.indexOf("/");
      if (slash === -1) {
        if (/\.tgz$|\.tar\.gz$/.test(rest)) packaged.push([rest, data]);
      } else {
        const dir = rest.slice(0, slash);
        if (!unpacked.has(dir)) unpacked.set(dir, new Map());
        unpacked.get(dir)!.set(rest.slice(slash + 1), data);
      }
    } else if (!special.has(path) && path !== "values.schema.json") other.set(path, data);
  }
  const subcharts: Chart[] = [];
  for (const [file, data] of packaged.sort(([a], [b]) => a.localeCompare(b))) {
    const sub = `${where}/charts/${file}`;
    subcharts.push(await chartFromFiles(await unpackChart(data, sub, budget), sub, budget));
  }
  for (const [dir, subfiles] of [...unpacked].sort(([a], [b]) => a.localeCompare(b))) {
    if (subfiles.has("Chart.yaml")) subcharts.push(await chartFromFiles(subfiles, `${where}/charts/${dir}`, budget));
  }
  return {
    metadata,
    name,
    version: String(metadata.version ?? ""),
    appVersion: metadata.appVersion === undefined || metadata.appVersion === null
      ? undefined
      : String(metadata.appVersion),
    values,
    templates,
    files: other,
    dependencies: dependencyList(declared),
    subcharts,
  };
}

/**
 * Load a chart archive from bytes. `where` names it in errors (a path or
 * `repo/chart:version`).
 */
export async function loadChart(bytes: Uint8Array, where = "archive"): Promise<Chart> {
  const budget: Budget = { left: MAX_CHART_BYTES };
  return chartFromFiles(await unpackChart(bytes, where, budget), where, budget);
}
