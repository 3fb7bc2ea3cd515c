/**
 * Two read-only stores seen as one. A delta archive leaves out the blobs its
 * base already delivered; `airgap serve --base-cache` serves such a delta
 * over the cache that holds the base, so clients see complete images. The
 * layering is a store of its own (not a branch in the server) so the server
 * keeps talking to exactly one {@link Store}.
 * @module
 */
import { AirgapError } from "../../errors.ts";
import type { Descriptor } from "../../oci/manifest.ts";
import type { Store } from "../types.ts";

/** Read-only: `first` where it has the content, else `then` (a delta archive over its base cache). */
export function layered(first: Store, then: Store): Store {
  const pick = async (repo: string, desc: Descriptor) => (await first.exists(repo, desc) ? first : then);
  return {
    description: `${first.description} over ${then.description}`,
    concurrency: first.concurrency,
    exists: async (repo, desc) => await first.exists(repo, desc) || await then.exists(repo, desc),
    fetch: async (repo, desc) => await (await pick(repo, desc)).fetch(repo, desc),
    fetchRange: async (repo, desc, offset, length) => {
      const store = await pick(repo, desc);
      if (!store.fetchRange) throw new AirgapError(`${store.description} cannot serve ranges`);
      return await store.fetchRange(repo, desc, offset, length);
    },
    push: () => Promise.reject(new AirgapError("read-only")),
    tag: () => Promise.reject(new AirgapError("read-only")),
    resolve: (repo, reference) => first.resolve(repo, reference),
    close: async () => {
      await first.close?.();
      await then.close?.();
    },
  };
}
