/**
 * The composable stores in lib/store/ (leavingOut, layered, cacheFirst,
 * landing, the pack tee) over real caches and archives in temp directories.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { corpusBlobs, singleImage } from "../../lib/demo/corpus.ts";
import { copyGraph, type CopyRoot } from "../../lib/copy/engine.ts";
import { type CacheStore, openCache } from "../../lib/store/cache.ts";
import { createArchive, openArchive } from "../../lib/store/archive.ts";
import { readAll } from "../../lib/store/types.ts";
import { leavingOut } from "../../lib/store/wrappers/leaving_out.ts";
import { layered } from "../../lib/store/wrappers/layered.ts";
import { cachedManifests, cacheFirst } from "../../lib/store/wrappers/cache_first.ts";
import { landing } from "../../lib/store/wrappers/landing.ts";
import { packTee } from "../../lib/store/wrappers/pack_tee.ts";
import { isManifestType } from "../../lib/oci/media.ts";
import type { Descriptor } from "../../lib/oci/manifest.ts";

const image = singleImage("rancher/shell", "v1", {
  format: "oci",
  layers: [{ seed: "a", size: 3000 }, { seed: "b", size: 5000 }, { seed: "c", size: 7000 }],
});
const blobs = [...corpusBlobs([image]).values()];
const root: CopyRoot = { srcRepo: "r", dstRepo: "r", descriptor: image.root.descriptor, tags: [], label: "shell" };
const layers = image.blobs.filter((b) => b.descriptor.mediaType.includes("layer")).map((b) => b.descriptor);

async function filled(dir: string, only?: (d: Descriptor) => boolean): Promise<CacheStore> {
  const cache = await openCache(dir);
  for (const b of blobs) if (!only || only(b.descriptor)) await cache.putBytes(b.descriptor, b.bytes);
  return cache;
}

const read = async (stream: ReadableStream<Uint8Array>) => await readAll(stream, 1 << 20);

Deno.test("leavingOut: a destination that never fetches nor writes what is left out", () =>
  withTempDir(async (dir) => {
    const src = await filled(join(dir, "src"));
    const dst = await openCache(join(dir, "dst"));
    const left = new Set([layers[1].digest]);
    const result = await copyGraph({ src, dst: leavingOut(dst, left), roots: [root] });
    assertEquals(result.blobs.exists, 1);
    assert(!(await dst.has(layers[1].digest)), "the left-out layer was not written");
    for (const d of [layers[0], layers[2], image.root.descriptor]) assert(await dst.has(d.digest, d.size));
    assertEquals(await leavingOut(dst, left).push("r", layers[1], () => Promise.reject(new Error("opened"))), "exists");
    assert(leavingOut(dst, new Set()) === dst, "nothing left out: the store itself");
  }));

Deno.test("layered: a delta over its base reads from either, writes nothing", () =>
  withTempDir(async (dir) => {
    const base = await filled(join(dir, "base"), (d) => d.digest === layers[0].digest);
    const delta = await filled(join(dir, "delta"), (d) => d.digest !== layers[0].digest);
    const both = layered(delta, base);
    for (const b of blobs) {
      assert(await both.exists("r", b.descriptor), b.descriptor.digest);
      assertEquals(await read(await both.fetch("r", b.descriptor)), b.bytes);
    }
    assertEquals(
      await read(await both.fetchRange!("r", layers[0], 10, 20)),
      blobs.find((b) => b.descriptor.digest === layers[0].digest)!.bytes.subarray(10, 30),
    );
    await assertRejects(() => both.push("r", layers[0], new Uint8Array()), Error, "read-only");
    const empty = await openCache(join(dir, "empty"));
    assert(!(await layered(empty, empty).exists("r", layers[0])));
  }));

Deno.test("cacheFirst: the cache where it has a blob, the other store where not, and it says which", () =>
  withTempDir(async (dir) => {
    const cache = await filled(join(dir, "cache"), (d) => d.digest !== layers[2].digest);
    const registry = await filled(join(dir, "registry"));
    const missed: string[] = [];
    const src = cacheFirst(cache, registry, undefined, (d) => missed.push(d.digest));
    const dst = await openCache(join(dir, "dst"));
    await copyGraph({ src, dst, roots: [root] });
    assertEquals(missed, [layers[2].digest], "only the blob the cache lacks came from the registry");
    for (const b of blobs) assert(await dst.has(b.descriptor.digest, b.descriptor.size));
    await assertRejects(() => src.push("r", layers[0], new Uint8Array()), Error, "read-only");
    // Manifests: from the cache, else from the registry, cached again.
    const bare = await openCache(join(dir, "bare"));
    const manifests = cachedManifests(bare, () => registry);
    assertEquals(await manifests("r", image.root.descriptor), image.root.bytes);
    assert(await bare.has(image.root.descriptor.digest), "cached on the way");
  }));

Deno.test("landing: a reader waits for its blob to land; a failed filling fails the readers still waiting", () =>
  withTempDir(async (dir) => {
    const cache = await openCache(join(dir, "cache"));
    const [first, second] = layers;
    const expected = landing([first.digest, second.digest, first.digest]);
    const asked: string[] = [];
    const src = expected.over({ ...cache, fetch: (repo, desc) => (asked.push(desc.digest), cache.fetch(repo, desc)) });
    const reading = src.fetch("r", first);
    assertEquals(asked, [], "the cache is not asked before the blob landed");
    const bytes = blobs.find((b) => b.descriptor.digest === first.digest)!.bytes;
    await cache.putBytes(first, bytes);
    expected.landed(first.digest);
    assertEquals(await read(await reading), bytes);
    const waiting = src.fetch("r", second);
    expected.fail(new Error("disk full"));
    await assertRejects(() => waiting, Error, "disk full");
    // Not expected: read at once (here: not in the cache).
    await assertRejects(() => src.fetch("r", layers[2]));
  }));

Deno.test("pack tee: fetched blobs land once, in the archive, and the cache holds them as a pack", () =>
  withTempDir(async (dir) => {
    const registry = await filled(join(dir, "registry"));
    for (const mostlyOld of [false, true]) {
      const cache = await filled(join(dir, `cache-${mostlyOld}`), (d) => mostlyOld && d.digest !== layers[0].digest);
      const fetching = new Set(
        blobs.filter((b) => !mostlyOld || b.descriptor.digest === layers[0].digest)
          .map((b) => b.descriptor.digest),
      );
      const tee = packTee(cache, fetching);
      const path = join(dir, `out-${mostlyOld}.tar`);
      const archive = await createArchive(path, {
        images: [{ descriptor: image.root.descriptor, name: "docker.io/rancher/shell:v1", entry: "rancher/shell:v1" }],
        blobs: [
          ...blobs.filter((b) => isManifestType(b.descriptor.mediaType)),
          ...blobs.filter((b) => !isManifestType(b.descriptor.mediaType)),
        ].map((b) => b.descriptor),
        ...tee.hooks,
      });
      const dst = await tee.adopt(archive);
      assert(dst && tee.packing, "the archive is next to the cache: adopted as a pack");
      await copyGraph({ src: cacheFirst(cache, registry, undefined, tee.missed), dst, roots: [root] });
      const summary = await archive.finish();
      await tee.finish(summary);
      tee.close();
      for (const b of blobs) {
        assert(await cache.has(b.descriptor.digest, b.descriptor.size), b.descriptor.digest);
        assertEquals(await read(await cache.fetch("r", b.descriptor)), b.bytes);
      }
      const loose = await Deno.stat(cache.blobPath(layers[0].digest)).then(() => true, () => false);
      assertEquals(loose, mostlyOld, "written once (in the pack), loose only when the pack was not kept");
      const packs = await Array.fromAsync(Deno.readDir(join(cache.dir, "packs"))).catch(() => []);
      assertEquals(packs.some((p) => p.name.endsWith(".idx")), !mostlyOld, "mostly old content: no pack kept");
      const reader = await openArchive(path);
      assertEquals(reader.blobs.size, blobs.length);
      await reader.close?.();
    }
  }));
