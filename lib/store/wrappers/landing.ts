/**
 * Blobs still landing in the cache, as a source. When the archive is on
 * another file system than the cache (a USB disk), the cache cannot adopt it
 * as a pack: one copy fills the cache (loose blobs) while another fills the
 * archive from the cache. The second must not read a blob before the first
 * has landed it; this store is that wait, so both stay plain copies through
 * the one engine.
 * @module
 */
import type { Store } from "../types.ts";

/** Blobs expected to land, and sources that wait for them. */
export interface Landing {
  /** The blob is in the cache now: readers waiting for it go ahead. */
  landed(digest: string): void;
  /** The filling failed: every reader still waiting fails with it. */
  fail(error: unknown): void;
  /** `store` whose `fetch` of an expected blob waits until it has landed (or the filling failed). */
  over(store: Store): Store;
}

/** Expect `digests` to land; a blob not among them is read at once. */
export function landing(digests: Iterable<string>): Landing {
  const arriving = new Map<string, PromiseWithResolvers<void>>();
  for (const digest of digests) {
    if (arriving.has(digest)) continue;
    const pending = Promise.withResolvers<void>();
    // Nobody may be waiting for a blob when the filling fails: its promise must not go unhandled.
    pending.promise.catch(() => {});
    arriving.set(digest, pending);
  }
  return {
    landed: (digest) => arriving.get(digest)?.resolve(),
    fail: (error) => {
      for (const pending of arriving.values()) pending.reject(error);
    },
    over: (store) => ({
      ...store,
      async fetch(repo, desc, options) {
        await arriving.get(desc.digest)?.promise;
        return await store.fetch(repo, desc, options);
      },
    }),
  };
}
