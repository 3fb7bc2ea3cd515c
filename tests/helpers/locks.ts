/**
 * Locks for the cache-care tests: what `cache prune` keeps is whatever a
 * lock references, so the tests need locks that reference chosen digests
 * and nothing else.
 */
import { OCI_MANIFEST } from "../../lib/oci/media.ts";
import type { Lock } from "../../schemas/lock.ts";

/** A lock of one image: `digests[0]` its manifest, the rest its blobs; no digests, a lock of no images. */
export function lockOf(digests: string[]): Lock {
  if (digests.length === 0) return { lockVersion: 1, images: [] };
  return {
    lockVersion: 1,
    images: [{
      entry: "x:1",
      source: "docker.io/library/x:1",
      digest: digests[0],
      mediaType: OCI_MANIFEST,
      size: 1,
      platforms: [],
      blobs: Object.fromEntries(digests.slice(1).map((d) => [d, 1])),
    }],
  };
}
