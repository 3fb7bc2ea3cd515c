/**
 * `airgap images`: the final image list of a declaration — its images and
 * lists, its Rancher release's lists, its charts' images — de-duplicated and
 * sorted like the seed's `sort -u`, and with `--why` where each came from.
 * `--chart FILE` does the same for one chart file and values, without a
 * declaration.
 * @module
 */
import { basename } from "node:path";
import type { Lock } from "../../../schemas/lock.ts";
import type { Declaration } from "../../plan/declaration.ts";
import { AirgapError, errorMessage } from "../../errors.ts";
import { type NetworkOptions, registryPool } from "../../store/registry/pool.ts";
import { type GoMap, imagesOfChart, loadChart, mergeValues, parseValues } from "@airgap/helm";
import { readTextLimited } from "../../limits.ts";
import { chartImageOrigin, type ResolvedSources } from "../../plan/fetch_sources.ts";
import { declaredRequests } from "../../plan/resolve_declared.ts";
import { displayUrl } from "../../sources/download.ts";
import { openCache } from "../../store/cache.ts";

/** One image of the final list, with every place it came from. */
export interface ListedImage {
  /** The entry as written (drives target naming). */
  entry: string;
  /** Every place it came from: `list.txt:3`, `rancher-images.txt@v2.7.9:12`, `chart x@1: template (values path)`. */
  origins: string[];
  /** A chart image from the values fallback (a template that could not be rendered), not from a render. */
  fallback?: boolean;
  /** A chart image no manifest names, injected at run time (Istio's sidecar). */
  injected?: boolean;
}

/** A file the declaration carries (`files:`, or a distribution's), as {@link imagesCommand} lists it. */
export interface ListedFile {
  /** Its name inside the gap. */
  name: string;
  /** Where it comes from: a URL without its query, or a path as written. */
  from: string;
  /** Its SHA-256 when declared or listed by a release's checksum file. */
  sha256?: string;
  /** Where it is declared (`airgap.yaml:12:5`). */
  origin: string;
}

/** Options of {@link imagesCommand}. */
export interface ImagesOptions {
  /** The declaration whose images are listed. */
  declaration: Declaration;
  /** Cache for fetched release lists and charts. */
  cacheDir: string;
  /** The lock, for `locked`. */
  previousLock?: Lock;
  /** Use the lists and charts the lock pins. */
  locked?: boolean;
  /** Where warnings go (templates that did not render…). */
  reporter?: { warn(line: string): void };
  /** Timeouts, progress hooks and cancellation for the network (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
}

const byEntry = (a: ListedImage, b: ListedImage) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0);

/** The declaration's final image list (its sources fetched), sorted by entry. */
export async function imagesCommand(
  options: ImagesOptions,
): Promise<{ images: ListedImage[]; files: ListedFile[]; sources: ResolvedSources }> {
  const cache = await openCache(options.cacheDir);
  const lease = await cache.lease(); // `cache prune` keeps the lists and charts it reads and writes
  const pool = registryPool(options.declaration.registries, { network: options.network });
  try {
    const { sources, requests, files } = await declaredRequests({
      ...options,
      cache,
      registry: pool.get,
      session: pool.session,
    });
    const images = requests.map((r) => ({ entry: r.entry, origins: r.origins ?? [r.origin] }));
    // Not fetched: listing a file costs nothing, however large it is (plan and save download it).
    const listed = files.map((f) => ({
      name: f.name,
      from: f.url.startsWith("file:") && !/^file:/i.test(f.written) ? f.written : displayUrl(f.url),
      ...(f.sha256 ? { sha256: f.sha256 } : {}),
      origin: f.origin,
    }));
    return { images: images.sort(byEntry), files: listed.sort((a, b) => a.name < b.name ? -1 : 1), sources };
  } finally {
    await pool.close();
    await lease.release();
  }
}

/** Options of {@link chartFileImages}: `helm template FILE -f … --set …`. */
export interface ChartFileOptions {
  /** The chart `.tgz`. */
  path: string;
  /** Values files, merged in order. */
  valuesFiles?: string[];
  /** `--set` arguments. */
  set?: string[];
  /** `--set-string` arguments. */
  setString?: string[];
  /** `.Release.Name`. */
  releaseName?: string;
  /** `.Release.Namespace`. */
  namespace?: string;
  /** `.Capabilities.KubeVersion`. */
  kubeVersion?: string;
  /** Extra `.Capabilities.APIVersions` (`--api-versions`, comma-separated or repeated). */
  apiVersions?: string[];
  /** `--set-json key=JSON` arguments. */
  setJson?: string[];
  /** `--set-file key=PATH` arguments (the files are read here). */
  setFile?: string[];
  /** Add images injected at run time (Istio's sidecar); default true (`--no-injected`). */
  injected?: boolean;
}

async function readSetFiles(args: string[]): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for (const arg of args) {
    const at = arg.indexOf("=");
    if (at <= 0) throw new AirgapError(`--set-file ${arg}: expected key=path`, {}, { exitCode: 2 });
    const path = arg.slice(at + 1);
    try {
      out.push({ key: arg.slice(0, at), text: await readTextLimited(path, "values") });
    } catch (e) {
      if (e instanceof AirgapError) throw e;
      throw new AirgapError(`--set-file: cannot read ${path}: ${errorMessage(e)}`, { where: path }, { exitCode: 2 });
    }
  }
  return out;
}

/** The images of one chart file with the given values, sorted; with the warnings of the render. */
export async function chartFileImages(
  options: ChartFileOptions,
): Promise<{ images: ListedImage[]; warnings: string[]; chart: { name: string; version: string } }> {
  const shown = basename(options.path);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(options.path);
  } catch (e) {
    throw new AirgapError(`cannot read chart ${options.path}: ${errorMessage(e)}`, { where: options.path }, {
      exitCode: 2,
    });
  }
  let values: GoMap = {};
  for (const file of options.valuesFiles ?? []) {
    let text: string;
    try {
      text = await readTextLimited(file, "values");
    } catch (e) {
      if (e instanceof AirgapError) throw e;
      throw new AirgapError(`cannot read values file ${file}: ${errorMessage(e)}`, { where: file }, { exitCode: 2 });
    }
    values = mergeValues(values, parseValues(text, file));
  }
  const chart = await loadChart(bytes, shown);
  const found = imagesOfChart(chart, {
    values,
    set: options.set,
    setString: options.setString,
    setJson: options.setJson,
    setFile: await readSetFiles(options.setFile ?? []),
    releaseName: options.releaseName,
    namespace: options.namespace,
    kubeVersion: options.kubeVersion,
    apiVersions: options.apiVersions?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean),
    where: shown,
    injected: options.injected,
  });
  const merged = new Map<string, ListedImage>();
  for (const image of found.images) {
    const origin = chartImageOrigin(shown, image);
    const listed = merged.get(image.image);
    if (listed) listed.origins.push(origin);
    else {
      merged.set(image.image, {
        entry: image.image,
        origins: [origin],
        ...(image.method === "values-scan" ? { fallback: true } : {}),
        ...(image.method === "injected" ? { injected: true } : {}),
      });
    }
  }
  return {
    images: [...merged.values()].sort(byEntry),
    warnings: found.warnings.map((w) => `${w.chart}: ${w.template ? `${w.template}: ` : ""}${w.message}`),
    chart: { name: chart.name, version: chart.version },
  };
}
