import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { corpusBlobs, standardCorpus } from "../../lib/demo/corpus.ts";
import { copyGraph } from "../../lib/copy/engine.ts";
import { createArchive, openArchive } from "../../lib/store/archive.ts";
import { openCache } from "../../lib/store/cache.ts";
import { bytesStream, readAll } from "../../lib/store/types.ts";
import { isManifestType } from "../../lib/oci/media.ts";
import { parseManifest } from "../../lib/oci/manifest.ts";
import { withTempDir } from "../helpers/tempdir.ts";

Deno.test("cache: verified writes, concurrent writers of one blob, wrong content never lands", () =>
  withTempDir(async (dir) => {
    const cache = await openCache(join(dir, "cache"));
    const bytes = new TextEncoder().encode("layer bytes");
    const [blob] = [...corpusBlobs(standardCorpus(0.01)).values()];
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => cache.push("r", blob.descriptor, () => Promise.resolve(bytesStream(blob.bytes)))),
    );
    assertEquals(outcomes.filter((o) => o === "pushed").length, 1);
    assertEquals(outcomes.filter((o) => o === "exists").length, 4);
    assertEquals(await Deno.readFile(cache.blobPath(blob.descriptor.digest)), blob.bytes);
    // Wrong content under a digest: rejected, nothing at the blob path.
    const wrong = { ...blob.descriptor, digest: `sha256:${"0".repeat(64)}` };
    await assertRejects(() => cache.push("r", wrong, bytes), Error, "mismatch");
    assert(!(await cache.has(wrong.digest)));
    // A stream that fails midway leaves nothing behind either.
    const failing = () =>
      Promise.resolve(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(blob.bytes.subarray(0, 3));
            c.error(new Error("connection reset"));
          },
        }),
      );
    const other = [...corpusBlobs(standardCorpus(0.02)).values()][3];
    await assertRejects(() => cache.push("r", other.descriptor, failing), Error, "connection reset");
    assert(!(await cache.has(other.descriptor.digest)));
  }));

Deno.test("cache: tags are recorded in index.json", () =>
  withTempDir(async (dir) => {
    const cache = await openCache(dir);
    const [image] = standardCorpus(0.01);
    await cache.putBytes(image.root.descriptor, image.root.bytes);
    await cache.recordTags([{ name: "docker.io/rancher/rancher:v2.7.9", descriptor: image.root.descriptor }]);
    const resolved = await cache.resolve("docker.io/rancher/rancher", "v2.7.9");
    assertEquals(resolved.descriptor.digest, image.root.descriptor.digest);
    const index = JSON.parse(await Deno.readTextFile(join(dir, "index.json")));
    assertEquals(
      index.manifests[0].annotations["org.opencontainers.image.ref.name"],
      "docker.io/rancher/rancher:v2.7.9",
    );
  }));

Deno.test("copy engine: cache → archive writes each blob once, in planned order, and reads back", () =>
  withTempDir(async (dir) => {
    const images = standardCorpus(0.5);
    const cache = await openCache(join(dir, "cache"));
    for (const blob of corpusBlobs(images).values()) await cache.putBytes(blob.descriptor, blob.bytes);
    const path = join(dir, "out.tar");
    const all = [...corpusBlobs(images).values()];
    const ordered = [
      ...all.filter((b) => isManifestType(b.descriptor.mediaType)),
      ...all.filter((b) => !isManifestType(b.descriptor.mediaType)),
    ];
    const archive = await createArchive(path, {
      images: images.map((i) => ({
        descriptor: i.root.descriptor,
        name: `docker.io/${i.repository}:${i.tag}`,
        entry: `${i.repository}:${i.tag}`,
      })),
      blobs: ordered.map((b) => b.descriptor),
    });
    const result = await copyGraph({
      src: cache,
      dst: archive,
      roots: images.map((i) => ({
        srcRepo: i.repository,
        dstRepo: i.repository,
        descriptor: i.root.descriptor,
        tags: [],
        label: i.repository,
      })),
    });
    const summary = await archive.finish();
    const unique = corpusBlobs(images);
    assertEquals(summary.blobs, unique.size);
    assertEquals(result.blobs.pushed + result.manifests.pushed, unique.size);
    const uniqueBytes = [...unique.values()].reduce((s, b) => s + b.bytes.byteLength, 0);
    assertEquals(summary.blobBytes, uniqueBytes);
    // Each blob once: the archive is barely larger than its blobs.
    assert(summary.size <= uniqueBytes + 1024 * (unique.size + 8) + 20480, `archive ${summary.size} vs ${uniqueBytes}`);
    const reader = await openArchive(path);
    assertEquals(reader.images.length, images.length);
    assertEquals(reader.lock, undefined);
    for (const blob of unique.values()) {
      assertEquals(await readAll(await reader.fetch("", blob.descriptor), 64 * 1024 * 1024), blob.bytes);
    }
    // Order as planned: every manifest before the first other blob.
    const offsets = [...reader.blobs.entries()].map(([digest, e]) => ({ digest, offset: e.offset }));
    const configs = new Set<string>();
    for (const b of unique.values()) {
      if (!isManifestType(b.descriptor.mediaType)) continue;
      const m = parseManifest(b.bytes, b.descriptor.mediaType, "t");
      if (m.kind === "manifest") configs.add(m.config.digest);
    }
    const kind = (digest: string) => isManifestType(unique.get(digest)!.descriptor.mediaType) ? "meta" : "layer";
    const firstLayer = Math.min(...offsets.filter((o) => kind(o.digest) === "layer").map((o) => o.offset));
    const lastMeta = Math.max(...offsets.filter((o) => kind(o.digest) === "meta").map((o) => o.offset));
    assert(lastMeta < firstLayer, "manifests must precede the other blobs");
  }));

Deno.test("archive: an aborted write leaves no archive; a corrupted blob fails verification", () =>
  withTempDir(async (dir) => {
    const images = standardCorpus(0.1);
    const path = join(dir, "a.tar");
    const archive = await createArchive(path, { images: [], blobs: [] });
    await archive.abort();
    await assertRejects(() => Deno.stat(path), Deno.errors.NotFound);
    await assertRejects(() => Deno.stat(`${path}.partial`), Deno.errors.NotFound);

    const blob = images[2].blobs[1];
    const writer = await createArchive(path, { images: [], blobs: [blob.descriptor] });
    await writer.push("", blob.descriptor, blob.bytes);
    await writer.finish();
    const bytes = await Deno.readFile(path);
    const reader = await openArchive(path);
    const entry = reader.blobs.get(blob.descriptor.digest)!;
    bytes[entry.offset + 10] ^= 0xff;
    await Deno.writeFile(path, bytes);
    const corrupted = await openArchive(path);
    await assertRejects(
      async () => await readAll(await corrupted.fetch("", blob.descriptor), 1 << 20),
      Error,
      "digest mismatch",
    );
    await Deno.writeTextFile(join(dir, "junk.tar"), "not a tar");
    await assertRejects(() => openArchive(join(dir, "junk.tar")), Error, "not an OCI archive");
    await assertRejects(() => openArchive(join(dir, "missing.tar")), Error, "does not exist");
  }));
