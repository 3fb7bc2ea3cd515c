/**
 * `airgap save`: plan, fetch what the cache lacks (registry → cache), then
 * write the archive (cache → archive). Both steps are the one copy engine.
 * @module
 */
import type { Lock } from "../../schemas/lock.ts";
import { copyGraph, type CopyRoot } from "../copy.ts";
import type { Declaration } from "../declaration.ts";
import { AirgapError } from "../errors.ts";
import { formatLock, writeLock } from "../lock.ts";
import { graphOf, lockFromImages, makePlan, type Plan, type ResolvedImage, resolveImages } from "../plan.ts";
import type { Reporter } from "../progress.ts";
import { type RegistryPool, registryPool } from "../registries.ts";
import { type ArchiveSummary, createArchive } from "../store/archive.ts";
import { type CacheStore, openCache } from "../store/cache.ts";

/** Options of {@link saveCommand}. */
export interface SaveOptions {
  declaration: Declaration;
  /** Archive path. */
  output: string;
  cacheDir: string;
  previousLock?: Lock;
  /** Pin to the previous lock instead of resolving tags. */
  locked?: boolean;
  /** Where to write the new lock (none: do not write one). */
  lockPath?: string;
  reporter: Reporter;
  /** Concurrent downloads per registry. */
  concurrency?: number;
}

/** What a save did. */
export interface SaveResult {
  plan: Plan;
  lock: Lock;
  archive: ArchiveSummary;
  /** Bytes downloaded from registries. */
  fetchedBytes: number;
  fetchedBlobs: number;
}

/** Fetch every blob of `images` missing from the cache. */
export async function fillCache(
  images: ResolvedImage[],
  cache: CacheStore,
  pool: RegistryPool,
  reporter: Reporter,
  plan: Plan,
  concurrency?: number,
): Promise<{ bytes: number; blobs: number }> {
  const byRegistry = new Map<string, CopyRoot[]>();
  for (const image of images) {
    const host = image.request.source.registry;
    const roots = byRegistry.get(host) ?? [];
    roots.push({
      srcRepo: image.request.source.repository,
      dstRepo: image.name,
      descriptor: image.descriptor,
      tags: [],
      label: image.name,
    });
    byRegistry.set(host, roots);
  }
  const phase = reporter.phase("fetching", plan.fetchBytes, plan.fetchBlobs);
  let bytes = 0;
  let blobs = 0;
  try {
    await Promise.all([...byRegistry.entries()].map(([host, roots]) =>
      copyGraph({
        src: pool.get(host),
        dst: cache,
        roots,
        concurrency,
        // The planner put every manifest in the cache already.
        readManifest: (_repo, desc) => cache.readBytes(desc),
        onEvent(event) {
          if (event.type === "bytes") {
            bytes += event.bytes;
            phase.addBytes(event.bytes);
          } else if (event.type === "blob" && event.outcome === "pushed") {
            blobs++;
            phase.addItem();
          }
        },
      })
    ));
  } finally {
    phase.end();
  }
  return { bytes, blobs };
}

/** Write the archive for `images` from the cache. */
export async function writeArchive(
  images: ResolvedImage[],
  cache: CacheStore,
  output: string,
  lock: Lock,
  reporter: Reporter,
  plan: Plan,
): Promise<ArchiveSummary> {
  const archive = await createArchive(output, {
    images: images.map((i) => ({ descriptor: i.descriptor, name: i.name, entry: i.request.entry })),
    lock: formatLock(lock),
  });
  const phase = reporter.phase("writing archive", plan.totalBytes, plan.blobs.size);
  try {
    await copyGraph({
      src: cache,
      dst: archive,
      roots: images.map((i) => ({
        srcRepo: i.name,
        dstRepo: i.name,
        descriptor: i.descriptor,
        tags: [],
        label: i.name,
      })),
      readManifest: (_repo, desc) => cache.readBytes(desc),
      onEvent(event) {
        if (event.type === "bytes") phase.addBytes(event.bytes);
        else if (event.type === "blob" || event.type === "manifest") phase.addItem();
      },
    });
    return await archive.finish();
  } catch (e) {
    await archive.abort();
    throw e;
  } finally {
    phase.end();
  }
}

/** Plan, fill the cache, write the archive and the lock. */
export async function saveCommand(options: SaveOptions): Promise<SaveResult> {
  const { reporter } = options;
  const cache = await openCache(options.cacheDir);
  const pool = registryPool(options.declaration.registries, { concurrency: options.concurrency });
  try {
    if (options.declaration.requests.length === 0) {
      throw new AirgapError("nothing to save: the declaration lists no images", {}, { exitCode: 2 });
    }
    reporter.info(`resolving ${options.declaration.requests.length} images`);
    const images = await resolveImages(options.declaration.requests, {
      cache,
      registry: pool.get,
      lock: options.previousLock,
      locked: options.locked,
    });
    const plan = await makePlan(images, cache, options.previousLock);
    const lock = lockFromImages(images);
    const fetched = plan.fetchBlobs > 0
      ? await fillCache(images, cache, pool, reporter, plan, options.concurrency)
      : { bytes: 0, blobs: 0 };
    // Every blob must now be in the cache; anything else is a bug worth stopping for.
    for (const image of images) {
      for (const d of graphOf(image)) {
        if (!(await cache.has(d.digest, d.size))) {
          throw new AirgapError(`${image.name}: blob ${d.digest} is still missing from the cache`);
        }
      }
    }
    const archive = await writeArchive(images, cache, options.output, lock, reporter, plan);
    if (options.lockPath) await writeLock(options.lockPath, lock);
    return { plan, lock, archive, fetchedBytes: fetched.bytes, fetchedBlobs: fetched.blobs };
  } finally {
    await pool.close();
  }
}
