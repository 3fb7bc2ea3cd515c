/**
 * `airgap cache ls | verify | prune`: look after the local cache. Pruning
 * keeps what the given locks reference and never touches what a running
 * command uses or has written: every command that opens the cache holds a
 * lease journalling each digest it touches (lib/store/cache_lease.ts), and
 * prune keeps those and everything their manifests reference, deciding and
 * removing under the exclusive prune lock so no use slips in between. A
 * pack a save is writing is locked and left alone; so are partial files
 * whose writer still holds its lock. `verify --repair` removes only what it
 * proved does not match its digest; a blob it could not read is reported,
 * never removed.
 * @module
 */
import { join } from "node:path";
import type { Lock } from "../../../schemas/lock.ts";
import { limiter } from "../../transport/limiter.ts";
import { errorMessage } from "../../errors.ts";
import { fileSize } from "../../fsutil.ts";
import { lockBlobs } from "../../lock.ts";
import { children, MAX_MANIFEST_SIZE, parseManifest } from "../../oci/manifest.ts";
import { DigestMismatchError } from "../../error_kinds.ts";
import { type CacheStore, dropIfCorrupt, lockHeld, openCache, settleSuspect } from "../../store/cache.ts";
import { type LeaseHolds, readLeases, withPruneLock } from "../../store/cache_lease.ts";
import { isCacheMiss } from "../../store/wrappers/cache_first.ts";
import { removeStaleUploads } from "../../server/uploads.ts";
import { openVolumes } from "../../format/volumes.ts";
import { fileByteStream } from "../../format/streams.ts";

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
  /**
   * Blobs that did not verify, or could not be read: where is the loose
   * file's path or `pack ID`; message says why; `unreadable` marks a read
   * failure (an I/O error, a permission), which `repair` leaves alone.
   */
  bad: { digest: string; where: string; message: string; unreadable?: boolean }[];
  /** Bad blobs dropped with `repair` (loose files removed, entries struck from a pack's journal); 0 without it. */
  repaired: number;
}

/** Re-hash every blob, loose and packed; with `repair`, drop the ones proven not to match. */
export async function cacheVerify(dir: string, options: { repair?: boolean } = {}): Promise<CacheVerifyResult> {
  const cache = await openCache(dir); // creates a missing cache; drops packs whose archive was overwritten
  const result: CacheVerifyResult = { checked: 0, bytes: 0, bad: [], repaired: 0 };
  const limit = limiter(2);
  const consume = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) result.bytes += chunk.byteLength;
  };
  const failed = (digest: string, where: string, e: unknown) => {
    const unreadable = !(e instanceof DigestMismatchError);
    result.bad.push({ digest, where, message: errorMessage(e), ...(unreadable ? { unreadable } : {}) });
    return !unreadable;
  };
  const loose = await looseBlobs(dir);
  await Promise.all(loose.map((b) =>
    limit(async () => {
      result.checked++;
      try {
        // Straight from the file: reading through the cache would drop a bad blob even without --repair.
        await consume(fileByteStream(b.path, { length: b.size, expected: { digest: b.digest, size: b.size } }));
      } catch (e) {
        if (failed(b.digest, b.path, e) && options.repair && await dropIfCorrupt(cache, b.digest)) result.repaired++;
      }
    })
  ));
  for (const pack of await packFiles(dir)) {
    if (pack.paths.length === 0) continue;
    const blobs = journalBlobs(await Deno.readTextFile(pack.idx));
    const mismatched: string[] = [];
    let volumes;
    try {
      volumes = await openVolumes(pack.paths[0]);
    } catch (e) {
      for (const digest of blobs.keys()) failed(digest, `pack ${pack.id}`, e);
      continue;
    }
    try {
      for (const [digest, { offset, size }] of blobs) {
        result.checked++;
        try {
          await consume(volumes.rangeStream(offset, size, { digest, size }, `pack ${pack.id}: blob ${digest}`));
        } catch (e) {
          if (failed(digest, `pack ${pack.id}`, e)) mismatched.push(digest);
        }
      }
    } finally {
      volumes.close();
    }
    if (options.repair && mismatched.length > 0) {
      // Struck as a read that fails to verify strikes them: appended, so other processes see it too.
      await Deno.writeTextFile(pack.idx, mismatched.map((x) => JSON.stringify({ x }) + "\n").join(""), {
        append: true,
      });
      result.repaired += mismatched.length;
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
  /** Commands running while pruning (holding a lease): what they use and write is kept. */
  runningSaves: number;
}

/**
 * Remove blobs no lock references. Packs with no referenced blob go;
 * with `repack`, referenced blobs are copied out of mixed packs as loose
 * blobs and the packs go too. Locked (in-use) packs and partials stay, and
 * so does everything a running command's lease holds, with what it references.
 */
export async function cachePrune(
  dir: string,
  keep: Lock[],
  options: { dryRun?: boolean; repack?: boolean } = {},
): Promise<PruneResult> {
  const cache = await openCache(dir);
  const locked = new Set<string>();
  for (const lock of keep) for (const digest of lockBlobs(lock).keys()) locked.add(digest);
  if (options.repack && !options.dryRun) {
    // Copying out is slow: done before the prune lock, for what is wanted now; checked again under it.
    const wanted = await withPruneLock(dir, true, async () => await wantedNow(cache, locked, await leases(dir)));
    await copyOutOfPacks(cache, wanted);
  }
  return await withPruneLock(dir, true, async () => {
    const holds = await leases(dir);
    const wanted = await wantedNow(cache, locked, holds);
    const result: PruneResult = {
      removedBlobs: 0,
      removedPacks: 0,
      freedBytes: 0,
      keptPacks: [],
      skippedInUse: 0,
      runningSaves: holds.live,
    };
    await pruneLoose(dir, wanted, holds, result, options);
    await prunePacks(cache, wanted, result, options);
    result.freedBytes += await pruneTmp(dir, options);
    // Uploads a killed `serve --writable` left behind (a running server's stay).
    result.freedBytes += removeStaleUploads(dir, { dryRun: options.dryRun }).bytes;
    // Names pointing at content that is gone (none while a command runs: it may be recording its own).
    if (!options.dryRun && holds.live === 0) {
      const tags = await cache.tags();
      const stale = [...tags.entries()].filter(([, d]) => !wanted.has(d.digest));
      if (stale.length > 0) await cache.removeTags(stale.map(([name]) => name));
    }
    return result;
  });
}

const leases = (dir: string) => readLeases(dir, lockHeld);

/**
 * What stays: the locks' digests, and every digest a live lease holds with
 * the whole graph of each manifest among them (a command that read a
 * manifest reads its children next: `serve` answers a pull that way).
 */
async function wantedNow(cache: CacheStore, locked: Set<string>, holds: LeaseHolds): Promise<Set<string>> {
  const wanted = new Set(locked);
  const queue = [...holds.digests];
  while (queue.length > 0) {
    const digest = queue.pop()!;
    if (wanted.has(digest) && !holds.digests.has(digest)) continue;
    wanted.add(digest);
    for (const child of await manifestChildren(cache, digest)) {
      if (!wanted.has(child)) {
        wanted.add(child);
        queue.push(child);
      }
    }
  }
  return wanted;
}

/** The children of a cached manifest; none for other blobs and blobs not held. */
async function manifestChildren(cache: CacheStore, digest: string): Promise<string[]> {
  const size = await cache.blobSize(digest);
  if (size === undefined || size > MAX_MANIFEST_SIZE) return [];
  let bytes: Uint8Array;
  try {
    bytes = await cache.readBytes({ mediaType: "application/octet-stream", digest, size });
  } catch (e) {
    // Gone or proven bad: nothing reads it any more. Unreadable: prune cannot tell what a running
    // command needs, so it removes nothing.
    if (isCacheMiss(e)) return [];
    throw e;
  }
  if (bytes[0] !== 0x7b) return []; // not JSON
  try {
    return children(parseManifest(bytes, undefined, digest)).map((d) => d.digest);
  } catch {
    return []; // a config or other JSON
  }
}

async function pruneLoose(
  dir: string,
  wanted: Set<string>,
  holds: LeaseHolds,
  result: PruneResult,
  options: { dryRun?: boolean },
): Promise<void> {
  // Leases of an older airgap list no journal: blobs written since the oldest began stay (mtime, a little slack).
  const youngerThan = holds.since !== undefined ? holds.since - 2000 : Infinity;
  for (const blob of await looseBlobs(dir)) {
    if (wanted.has(blob.digest) || blob.mtime >= youngerThan) continue;
    result.removedBlobs++;
    result.freedBytes += blob.size;
    if (!options.dryRun) await Deno.remove(blob.path).catch(() => {});
  }
}

/**
 * Copy the wanted blobs out of packs that are not in use, so `repack` can
 * remove the packs. A loose copy already there is checked first: the pack
 * may hold the only good one.
 */
async function copyOutOfPacks(cache: CacheStore, wanted: Set<string>): Promise<void> {
  for (const pack of await packFiles(cache.dir)) {
    if (lockHeld(pack.lock)) continue;
    const blobs = journalBlobs(await Deno.readTextFile(pack.idx));
    for (const [digest, { size }] of blobs) {
      if (!wanted.has(digest)) continue;
      const path = cache.blobPath(digest);
      if ((await fileSize(path)) === size) {
        try {
          for await (const _ of fileByteStream(path, { length: size, expected: { digest, size } })) { /* hash */ }
        } catch (e) {
          if (!(e instanceof DigestMismatchError)) throw e; // cannot tell which copy is good: prune nothing
          await dropIfCorrupt(cache, digest);
        }
      }
      await cache.unpackBlob({ mediaType: "application/octet-stream", digest, size });
    }
  }
}

async function prunePacks(
  cache: CacheStore,
  wanted: Set<string>,
  result: PruneResult,
  options: { dryRun?: boolean; repack?: boolean },
): Promise<void> {
  for (const pack of await packFiles(cache.dir)) {
    if (lockHeld(pack.lock)) {
      result.skippedInUse++;
      continue;
    }
    const blobs = journalBlobs(await Deno.readTextFile(pack.idx));
    const referenced = [...blobs.entries()].filter(([d]) => wanted.has(d));
    const disk = await diskUsage(pack.paths);
    // With repack, a pack goes only once each wanted blob of it is loose (copied out before the lock).
    let copied = true;
    for (const [digest, { size }] of referenced) {
      if (!options.repack || (await fileSize(cache.blobPath(digest))) !== size) copied = false;
    }
    if (referenced.length > 0 && !(options.repack && (copied || options.dryRun))) {
      const kept = referenced.reduce((s, [, b]) => s + b.size, 0);
      result.keptPacks.push({ id: pack.id, reclaimable: Math.max(0, disk - kept) });
      continue;
    }
    if (!options.dryRun) { for (const p of [...pack.paths, pack.idx, pack.lock]) await Deno.remove(p).catch(() => {}); }
    result.removedPacks++;
    result.freedBytes += disk;
  }
}

/**
 * Leftovers under `tmp/` older than a day whose writer is gone: partial
 * blobs, download claims and write locks nobody holds. A blob moved aside
 * as suspect by a process killed before it could check it is checked now:
 * removed only if it does not match, else put back.
 */
async function pruneTmp(dir: string, options: { dryRun?: boolean }): Promise<number> {
  let freed = 0;
  for await (const e of Deno.readDir(join(dir, "tmp"))) {
    const path = join(dir, "tmp", e.name);
    const name = e.name.match(/^(sha256|sha512)-([0-9a-f]+)(?:\.[^.]+)?\.(partial|suspect|lock|fetch)$/);
    const info = name && await Deno.stat(path).catch(() => undefined);
    if (!name || !info || Date.now() - (info.mtime?.getTime() ?? Date.now()) < 24 * 3600 * 1000) continue;
    const [, algorithm, hex, kind] = name;
    if (kind === "suspect") {
      if (!options.dryRun) await settleSuspect(path, join(dir, "blobs", algorithm, hex), `${algorithm}:${hex}`);
      continue;
    }
    const lock = kind === "partial" ? join(dir, "tmp", `${algorithm}-${hex}.lock`) : path;
    if (lockHeld(lock) || (kind === "partial" && lockHeld(path))) continue;
    freed += info.size;
    if (!options.dryRun) await Deno.remove(path).catch(() => {});
  }
  return freed;
}
