/**
 * `airgap save`: plan, then copy every image into the archive — from the
 * cache where it has the blob, from the registry where it does not. The
 * archive's layout is planned up front, so blobs stream concurrently
 * straight into their regions and every byte is written once; the archive
 * being written is adopted by the cache as a pack, so what was fetched for
 * it is cached too. When the archive lives on another file system (a USB
 * disk), the cache gets loose copies instead and the archive is filled from
 * them as they land.
 * @module
 */
import type { Lock } from "../../schemas/lock.ts";
import { type CopyEvent, copyGraph, type CopyRoot } from "../copy.ts";
import type { Declaration } from "../declaration.ts";
import { AirgapError } from "../errors.ts";
import { formatBytes } from "../format.ts";
import { type NetworkOptions, type RegistryPool, registryPool } from "../registries.ts";
import { InterruptedError } from "../transport/errors.ts";
import { formatLock, withSources, writeLock } from "../lock.ts";
import { foreignLayerNotes, leavingOut, withForeignLayers } from "../oci/foreign.ts";
import type { ChartArtifact } from "../oci/chart.ts";
import { type ResolvedSources, resolveSources } from "../sources/resolve.ts";
import { chartArchiveImage, copyChartsInto, withChartBlobs } from "./charts.ts";
import { archiveOrder, lockFromImages, makePlan, type Plan, type ResolvedImage, resolveImages } from "../plan.ts";
import { type Reporter, trace } from "../progress.ts";
import { type ArchiveSummary, type ArchiveWriter, createArchive } from "../store/archive.ts";
import type { Base } from "../delta.ts";
import { type CacheStore, openCache } from "../store/cache.ts";
import type { Store } from "../store/types.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import type { Descriptor } from "../oci/manifest.ts";
import { verifyingStream } from "../oci/digest.ts";
import { openVolumes } from "../store/volumes.ts";
import { concatStreams } from "../streams.ts";

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
  /** Timeouts, progress hooks and cancellation for the network (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
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
}

/**
 * The cache where it has a blob, the registry where it does not — resuming
 * with an HTTP Range request where a killed save left the start of a blob.
 */
export function cacheFirst(cache: CacheStore, registry: Store, ranges?: Pick<RegistryStore, "fetchFrom">): Store {
  const fetch = async (repo: string, desc: Descriptor): Promise<ReadableStream<Uint8Array>> => {
    if (await cache.has(desc.digest, desc.size)) return await cache.fetch(repo, desc);
    const partial = cache.partial(desc.digest);
    if (ranges && partial && partial.bytes > 0 && partial.bytes < desc.size) {
      const rest = await ranges.fetchFrom(repo, desc, partial.bytes).catch(() => undefined);
      if (rest) {
        cache.forgetPartial(desc.digest); // used once: a retry fetches from scratch
        const volumes = await openVolumes(partial.paths[0]);
        const head = volumes.rangeStream(partial.offset, partial.bytes);
        volumes.close();
        return concatStreams([head, rest]).pipeThrough(verifyingStream(desc, `resumed blob ${desc.digest}`));
      }
    }
    return await registry.fetch(repo, desc);
  };
  return {
    description: `${cache.description} + ${registry.description}`,
    concurrency: registry.concurrency,
    exists: async (repo, desc) => await cache.exists(repo, desc) || await registry.exists(repo, desc),
    fetch,
    push: () => Promise.reject(new AirgapError("a read-only source")),
    tag: () => Promise.reject(new AirgapError("a read-only source")),
    resolve: (repo, reference) => registry.resolve(repo, reference),
  };
}

/** Copy roots grouped by source registry (each group has its own source store). */
function rootsByRegistry(images: ResolvedImage[]): Map<string, CopyRoot[]> {
  const groups = new Map<string, CopyRoot[]>();
  for (const image of images) {
    const host = image.request.source.registry;
    const roots = groups.get(host) ?? [];
    roots.push({
      srcRepo: image.request.source.repository,
      dstRepo: image.name,
      descriptor: image.descriptor,
      tags: [],
      label: image.name,
    });
    groups.set(host, roots);
  }
  return groups;
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
  try {
    if (options.declaration.requests.length === 0 && !options.declaration.sources?.length) {
      throw new AirgapError("nothing to save: the declaration lists no images", {}, { exitCode: 2 });
    }
    const sources = await resolveSources(options.declaration, {
      network: options.network,
      cache,
      previousLock: options.previousLock,
      locked: options.locked,
      registry: pool.get,
      reporter,
    });
    reporter.info(`resolving ${sources.requests.length} images`);
    const images = await resolveImages(sources.requests, {
      cache,
      registry: pool.get,
      lock: options.previousLock,
      locked: options.locked,
      foreignLayers: options.declaration.foreignLayers,
    });
    trace("resolved");
    for (const note of foreignLayerNotes(images, options.declaration.foreignLayers ?? "include")) {
      if (note.warning) reporter.warn(note.text);
      else reporter.info(note.text);
    }
    const plan = await makePlan(images, cache, options.previousLock, options.base);
    const lock = withSources(lockFromImages(images), sources.locked);
    trace("planned");
    const archive = await writeArchive(images, cache, pool, options, plan, lock, sources.charts, landed);
    if (options.lockPath) await writeLock(options.lockPath, lock);
    const fetched = pool.all().reduce((sum, s) => sum + s.stats.bytesFetched, 0);
    const fetchedBlobs = pool.all().reduce((sum, s) => sum + s.stats.blobsFetched, 0);
    return { plan, lock, archive, fetchedBytes: fetched, fetchedBlobs, sources };
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
    await pool.close();
  }
}

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
  const signal = options.network?.signal;
  const arrived = (desc: Descriptor) => {
    if (!fetching.has(desc.digest)) return;
    tally.blobs++;
    tally.bytes += desc.size;
  };
  let journal: Awaited<ReturnType<CacheStore["beginPack"]>>;
  // Only blobs fetched now go into the pack; the cache has the others already.
  const fetching = new Set(plan.images.flatMap((i) => i.missing.map((d) => d.digest)));
  const absent = new Set(images.flatMap((i) => [...(i.absent ?? [])]));
  const foreign = new Map(images.flatMap((i) => i.foreignLayers ?? []).map((l) => [l.descriptor.digest, l]));
  const source = (host: string) => withForeignLayers(pool.get(host), foreign);
  const archive: ArchiveWriter = await createArchive(options.output, {
    images: [
      ...images.map((i) => ({ descriptor: i.descriptor, name: i.name, entry: i.request.entry })),
      ...charts.map(chartArchiveImage),
    ],
    blobs: withChartBlobs(archiveOrder(images), charts),
    lock: formatLock(lock),
    base: options.base ? { lock: options.base.text, blobs: options.base.blobs } : undefined,
    partSize: options.partSize,
    concurrency: options.concurrency,
    onBlobWritten: (desc, offset) => {
      if (fetching.has(desc.digest)) journal?.record(desc, offset);
    },
    onBlobProgress: (desc, offset, written) => {
      if (fetching.has(desc.digest)) journal?.progress(desc, offset, written);
    },
  });
  const phase = options.reporter.phase(
    "saving",
    options.base ? plan.delta!.bytes : plan.totalBytes,
    options.base ? plan.delta!.blobs : plan.blobs.size,
  );
  try {
    trace("archive laid out");
    journal = await cache.beginPack(archive.partialPaths, archive.partSize, archive.layout.size);
    const onEvent = (event: CopyEvent | { type: "chart"; bytes?: number }) => {
      if (event.type === "bytes") phase.addBytes(event.bytes!);
      else if (event.type === "blob" || event.type === "manifest") phase.addItem();
      if (event.type === "blob" && journal) arrived(event.descriptor);
    };
    const readManifest = (_repo: string, desc: { digest: string; size: number; mediaType: string }) =>
      cache.readBytes(desc);
    const groups = rootsByRegistry(images);
    if (journal) {
      // Write once: straight into the archive, which the cache now shares.
      await Promise.all([...groups].map(([host, roots]) =>
        copyGraph({
          src: cacheFirst(cache, source(host), pool.get(host)),
          dst: leavingOut(archive, absent),
          roots,
          concurrency: options.concurrency,
          readManifest,
          onEvent,
          signal,
        })
      ));
    } else {
      // The archive is elsewhere: fill the cache (loose blobs), and feed the
      // archive from it as each blob lands.
      options.reporter.info("the archive is on another file system than the cache: caching blobs separately");
      const arriving = new Map<string, PromiseWithResolvers<void>>();
      for (const image of plan.images) {
        for (const d of image.missing) {
          if (!arriving.has(d.digest)) arriving.set(d.digest, Promise.withResolvers<void>());
        }
      }
      const filling = Promise.all([...groups].map(([host, roots]) =>
        copyGraph({
          src: source(host),
          dst: leavingOut(cache, absent),
          roots,
          concurrency: options.concurrency,
          readManifest,
          onEvent: (event) => {
            if (event.type !== "blob") return;
            arrived(event.descriptor);
            arriving.get(event.descriptor.digest)?.resolve();
          },
          signal,
        })
      ));
      filling.catch((e) => {
        for (const pending of arriving.values()) pending.reject(e);
      });
      const landed: CacheStore = {
        ...cache,
        async fetch(repo, desc) {
          await arriving.get(desc.digest)?.promise;
          return await cache.fetch(repo, desc);
        },
      };
      await Promise.all([
        filling,
        ...[...groups].map(([, roots]) =>
          copyGraph({
            src: landed,
            dst: leavingOut(archive, absent),
            roots,
            concurrency: options.concurrency,
            readManifest,
            onEvent,
            signal,
          })
        ),
      ]);
    }
    await copyChartsInto(archive, cache, charts, onEvent);
    trace("blobs written");
    const summary = await archive.finish();
    trace("archive finished");
    if (journal && journal.bytes * 2 < summary.blobBytes) {
      // Mostly old content: a pack would keep a duplicate archive alive in
      // the cache. Keep the new blobs loose instead.
      if (journal.count > 0) await journal.unpack();
      else await journal.discard();
      journal = undefined;
    }
    return summary;
  } catch (e) {
    await archive.abort();
    if (journal && journal.count === 0) await journal.discard();
    throw e;
  } finally {
    journal?.close();
    phase.end();
  }
}
