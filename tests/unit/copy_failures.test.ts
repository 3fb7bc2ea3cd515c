/**
 * How the copy engine meets failures: bytes that do not hash right are
 * fetched once more from scratch and then fail with a DigestMismatchError;
 * a cancelled copy starts nothing and rejects with an InterruptedError.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { copyGraph } from "../../lib/copy/engine.ts";
import { makeManifest } from "../../lib/demo/corpus.ts";
import { openCache } from "../../lib/store/cache.ts";
import { bytesStream, type Store } from "../../lib/store/types.ts";
import { DigestMismatchError, InterruptedError } from "../../lib/error_kinds.ts";

const image = makeManifest({ format: "oci", layers: [{ seed: "copy-failures", size: 8192 }] });
const layer = image.blobs[image.blobs.length - 1];

/** A source holding the image, whose layer comes back corrupted the first `bad` times. */
function source(bad: number): Store & { fetches: number } {
  const all = new Map([image.manifest, ...image.blobs].map((b) => [b.descriptor.digest, b.bytes]));
  const store = {
    description: "test source",
    concurrency: 2,
    fetches: 0,
    exists: () => Promise.resolve(true),
    fetch(_repo: string, desc: { digest: string }) {
      let bytes = all.get(desc.digest)!;
      if (desc.digest === layer.descriptor.digest) {
        store.fetches++;
        if (store.fetches <= bad) bytes = bytes.map((b, i) => (i === 100 ? b ^ 1 : b));
      }
      return Promise.resolve(bytesStream(bytes));
    },
    push: () => Promise.reject(new Error("read-only")),
    tag: () => Promise.reject(new Error("read-only")),
    resolve: () => Promise.reject(new Error("read-only")),
  };
  return store;
}

const roots = [{ srcRepo: "a", dstRepo: "a", descriptor: image.manifest.descriptor, tags: [], label: "a:v1" }];

Deno.test("a digest mismatch is fetched once more from scratch, then fails", () =>
  withTempDir(async (dir) => {
    const once = source(1);
    const cache = await openCache(join(dir, "c1"));
    const result = await copyGraph({ src: once, dst: cache, roots });
    assertEquals(once.fetches, 2);
    assertEquals(result.blobs.pushed, image.blobs.length);

    const always = source(99);
    const other = await openCache(join(dir, "c2"));
    await assertRejects(() => copyGraph({ src: always, dst: other, roots }), DigestMismatchError, "a:v1");
    assertEquals(always.fetches, 2);
    assert(!(await other.has(layer.descriptor.digest, layer.descriptor.size)), "nothing half-written is kept");
  }));

Deno.test("a cancelled copy starts nothing and rejects with an InterruptedError", () =>
  withTempDir(async (dir) => {
    const src = source(0);
    const cache = await openCache(join(dir, "c"));
    const controller = new AbortController();
    controller.abort();
    await assertRejects(() => copyGraph({ src, dst: cache, roots, signal: controller.signal }), InterruptedError);
    assertEquals(src.fetches, 0);
  }));
