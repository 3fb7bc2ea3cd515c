/**
 * `serve --writable` acceptance: skopeo and our own `load` push into a cache
 * through the embedded registry with identical digests; what was pushed is
 * served again after a restart (from the cache's index.json) and our save
 * pulls it back unchanged. A 256 MiB upload streams to disk.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { pushDirImage } from "../helpers/corpus.ts";
import { interopAvailable, skopeo, skopeoDigest } from "../helpers/registry.ts";
import { loadCommand } from "../../lib/commands/load/load.ts";
import { formatBytes } from "../../lib/text.ts";
import { createDigester } from "../../lib/oci/digest.ts";
import { isManifestType, OCI_MANIFEST } from "../../lib/oci/media.ts";
import { type CacheStore, openCache } from "../../lib/store/cache.ts";
import {
  cacheImages,
  createCatalog,
  registryNaming,
  type RunningServer,
  startServer,
} from "../../lib/server/server.ts";
import { assertSavedBack, buildCorpusArchive, silent } from "./server_fixture.ts";

const enabled = interopAvailable();

/** A writable server over `cache`, serving what its index.json records for `registry.local`. */
async function serveCache(cache: CacheStore): Promise<RunningServer> {
  const catalog = createCatalog(cache, await cacheImages(cache), registryNaming("registry.local"));
  return await startServer({ store: cache, catalog, writable: true });
}

Deno.test({
  name: "serve --writable: skopeo and our load push into a cache; served again after a restart; save round-trips",
  ignore: !enabled,
  async fn(t) {
    const fixture = await buildCorpusArchive();
    const { images, dir } = fixture;
    const cache = await openCache(join(dir, "served"));
    let server = await serveCache(cache);
    try {
      await t.step("skopeo pushes with --preserve-digests; skopeo reads the same bytes back", async () => {
        for (const image of images) {
          const target = `${server.host}/pushed/${image.repository}:${image.tag}`;
          await pushDirImage(join(dir, "dirs", image.repository.replaceAll("/", "_")), image, target);
          assertEquals(await skopeoDigest(target), image.root.descriptor.digest, image.repository);
          const raw = await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${target}`);
          assertEquals(raw, new TextDecoder().decode(image.root.bytes));
        }
        const recorded = await cache.tags();
        for (const image of images) {
          const name = `registry.local/pushed/${image.repository}:${image.tag}`;
          assertEquals(recorded.get(name)?.digest, image.root.descriptor.digest, name);
        }
      });

      await t.step("our load pushes the archive (mounting shared layers) with identical digests", async () => {
        const result = await loadCommand({
          archivePath: fixture.path,
          registry: server.host,
          registries: new Map([[server.host, { noAuthFiles: true }]]),
          reporter: silent,
        });
        assertEquals(result.images.length, images.length);
        assert(result.stats.blobsMounted > 0, "shared base layers are mounted across repositories");
        for (const image of images) {
          const target = `${server.host}/${image.repository}:${image.tag}`;
          assertEquals(await skopeoDigest(target), image.root.descriptor.digest, target);
        }
        const recorded = await cache.tags();
        for (const image of images) {
          assertEquals(
            recorded.get(`registry.local/${image.repository}:${image.tag}`)?.digest,
            image.root.descriptor.digest,
          );
        }
      });

      await t.step("cross-repository mounts: 201 from a repository holding the blob, else an upload", async () => {
        const layer = images[0].blobs.find((b) => !isManifestType(b.descriptor.mediaType))!.descriptor;
        const mount = await fetch(
          `${server.url}/v2/elsewhere/x/blobs/uploads/?mount=${layer.digest}&from=${images[0].repository}`,
          { method: "POST" },
        );
        await mount.body?.cancel();
        assertEquals(mount.status, 201);
        assertEquals(mount.headers.get("docker-content-digest"), layer.digest);
        const head = await fetch(`${server.url}/v2/elsewhere/x/blobs/${layer.digest}`, { method: "HEAD" });
        assertEquals([head.status, head.headers.get("content-length")], [200, String(layer.size)]);
        const refused = await fetch(
          `${server.url}/v2/elsewhere/y/blobs/uploads/?mount=${layer.digest}&from=nothing/here`,
          { method: "POST" },
        );
        await refused.body?.cancel();
        assertEquals(refused.status, 202);
        const cancel = await fetch(new URL(refused.headers.get("location")!, server.url), { method: "DELETE" });
        await cancel.body?.cancel();
        assertEquals(cancel.status, 204);
      });

      await t.step("chunked upload, manifest by digest, many tags with pagination", async () => {
        const busybox = images.find((i) => i.repository === "library/busybox")!;
        // Push busybox into a new repository by hand: blobs in chunks, the manifest by digest, then tags.
        for (const blob of busybox.blobs) {
          const start = await fetch(`${server.url}/v2/hand/made/blobs/uploads/`, { method: "POST" });
          await start.body?.cancel();
          let location = new URL(start.headers.get("location")!, server.url);
          const half = Math.floor(blob.bytes.byteLength / 2);
          const patch = await fetch(location, {
            method: "PATCH",
            headers: { "content-range": `0-${half - 1}`, "content-type": "application/octet-stream" },
            body: blob.bytes.slice(0, half),
          });
          await patch.body?.cancel();
          assertEquals([patch.status, patch.headers.get("range")], [202, `0-${half - 1}`]);
          location = new URL(patch.headers.get("location")!, server.url);
          location.searchParams.set("digest", blob.descriptor.digest);
          const put = await fetch(location, { method: "PUT", body: blob.bytes.slice(half) });
          await put.body?.cancel();
          assertEquals(put.status, 201);
        }
        const digest = busybox.root.descriptor.digest;
        const byDigest = await fetch(`${server.url}/v2/hand/made/manifests/${digest}`, {
          method: "PUT",
          headers: { "content-type": OCI_MANIFEST },
          body: busybox.root.bytes.slice(),
        });
        await byDigest.body?.cancel();
        assertEquals([byDigest.status, byDigest.headers.get("docker-content-digest")], [201, digest]);
        const tags = ["a", "b", "c", "d", "e"];
        for (const tag of tags) {
          const put = await fetch(`${server.url}/v2/hand/made/manifests/${tag}`, {
            method: "PUT",
            headers: { "content-type": OCI_MANIFEST },
            body: busybox.root.bytes.slice(),
          });
          await put.body?.cancel();
          assertEquals(put.status, 201);
        }
        const seen: string[] = [];
        let next: string | undefined = "/v2/hand/made/tags/list?n=2";
        while (next) {
          const response: Response = await fetch(`${server.url}${next}`);
          seen.push(...(await response.json() as { tags: string[] }).tags);
          next = response.headers.get("link")?.match(/<([^>]+)>/)?.[1];
        }
        assertEquals(seen, tags);
        assertEquals(await skopeoDigest(`${server.host}/hand/made:c`), digest);
      });

      await t.step("after a restart, the cache's index.json is served again", async () => {
        await server.close();
        server = await serveCache(await openCache(join(dir, "served")));
        for (const image of images) {
          for (const name of [`${image.repository}:${image.tag}`, `pushed/${image.repository}:${image.tag}`]) {
            assertEquals(await skopeoDigest(`${server.host}/${name}`), image.root.descriptor.digest, name);
          }
        }
        const busybox = images.find((i) => i.repository === "library/busybox")!;
        assertEquals(await skopeoDigest(`${server.host}/hand/made:e`), busybox.root.descriptor.digest);
      });

      await t.step("our save pulls everything back out unchanged", async () => {
        await assertSavedBack(images, server.host, dir, "back", fixture.archive);
      });
    } finally {
      await server.close();
      await fixture.cleanup();
    }
  },
});

/** `size` bytes of generated content as a stream, hashed as it is produced. */
function generated(size: number): { stream: ReadableStream<Uint8Array>; digest: () => string } {
  const digester = createDigester("sha256");
  const block = crypto.getRandomValues(new Uint8Array(64 * 1024));
  let produced = 0;
  let n = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced >= size) return controller.close();
      const chunk = new Uint8Array(Math.min(1024 * 1024, size - produced));
      for (let offset = 0; offset < chunk.byteLength; offset += block.byteLength) {
        chunk.set(block.subarray(0, Math.min(block.byteLength, chunk.byteLength - offset)), offset);
      }
      new DataView(chunk.buffer).setUint32(0, n++);
      digester.update(chunk);
      produced += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, digest: () => digester.digest() };
}

Deno.test("serve --writable: a 256 MiB upload streams to disk and streams back out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-large-" });
  const cache = await openCache(join(dir, "cache"));
  const server = await startServer({ store: cache, catalog: createCatalog(cache, []), writable: true });
  const size = 256 * 1024 * 1024;
  try {
    const start = await fetch(`${server.url}/v2/big/layer/blobs/uploads/`, { method: "POST" });
    await start.body?.cancel();
    const content = generated(size);
    const rssBefore = Deno.memoryUsage().rss;
    let began = performance.now();
    const patch = await fetch(new URL(start.headers.get("location")!, server.url), {
      method: "PATCH",
      headers: { "content-type": "application/octet-stream" },
      body: content.stream,
    });
    await patch.body?.cancel();
    const uploadMs = performance.now() - began;
    assertEquals([patch.status, patch.headers.get("range")], [202, `0-${size - 1}`]);
    const digest = content.digest();
    const location = new URL(patch.headers.get("location")!, server.url);
    location.searchParams.set("digest", digest);
    const put = await fetch(location, { method: "PUT" });
    await put.body?.cancel();
    assertEquals(put.status, 201);
    const rssGrowth = Deno.memoryUsage().rss - rssBefore;
    assertEquals((await Deno.stat(cache.blobPath(digest))).size, size);
    // Not a benchmark: only a guard against buffering the layer (the server shares this process).
    assert(rssGrowth < 160 * 1024 * 1024, `RSS grew ${formatBytes(rssGrowth)} during a 256 MiB upload`);

    began = performance.now();
    const get = await fetch(`${server.url}/v2/big/layer/blobs/${digest}`);
    const check = createDigester("sha256");
    for await (const chunk of get.body!) check.update(chunk);
    const downloadMs = performance.now() - began;
    assertEquals([check.size, check.digest()], [size, digest]);
    const rate = (ms: number) => `${(size / 1024 / 1024 / (ms / 1000)).toFixed(0)} MiB/s`;
    console.log(
      `256 MiB upload ${rate(uploadMs)}, download ${rate(downloadMs)}, RSS growth during upload ${
        formatBytes(Math.max(0, rssGrowth))
      }`,
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
