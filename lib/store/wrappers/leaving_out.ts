/**
 * A destination that leaves some blobs out on purpose. Foreign layers under
 * `--foreign-layers skip` (and, in a mirror, what the target must already
 * hold) are neither fetched nor written, yet the copy engine walks whole
 * graphs: the destination, not the engine, is where "already present" is
 * decided, so the engine stays one small loop with no exceptions in it.
 * @module
 */
import type { Store } from "../types.ts";

/**
 * A destination that treats `digests` as already present: blobs left out on
 * purpose (foreign layers under `skip`) are neither fetched nor written.
 */
export function leavingOut<S extends Store>(store: S, digests: ReadonlySet<string>): S {
  if (digests.size === 0) return store;
  return {
    ...store,
    exists: (repo, desc) => digests.has(desc.digest) ? Promise.resolve(true) : store.exists(repo, desc),
    push: (repo, desc, content) =>
      digests.has(desc.digest) ? Promise.resolve("exists") : store.push(repo, desc, content),
  };
}
