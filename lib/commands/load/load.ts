/**
 * `airgap load`: push an archive's images into a registry under the target
 * names Rancher expects (archive → registry, the same copy engine), keeping
 * every digest, then check every tag.
 * @module
 */
import { type CopyEvent, copyGraph, type CopyRoot } from "../../copy/engine.ts";
import { limiter } from "../../transport/limiter.ts";
import type { ImageFailure } from "../../report/failures.ts";
import { basename } from "node:path";
import type { PushOutcome } from "../../store/types.ts";
import { explainRefusal } from "../../copy/refusal.ts";
import { type TargetMap, targetMap } from "../../copy/targets.ts";
import type { PlatformSelector } from "../../oci/platform.ts";
import { checkWindowsVersions } from "../../plan/windows_requests.ts";
import { AirgapError } from "../../errors.ts";
import { formatBytes } from "../../text.ts";
import type { Reporter } from "../../report/progress.ts";
import { formatReference, parseReference, type Reference, targetReference } from "../../ref.ts";
import { type NetworkOptions, registryPool } from "../../store/registry/pool.ts";
import { InterruptedError } from "../../error_kinds.ts";
import { type ArchiveIndexEntry, type ArchiveReader, BASE_LOCK_ENTRY, openArchive } from "../../store/archive.ts";
import { walkGraph } from "../../oci/graph.ts";
import { isIndexType, isManifestType } from "../../oci/media.ts";
import { parseManifest } from "../../oci/manifest.ts";
import { windowsTagSuffixes } from "../../oci/windows.ts";
import type { Descriptor } from "../../oci/manifest.ts";
import { parseLock } from "../../lock.ts";
import type { RegistrySettings } from "../../store/registry/client.ts";
import type { RegistryStats, RegistryStore } from "../../store/registry/store.ts";
import {
  artifactsOf,
  type ArtifactTarget,
  isArtifactEntry,
  pushArtifacts,
  verifyCarried,
} from "../../artifacts/deliver.ts";
import { loadVerifyKey } from "../../artifacts/verify.ts";
import {
  archiveCharts,
  archiveImageEntries,
  type ChartLoadOptions,
  type LoadedChart,
  prepareCharts,
  runChartJobs,
} from "../../artifacts/archived_charts.ts";

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
  /** Load every image that can be loaded; the failed ones are returned in {@link LoadResult.failed}. */
  keepGoing?: boolean;
  /** Timeouts, progress hooks and cancellation for the network (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
  /** `--verify-key`: every image's carried cosign signature must verify with one of these PEM files. */
  verifyKeys?: string[];
}

/** One image as loaded. */
export interface LoadedImage {
  /** The archive entry as written, e.g. `rancher/rancher:v2.7.9`. */
  entry: string;
  /** Where it went in the target registry: `registry/repository:tag` (`registry/repository@digest` for a digest-only entry). */
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
  /** With `keepGoing`: images whose push failed (named by their archive entries). */
  failed: ImageFailure[];
  /** What the load amounts to, each image and each blob counted once. */
  summary: LoadSummary;
  /** Signatures, attestations, SBOMs and referrers pushed with the images. */
  artifacts: number;
}

/** The numbers a load reports: images (not tags) and unique blobs, which add up. */
export interface LoadSummary {
  /** Images loaded (one per entry; per-OS tags are extra tags of these). */
  images: number;
  /** Of those, images whose root manifest the target held already. */
  alreadyPresent: number;
  /** Tags checked after the push (per-OS tags included). */
  tags: number;
  /**
   * Unique blobs (configs and layers), which add up: uploaded (at least once), mounted (never uploaded,
   * mounted from a repository that had it), or there already. `mountedElsewhere`: further mounts of
   * blobs into more repositories (a shared base layer is uploaded once and mounted into the others).
   */
  blobs: { pushed: number; mounted: number; present: number; mountedElsewhere: number };
  /** Bytes uploaded. */
  bytesPushed: number;
  /** Charts the archive carries (pushed or written only when asked). */
  chartsInArchive: number;
}

/**
 * Count each blob once, by its best outcome (pushed over mounted over there
 * already); blobs under a root the target held were never visited: there.
 */
export function summarizeLoad(
  graphs: ReadonlyMap<string, readonly Descriptor[]>,
  events: readonly CopyEvent[],
): Pick<LoadSummary, "images" | "alreadyPresent" | "blobs"> {
  const rank = { pushed: 2, mounted: 1, exists: 0 } as const;
  const best = new Map<string, PushOutcome>();
  const roots = new Map<string, PushOutcome>();
  let mounts = 0;
  for (const event of events) {
    if (event.type === "blob") {
      if (event.outcome === "mounted") mounts++;
      const was = best.get(event.descriptor.digest);
      if (!was || rank[event.outcome] > rank[was]) best.set(event.descriptor.digest, event.outcome);
    } else if (event.type === "manifest" && graphs.get(event.label)?.[0]?.digest === event.descriptor.digest) {
      roots.set(event.label, event.outcome);
    }
  }
  const blobs = { pushed: 0, mounted: 0, present: 0, mountedElsewhere: 0 };
  const counted = new Set<string>();
  for (const graph of graphs.values()) {
    for (const d of graph) {
      if (isManifestType(d.mediaType) || counted.has(d.digest)) continue;
      counted.add(d.digest);
      const outcome = best.get(d.digest) ?? "exists";
      if (outcome === "pushed") blobs.pushed++;
      else if (outcome === "mounted") blobs.mounted++;
      else blobs.present++;
    }
  }
  blobs.mountedElsewhere = mounts - blobs.mounted;
  const alreadyPresent = [...roots.values()].filter((o) => o === "exists").length;
  return { images: graphs.size, alreadyPresent, blobs };
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
  const entries = archiveImageEntries(archive.images);
  const carried = entries.filter(isArtifactEntry);
  const chosen = selectImages(entries.filter((i) => !isArtifactEntry(i)), options.entries, options.archivePath);
  if (options.verifyKeys?.length) await verifyArchived(archive, chosen, carried, options.verifyKeys);
  if (chosen.length === 0 && !options.charts) throw new AirgapError(`${options.archivePath} holds no images`);
  if (options.platforms) await checkWindowsVersions(archive, chosen, options.platforms);
  const targets = targetMap(chosen, (image) => image.entry, options.registry, options.prefix ?? "");
  const chartOptions = { ...options.charts, registry: options.registry, prefix: options.prefix };
  const chartJobs = options.charts ? await prepareCharts(archive, chartOptions, new Set(targets.keys())) : [];
  const pool = registryPool(options.registries ?? new Map(), {
    concurrency: options.concurrency,
    network: options.network,
  });
  const store = pool.get(options.registry);
  try {
    await store.learnRepositories({ signal: options.network?.signal }); // a new repository needs no probes
    const roots: CopyRoot[] = [...targets.entries()].map(([key, { ref, image }]) => ({
      srcRepo: "",
      dstRepo: ref.repository,
      descriptor: image.descriptor,
      tags: ref.tag ? [ref.tag] : [],
      label: key,
    }));
    const { externalLayers, graphs } = await ensureExternalBlobs(archive, roots, store, options);
    const { events, failed } = await pushImages(archive, store, roots, targets, graphs, externalLayers, options);
    // The images' blob bytes, counted with their blobs (charts and artifacts pushed after are not in them).
    const bytesPushed = store.stats.bytesPushed;
    const images = await proveTags(store, targets);
    if (options.platforms) images.push(...await perOsTags(archive, store, targets, (i) => i.entry, options.platforms));
    const artifacts = await pushArtifacts(
      archive,
      store,
      artifactTargets(targets, carried, options),
      (d) => archive.readBytes(d),
    );
    const charts = await runChartJobs(archive, chartJobs, { ...chartOptions, store });
    const summary: LoadSummary = {
      // Only what was loaded: a failed image is counted as failed, not as loaded.
      ...summarizeLoad(new Map([...graphs].filter(([label]) => !failed.some((f) => f.name === label))), events),
      tags: images.length,
      bytesPushed,
      chartsInArchive: archiveCharts(archive).length,
    };
    return { images, stats: store.stats, charts, summary, failed, artifacts };
  } finally {
    await pool.close();
  }
}

type Targets = TargetMap<ArchiveIndexEntry>;

/** The copy itself (archive → registry) under the "pushing" phase; with keep-going, what failed leaves `targets`. */
async function pushImages(
  archive: ArchiveReader,
  store: RegistryStore,
  roots: CopyRoot[],
  targets: Targets,
  graphs: Map<string, Descriptor[]>,
  externalLayers: number,
  options: LoadOptions,
): Promise<{ events: CopyEvent[]; failed: ImageFailure[] }> {
  const phase = options.reporter.phase("pushing", {
    images: roots.map((root) => ({ label: root.label, graph: graphs.get(root.label) ?? [] })),
    source: options.registry,
    done: "loaded",
  });
  const events: CopyEvent[] = [];
  const failed: ImageFailure[] = [];
  try {
    const copied = await copyGraph({
      src: archive,
      dst: store,
      roots,
      concurrency: options.concurrency,
      keepGoing: options.keepGoing,
      signal: options.network?.signal,
      onEvent: (event) => {
        phase.copyEvent(event);
        if (event.type !== "bytes") events.push(event);
      },
    }).catch((e) => Promise.reject(interrupted(e, store.stats) ?? explainRefusal(e, externalLayers)));
    for (const { root, error } of copied.failed) {
      const { image } = targets.get(root.label)!;
      targets.delete(root.label);
      const origin = basename(options.archivePath);
      failed.push({ entry: image.entry, name: root.label, origin, registry: options.registry, error });
    }
    if (failed.length > 0 && targets.size === 0) throw failed[0].error;
  } finally {
    phase.end();
  }
  return { events, failed };
}

/** Prove it: every tag must now resolve to the archived digest (concurrently: one round trip per image). */
async function proveTags(store: RegistryStore, targets: Targets): Promise<LoadedImage[]> {
  const checking = limiter(store.concurrency);
  return await Promise.all([...targets].map(([key, { ref, image }]) =>
    checking(async () => {
      const selector = ref.tag ?? image.descriptor.digest;
      // The PUT's own answer named the digest: that is the proof, no second request.
      const head = store.confirmed(ref.repository, selector) ?? await store.head(ref.repository, selector);
      const digest = head?.digest ?? (await store.resolve(ref.repository, selector)).descriptor.digest;
      if (digest !== image.descriptor.digest) {
        throw new AirgapError(`${key}: registry reports ${digest} after the push, expected ${image.descriptor.digest}`);
      }
      return { entry: image.entry, target: key, digest };
    })
  ));
}

/**
 * The per-OS tags of every combined index among `targets` (as rancher-load-images.sh's `docker manifest` leaves
 * them), for load and mirror alike; `only`, when given, names the entries to tag (load: the Windows lists' images).
 */
export async function perOsTags<T extends { descriptor: Descriptor }>(
  source: Pick<ArchiveReader, "readBytes"> & { blobs: ReadonlyMap<string, unknown> },
  store: RegistryStore,
  targets: TargetMap<T>,
  entryOf: (image: T) => string,
  only?: ReadonlyMap<string, unknown>,
): Promise<LoadedImage[]> {
  const images: LoadedImage[] = [];
  for (const [, { ref, image }] of targets) {
    if (!ref.tag || (only && !only.has(entryOf(image)))) continue;
    for (const tagged of await tagPerOs(source, store, ref.repository, ref.tag, image.descriptor)) {
      images.push({
        entry: entryOf(image),
        target: `${ref.registry}/${ref.repository}:${tagged.tag}`,
        digest: tagged.digest,
      });
    }
  }
  return images;
}

/** `load --verify-key`: each image's signature, from the archive alone, before anything is pushed. */
async function verifyArchived(
  archive: ArchiveReader,
  chosen: ArchiveIndexEntry[],
  carried: ArchiveIndexEntry[],
  keyPaths: string[],
): Promise<void> {
  const keys = await Promise.all(keyPaths.map((p) => loadVerifyKey(p)));
  const lock = archive.lock ? parseLock(archive.lock, `${archive.path}: airgap.lock`) : undefined;
  const upstream = new Map(lock?.images.map((i) => [i.entry, i.upstreamDigest ?? i.digest]) ?? []);
  for (const image of chosen) {
    const digest = upstream.get(image.entry) ?? image.descriptor.digest;
    await verifyCarried(image, digest, carried, (d) => archive.readBytes(d), keys);
  }
}

/** The artifacts of the images that were loaded, each in its subject's target repository. */
function artifactTargets(
  targets: Map<string, { ref: Reference; image: ArchiveIndexEntry }>,
  carried: ArchiveIndexEntry[],
  options: Pick<LoadOptions, "registry" | "prefix">,
): ArtifactTarget[] {
  const out: ArtifactTarget[] = [];
  const seen = new Set<string>();
  for (const { image } of targets.values()) {
    for (const artifact of artifactsOf(carried, image.entry)) {
      const ref = targetReference(artifact.entry, options.registry, options.prefix ?? "");
      const key = `${ref.repository}@${artifact.descriptor.digest}:${ref.tag ?? ""}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ artifact, srcRepo: "", repo: ref.repository, tag: ref.tag });
    }
  }
  return out;
}

/**
 * The per-OS tags rancher-load-images.sh leaves next to a combined list:
 * `TAG-windows-<version>` for each Windows image (`1809`, `ltsc2022`…) and
 * `TAG-linux-amd64` for the Linux one — clients and charts that still ask
 * for them find them. Each points at the child's exact bytes.
 */
export async function tagPerOs(
  archive: Pick<ArchiveReader, "readBytes"> & { blobs: ReadonlyMap<string, unknown> },
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
  archive: Pick<ArchiveReader, "path" | "readBytes" | "baseLock"> & { blobs: ReadonlyMap<string, { size: number }> },
  roots: CopyRoot[],
  store: RegistryStore,
  options: Pick<LoadOptions, "registry" | "prefix">,
): Promise<{ externalLayers: number; graphs: Map<string, Descriptor[]> }> {
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
  // What each image puts into the target (what progress counts): its graph as the archive carries it.
  const graphs = new Map<string, Descriptor[]>();
  for (const root of roots) {
    const graph = await walkGraph(root.descriptor, readFromArchive, root.label);
    graphs.set(root.label, graph.nodes.filter((d) => archive.blobs.get(d.digest)?.size === d.size));
    for (const layer of graph.external) external.add(layer.digest);
    for (const node of graph.nodes) {
      addCandidate(node.digest, root.dstRepo);
      if (archive.blobs.get(node.digest)?.size !== node.size) needed.push({ root, desc: node });
    }
  }
  const result = { externalLayers: external.size, graphs };
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
