/**
 * The cache in front of a registry, as a store. Save and mirror read every
 * blob through it: what the cache holds is never fetched again, a blob a
 * killed save left half-written is resumed with an HTTP Range request, and a
 * cached copy that is gone or proven bad is simply a miss. A cached copy
 * that cannot be read (too many open files, an I/O error) is not a miss:
 * the error surfaces, and the cache is left as it was. The cache is only ever a
 * shortcut, so this wrapper (not the copy engine, not the cache itself) is
 * the one place that decides "cache or registry".
 * @module
 */
import { AirgapError } from "../../errors.ts";
import { DigestMismatchError, NotFoundError } from "../../error_kinds.ts";
import { verifyingStream } from "../../oci/digest.ts";
import { type Descriptor, MAX_MANIFEST_SIZE } from "../../oci/manifest.ts";
import { concatStreams } from "../../format/streams.ts";
import type { CacheStore } from "../cache.ts";
import type { RegistryStore } from "../registry/store.ts";
import { readAll, type Store } from "../types.ts";
import { openVolumes } from "../../format/volumes.ts";

/**
 * The cache where it has a blob, the registry where it does not — resuming
 * with an HTTP Range request where a killed save left the start of a blob.
 * A cached blob that is gone or proven bad is a miss (the cache drops a bad
 * one; one that fails to verify mid-stream is dropped too, and the writer's
 * retry lands here again); one that cannot be read is the error it is.
 * `onMiss` hears every blob taken from the registry.
 */
export function cacheFirst(
  cache: CacheStore,
  registry: Store,
  ranges?: Pick<RegistryStore, "fetchFrom">,
  onMiss?: (desc: Descriptor) => void,
): Store {
  const fetch = async (repo: string, desc: Descriptor): Promise<ReadableStream<Uint8Array>> => {
    // Twice: when a pack goes (another save unpacked it at its end), its blobs are loose by then.
    for (let attempt = 0; attempt < 2 && await cache.has(desc.digest, desc.size); attempt++) {
      try {
        return await cache.fetch(repo, desc);
      } catch (e) {
        // Gone meanwhile, or proven bad and dropped (only that copy): look again.
        if (!isCacheMiss(e)) throw e;
      }
    }
    onMiss?.(desc);
    return await resumed(cache, repo, desc, ranges) ?? await registry.fetch(repo, desc);
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

/**
 * The start of a blob a killed save left in the cache, followed by the rest
 * from the registry (a Range request), verified as a whole; undefined when
 * there is nothing to resume or the registry would not serve the range.
 */
async function resumed(
  cache: CacheStore,
  repo: string,
  desc: Descriptor,
  ranges: Pick<RegistryStore, "fetchFrom"> | undefined,
): Promise<ReadableStream<Uint8Array> | undefined> {
  const partial = cache.partial(desc.digest);
  if (!ranges || !partial || partial.bytes <= 0 || partial.bytes >= desc.size) return undefined;
  const rest = await ranges.fetchFrom(repo, desc, partial.bytes).catch(() => undefined);
  if (!rest) return undefined;
  cache.forgetPartial(desc.digest); // used once: a retry fetches from scratch
  const volumes = await openVolumes(partial.paths[0]).catch(() => undefined);
  if (!volumes) {
    await rest.cancel().catch(() => {}); // the pack is gone: fetch it whole
    return undefined;
  }
  const head = volumes.rangeStream(partial.offset, partial.bytes);
  volumes.close();
  return concatStreams([head, rest]).pipeThrough(verifyingStream(desc, `resumed blob ${desc.digest}`));
}

/** A cached copy that is not there (or was proven bad): fetch it elsewhere. Any other failure is an error. */
export function isCacheMiss(e: unknown): boolean {
  return e instanceof NotFoundError || e instanceof DigestMismatchError;
}

/**
 * Manifests cache-first: from the cache, else (missing, or it failed to
 * verify and was dropped) from the registry, cached again.
 */
export function cachedManifests(
  cache: CacheStore,
  registry: (repo: string) => Store,
): (repo: string, desc: Descriptor) => Promise<Uint8Array> {
  return async (repo: string, desc: Descriptor): Promise<Uint8Array> => {
    try {
      return await cache.readBytes(desc);
    } catch (e) {
      if (!isCacheMiss(e)) throw e;
      const bytes = await readAll(await registry(repo).fetch(repo, desc), MAX_MANIFEST_SIZE);
      await cache.putBytes(desc, bytes);
      return bytes;
    }
  };
}
