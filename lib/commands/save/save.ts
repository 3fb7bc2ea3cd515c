/**
 * `airgap save`: plan, then copy every image into the archive — from the
 * cache where it has the blob, from the registry where it does not. The
 * archive's layout is planned up front, so blobs stream concurrently
 * straight into their regions and every byte is written once; the archive
 * being written is adopted by the cache as a pack, so what was fetched for
 * it is cached too. When the archive lives on another file system (a USB
 * disk), the cache gets loose copies instead and the archive is filled from
 * them as they land. With --keep-going, images that fail are left out of the
 * archive and the lock and listed in NAME.save-failed.txt (see {@link writeSaved}).
 *
 * The cache is only ever a shortcut: a cached blob that fails to read or
 * verify (a pack whose archive the user overwrote) is dropped and fetched
 * from the registry. Saves sharing a cache claim each download (one process
 * fetches a blob, the others wait and read it from the cache) and hold a
 * lease so `cache prune` leaves their blobs alone.
 * @module
 */
import type { Lock } from "../../../schemas/lock.ts";
import { artifactAnnotations, type ArtifactFlags, artifactPolicy, withArtifacts } from "../../plan/carry_artifacts.ts";
import { type CopyEvent, copyGraph, type CopyRoot } from "../../copy/engine.ts";
import type { Declaration } from "../../plan/declaration.ts";
import { DiskFullError, errorMessage } from "../../errors.ts";
import { formatLock, lockBlobs, withSources, writeLock } from "../../lock.ts";
import { InterruptedError } from "../../error_kinds.ts";
import { foreignLayerNotes } from "../../oci/foreign.ts";
import { withForeignLayers } from "../../store/wrappers/foreign_layers.ts";
import { leavingOut } from "../../store/wrappers/leaving_out.ts";
import { cachedManifests, cacheFirst } from "../../store/wrappers/cache_first.ts";
import { packTee } from "../../store/wrappers/pack_tee.ts";
import { landing } from "../../store/wrappers/landing.ts";
import type { ChartArtifact } from "../../oci/chart.ts";
import type { ResolvedSources } from "../../plan/fetch_sources.ts";
import { listFailed, resolveForCopy, retryDeclared } from "../../plan/resolve_declared.ts";
import { chartArchiveImage, copyChartsInto, withChartBlobs } from "../../artifacts/archived_charts.ts";
import {
  archiveOrder,
  graphOf,
  lockFromImages,
  makePlan,
  type Plan,
  type ResolvedImage,
  ResolveError,
} from "../../plan/planner.ts";
import {
  type ImageFailure,
  isLocalFailure,
  retryFlags,
  sortFailures,
  stopWhenUnreachable,
} from "../../report/failures.ts";
import { displayPath } from "../../plan/declaration.ts";
import { type PhasePlan, type Reporter, trace } from "../../report/progress.ts";
import { type NetworkOptions, type RegistryPool, registryPool } from "../../store/registry/pool.ts";
import { type ArchiveSummary, type ArchiveWriterOptions, createArchive } from "../../store/archive.ts";
import type { Base } from "../../plan/delta.ts";
import { formatBytes } from "../../text.ts";
import { type CacheLease, type CacheStore, openCache } from "../../store/cache.ts";
import type { Store } from "../../store/types.ts";
import type { Descriptor } from "../../oci/manifest.ts";
import { isManifestType } from "../../oci/media.ts";
import { noSpaceError } from "../../fsutil.ts";
import { containerdName, type RegistryNaming } from "../../cluster/names.ts";
import { DEFAULT_METADATA_CONCURRENCY } from "../../transport/bounds.ts";

/** Options of {@link saveCommand}. */
export interface SaveOptions {
  /** Images, sources and registry settings to save. */
  declaration: Declaration;
  /** Archive path. */
  output: string;
  /** Cache directory (created if missing): blobs are read from it first and added to it. */
  cacheDir: string;
  /** The previous lock: compared with in the plan, and pinned from with `locked`. */
  previousLock?: Lock;
  /** Pin to the previous lock instead of resolving tags. */
  locked?: boolean;
  /** Where to write the new lock (none: do not write one). */
  lockPath?: string;
  /** Where messages and download progress go. */
  reporter: Reporter;
  /** Concurrent downloads per registry. */
  concurrency?: number;
  /** Split the archive into parts of this many bytes. */
  partSize?: number;
  /** Cut a delta against this base (blobs it references are left out). */
  base?: Base;
  /** Save every image that can be saved; the failed ones are left out of the archive and the lock. */
  keepGoing?: boolean;
  /** Where to list the images that failed (`NAME.save-failed.txt`); removed when nothing failed. */
  failedList?: string;
  /** Timeouts, progress hooks and cancellation for the network (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
  /** `--with-signatures` and `--verify-key`: artifacts to carry, keys to verify with (see lib/artifacts). */
  artifacts?: ArtifactFlags;
  /** `--registry-name`: containerd names the images as `load` would push them there (lib/cluster/names.ts). */
  registryName?: RegistryNaming;
}

/** What a save did. */
export interface SaveResult {
  /** Every image with its lock status, and what had to be fetched. */
  plan: Plan;
  /** The new lock (written to `lockPath` when given, and embedded in the archive). */
  lock: Lock;
  /** The archive written. */
  archive: ArchiveSummary;
  /** Bytes downloaded from registries. */
  fetchedBytes: number;
  /** Downloads from registries (blobs, and manifests fetched by digest). */
  fetchedBlobs: number;
  /** Release lists and charts fetched; the charts are in the archive. */
  sources: ResolvedSources;
  /** With `keepGoing`: the images that could not be saved (listed in `failedList`). */
  failed: ImageFailure[];
}

/** Copy roots grouped by source registry (each group has its own source store). */
function rootsByRegistry(images: ResolvedImage[]): Map<string, CopyRoot[]> {
  const groups = new Map<string, CopyRoot[]>();
  for (const image of images) {
    const host = image.request.source.registry;
    const roots = groups.get(host) ?? [];
    roots.push({
      srcRepo: image.request.source.repository,
      dstRepo: image.sourceName,
      descriptor: image.descriptor,
      tags: [],
      label: image.sourceName,
    });
    groups.set(host, roots);
  }
  return groups;
}

/** A full disk under the cache, restated with what the whole save still had to write there. */
function cacheFull(e: unknown, cacheDir: string, left: number): unknown {
  const where = e instanceof DiskFullError ? e.context.where : undefined;
  return where?.startsWith(cacheDir) ? noSpaceError(where, left, e) : e;
}

/** Plan, copy into the archive (and the cache), write the lock. */
export async function saveCommand(options: SaveOptions): Promise<SaveResult> {
  const { reporter } = options;
  const cache = await openCache(options.cacheDir);
  const pool = registryPool(options.declaration.registries, {
    concurrency: options.concurrency,
    network: options.network,
  });
  const landed = { blobs: 0, bytes: 0 };
  // Held from the start: `cache prune` keeps what this save writes and references.
  let lease: CacheLease | undefined;
  try {
    lease = await cache.lease();
    if (options.previousLock) await lease.update(lockBlobs(options.previousLock).keys());
    const { sources, requests, resolution } = await resolveForCopy("save", options, cache, pool, {
      announce: true,
      phase: true,
    });
    const total = requests.length;
    let images = resolution.images;
    const failed = [...resolution.failures];
    if (failed.length > 0 && (!options.keepGoing || images.length === 0)) {
      await listFailures(options, failed, total);
      throw new ResolveError(
        failed,
        `${failed.length} of ${total} images could not be resolved; nothing was saved${listedIn(options)}`,
      );
    }
    trace("resolved");
    images = await carryArtifacts(images, failed, { cache, pool, options, total });
    for (const note of foreignLayerNotes(images, options.declaration.foreignLayers ?? "include")) {
      if (note.warning) reporter.warn(note.text);
      else reporter.info(note.text);
    }
    const { plan, lock, archive } = await writeSaved(images, failed, {
      cache,
      pool,
      options,
      sources,
      total,
      landed,
      lease,
    });
    await listFailures(options, failed, total);
    if (options.lockPath) await writeLock(options.lockPath, lock);
    const fetched = pool.all().reduce((sum, s) => sum + s.stats.bytesFetched, 0);
    const fetchedBlobs = pool.all().reduce((sum, s) => sum + s.stats.blobsFetched, 0);
    return { plan, lock, archive, fetchedBytes: fetched, fetchedBlobs, sources, failed: sortFailures(failed) };
  } catch (e) {
    if (!(e instanceof InterruptedError) && !options.network?.signal?.aborted) throw e;
    throw new InterruptedError(
      `interrupted: ${landed.blobs} blobs (${
        formatBytes(landed.bytes)
      }) are in the cache; run the same command again to resume`,
      {},
      { cause: e },
    );
  } finally {
    await lease?.release();
    await pool.close();
  }
}

/**
 * Plan and write the archive and its lock. With keepGoing, a transfer failure
 * (the layout was planned for every image) abandons the archive, fetches
 * image by image into the cache, and writes the archive again without the
 * images that failed — they are added to `failed`.
 */
async function writeSaved(
  images: ResolvedImage[],
  failed: ImageFailure[],
  ctx: {
    cache: CacheStore;
    pool: RegistryPool;
    options: SaveOptions;
    sources: ResolvedSources;
    total: number;
    landed: { blobs: number; bytes: number };
    lease: CacheLease;
  },
): Promise<{ plan: Plan; lock: Lock; archive: ArchiveSummary }> {
  const { cache, pool, options, sources } = ctx;
  const write = async () => {
    const plan = await makePlan(images, cache, options.previousLock, options.base, failed);
    const lock = withSources(lockFromImages(images), sources.locked);
    await ctx.lease.update(lockBlobs(lock).keys());
    trace("planned");
    return {
      plan,
      lock,
      archive: await writeArchive(images, cache, pool, options, plan, lock, sources.charts, ctx.landed),
    };
  };
  try {
    return await write();
  } catch (e) {
    if (!options.keepGoing || isLocalFailure(e) || e instanceof InterruptedError) throw e;
    options.reporter.warn(`${errorMessage(e)}: fetching image by image, then writing the archive without what fails`);
    const lost = await fetchEach(images, cache, pool, options);
    failed.push(...lost.failures);
    // An artifact goes with its image: left out when the image is, and the image with it.
    const gone = new Set([...lost.images].map((i) => i.artifact?.subjectEntry ?? i.request.entry));
    images = images.filter((i) => !lost.images.has(i) && !gone.has(i.artifact?.subjectEntry ?? i.request.entry));
    if (images.length === 0) {
      await listFailures(options, failed, ctx.total);
      throw new ResolveError(
        failed,
        `none of the ${ctx.total} images could be saved; nothing was saved${listedIn(options)}`,
      );
    }
    return await write();
  }
}

/**
 * The artifacts the policy asks for, added after their subjects; images whose
 * signatures do not verify are refused here, before the archive is started.
 */
async function carryArtifacts(
  images: ResolvedImage[],
  failed: ImageFailure[],
  ctx: { cache: CacheStore; pool: RegistryPool; options: SaveOptions; total: number },
): Promise<ResolvedImage[]> {
  const { options } = ctx;
  const policy = await artifactPolicy(options.declaration, options.artifacts ?? {});
  const carried = await withArtifacts(images, { cache: ctx.cache, registry: ctx.pool.get, policy });
  failed.push(...carried.failures);
  if (carried.failures.length > 0 && (!options.keepGoing || carried.images.length === 0)) {
    await listFailures(options, failed, ctx.total);
    throw new ResolveError(
      failed,
      `${carried.failures.length} of ${ctx.total} images refused (signatures); nothing was saved${listedIn(options)}`,
    );
  }
  if (carried.artifacts.length > 0) {
    options.reporter.info(`carrying ${carried.artifacts.length} signatures, attestations, SBOMs and referrers`);
  }
  return [...carried.images, ...carried.artifacts];
}

function listedIn(options: SaveOptions): string {
  const file = options.failedList && displayPath(options.failedList);
  const declared = options.declaration.configPath && displayPath(options.declaration.configPath);
  return file ? `; the full list is in ${file} (retry them with ${retryFlags(file, declared)})` : "";
}

async function listFailures(options: SaveOptions, failed: ImageFailure[], total: number): Promise<void> {
  await listFailed("save", options.failedList, failed, total, retryDeclared(options.declaration));
}

/**
 * Every image's missing blobs into the cache, image by image: a failure
 * fails only the images that need what failed.
 */
async function fetchEach(
  images: ResolvedImage[],
  cache: CacheStore,
  pool: RegistryPool,
  options: SaveOptions,
): Promise<{ images: Set<ResolvedImage>; failures: ImageFailure[] }> {
  const absent = new Set(images.flatMap((i) => [...(i.absent ?? [])]));
  const foreign = new Map(images.flatMap((i) => i.foreignLayers ?? []).map((l) => [l.descriptor.digest, l]));
  const lost = new Set<ResolvedImage>();
  const failures: ImageFailure[] = [];
  const hosts = [...new Set(images.map((i) => i.request.source.registry))];
  await Promise.all(hosts.map(async (host) => {
    const mine = images.filter((i) => i.request.source.registry === host);
    const roots: CopyRoot[] = mine.map((i) => ({
      srcRepo: i.request.source.repository,
      dstRepo: i.name,
      descriptor: i.descriptor,
      tags: [],
      label: i.name,
    }));
    const result = await copyGraph({
      src: cacheFirst(cache, stopWhenUnreachable(withForeignLayers(pool.get(host), foreign), host), pool.get(host)),
      dst: leavingOut(cache, absent),
      roots,
      concurrency: options.concurrency,
      smallConcurrency: smallWidth(pool, host, options.concurrency),
      readManifest: (_repo, desc) => cache.readBytes(desc),
      keepGoing: true,
      signal: options.network?.signal,
    });
    for (const { root, error } of result.failed) {
      if (isLocalFailure(error)) throw error;
      const image = mine[roots.indexOf(root)];
      lost.add(image);
      // A failed artifact fails its image (listed under the image's entry, once).
      const entry = image.artifact?.subjectEntry ?? image.request.entry;
      if (failures.some((f) => f.entry === entry)) continue;
      failures.push({ entry, name: image.name, origin: image.request.origin, registry: host, error });
    }
  }));
  return { images: lost, failures };
}

/**
 * How many small blobs (lib/transport/bounds.ts `smallBody`) of one registry
 * are copied at once: its metadata bound, since a small blob costs a round
 * trip, not memory; big ones stay under the body bound. An explicit
 * `--concurrency` bounds every download alike (undefined: no width of their own).
 */
function smallWidth(pool: RegistryPool, host: string, concurrency: number | undefined): number | undefined {
  if (concurrency !== undefined) return undefined;
  let width: number | undefined;
  try {
    width = pool.get(host).client?.metadataConcurrency;
  } catch {
    // a registry that cannot be set up fails its images in the copy
  }
  return width ?? DEFAULT_METADATA_CONCURRENCY;
}

/**
 * What the archive will hold, per image: its graph less the blobs left out
 * (foreign layers under `skip`, and with a base what the base has — the
 * delta still carries every manifest). Charts count as blobs, not images.
 */
function savePhasePlan(images: ResolvedImage[], charts: ChartArtifact[], base: Base | undefined) {
  const carried = (image: ResolvedImage) =>
    graphOf(image).filter((d) =>
      !image.absent?.has(d.digest) && (!base || isManifestType(d.mediaType) || !base.blobs.has(d.digest))
    );
  const hosts = [...new Set(images.map((i) => i.request.source.registry))];
  return {
    images: images.map((image) => ({ label: image.sourceName, graph: carried(image) })),
    extra: charts.flatMap((c) => [c.manifest.descriptor, c.config.descriptor, c.chart.descriptor]),
    source: hosts.length === 1 ? hosts[0] : `${hosts.length} registries`,
    done: "saved",
  } satisfies PhasePlan;
}

/** What the archive holds: the images' and charts' index entries, every blob in archive order, the lock, the base. */
function archiveContents(
  images: ResolvedImage[],
  charts: ChartArtifact[],
  lock: Lock,
  options: SaveOptions,
): ArchiveWriterOptions {
  return {
    images: [
      ...images.map((i) => ({
        descriptor: i.descriptor,
        name: i.sourceName,
        entry: i.request.entry,
        annotations: artifactAnnotations(i),
        ...(options.registryName
          ? { containerdName: containerdName(i.request.entry, i.sourceName, options.registryName) }
          : {}),
      })),
      ...charts.map(chartArchiveImage),
    ],
    blobs: withChartBlobs(archiveOrder(images), charts),
    lock: formatLock(lock),
    base: options.base ? { lock: options.base.text, blobs: options.base.blobs } : undefined,
    partSize: options.partSize,
    concurrency: options.concurrency,
  };
}

/** What the copies into one archive share: the sources by registry, what is left out, the progress. */
interface ArchiveCopy {
  cache: CacheStore;
  pool: RegistryPool;
  options: SaveOptions;
  groups: Map<string, CopyRoot[]>;
  /** Blobs left out on purpose (foreign layers under `skip`). */
  absent: ReadonlySet<string>;
  /** A registry with its images' foreign layers found at their URLs. */
  source: (host: string) => Store;
  readManifest: (host: string) => (repo: string, desc: Descriptor) => Promise<Uint8Array>;
  onEvent: (event: CopyEvent) => void;
}

/** The sources (foreign layers at their URLs), groups and left-out blobs of the images being archived. */
function archiveCopy(
  images: ResolvedImage[],
  ctx: { cache: CacheStore; pool: RegistryPool; options: SaveOptions },
  onEvent: (event: CopyEvent) => void,
): ArchiveCopy {
  const foreign = new Map(images.flatMap((i) => i.foreignLayers ?? []).map((l) => [l.descriptor.digest, l]));
  const source = (host: string) => withForeignLayers(ctx.pool.get(host), foreign);
  return {
    ...ctx,
    groups: rootsByRegistry(images),
    absent: new Set(images.flatMap((i) => [...(i.absent ?? [])])),
    source,
    readManifest: (host) => cachedManifests(ctx.cache, () => source(host)),
    onEvent,
  };
}

/**
 * Write the archive: straight into it where the cache can adopt it as a pack
 * (see lib/store/wrappers/pack_tee.ts), else through the cache. `tally` counts the
 * blobs fetched so far (for the message of an interrupted save).
 */
async function writeArchive(
  images: ResolvedImage[],
  cache: CacheStore,
  pool: RegistryPool,
  options: SaveOptions,
  plan: Plan,
  lock: Lock,
  charts: ChartArtifact[] = [],
  tally = { blobs: 0, bytes: 0 },
): Promise<ArchiveSummary> {
  // Only blobs fetched now go into the pack; the cache has the others already.
  const tee = packTee(cache, new Set(plan.images.flatMap((i) => i.missing.map((d) => d.digest))));
  const archive = await createArchive(options.output, {
    ...archiveContents(images, charts, lock, options),
    ...tee.hooks,
  });
  const phase = options.reporter.phase("saving", savePhasePlan(images, charts, options.base));
  try {
    trace("archive laid out");
    const dst = await tee.adopt(archive);
    const arrived = (desc: Descriptor) => {
      if (!tee.fetched(desc.digest)) return;
      tally.blobs++;
      tally.bytes += desc.size;
    };
    const copy = archiveCopy(images, { cache, pool, options }, (event) => {
      phase.copyEvent(event);
      if (event.type === "blob" && tee.packing) arrived(event.descriptor);
    });
    if (dst) await writeOnce(copy, leavingOut(dst, copy.absent), tee.missed);
    else await writeThroughCache(copy, archive, plan, arrived);
    await copyChartsInto(archive, cache, charts, copy.onEvent);
    trace("blobs written");
    const summary = await archive.finish();
    trace("archive finished");
    await tee.finish(summary);
    return summary;
  } catch (e) {
    await archive.abort();
    await tee.abort();
    throw e;
  } finally {
    tee.close();
    phase.end();
  }
}

/** Write once: straight into the archive, which the cache now shares. */
async function writeOnce(copy: ArchiveCopy, dst: Store, missed: (desc: Descriptor) => void): Promise<void> {
  await Promise.all([...copy.groups].map(([host, roots]) =>
    copyGraph({
      src: cacheFirst(copy.cache, copy.source(host), copy.pool.get(host), missed),
      dst,
      roots,
      concurrency: copy.options.concurrency,
      smallConcurrency: smallWidth(copy.pool, host, copy.options.concurrency),
      readManifest: copy.readManifest(host),
      onEvent: copy.onEvent,
      signal: copy.options.network?.signal,
    })
  ));
}

/**
 * The archive is elsewhere: fill the cache (loose blobs), and feed the
 * archive from it as each blob lands. A cached blob that fails to verify is
 * fetched again.
 */
async function writeThroughCache(
  copy: ArchiveCopy,
  archive: Store,
  plan: Plan,
  arrived: (desc: Descriptor) => void,
): Promise<void> {
  const { cache, options } = copy;
  options.reporter.info("the archive is on another file system than the cache: caching blobs separately");
  const expected = landing(plan.images.flatMap((i) => i.missing.map((d) => d.digest)));
  const sizes = new Map(plan.images.flatMap((i) => i.missing.map((d) => [d.digest, d.size] as const)));
  const filling = Promise.all([...copy.groups].map(([host, roots]) =>
    copyGraph({
      src: copy.source(host),
      dst: leavingOut(cache, copy.absent),
      roots,
      concurrency: options.concurrency,
      smallConcurrency: smallWidth(copy.pool, host, copy.options.concurrency),
      readManifest: copy.readManifest(host),
      onEvent: (event) => {
        if (event.type !== "blob") return;
        arrived(event.descriptor);
        expected.landed(event.descriptor.digest);
        sizes.delete(event.descriptor.digest);
      },
      signal: options.network?.signal,
    })
  )).catch((e) => {
    throw cacheFull(e, cache.dir, [...sizes.values()].reduce((a, b) => a + b, 0));
  });
  filling.catch((e) => expected.fail(e));
  await Promise.all([
    filling,
    ...[...copy.groups].map(([host, roots]) =>
      copyGraph({
        src: expected.over(cacheFirst(cache, copy.source(host))),
        dst: leavingOut(archive, copy.absent),
        roots,
        concurrency: options.concurrency,
        smallConcurrency: smallWidth(copy.pool, host, copy.options.concurrency),
        readManifest: copy.readManifest(host),
        onEvent: copy.onEvent,
        signal: options.network?.signal,
      })
    ),
  ]);
}
