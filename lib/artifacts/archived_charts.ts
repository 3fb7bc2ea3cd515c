/**
 * Charts in archives. `save` stores each chart as an OCI Helm chart artifact
 * beside the images (manifest and config with the metadata, the `.tgz` with
 * the layers), marked `io.airgap.kind: chart` in index.json. `load` leaves
 * them alone unless asked: `--charts-dir DIR` writes `<name>-<version>.tgz`
 * (verified against the archive's digests), `--push-charts` pushes them as
 * OCI charts to `REGISTRY[/prefix]/charts/<name>:<version>`, where
 * `helm install oci://…` finds them.
 * @module
 */
import { CHART_NAME_ANNOTATION, CHART_VERSION_ANNOTATION } from "../oci/annotations.ts";
import { join } from "node:path";
import { type CopyEvent, copyGraph } from "../copy/engine.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { type ChartArtifact, chartLayer, chartTag, isChartEntry } from "../oci/chart.ts";
import type { Descriptor } from "../oci/manifest.ts";
import { formatReference, parseReference, type Reference } from "../ref.ts";
import { type ArchiveImage, type ArchiveIndexEntry, type ArchiveReader, openArchive } from "../store/archive.ts";
import type { CacheStore } from "../store/cache.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import type { Store } from "../store/types.ts";
import { writeStreamToFile } from "../format/streams.ts";
import { replaceFile } from "../fsutil.ts";

/** The index.json entry of a chart artifact. */
export function chartArchiveImage(artifact: ChartArtifact): ArchiveImage {
  return {
    descriptor: artifact.manifest.descriptor,
    name: artifact.entry,
    entry: artifact.entry,
    annotations: artifact.annotations,
  };
}

/** The archive's blob order with the charts': manifests and configs first, the `.tgz` files last. */
export function withChartBlobs(order: Descriptor[], charts: ChartArtifact[]): Descriptor[] {
  return [
    ...charts.flatMap((c) => [c.manifest.descriptor, c.config.descriptor]),
    ...order,
    ...charts.map((c) => c.chart.descriptor),
  ];
}

/** Copy chart artifacts (already in the cache) into an archive being written. */
export async function copyChartsInto(
  archive: Store,
  cache: CacheStore,
  charts: ChartArtifact[],
  onEvent?: (event: CopyEvent) => void,
): Promise<void> {
  if (charts.length === 0) return;
  await copyGraph({
    src: cache,
    dst: archive,
    roots: charts.map((c) => ({
      srcRepo: "",
      dstRepo: c.entry,
      descriptor: c.manifest.descriptor,
      tags: [],
      label: c.entry,
    })),
    readManifest: (_repo, desc) => cache.readBytes(desc),
    onEvent,
  });
}

/** The charts an archive holds. */
export function archiveCharts(archive: Pick<ArchiveReader, "images">): ArchiveIndexEntry[] {
  return archive.images.filter(isChartEntry);
}

/** The images an archive holds (its charts left out). */
export function archiveImageEntries(images: ArchiveIndexEntry[]): ArchiveIndexEntry[] {
  return images.filter((i) => !isChartEntry(i));
}

/** What to do with an archive's charts. */
export interface ChartLoadOptions {
  /** Write `<name>-<version>.tgz` files into this directory. */
  dir?: string;
  /** Push them as OCI charts under this repository path (default `charts`) of the target registry. */
  push?: string;
}

/** Where a chart was put. */
export interface LoadedChart {
  /** The chart's name. */
  name: string;
  /** The chart's version. */
  version: string;
  /** Digest of the `.tgz`. */
  digest: string;
  /** The file written. */
  file?: string;
  /** The OCI reference pushed, `REGISTRY/charts/name:tag`. */
  target?: string;
}

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;

/** Name and version of a chart entry, safe to use in a file name. */
function chartIdentity(entry: ArchiveIndexEntry, archive: string): { name: string; version: string } {
  const name = entry.annotations[CHART_NAME_ANNOTATION];
  const version = entry.annotations[CHART_VERSION_ANNOTATION];
  if (!name || !version || !SAFE_NAME.test(name) || !SAFE_NAME.test(version)) {
    throw new AirgapError(`archive ${archive}: chart entry ${entry.entry} has a missing or unsafe name or version`);
  }
  return { name, version };
}

async function chartLayerOf(archive: ArchiveReader, entry: ArchiveIndexEntry): Promise<Descriptor> {
  const bytes = await archive.readBytes(entry.descriptor);
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new AirgapError(`archive ${archive.path}: chart ${entry.entry} has a manifest that is not JSON`);
  }
  const layer = chartLayer(manifest);
  if (!layer) throw new AirgapError(`archive ${archive.path}: chart ${entry.entry} has no chart layer`);
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
}

/** Write one chart `.tgz` into `dir`, streamed and verified, through a partial file renamed at the end. */
async function writeChartFile(archive: ArchiveReader, layer: Descriptor, path: string): Promise<void> {
  const partial = `${path}.partial`;
  const file = await Deno.open(partial, { write: true, create: true, truncate: true });
  try {
    await writeStreamToFile(await archive.fetch("", layer), file);
    await file.syncData();
  } catch (e) {
    file.close();
    await Deno.remove(partial).catch(() => {});
    throw e;
  }
  file.close();
  await replaceFile(partial, path);
}

/** Options of {@link loadCharts}. */
export interface LoadChartsOptions extends ChartLoadOptions {
  /** The target registry store, for `push`. */
  store?: RegistryStore;
  /** Its host. */
  registry?: string;
  /** Path prefix in the registry (a Harbor project). */
  prefix?: string;
}

/** One chart to write and/or push, checked before anything is done. */
export interface ChartJob {
  entry: ArchiveIndexEntry;
  name: string;
  version: string;
  layer: Descriptor;
  /** Where it is pushed, when it is. */
  target?: Reference;
}

/**
 * Check an archive's charts before anything is loaded: names safe for file
 * names, a chart layer in each, push targets that do not collide with the
 * images' targets (`imageTargets`: `REGISTRY/repo:tag` keys).
 */
export async function prepareCharts(
  archive: ArchiveReader,
  options: LoadChartsOptions,
  imageTargets: ReadonlySet<string> = new Set(),
): Promise<ChartJob[]> {
  const jobs: ChartJob[] = [];
  for (const entry of archiveCharts(archive)) {
    const { name, version } = chartIdentity(entry, archive.path);
    const job: ChartJob = { entry, name, version, layer: await chartLayerOf(archive, entry) };
    if (options.push !== undefined) {
      if (!options.registry) throw new AirgapError("pushing charts needs a target registry (--registry)");
      const path = [options.prefix, options.push || "charts"]
        .map((p) => (p ?? "").replace(/^\/+|\/+$/g, ""))
        .filter(Boolean)
        .join("/");
      try {
        job.target = parseReference(`${options.registry}/${path}/${name}:${chartTag(version)}`);
      } catch (e) {
        throw new AirgapError(`chart ${name}@${version}: cannot name its target: ${errorMessage(e)}`);
      }
      const key = formatReference(job.target);
      if (imageTargets.has(key)) {
        throw new AirgapError(
          `chart ${name}@${version} and an image of ${archive.path} both map to ${key}; push the charts elsewhere with --push-charts PATH`,
        );
      }
    }
    jobs.push(job);
  }
  return jobs;
}

/** Write and/or push prepared charts. */
export async function runChartJobs(
  archive: ArchiveReader,
  jobs: ChartJob[],
  options: LoadChartsOptions,
): Promise<LoadedChart[]> {
  const out: LoadedChart[] = [];
  if (options.dir && jobs.length > 0) await Deno.mkdir(options.dir, { recursive: true });
  for (const job of jobs) {
    const loaded: LoadedChart = { name: job.name, version: job.version, digest: job.layer.digest };
    if (options.dir) {
      const file = join(options.dir, `${job.name}-${job.version}.tgz`);
      try {
        await writeChartFile(archive, job.layer, file);
      } catch (e) {
        throw new AirgapError(`chart ${job.name}@${job.version}: cannot write ${file}: ${errorMessage(e)}`);
      }
      loaded.file = file;
    }
    if (job.target) {
      if (!options.store) throw new AirgapError("pushing charts needs a target registry");
      loaded.target = await pushChart(archive, job, options.store);
    }
    out.push(loaded);
  }
  return out;
}

/** Write and/or push every chart of an archive. */
export async function loadCharts(archive: ArchiveReader, options: LoadChartsOptions): Promise<LoadedChart[]> {
  return await runChartJobs(archive, await prepareCharts(archive, options), options);
}

async function pushChart(archive: ArchiveReader, job: ChartJob, store: RegistryStore): Promise<string> {
  const ref = job.target!;
  const target = formatReference(ref);
  await copyGraph({
    src: archive,
    dst: store,
    roots: [{
      srcRepo: "",
      dstRepo: ref.repository,
      descriptor: job.entry.descriptor,
      tags: [ref.tag!],
      label: target,
    }],
  });
  const head = await store.head(ref.repository, ref.tag!);
  const digest = head?.digest ?? (await store.resolve(ref.repository, ref.tag!)).descriptor.digest;
  if (digest !== job.entry.descriptor.digest) {
    throw new AirgapError(
      `${target}: registry reports ${digest} after the push, expected ${job.entry.descriptor.digest}`,
    );
  }
  return target;
}

/** Write the charts of an archive file into `dir` (no registry involved). */
export async function extractCharts(archivePath: string, dir: string): Promise<LoadedChart[]> {
  const archive = await openArchive(archivePath);
  try {
    const charts = await loadCharts(archive, { dir });
    if (charts.length === 0) throw new AirgapError(`${archivePath} holds no charts`);
    return charts;
  } finally {
    await archive.close?.();
  }
}
