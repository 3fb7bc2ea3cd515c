/**
 * Small fixtures the unit suites share: locks that reference chosen digests
 * and nothing else (what `cache prune` keeps is whatever a lock
 * references), a body that breaks like a reset connection, a blob of
 * seeded bytes.
 */
import { pseudoRandomBytes } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { OCI_MANIFEST } from "../../lib/oci/media.ts";
import { NetworkError } from "../../lib/error_kinds.ts";
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

/** A body that yields the first `good` bytes of `data`, then fails like a reset connection (a temporary error). */
export function breakingBody(data: Uint8Array, good: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(data.slice(0, good));
      } else controller.error(new NetworkError("connection reset", {}, { temporary: true }));
    },
  });
}

/** `size` seeded pseudo-random bytes as a blob: the bytes and their descriptor. */
export function randomBlob(seed: string, size: number) {
  const bytes = pseudoRandomBytes(seed, size);
  return { bytes, descriptor: { mediaType: "application/octet-stream", digest: digestOf(bytes), size } };
}
