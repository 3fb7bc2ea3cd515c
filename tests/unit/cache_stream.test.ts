/**
 * The cache's `putStream` (a blob whose digest is not known up front: a
 * carried file being downloaded): written to `tmp/` while hashed, adopted
 * under its digest, refused (nothing kept) by `accept` or past `limit`.
 * A seeded generator streams random contents in random chunkings and checks
 * digest, size and the stored bytes; `AIRGAP_FUZZ_CASES=2000` runs longer.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { generatorRun, mulberry32 } from "../helpers/seeded.ts";
import { AirgapError } from "../../lib/errors.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { openCache } from "../../lib/store/cache.ts";

function chunked(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let offset = 0;
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      const n = Math.max(1, sizes[i++ % sizes.length]);
      controller.enqueue(bytes.slice(offset, offset + n));
      offset += n;
    },
  });
}

async function tmpEntries(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, "tmp"))) if (e.name.endsWith(".partial")) out.push(e.name);
  return out;
}

Deno.test("putStream: adopted under its digest, once; readable as a blob; tmp/ left empty", async () => {
  await withTempDir(async (dir) => {
    const cache = await openCache(dir);
    const bytes = new TextEncoder().encode("a file that travels\n".repeat(1000));
    const got = await cache.putStream(chunked(bytes, [7, 4096, 1]));
    assertEquals(got, { digest: digestOf(bytes), size: bytes.length });
    assertEquals(await Deno.readFile(cache.blobPath(got.digest)), bytes);
    assertEquals(await cache.blobSize(got.digest), bytes.length);
    assertEquals(cache.stats.blobsWritten, 1);
    assertEquals(await cache.putStream(chunked(bytes, [100])), got);
    assertEquals(cache.stats.blobsWritten, 1);
    assertEquals(await tmpEntries(dir), []);
  });
});

Deno.test("putStream: accept refuses (nothing kept); past the limit is refused naming what", async () => {
  await withTempDir(async (dir) => {
    const cache = await openCache(dir);
    const bytes = new Uint8Array(10_000).fill(7);
    let seen: { digest: string; size: number } | undefined;
    await assertRejects(
      () =>
        cache.putStream(chunked(bytes, [999]), {
          accept(got) {
            seen = got;
            throw new AirgapError("not the declared sha256");
          },
        }),
      AirgapError,
      "not the declared sha256",
    );
    assertEquals(seen, { digest: digestOf(bytes), size: bytes.length });
    assertEquals(await cache.has(digestOf(bytes)), false);
    await assertRejects(
      () => cache.putStream(chunked(bytes, [999]), { limit: 9_999, what: "file big.iso" }),
      AirgapError,
      "file big.iso: more than the 9999 bytes allowed",
    );
    assertEquals(await cache.has(digestOf(bytes)), false);
    assertEquals(await tmpEntries(dir), []);
    // Exactly the limit is fine.
    assertEquals((await cache.putStream(chunked(bytes, [999]), { limit: 10_000 })).size, 10_000);
  });
});

Deno.test("putStream: random contents and chunkings (generator)", async () => {
  const run = generatorRun("putStream", { cases: 100, env: { cases: "AIRGAP_FUZZ_CASES" } });
  const next = mulberry32(run.seed);
  await withTempDir(async (dir) => {
    const cache = await openCache(dir);
    for (let n = 0; n < run.cases; n++) {
      const size = next() < 0.1 ? 0 : Math.floor(next() ** 3 * 120_000);
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = Math.floor(next() * (next() < 0.5 ? 4 : 256));
      const sizes = Array.from({ length: 1 + Math.floor(next() * 5) }, () => 1 + Math.floor(next() ** 2 * 70_000));
      const got = await cache.putStream(chunked(bytes, sizes));
      assertEquals(got, { digest: digestOf(bytes), size }, `case ${n}`);
      assert(
        (await Deno.readFile(cache.blobPath(got.digest))).every((b, i) => b === bytes[i]),
        `case ${n}: stored bytes`,
      );
    }
    assertEquals(await tmpEntries(dir), []);
  });
  run.report();
});

Deno.test("putStream: an aborted signal stops the copy, nothing kept", async () => {
  await withTempDir(async (dir) => {
    const cache = await openCache(dir);
    const controller = new AbortController();
    controller.abort(new AirgapError("interrupted"));
    await assertRejects(
      () => cache.putStream(chunked(new Uint8Array(1000), [10]), { signal: controller.signal }),
      AirgapError,
      "interrupted",
    );
    assertEquals(await tmpEntries(dir), []);
  });
});
