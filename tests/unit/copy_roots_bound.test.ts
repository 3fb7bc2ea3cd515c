/**
 * The copy engine walks at most `rootsInFlight(concurrency)` roots at once
 * (issue 24: every root started at once held its manifest, graph and queued
 * transfers until its blobs drained — memory that grew with the image
 * count). 300 images through a destination whose pushes take a turn of the
 * event loop: a walk starts with its root's manifest read and ends with its
 * root's manifest push, so the walks in between never exceed the bound, and
 * every image is still copied.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { copyGraph, rootsInFlight } from "../../lib/copy/engine.ts";
import { makeManifest } from "../../lib/demo/corpus.ts";
import { bytesStream, openContent, readAll, type Store } from "../../lib/store/types.ts";

Deno.test("copy engine: at most rootsInFlight(concurrency) roots are walked at once (300 images)", async () => {
  const images = Array.from(
    { length: 300 },
    (_, i) => makeManifest({ format: "oci", layers: [{ seed: `roots-${i}`, size: 256 }] }),
  );
  const all = new Map(images.flatMap((m) => [m.manifest, ...m.blobs]).map((b) => [b.descriptor.digest, b.bytes]));
  const rootDigests = new Set(images.map((m) => m.manifest.descriptor.digest));
  const stored = new Set<string>();
  let walking = 0;
  let most = 0;
  const src: Store = {
    description: "memory source",
    concurrency: 2,
    exists: () => Promise.resolve(true),
    fetch: (_repo, desc) => Promise.resolve(bytesStream(all.get(desc.digest)!)),
    push: () => Promise.reject(new Error("read-only")),
    tag: () => Promise.reject(new Error("read-only")),
    resolve: () => Promise.reject(new Error("read-only")),
  };
  const dst: Store = {
    description: "slow destination",
    concurrency: 2,
    exists: () => Promise.resolve(false),
    fetch: () => Promise.reject(new Error("write-only")),
    async push(_repo, desc, content) {
      await readAll(await openContent(content), 1 << 20);
      await new Promise((r) => setTimeout(r, 0));
      stored.add(desc.digest);
      if (rootDigests.has(desc.digest)) walking--;
      return "pushed";
    },
    tag: () => Promise.resolve(),
    resolve: () => Promise.reject(new Error("write-only")),
  };
  const roots = images.map((m, i) => ({
    srcRepo: `r${i}`,
    dstRepo: `r${i}`,
    descriptor: m.manifest.descriptor,
    tags: [],
    label: `r${i}:v1`,
  }));
  const readManifest = async (_repo: string, desc: { digest: string }) => {
    if (rootDigests.has(desc.digest)) most = Math.max(most, ++walking);
    return await Promise.resolve(all.get(desc.digest)!);
  };
  const result = await copyGraph({ src, dst, roots, readManifest });
  console.log(`copy roots bound: 300 images, at most ${most} walks at once (bound ${rootsInFlight(2)})`);
  assert(most <= rootsInFlight(2), `${most} walks at once`);
  assert(most > 1, "walks still overlap");
  assertEquals(result.manifests.pushed, 300);
  assertEquals(stored.size, all.size);
});
