/**
 * `airgap load`: push an archive's images into a registry under the target
 * names Rancher expects (archive → registry, the same copy engine), keeping
 * every digest, then check every tag.
 * @module
 */
import { copyGraph, type CopyRoot } from "../copy.ts";
import { explainRefusal } from "./absent.ts";
import type { PlatformSelector } from "../oci/platform.ts";
import { checkWindowsVersions } from "../windows.ts";
import { AirgapError } from "../errors.ts";
import type { Reporter } from "../progress.ts";
import { formatReference, parseReference, type Reference, targetReference } from "../ref.ts";
import { type NetworkOptions, registryPool } from "../registries.ts";
import { InterruptedError } from "../transport/errors.ts";
import { formatBytes } from "../format.ts";
import { type ArchiveIndexEntry, type ArchiveReader, BASE_LOCK_ENTRY, openArchive } from "../store/archive.ts";
import { walkGraph } from "../oci/graph.ts";
import { isIndexType, isManifestType } from "../oci/media.ts";
import { parseManifest } from "../oci/manifest.ts";
import { windowsTagSuffixes } from "../oci/windows.ts";
import type { Descriptor } from "../oci/manifest.ts";
import { parseLock } from "../lock.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import type { RegistryStats, RegistryStore } from "../store/registry/store.ts";
import { archiveImageEntries, type ChartLoadOptions, type LoadedChart, prepareCharts, runChartJobs } from "./charts.ts";

/** Options of {@link loadCommand}. */
export interface LoadOptions {
  /** The archive: a file, or the first part or base name of split volumes. */
  archivePath: string;
  /** Target registry `host[:port]`. */
  registry: string;
  /** Path prefix inside the registry (a Harbor project…). */
  prefix?: string;
  /** Connection settings by host (the target's included). */
  registries?: ReadonlyMap<string, RegistrySettings>;
  /** Load only these entries (the seed-compatible `--image-list`). */
  entries?: string[];
  /** Platforms entries must hold (Windows versions given to load with `--windows-versions`). */
  platforms?: ReadonlyMap<string, PlatformSelector>;
  /** Where messages and push progress go. */
  reporter: Reporter;
  /** Concurrent blob pushes (default 6). */
  concurrency?: number;
  /** What to do with the archive's charts (default: nothing; they are not images). */
  charts?: ChartLoadOptions;
  /** Timeouts, progress hooks and cancellation for the network (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
}

/** One image as loaded. */
export interface LoadedImage {
  /** The archive entry as written, e.g. `rancher/rancher:v2.7.9`. */
  entry: string;
  /** Where it went in the target registry: `registry/repository:tag` (no tag for a digest-only entry). */
  target: string;
  /** The digest the target tag resolved to after the push (the archived root's). */
  digest: string;
}

/** What a load did. */
export interface LoadResult {
  /** Every tag pushed and checked, per-OS tags included. */
  images: LoadedImage[];
  /** What was moved to the target registry: blobs pushed, mounted, skipped. */
  stats: RegistryStats;
  /** Charts written or pushed. */
  charts: LoadedChart[];
}

/** Pick the archive images to load; every requested entry must be there. */
export function selectImages(images: ArchiveIndexEntry[], entries: string[] | undefined, archive: string) {
  if (!entries) return images;
  const byEntry = new Map(images.map((i) => [i.entry, i]));
  const byName = new Map(images.map((i) => [i.name, i]));
  const missing: string[] = [];
  const selected: ArchiveIndexEntry[] = [];
  for (const entry of entries) {
    let found = byEntry.get(entry);
    if (!found) {
      try {
        found = byName.get(formatReference(parseReference(entry)));
      } catch {
        found = undefined;
      }
      if (found) found = { ...found, entry };
    }
    if (found) selected.push(found);
    else missing.push(entry);
  }
  if (missing.length > 0) {
    throw new AirgapError(
      `${missing.length} listed image(s) are not in ${archive}: ${missing.slice(0, 5).join(", ")}${
        missing.length > 5 ? ", …" : ""
      }`,
    );
  }
  return selected;
}

/** A cancelled load: what made it, and that running again resumes. */
function interrupted(e: unknown, stats: RegistryStats): InterruptedError | undefined {
  if (!(e instanceof InterruptedError)) return undefined;
  return new InterruptedError(
    `interrupted: ${stats.blobsPushed} blobs (${
      formatBytes(stats.bytesPushed)
    }) were pushed; run the same command again to resume (blobs the registry holds are not sent again)`,
    {},
    { cause: e },
  );
}

/** Load an archive into a registry. */
export async function loadCommand(options: LoadOptions): Promise<LoadResult> {
  const archive = await openArchive(options.archivePath);
  const chosen = selectImages(archiveImageEntries(archive.images), options.entries, options.archivePath);
  if (chosen.length === 0 && !options.charts) throw new AirgapError(`${options.archivePath} holds no images`);
  if (options.platforms) await checkWindowsVersions(archive, chosen, options.platforms);
  const targets = new Map<string, { ref: Reference; image: ArchiveIndexEntry }>();
  for (const image of chosen) {
    const ref = targetReference(image.entry, options.registry, options.prefix ?? "");
    const key = formatReference({ ...ref, digest: undefined });
    const clash = targets.get(key);
    if (clash && clash.image.descriptor.digest !== image.descriptor.digest) {
      throw new AirgapError(
        `entries "${clash.image.entry}" and "${image.entry}" both map to ${key} with different digests`,
      );
    }
    targets.set(key, { ref, image });
  }
  const chartOptions = { ...options.charts, registry: options.registry, prefix: options.prefix };
  const chartJobs = options.charts ? await prepareCharts(archive, chartOptions, new Set(targets.keys())) : [];
  const pool = registryPool(options.registries ?? new Map(), {
    concurrency: options.concurrency,
    network: options.network,
  });
  const store = pool.get(options.registry);
  try {
    const roots: CopyRoot[] = [...targets.entries()].map(([key, { ref, image }]) => ({
      srcRepo: "",
      dstRepo: ref.repository,
      descriptor: image.descriptor,
      tags: ref.tag ? [ref.tag] : [],
      label: key,
    }));
    const { externalLayers } = await ensureExternalBlobs(archive, roots, store, options);
    const total = [...archive.blobs.values()].reduce((sum, e) => sum + e.size, 0);
    const phase = options.reporter.phase("pushing", total, archive.blobs.size);
    try {
      await copyGraph({
        src: archive,
        dst: store,
        roots,
        concurrency: options.concurrency,
        signal: options.network?.signal,
        onEvent(event) {
          if (event.type === "bytes") phase.addBytes(event.bytes);
          else if (event.type === "blob") phase.addItem();
        },
      }).catch((e) => Promise.reject(interrupted(e, store.stats) ?? explainRefusal(e, externalLayers)));
    } finally {
      phase.end();
    }
    // Prove it: every tag must now resolve to the archived digest.
    const images: LoadedImage[] = [];
    for (const [key, { ref, image }] of targets) {
      const selector = ref.tag ?? image.descriptor.digest;
      const head = await store.head(ref.repository, selector);
      const digest = head?.digest ?? (await store.resolve(ref.repository, selector)).descriptor.digest;
      if (digest !== image.descriptor.digest) {
        throw new AirgapError(`${key}: registry reports ${digest} after the push, expected ${image.descriptor.digest}`);
      }
      images.push({ entry: image.entry, target: key, digest });
    }
    if (options.platforms) {
      const windowsEntries = new Set(options.platforms.keys());
      for (const [, { ref, image }] of targets) {
        if (ref.tag && windowsEntries.has(image.entry)) {
          for (const tagged of await tagPerOs(archive, store, ref.repository, ref.tag, image.descriptor)) {
            images.push({
              entry: image.entry,
              target: `${ref.registry}/${ref.repository}:${tagged.tag}`,
              digest: tagged.digest,
            });
          }
        }
      }
    }
    const charts = await runChartJobs(archive, chartJobs, { ...chartOptions, store });
    return { images, stats: store.stats, charts };
  } finally {
    await pool.close();
  }
}

/**
 * The per-OS tags rancher-load-images.sh leaves next to a combined list:
 * `TAG-windows-<version>` for each Windows image (`1809`, `ltsc2022`…) and
 * `TAG-linux-amd64` for the Linux one — clients and charts that still ask
 * for them find them. Each points at the child's exact bytes.
 */
export async function tagPerOs(
  archive: ArchiveReader,
  store: RegistryStore,
  repository: string,
  tag: string,
  root: Descriptor,
): Promise<{ tag: string; digest: string }[]> {
  if (!isIndexType(root.mediaType)) return [];
  const index = parseManifest(await archive.readBytes(root), root.mediaType, `${repository}:${tag}`);
  if (index.kind !== "index") return [];
  const out: { tag: string; digest: string }[] = [];
  for (const child of index.manifests) {
    const p = child.platform;
    if (!p || !isManifestType(child.mediaType) || !archive.blobs.has(child.digest)) continue;
    let suffix: string | undefined;
    if (p.os === "windows") suffix = windowsTagSuffixes(p["os.version"] ?? "")[0];
    else if (p.os === "linux" && p.architecture === "amd64") suffix = "linux-amd64";
    if (!suffix || out.some((o) => o.tag === `${tag}-${suffix}`)) continue;
    await store.tag(repository, `${tag}-${suffix}`, child, await archive.readBytes(child));
    out.push({ tag: `${tag}-${suffix}`, digest: child.digest });
  }
  return out;
}

/**
 * Before anything is pushed: every blob the archive does not carry (a delta
 * leaves out what its base had) must already be in the target, in the
 * image's repository or in one it can be mounted from. Otherwise stop,
 * naming the images and blobs, having pushed nothing.
 */
export async function ensureExternalBlobs(
  archive: ArchiveReader,
  roots: CopyRoot[],
  store: RegistryStore,
  options: Pick<LoadOptions, "registry" | "prefix">,
): Promise<{ externalLayers: number }> {
  const readFromArchive = async (desc: Descriptor) =>
    archive.blobs.has(desc.digest) ? await archive.readBytes(desc) : undefined;
  // Where else at the target a blob may already be: repositories of this
  // load, and of the base's images (a delta's base was loaded before).
  const candidates = new Map<string, Set<string>>();
  const addCandidate = (digest: string, repo: string) => {
    let set = candidates.get(digest);
    if (!set) candidates.set(digest, set = new Set());
    set.add(repo);
  };
  const needed: { root: CopyRoot; desc: Descriptor }[] = [];
  const external = new Set<string>();
  for (const root of roots) {
    const graph = await walkGraph(root.descriptor, readFromArchive, root.label);
    for (const layer of graph.external) external.add(layer.digest);
    for (const node of graph.nodes) {
      addCandidate(node.digest, root.dstRepo);
      if (archive.blobs.get(node.digest)?.size !== node.size) needed.push({ root, desc: node });
    }
  }
  const result = { externalLayers: external.size };
  if (needed.length === 0) return result;
  if (archive.baseLock) {
    const base = parseLock(archive.baseLock, `${archive.path}: ${BASE_LOCK_ENTRY}`);
    for (const image of base.images) {
      let repo: string;
      try {
        repo = targetReference(image.entry, options.registry, options.prefix ?? "").repository;
      } catch {
        continue;
      }
      addCandidate(image.digest, repo);
      for (const digest of Object.keys(image.blobs)) addCandidate(digest, repo);
    }
  }
  const missing: { root: CopyRoot; desc: Descriptor }[] = [];
  const rootPresent = new Map<string, boolean>();
  for (const item of needed) {
    const { root, desc } = item;
    // A root manifest already at the target stands for its whole graph.
    let present = rootPresent.get(root.label);
    if (present === undefined) {
      present = await store.exists(root.dstRepo, root.descriptor);
      rootPresent.set(root.label, present);
    }
    if (present) continue;
    let found = await store.exists(root.dstRepo, desc);
    for (const repo of candidates.get(desc.digest) ?? []) {
      if (found) break;
      if (repo !== root.dstRepo) found = await store.exists(repo, desc);
    }
    if (!found) missing.push(item);
  }
  if (missing.length === 0) return result;
  const images = [...new Set(missing.map((m) => m.root.label))];
  const blobs = [...new Set(missing.map((m) => m.desc.digest))];
  throw new AirgapError(
    `${blobs.length} blob(s) needed by ${images.length} image(s) are neither in ${archive.path} nor in ${options.registry}` +
      ` (load the base archive first; foreign layers saved with --foreign-layers skip need an earlier load of an archive saved with include): ${
        images.slice(0, 3).join(", ")
      }${images.length > 3 ? ", …" : ""}; ` +
      `missing ${blobs.slice(0, 3).join(", ")}${blobs.length > 3 ? ", …" : ""}. Nothing was pushed.`,
    { op: "load", where: options.registry },
  );
}
