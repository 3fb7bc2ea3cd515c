/**
 * `airgap cache ls | verify | prune`: look after the local cache. Pruning
 * keeps what the given locks reference and never touches what a running
 * save is writing (its partial files and pack journal are locked) or will
 * reference: each save holds a lease (`leases/ID.json`, its lock file held
 * while the process lives) listing the digests it planned, and blobs written
 * since the oldest live lease began are kept too.
 * @module
 */
import { join } from "node:path";
import type { Lock } from "../../schemas/lock.ts";
import { limiter } from "../transport/limiter.ts";
import { errorMessage } from "../errors.ts";
import { fileSize, writeFileAtomic } from "../fsutil.ts";
import { lockBlobs } from "../plan/lock.ts";
import { lockHeld, openCache, readLeases } from "./cache.ts";
import { removeStaleUploads } from "./server/uploads.ts";
import { openVolumes } from "./volumes.ts";
import { fileByteStream } from "./streams.ts";

/** A summary of the cache. */
export interface CacheSummary {
  /** The cache directory summarised. */
  dir: string;
  /** Blobs stored as files under `blobs/`: how many, and their bytes. */
  loose: { blobs: number; bytes: number };
  /**
   * Packs (archives adopted by a save), in `id` order: blobs journaled, their
   * bytes, bytes allocated on disk (packs are sparse until filled), and
   * whether a running save holds the pack.
   */
  packs: { id: string; blobs: number; bytes: number; diskBytes: number; inUse: boolean }[];
  /** Unfinished downloads (tmp/*.partial). */
  partials: { files: number; bytes: number };
  /** Names recorded in index.json (`registry/repo:tag`). */
  tags: number;
}

interface PackFile {
  id: string;
  idx: string;
  /** Locked while a save writes the pack. */
  lock: string;
  paths: string[];
}

async function packFiles(dir: string): Promise<PackFile[]> {
  const packs: PackFile[] = [];
  const packsDir = join(dir, "packs");
  let names: string[] = [];
  try {
    for await (const e of Deno.readDir(packsDir)) names.push(e.name);
  } catch {
    return packs;
  }
  names = names.sort();
  for (const name of names.filter((n) => n.endsWith(".idx"))) {
    const id = name.slice(0, -4);
    const paths = names.filter((n) => n === `${id}.tar` || n.startsWith(`${id}.tar.`)).map((n) => join(packsDir, n));
    packs.push({ id, idx: join(packsDir, name), lock: join(packsDir, `${id}.lock`), paths });
  }
  return packs;
}

function journalBlobs(text: string): Map<string, { offset: number; size: number }> {
  const out = new Map<string, { offset: number; size: number }>();
  for (const line of text.split("\n").slice(1)) {
    try {
      const r = JSON.parse(line) as { d?: string; x?: string; o: number; s?: number };
      if (r.d && r.s !== undefined && !out.has(r.d)) out.set(r.d, { offset: r.o, size: r.s });
      if (r.x) out.delete(r.x); // struck: it did not verify
    } catch { /* a torn line */ }
  }
  return out;
}

async function looseBlobs(dir: string): Promise<{ digest: string; path: string; size: number; mtime: number }[]> {
  const out: { digest: string; path: string; size: number; mtime: number }[] = [];
  const blobsDir = join(dir, "blobs");
  for await (const algorithm of Deno.readDir(blobsDir)) {
    if (!algorithm.isDirectory) continue;
    for await (const e of Deno.readDir(join(blobsDir, algorithm.name))) {
      const path = join(blobsDir, algorithm.name, e.name);
      const info = await Deno.stat(path).catch(() => undefined);
      if (!info) continue;
      out.push({ digest: `${algorithm.name}:${e.name}`, path, size: info.size, mtime: info.mtime?.getTime() ?? 0 });
    }
  }
  return out;
}

async function diskUsage(paths: string[]): Promise<number> {
  let total = 0;
  for (const p of paths) {
    const info = await Deno.stat(p).catch(() => undefined);
    // Packs are sparse until filled: count allocated blocks where the platform tells.
    if (info) total += info.blocks !== null ? info.blocks * 512 : info.size;
  }
  return total;
}

/** Summarise the cache. */
export async function cacheLs(dir: string): Promise<CacheSummary> {
  const cache = await openCache(dir);
  const loose = await looseBlobs(dir);
  const packs = [];
  for (const pack of await packFiles(dir)) {
    const blobs = journalBlobs(await Deno.readTextFile(pack.idx));
    packs.push({
      id: pack.id,
      blobs: blobs.size,
      bytes: [...blobs.values()].reduce((s, b) => s + b.size, 0),
      diskBytes: await diskUsage(pack.paths),
      inUse: lockHeld(pack.lock),
    });
  }
  let partialFiles = 0;
  let partialBytes = 0;
  for await (const e of Deno.readDir(join(dir, "tmp"))) {
    if (!e.name.endsWith(".partial")) continue;
    partialFiles++;
    partialBytes += (await fileSize(join(dir, "tmp", e.name))) ?? 0;
  }
  return {
    dir,
    loose: { blobs: loose.length, bytes: loose.reduce((s, b) => s + b.size, 0) },
    packs,
    partials: { files: partialFiles, bytes: partialBytes },
    tags: (await cache.tags()).size,
  };
}

/** What verify found. */
export interface CacheVerifyResult {
  /** Blobs re-hashed, loose and packed. */
  checked: number;
  /** Bytes read while re-hashing. */
  bytes: number;
  /** Blobs that did not verify: where is the loose file's path or `pack ID`; message says why. */
  bad: { digest: string; where: string; message: string }[];
  /** Bad blobs dropped with `repair` (loose files removed, entries struck from a pack's journal); 0 without it. */
  repaired: number;
}

/** Re-hash every blob, loose and packed; with `repair`, drop the bad ones. */
export async function cacheVerify(dir: string, options: { repair?: boolean } = {}): Promise<CacheVerifyResult> {
  await openCache(dir); // creates a missing cache; drops packs whose archive was overwritten
  const result: CacheVerifyResult = { checked: 0, bytes: 0, bad: [], repaired: 0 };
  const limit = limiter(2);
  const consume = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) result.bytes += chunk.byteLength;
  };
  const loose = await looseBlobs(dir);
  await Promise.all(loose.map((b) =>
    limit(async () => {
      result.checked++;
      try {
        // Straight from the file: reading through the cache would drop a bad blob even without --repair.
        await consume(fileByteStream(b.path, { length: b.size, expected: { digest: b.digest, size: b.size } }));
      } catch (e) {
        result.bad.push({ digest: b.digest, where: b.path, message: errorMessage(e) });
        if (options.repair) {
          await Deno.remove(b.path);
          result.repaired++;
        }
      }
    })
  ));
  for (const pack of await packFiles(dir)) {
    if (pack.paths.length === 0) continue;
    const text = await Deno.readTextFile(pack.idx);
    const blobs = journalBlobs(text);
    const badHere = new Set<string>();
    const volumes = await openVolumes(pack.paths[0]);
    try {
      for (const [digest, { offset, size }] of blobs) {
        result.checked++;
        try {
          await consume(volumes.rangeStream(offset, size, { digest, size }, `pack ${pack.id}: blob ${digest}`));
        } catch (e) {
          badHere.add(digest);
          result.bad.push({ digest, where: `pack ${pack.id}`, message: errorMessage(e) });
        }
      }
    } finally {
      volumes.close();
    }
    if (options.repair && badHere.size > 0 && !lockHeld(pack.lock)) {
      const kept = text.split("\n").filter((line) => {
        try {
          return !badHere.has((JSON.parse(line) as { d?: string }).d ?? "");
        } catch {
          return line.trim() !== "";
        }
      });
      await writeFileAtomic(pack.idx, kept.join("\n") + "\n");
      result.repaired += badHere.size;
    }
  }
  return result;
}

/** What prune did (or would do). */
export interface PruneResult {
  /** Loose blobs no lock references, removed (or, with `dryRun`, to be removed). */
  removedBlobs: number;
  /** Packs removed (or to be removed): none of their blobs referenced, or repacked. */
  removedPacks: number;
  /** Bytes freed: loose blobs, packs' disk usage, stale partial downloads and uploads of killed servers. */
  freedBytes: number;
  /** Packs kept because they hold referenced blobs, and what repacking them would free. */
  keptPacks: { id: string; reclaimable: number }[];
  /** Packs left alone because a running save holds them. */
  skippedInUse: number;
  /** Saves running while pruning: what they reference and write is kept. */
  runningSaves: number;
}

/**
 * Remove blobs no lock references. Packs with no referenced blob go;
 * with `repack`, referenced blobs are copied out of mixed packs as loose
 * blobs and the packs go too. Locked (in-use) packs and partials stay, and
 * so does everything a running save references or has written (its lease).
 */
export async function cachePrune(
  dir: string,
  keep: Lock[],
  options: { dryRun?: boolean; repack?: boolean } = {},
): Promise<PruneResult> {
  const started = Date.now();
  const cache = await openCache(dir);
  const wanted = new Set<string>();
  for (const lock of keep) for (const digest of lockBlobs(lock).keys()) wanted.add(digest);
  // Running saves: what they reference, and whatever they wrote since they began.
  const leases = await readLeases(dir);
  for (const digest of leases.digests) wanted.add(digest);
  // (mtime granularity: a little slack)
  const youngerThan = leases.since !== undefined ? Math.min(leases.since, started) - 2000 : Infinity;
  const result: PruneResult = {
    removedBlobs: 0,
    removedPacks: 0,
    freedBytes: 0,
    keptPacks: [],
    skippedInUse: 0,
    runningSaves: leases.live,
  };
  for (const blob of await looseBlobs(dir)) {
    if (wanted.has(blob.digest) || blob.mtime >= youngerThan) continue;
    result.removedBlobs++;
    result.freedBytes += blob.size;
    if (!options.dryRun) await Deno.remove(blob.path).catch(() => {});
  }
  for (const pack of await packFiles(dir)) {
    if (lockHeld(pack.lock)) {
      result.skippedInUse++;
      continue;
    }
    const blobs = journalBlobs(await Deno.readTextFile(pack.idx));
    const referenced = [...blobs.entries()].filter(([d]) => wanted.has(d));
    const disk = await diskUsage(pack.paths);
    if (referenced.length > 0 && !options.repack) {
      const kept = referenced.reduce((s, [, b]) => s + b.size, 0);
      result.keptPacks.push({ id: pack.id, reclaimable: Math.max(0, disk - kept) });
      continue;
    }
    if (!options.dryRun) {
      // Kept blobs are copied out as loose blobs (verified) before the pack goes.
      for (const [digest, { size }] of referenced) {
        await cache.unpackBlob({ mediaType: "application/octet-stream", digest, size });
      }
      for (const p of [...pack.paths, pack.idx, pack.lock]) await Deno.remove(p).catch(() => {});
    }
    result.removedPacks++;
    result.freedBytes += disk;
  }
  // Partial downloads nobody holds, older than a day.
  for await (const e of Deno.readDir(join(dir, "tmp"))) {
    const path = join(dir, "tmp", e.name);
    const info = await Deno.stat(path).catch(() => undefined);
    if (!info || !(e.name.endsWith(".partial") || e.name.endsWith(".fetch"))) continue;
    if (Date.now() - (info.mtime?.getTime() ?? Date.now()) < 24 * 3600 * 1000 || lockHeld(path)) continue;
    result.freedBytes += info.size;
    if (!options.dryRun) await Deno.remove(path).catch(() => {});
  }
  // Uploads a killed `serve --writable` left behind (a running server's stay).
  result.freedBytes += removeStaleUploads(dir, { dryRun: options.dryRun }).bytes;
  // Names pointing at content that is gone (none while a save runs: it is recording its own).
  if (!options.dryRun && leases.live === 0) {
    const tags = await cache.tags();
    const stale = [...tags.entries()].filter(([, d]) => !wanted.has(d.digest));
    if (stale.length > 0) await cache.removeTags(stale.map(([name]) => name));
  }
  return result;
}
