import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { corpusBlobs, standardCorpus } from "../../lib/demo/corpus.ts";
import { cacheLs, cachePrune, cacheVerify } from "../../lib/commands/cache/cache_care.ts";
import { createArchive } from "../../lib/store/archive.ts";
import { openCache } from "../../lib/store/cache.ts";
import type { Lock } from "../../schemas/lock.ts";
import { lockOf } from "../helpers/fixtures.ts";
import { withTempDir } from "../helpers/tempdir.ts";

Deno.test("prune keeps what locks reference, removes the rest, leaves packs being written alone", () =>
  withTempDir(async (dir) => {
    const cacheDir = join(dir, "cache");
    const cache = await openCache(cacheDir);
    const blobs = [...corpusBlobs(standardCorpus(0.2)).values()];
    const [keep, drop] = [blobs.slice(0, 5), blobs.slice(5, 12)];
    for (const b of [...keep, ...drop]) await cache.putBytes(b.descriptor, b.bytes);
    // A pack that is still being written (its journal is locked).
    const packed = blobs.slice(12, 15);
    const archive = await createArchive(join(dir, "a.tar"), { images: [], blobs: packed.map((b) => b.descriptor) });
    const journal = await cache.beginPack(archive.partialPaths, archive.partSize, archive.layout.size);
    assert(journal, "packs need hard links, which the test directory has");
    for (const b of packed) {
      await archive.push("", b.descriptor, b.bytes);
      journal.record(b.descriptor, archive.layout.blobs.get(b.descriptor.digest)!.offset);
    }
    const lock = lockOf(keep.map((b) => b.descriptor.digest));
    const dry = await cachePrune(cacheDir, [lock], { dryRun: true });
    assertEquals(dry.removedBlobs, drop.length);
    assertEquals((await cacheLs(cacheDir)).loose.blobs, keep.length + drop.length, "a dry run removes nothing");
    const pruned = await cachePrune(cacheDir, [lock]);
    assertEquals(pruned.removedBlobs, drop.length);
    assertEquals(pruned.skippedInUse, 1);
    const after = await openCache(cacheDir);
    for (const b of keep) assert(await after.has(b.descriptor.digest), "kept");
    for (const b of drop) assert(!(await after.has(b.descriptor.digest)), "dropped");
    for (const b of packed) assert(await after.has(b.descriptor.digest), "a pack in use is left alone");
    // Once the save is done, the unreferenced pack goes; with --repack kept blobs are copied out first.
    journal.close();
    await archive.finish();
    const lock2 = lockOf([keep[0].descriptor.digest, packed[0].descriptor.digest]);
    const kept = await cachePrune(cacheDir, [lock2]);
    assertEquals(kept.removedPacks, 0);
    assertEquals(kept.keptPacks.length, 1);
    const repacked = await cachePrune(cacheDir, [lock2], { repack: true });
    assertEquals(repacked.removedPacks, 1);
    const final = await openCache(cacheDir);
    assert(await final.has(packed[0].descriptor.digest), "the kept blob was copied out of the pack");
    assert(!(await final.has(packed[1].descriptor.digest)));
    assertEquals((await cacheLs(cacheDir)).packs.length, 0);
  }));

Deno.test("cache verify finds a corrupted blob; --repair drops it", () =>
  withTempDir(async (dir) => {
    const cache = await openCache(dir);
    const blobs = [...corpusBlobs(standardCorpus(0.2)).values()].slice(0, 6);
    for (const b of blobs) await cache.putBytes(b.descriptor, b.bytes);
    assertEquals((await cacheVerify(dir)).bad, []);
    const victim = blobs[2].descriptor;
    const bytes = await Deno.readFile(cache.blobPath(victim.digest));
    bytes[0] ^= 0xff;
    await Deno.writeFile(cache.blobPath(victim.digest), bytes);
    const found = await cacheVerify(dir);
    assertEquals(found.bad.map((b) => b.digest), [victim.digest]);
    const repaired = await cacheVerify(dir, { repair: true });
    assertEquals(repaired.repaired, 1);
    assert(!(await (await openCache(dir)).has(victim.digest)));
    assertEquals((await cacheVerify(dir)).bad, []);
  }));

Deno.test("prune keeps what a running save holds (its lease) and what it wrote since; a dead save's lease is ignored", () =>
  withTempDir(async (dir) => {
    const cache = await openCache(dir);
    const blobs = [...corpusBlobs(standardCorpus(0.2)).values()];
    const [old, held, fresh] = [blobs.slice(0, 4), blobs[4], blobs.slice(5, 9)];
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const b of [...old, held]) {
      await cache.putBytes(b.descriptor, b.bytes);
      await Deno.utime(cache.blobPath(b.descriptor.digest), hourAgo, hourAgo);
    }
    const nothing: Lock = { lockVersion: 1, images: [] };
    // A save starts: its lease names what it planned (one old blob), then it writes new blobs.
    const lease = await cache.lease();
    await lease.update([held.descriptor.digest]);
    for (const b of fresh) await cache.putBytes(b.descriptor, b.bytes);
    const during = await cachePrune(dir, [nothing]);
    assertEquals(during.runningSaves, 1);
    assertEquals(during.removedBlobs, old.length, "only the old, unreferenced blobs go");
    const after = await openCache(dir);
    assert(await after.has(held.descriptor.digest), "the blob the running save planned stays");
    for (const b of fresh) assert(await after.has(b.descriptor.digest), "what the running save wrote stays");
    // The save is over: nothing holds them any more.
    await lease.release();
    const later = await cachePrune(dir, [nothing]);
    assertEquals(later.runningSaves, 0);
    assertEquals(later.removedBlobs, fresh.length + 1);

    // A save that died (its lease left behind, its lock released with the process) holds nothing.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { openCache } from ${JSON.stringify(new URL("../../lib/store/cache.ts", import.meta.url).href)};
         const cache = await openCache(${JSON.stringify(dir)});
         const lease = await cache.lease();
         await lease.update([${JSON.stringify(fresh[0].descriptor.digest)}]);
         Deno.exit(0);`,
      ],
    });
    assert((await child.output()).success, "the child save ran");
    const leaseFiles = () =>
      [...Deno.readDirSync(join(dir, "leases"))].map((e) => e.name).filter((n) => n !== "prune.lock");
    assertEquals(leaseFiles().length, 2, "the dead save's lease was left behind");
    await cache.putBytes(fresh[0].descriptor, fresh[0].bytes);
    await Deno.utime(cache.blobPath(fresh[0].descriptor.digest), hourAgo, hourAgo);
    const dead = await cachePrune(dir, [nothing]);
    assertEquals(dead.runningSaves, 0);
    assertEquals(dead.removedBlobs, 1);
    assertEquals(leaseFiles(), [], "the stale lease is cleared");
  }));

Deno.test("packs are shared between cache handles: many refreshes at once see every blob; a bad blob is struck; a truncated pack goes", () =>
  withTempDir(async (dir) => {
    const cacheDir = join(dir, "cache");
    const writer = await openCache(cacheDir);
    const reader = await openCache(cacheDir); // another process, as far as the pack index knows
    const blobs = [...corpusBlobs(standardCorpus(0.2)).values()].slice(0, 12);
    const archive = await createArchive(join(dir, "a.tar"), { images: [], blobs: blobs.map((b) => b.descriptor) });
    const journal = await writer.beginPack(archive.partialPaths, archive.partSize, archive.layout.size);
    assert(journal, "packs need hard links, which the test directory has");
    for (const b of blobs) {
      await archive.push("", b.descriptor, b.bytes);
      journal.record(b.descriptor, archive.layout.blobs.get(b.descriptor.digest)!.offset);
      await Promise.all(Array.from({ length: 6 }, () => reader.refresh()));
      assert(await reader.has(b.descriptor.digest, b.descriptor.size), "seen by the other handle");
    }
    journal.close();
    await archive.finish();
    // The user overwrites part of the archive in place: that blob fails to verify, is struck, and is a miss.
    const victim = blobs.find((b) => b.bytes.byteLength > 64)!;
    const file = await Deno.open(join(dir, "a.tar"), { write: true });
    await file.seek(archive.layout.blobs.get(victim.descriptor.digest)!.offset, Deno.SeekMode.Start);
    await file.write(new Uint8Array(32).fill(7));
    file.close();
    const stream = await reader.fetch("", victim.descriptor);
    let failed = false;
    try {
      for await (const _ of stream) { /* drain */ }
    } catch {
      failed = true;
    }
    assert(failed, "the damaged blob does not verify");
    assert(!(await reader.has(victim.descriptor.digest)), "struck here");
    assert(!(await (await openCache(cacheDir)).has(victim.descriptor.digest)), "struck in the journal, for everyone");
    const other = blobs.find((b) => b !== victim)!;
    assert(await (await openCache(cacheDir)).has(other.descriptor.digest), "the rest of the pack stays");
    // Truncated: the pack no longer has the size it was written with, and goes as a whole.
    await Deno.truncate(join(dir, "a.tar"), 1024);
    const after = await openCache(cacheDir);
    for (const b of blobs) assert(!(await after.has(b.descriptor.digest)), "nothing of a truncated pack is trusted");
    assertEquals([...Deno.readDirSync(join(cacheDir, "packs"))].filter((e) => !e.name.endsWith(".lock")), []);
  }));
