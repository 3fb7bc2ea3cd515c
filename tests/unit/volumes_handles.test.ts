/**
 * The archive writer keeps idle handles per part (lib/format/volumes.ts): a
 * writer takes one, seeks, writes and gives it back, so a save opens a
 * handful of files per part, not one per blob. A handle is only ever used by
 * one writer at a time; this proves no two writers' seek-then-write
 * interleave on one, and that every handle is closed by `finish` and `abort`
 * (the test's resource sanitizer fails on a leaked file).
 *
 * Generator: seeded random layouts (whole or split, parts of 1–300 bytes)
 * cut into random regions, written all at once in random order — bytes by
 * `writeAt`, streams in random chunks by `writeStream` — then the parts are
 * compared with the expected bytes. Fixed in CI (100 cases, seed 1; prints
 * its count); a longer run: `AIRGAP_VOLUME_CASES=5000 AIRGAP_VOLUME_SEED=7
 * deno test -A tests/unit/volumes_handles.test.ts`.
 * @module
 */
import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { mulberry32 } from "../helpers/seeded.ts";
import { createVolumes, partName } from "../../lib/format/volumes.ts";

const CASES = Number(Deno.env.get("AIRGAP_VOLUME_CASES") ?? 100);
const SEED = Number(Deno.env.get("AIRGAP_VOLUME_SEED") ?? 1);

function chunked(bytes: Uint8Array, random: () => number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    async pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      const n = 1 + Math.floor(random() * Math.min(64, bytes.byteLength - at));
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
      if (random() < 0.3) await new Promise((r) => setTimeout(r, 0)); // let other writers in mid-region
    },
  });
}

async function oneCase(dir: string, random: () => number, n: number): Promise<void> {
  const size = 1 + Math.floor(random() * 2000);
  const partSize = random() < 0.3 ? undefined : 1 + Math.floor(random() * 300);
  const expected = new Uint8Array(size);
  for (let i = 0; i < size; i++) expected[i] = Math.floor(random() * 256);
  const cuts = [0];
  while (cuts[cuts.length - 1] < size) {
    cuts.push(Math.min(size, cuts[cuts.length - 1] + 1 + Math.floor(random() * 200)));
  }
  const regions = cuts.slice(1).map((end, i) => ({ offset: cuts[i], length: end - cuts[i] }));
  regions.sort(() => random() - 0.5);
  const path = join(dir, `case${n}.tar`);
  const v = await createVolumes(path, size, partSize);
  await Promise.all(regions.map(({ offset, length }) => {
    const bytes = expected.slice(offset, offset + length);
    return random() < 0.5 ? v.writeAt(offset, bytes) : v.writeStream(offset, length, chunked(bytes, random));
  }));
  const paths = await v.finish();
  const parts = await Promise.all(paths.map((p) => Deno.readFile(p)));
  const got = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    got.set(p, at);
    at += p.byteLength;
  }
  assertEquals(at, size, `case ${n}: part sizes`);
  assertEquals(got, expected, `case ${n} (seed ${SEED}): bytes`);
  for (const p of paths) await Deno.remove(p);
}

Deno.test("volumes: concurrent writers sharing idle handles put every byte where planned", async () => {
  await withTempDir(async (dir) => {
    const random = mulberry32(SEED);
    for (let n = 0; n < CASES; n++) await oneCase(dir, random, n);
  });
  console.log(`volumes handles: ${CASES} cases, seed ${SEED}`);
});

Deno.test("volumes: abort closes the handles writers gave back", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    const v = await createVolumes(path, 300, 100);
    await Promise.all([v.writeAt(0, new Uint8Array(150)), v.writeAt(150, new Uint8Array(150))]);
    await v.abort();
    for (const p of [partName(path, 0), partName(path, 1), partName(path, 2)]) {
      assertEquals(await Deno.stat(`${p}.partial`).then(() => true, () => false), false);
    }
  });
});
