/**
 * The content-addressed local cache: an OCI image layout on disk.
 * Blobs are written to a partial file of their own, verified, flushed and
 * renamed into place, so a blob under `blobs/<alg>/<hex>` is always
 * complete and correct. Concurrent writers of one blob wait for each other
 * on a lock file beside it (`tmp/<alg>-<hex>.lock`) — never on the file
 * being renamed, whose lock would move with it (and on Windows forbid the
 * rename) — and a killed run leaves only partial files behind, which prune
 * removes.
 *
 * Only a proven digest mismatch removes anything: a loose blob that fails
 * to verify is moved aside, hashed again there (no writer can replace it
 * meanwhile) and deleted only if it really does not match; a packed one is
 * struck from its journal. Every other failure to read (too many open
 * files, an I/O error, a permission) is a {@link CacheReadError} and
 * changes nothing; a blob gone meanwhile is a {@link NotFoundError} (a miss).
 *
 * Packs are archives the user owns, hard-linked in so each byte is written
 * once; the cache therefore never trusts them blindly. A pack whose files
 * changed size is dropped on open, every read is verified as it streams,
 * and a blob that fails is struck from its journal (a loose one removed):
 * to callers a damaged entry is simply a miss, fetched again. (Reflinks
 * would decouple the bytes, but FICLONE is out of Deno's reach and a `cp`
 * subprocess per save is not a hot path we want.) Processes sharing the
 * cache coordinate with OS file locks, which die with their holder, so no
 * lock is ever stale: per-blob download claims, and leases (see
 * lib/store/cache_lease.ts) that keep what running commands use and write
 * from `cache prune`.
 * @module
 */
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { AirgapError, CacheReadError, errorMessage, withContext } from "../errors.ts";
import { DigestMismatchError, NotFoundError } from "../error_kinds.ts";
import { createDigester, digestAlgorithm, type Digester, digestHex, digestOf, ensureVerified } from "../oci/digest.ts";
import { type Descriptor, MAX_MANIFEST_SIZE, parseManifest } from "../oci/manifest.ts";
import { OCI_INDEX } from "../oci/media.ts";
import { fileSize, isNoSpace, noSpaceError, replaceFile, writeAll, writeFileAtomic } from "../fsutil.ts";
import { type CacheLease, LeaseBook } from "./cache_lease.ts";
import { fileByteStream, pumpStream, writeStreamToFile } from "../format/streams.ts";
import { openVolumes, partName, type VolumeReader } from "../format/volumes.ts";
import { isValidDigest } from "../ref.ts";
import { type Content, openContent, type PushOutcome, readAll, type ResolvedManifest, type Store } from "./types.ts";

/** The annotation naming a tagged manifest in an OCI layout's index.json. */
export const REF_NAME = "org.opencontainers.image.ref.name";

/** The cache as a store, plus cache-only operations. */
export interface CacheStore extends Store {
  /** The cache directory. */
  readonly dir: string;
  /** Path of a blob's file (whether or not it exists). */
  blobPath(digest: string): string;
  /** Is a blob present (any repository: the cache is global)? */
  has(digest: string, size?: number): Promise<boolean>;
  /** Size of a blob held loose or in a pack, or undefined. */
  blobSize(digest: string): Promise<number | undefined>;
  /** Read a small blob (manifest, config) into memory. */
  readBytes(desc: Descriptor, limit?: number): Promise<Uint8Array>;
  /** Store bytes held in memory (manifests). */
  putBytes(desc: Descriptor, bytes: Uint8Array): Promise<void>;
  /**
   * Store a stream whose digest is not known up front (a file being
   * downloaded): written to `tmp/` while hashed, then adopted under its
   * digest. `accept` sees the digest and size before adoption and may throw
   * to refuse it (nothing is kept); more than `limit` bytes is refused.
   */
  putStream(stream: ReadableStream<Uint8Array>, options?: PutStreamOptions): Promise<{ digest: string; size: number }>;
  /** The tags recorded in index.json: full name (`registry/repo:tag`) → descriptor. */
  tags(): Promise<Map<string, Descriptor>>;
  /** Record many names (`registry/repo:tag`) at once in index.json. */
  recordTags(entries: { name: string; descriptor: Descriptor }[]): Promise<void>;
  /** Forget names in index.json. */
  removeTags(names: string[]): Promise<void>;
  /** Counters, for reports and tests. */
  readonly stats: { blobsWritten: number; bytesWritten: number };
  /**
   * Adopt an archive being written as a pack: hard-link its files into the
   * cache and journal each blob as it is completed, so blobs written once
   * into the archive are in the cache too. Undefined when the archive is on
   * another file system (or one without hard links): the caller then fills
   * the cache with loose blobs instead.
   */
  beginPack(partialPaths: string[], partSize: number, size: number): Promise<PackJournal | undefined>;
  /** Blobs held in packs: digest → where. */
  packed(): ReadonlyMap<string, PackedBlob>;
  /** Copy a packed blob out as a loose one (verified). */
  unpackBlob(desc: Descriptor): Promise<void>;
  /** The longest unverified prefix of a blob a killed save left in a pack (for Range resumes). */
  partial(digest: string): PartialBlob | undefined;
  /** Forget a partial prefix (it did not verify). */
  forgetPartial(digest: string): void;
  /** Pick up blobs other processes have packed since the cache was opened. */
  refresh(): Promise<void>;
  /**
   * Claim the download of a blob across processes sharing this cache: waits
   * while another holder fetches it (`waited` tells), so the caller can look
   * again before fetching. The claim dies with its process.
   */
  claim(digest: string): Promise<{ waited: boolean; release(): void }>;
  /**
   * Hold a lease for a running command: until it is released, every digest
   * this cache looks up, reads or writes is journalled first, and
   * `cache prune` keeps it (see lib/store/cache_lease.ts). Dies with its process.
   */
  lease(): Promise<CacheLease>;
}

export type { CacheLease } from "./cache_lease.ts";

/** Options of {@link CacheStore.putStream}. */
export interface PutStreamOptions {
  /** Refuse a stream longer than this many bytes (default: no limit). */
  limit?: number;
  /** What the stream is, for messages (`file helm.tgz`). */
  what?: string;
  /** Sees the digest and size before the blob is adopted; throw to refuse it. */
  accept?(got: { digest: string; size: number }): void;
  /** Stops the copy (checked at every chunk). */
  signal?: AbortSignal;
}

/** The start of a blob written before a save was killed. */
export interface PartialBlob {
  /** The pack's files (several when the archive is split). */
  paths: string[];
  /** Offset of the blob's first byte in the pack, counted across parts. */
  offset: number;
  /** Bytes written (not verified: the whole blob's digest decides). */
  bytes: number;
}

/** Records the blobs of a pack as they are completed. */
export interface PackJournal {
  /** The pack's name under `packs/` (`ID.tar`, `ID.idx`, `ID.lock`). */
  readonly id: string;
  /** Record a blob whose verified bytes are now at `offset`. */
  record(desc: Descriptor, offset: number): void;
  /** Record that the first `written` bytes of a blob are at `offset` (not yet verified). */
  progress(desc: Descriptor, offset: number, written: number): void;
  /** Blobs recorded so far. */
  readonly count: number;
  /** Forget the pack (nothing of it is worth keeping). */
  discard(): Promise<void>;
  /** Done writing: release the journal (and its lock). */
  close(): void;
  /** Bytes of the blobs recorded so far. */
  readonly bytes: number;
  /**
   * Copy the recorded blobs out as loose blobs and drop the pack — for an
   * archive mostly made of blobs the cache had already, whose pack would
   * otherwise keep a whole duplicate archive alive.
   */
  unpack(): Promise<void>;
}

/** A blob stored inside a pack. */
export interface PackedBlob {
  /** The pack's files (several when the archive is split). */
  paths: string[];
  /** Offset of the blob's first byte in the pack, counted across parts. */
  offset: number;
  /** Bytes of the blob. */
  size: number;
}

/** Default cache directory: `%LOCALAPPDATA%\airgap` on Windows, else `$XDG_CACHE_HOME/airgap` or `~/.cache/airgap`. */
export function defaultCacheDir(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
  os: string = Deno.build.os,
): string {
  const explicit = env("AIRGAP_CACHE");
  if (explicit) return explicit;
  if (os === "windows") {
    const local = env("LOCALAPPDATA") ?? join(env("USERPROFILE") ?? homedir(), "AppData", "Local");
    return join(local, "airgap");
  }
  const xdg = env("XDG_CACHE_HOME");
  return join(xdg && xdg !== "" ? xdg : join(env("HOME") ?? homedir(), ".cache"), "airgap");
}

const LAYOUT = new TextEncoder().encode(JSON.stringify({ imageLayoutVersion: "1.0.0" }));

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/** What a cache store keeps between calls; its operations are the functions below. */
class CacheState {
  readonly stats = { blobsWritten: 0, bytesWritten: 0 };
  readonly packsDir: string;
  readonly indexPath: string;
  readonly packedBlobs: Map<string, PackedBlob>;
  readonly partials: Map<string, PartialBlob>;
  /** The leases this cache holds: every digest it touches is journalled in them first. */
  readonly book: LeaseBook;

  constructor(readonly dir: string, readonly packIndex: PackIndex) {
    this.book = new LeaseBook(dir);
    this.packsDir = packIndex.packsDir;
    this.indexPath = join(dir, "index.json");
    this.packedBlobs = packIndex.packed;
    this.partials = packIndex.partials;
  }

  blobPath(digest: string): string {
    if (!isValidDigest(digest)) throw new AirgapError(`malformed digest "${digest}"`);
    return join(this.dir, "blobs", digestAlgorithm(digest), digestHex(digest));
  }

  /** A file of its own under `tmp/` for one writer of a blob (`kind`: `partial`, `suspect`). */
  tmpPath(digest: string, kind: string): string {
    const id = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    return join(this.dir, "tmp", `${digestAlgorithm(digest)}-${digestHex(digest)}.${id}.${kind}`);
  }

  /** The lock file writers of a blob wait on (never renamed, never read). */
  writeLockPath(digest: string): string {
    return join(this.dir, "tmp", `${digestAlgorithm(digest)}-${digestHex(digest)}.lock`);
  }

  /** Algorithms whose `blobs/ALG` directory this run made sure of: one mkdir each, not one per blob written. */
  private readonly madeDirs = new Set<string>(["sha256"]);

  /** Make sure of `blobs/ALG` for a digest (`again`: it went missing under us: make it whatever was known). */
  async blobDir(digest: string, again = false): Promise<void> {
    const algorithm = digestAlgorithm(digest);
    if (!again && this.madeDirs.has(algorithm)) return;
    await Deno.mkdir(join(this.dir, "blobs", algorithm), { recursive: true });
    this.madeDirs.add(algorithm);
  }

  /** Move a finished file into place as a loose blob (its directory made again if it went missing). */
  async adopt(from: string, digest: string): Promise<void> {
    await this.blobDir(digest);
    try {
      await replaceFile(from, this.blobPath(digest));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await this.blobDir(digest, true);
      await replaceFile(from, this.blobPath(digest));
    }
  }

  /** What a failure to read a cached blob means to callers (see {@link readFailure}). */
  failure(digest: string, e: unknown): AirgapError {
    return readFailure(this.dir, digest, e);
  }
}

/** Open (creating if needed) a cache directory. */
export async function openCache(dir: string): Promise<CacheStore> {
  try {
    await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    await Deno.mkdir(join(dir, "tmp"), { recursive: true });
    if ((await fileSize(join(dir, "oci-layout"))) === undefined) {
      await writeFileAtomic(join(dir, "oci-layout"), LAYOUT);
    }
  } catch (e) {
    throw withContext(e, `cannot use cache directory ${dir}`);
  }
  const s = new CacheState(dir, await openPackIndex(join(dir, "packs")));
  const { packedBlobs, partials, packIndex } = s;
  return {
    description: `cache ${dir}`,
    dir,
    stats: s.stats,
    concurrency: 8,
    blobPath: (digest) => s.blobPath(digest),
    has: (digest, size) => has(s, digest, size),
    async blobSize(digest) {
      await s.book.note([digest]);
      return (await looseSize(s, digest)) ?? packedBlobs.get(digest)?.size;
    },
    readBytes: (desc, limit) => readBytes(s, desc, limit),
    async putBytes(desc, bytes) {
      await writeBlob(s, desc, bytes);
    },
    putStream: (stream, options) => putStream(s, stream, options),
    tags: () => tags(s),
    exists: (_repo, desc) => has(s, desc.digest, desc.size),
    fetch: (_repo, desc) => openBlob(s, desc),
    packed: () => packedBlobs,
    async unpackBlob(desc) {
      await writeBlob(s, desc, () => openBlob(s, desc), true);
    },
    partial: (digest) => (packedBlobs.has(digest) ? undefined : partials.get(digest)),
    forgetPartial: (digest) => void partials.delete(digest),
    refresh: () => packIndex.scan(),
    claim: (digest) => claim(s, digest),
    lease: () => s.book.take(),
    beginPack: (partialPaths, partSize, size) => beginPack(s, partialPaths, partSize, size),
    fetchRange: (_repo, desc, offset, length) => fetchRange(s, desc, offset, length),
    push: (_repo, desc, content) => writeBlob(s, desc, content),
    tag: (repo, tag, desc) => recordTags(s, [{ name: `${repo}:${tag}`, descriptor: desc }]),
    recordTags: (entries) => recordTags(s, entries),
    removeTags: (names) => recordTags(s, [], names),
    resolve: (repo, reference) => resolveCached(s, repo, reference),
  };
}

/**
 * A failure to read a cached blob, as callers should see it: gone (a
 * {@link NotFoundError}, a miss), a proven mismatch as it is, anything else
 * a {@link CacheReadError} — which removed nothing.
 */
export function readFailure(dir: string, digest: string, e: unknown): AirgapError {
  if (e instanceof DigestMismatchError || e instanceof NotFoundError || e instanceof CacheReadError) return e;
  const where = `cache ${dir}`;
  if (e instanceof Deno.errors.NotFound) {
    return new NotFoundError(`${where}: blob ${digest} is missing`, { op: "read", where: dir }, { cause: e });
  }
  return new CacheReadError(
    `${where}: cannot read blob ${digest}: ${errorMessage(e)} (nothing was removed)`,
    { op: "read", where: dir },
    { cause: e },
  );
}

/**
 * Size of a loose blob, or undefined; a failure to look is a {@link CacheReadError}.
 * A synchronous stat: a look-up in the cache's own directory takes microseconds,
 * less than handing it to a worker thread and waking the event loop again
 * (a save or a plan makes one per blob; on a loaded machine each hand-off costs
 * two context switches).
 */
function looseSize(s: CacheState, digest: string): Promise<number | undefined> {
  try {
    return Promise.resolve(Deno.statSync(s.blobPath(digest)).size);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return Promise.resolve(undefined);
    return Promise.reject(s.failure(digest, e));
  }
}

async function hasLoose(s: CacheState, digest: string, size?: number): Promise<boolean> {
  await s.book.note([digest]);
  const actual = await looseSize(s, digest);
  return actual !== undefined && (size === undefined || actual === size);
}

async function has(s: CacheState, digest: string, size?: number): Promise<boolean> {
  await s.book.note([digest]);
  // Another process may have pruned the pack: a blob it held is not "had" (a writer would skip it).
  for (let attempt = 0; attempt < 2; attempt++) {
    const packed = s.packedBlobs.get(digest);
    if (!packed || (size !== undefined && packed.size !== size)) break;
    if (!(await packGone(s, digest, packed))) return true;
  }
  return await hasLoose(s, digest, size);
}

/**
 * Is a pack's file gone (pruned by another process)? Then the pack index
 * is read again from the journals, so a blob another pack holds is found there.
 */
async function packGone(s: CacheState, digest: string, packed: PackedBlob): Promise<boolean> {
  let gone: boolean;
  try {
    gone = (await fileSize(packed.paths[0])) === undefined;
  } catch (e) {
    throw s.failure(digest, e);
  }
  if (gone) await s.packIndex.rebuild();
  return gone;
}

/** A verified stream of a blob, loose or packed. */
async function openBlob(s: CacheState, desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
  const what = `cache ${s.dir}: blob ${desc.digest}`;
  if (await hasLoose(s, desc.digest, desc.size)) {
    const onError = async (e: unknown) => {
      if (e instanceof DigestMismatchError) await dropIfCorrupt(s, desc.digest);
      return s.failure(desc.digest, e);
    };
    return fileByteStream(s.blobPath(desc.digest), { length: desc.size, expected: desc, what, onError });
  }
  let packed = s.packedBlobs.get(desc.digest);
  if (packed && packed.size === desc.size && await packGone(s, desc.digest, packed)) {
    packed = s.packedBlobs.get(desc.digest); // another pack holding it, if any
  }
  if (packed && packed.size === desc.size) {
    const volumes = await openPack(s, desc.digest, packed);
    try {
      return volumes.rangeStream(packed.offset, desc.size, desc, what, (e: unknown) => {
        if (e instanceof DigestMismatchError) s.packIndex.strike(desc.digest, packed);
        return s.failure(desc.digest, e);
      });
    } finally {
      volumes.close();
    }
  }
  throw new NotFoundError(`${what} is missing`, { op: "fetch", where: s.dir });
}

/**
 * Open the files of a pack holding a blob. A pack whose files are gone
 * (another process pruned it) is forgotten here, in memory: a miss. Any
 * other failure strikes nothing.
 */
async function openPack(s: CacheState, digest: string, packed: PackedBlob): Promise<VolumeReader> {
  try {
    return await openVolumes(packed.paths[0]);
  } catch (e) {
    if (!(await packGone(s, digest, packed).catch(() => false))) throw s.failure(digest, e);
    throw new NotFoundError(`cache ${s.dir}: blob ${digest} is missing (its pack is gone)`, { op: "fetch" });
  }
}

/**
 * A loose blob failed to verify: move it aside (so no writer can put a good
 * copy there under us), hash the file moved, and delete it only when it does
 * not match — proven. A file that matches after all (a good copy landed
 * meanwhile) or cannot be read goes back. True when a bad blob was removed.
 */
export async function dropIfCorrupt(s: { dir: string; blobPath(digest: string): string }, digest: string) {
  const path = s.blobPath(digest);
  const aside = join(
    s.dir,
    "tmp",
    `${basename(dirname(path))}-${basename(path)}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.suspect`,
  );
  try {
    await Deno.rename(path, aside);
  } catch {
    return false; // gone already, or it cannot be moved: nothing changes
  }
  return await settleSuspect(aside, path, digest);
}

/** Hash a file moved aside as suspect: delete it when proven bad, else put it back (unless a copy is there now). */
export async function settleSuspect(aside: string, path: string, digest: string): Promise<boolean> {
  let bad: boolean;
  try {
    const digester = createDigester(digestAlgorithm(digest));
    for await (const chunk of fileByteStream(aside)) digester.update(chunk);
    bad = digester.digest() !== digest;
  } catch {
    bad = false; // not proven
  }
  if (bad) {
    await Deno.remove(aside).catch(() => {});
    return true;
  }
  if ((await fileSize(path).catch(() => 0)) === undefined) await Deno.rename(aside, path).catch(() => {});
  else await Deno.remove(aside).catch(() => {});
  return false;
}

async function writeBlob(s: CacheState, desc: Descriptor, content: Content, looseOnly = false): Promise<PushOutcome> {
  const present = () => looseOnly ? hasLoose(s, desc.digest, desc.size) : has(s, desc.digest, desc.size);
  if (await present()) return "exists";
  // Writers of one blob take turns on a lock file nobody renames or reads.
  const lock = await Deno.open(s.writeLockPath(desc.digest), { read: true, write: true, create: true });
  let partial: string | undefined;
  try {
    await lock.lock(true);
    // Another writer may have finished while we waited for the lock.
    if (await present()) return "exists";
    partial = s.tmpPath(desc.digest, "partial");
    const file = await Deno.open(partial, { read: true, write: true, createNew: true });
    try {
      const stream = ensureVerified(await openContent(content), desc, `cache blob ${desc.digest}`);
      await writeStreamToFile(stream, file, Math.max(1, Math.min(4 * 1024 * 1024, desc.size)));
      await file.syncData();
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      const written = (await file.stat().catch(() => undefined))?.size ?? 0;
      throw noSpaceError(partial, desc.size - written, e);
    } finally {
      file.close();
    }
    await s.adopt(partial, desc.digest);
    partial = undefined;
    s.stats.blobsWritten++;
    s.stats.bytesWritten += desc.size;
    return "pushed";
  } finally {
    if (partial) await Deno.remove(partial).catch(() => {});
    lock.close(); // lets the lock go (no unlock: it fails under Wine's Windows)
  }
}

/** Hash a stream into `tmp/` as it is written, then adopt the file under its digest (see {@link CacheStore.putStream}). */
async function putStream(
  s: CacheState,
  stream: ReadableStream<Uint8Array>,
  options: PutStreamOptions = {},
): Promise<{ digest: string; size: number }> {
  const limit = options.limit ?? Infinity;
  const what = options.what ?? "stream";
  const digester = createDigester("sha256");
  let partial: string | undefined = join(s.dir, "tmp", `stream-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.partial`);
  try {
    const file = await Deno.open(partial, { read: true, write: true, createNew: true });
    try {
      await hashToFile(stream, file, { digester, limit, what, signal: options.signal });
      await file.syncData();
    } catch (e) {
      await stream.cancel().catch(() => {});
      if (!isNoSpace(e)) throw e;
      throw noSpaceError(partial, 0, e);
    } finally {
      file.close();
    }
    const got = { digest: digester.digest(), size: digester.size };
    options.accept?.(got);
    const lock = await Deno.open(s.writeLockPath(got.digest), { read: true, write: true, create: true });
    try {
      await lock.lock(true);
      if (!(await has(s, got.digest, got.size))) {
        await s.adopt(partial, got.digest);
        partial = undefined;
        s.stats.blobsWritten++;
        s.stats.bytesWritten += got.size;
      }
    } finally {
      lock.close();
    }
    return got;
  } finally {
    if (partial) await Deno.remove(partial).catch(() => {});
  }
}

/**
 * Hash a stream and write it to `file` through one reusable buffer (BYOB
 * reads for our byte streams): a file of several GiB allocates nothing per
 * chunk, so memory stays flat however large it is.
 */
async function hashToFile(
  stream: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
  { digester, limit, what, signal }: { digester: Digester; limit: number; what: string; signal?: AbortSignal },
): Promise<void> {
  const take = async (bytes: Uint8Array) => {
    signal?.throwIfAborted();
    digester.update(bytes);
    if (digester.size > limit) throw new AirgapError(`${what}: more than the ${limit} bytes allowed`);
    await writeAll(file, bytes);
  };
  await pumpStream(stream, 1024 * 1024, take);
}

async function readBytes(s: CacheState, desc: Descriptor, limit = MAX_MANIFEST_SIZE): Promise<Uint8Array> {
  if (desc.size > limit) throw new AirgapError(`${desc.digest}: ${desc.size} bytes is too large to read into memory`);
  await s.book.note([desc.digest]);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await Deno.readFile(s.blobPath(desc.digest));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw s.failure(desc.digest, e);
  }
  const packed = s.packedBlobs.get(desc.digest)?.size === desc.size;
  if (bytes && bytes.byteLength === desc.size) {
    if (digestOf(bytes, digestAlgorithm(desc.digest)) === desc.digest) return bytes;
    const removed = await dropIfCorrupt(s, desc.digest);
    if (!packed) {
      throw new DigestMismatchError(
        `cache ${s.dir}: blob ${desc.digest} does not match its digest${removed ? " (removed)" : ""}`,
        { op: "read", where: s.dir },
      );
    }
  }
  if (packed) return await readAll(await openBlob(s, desc), limit);
  if (bytes) {
    // Not this descriptor's size: the descriptor or the file is wrong, and neither is proven: nothing changes.
    throw new DigestMismatchError(
      `cache ${s.dir}: blob ${desc.digest} has ${bytes.byteLength} bytes, not ${desc.size}`,
      { op: "read", where: s.dir },
    );
  }
  throw new NotFoundError(`cache ${s.dir}: blob ${desc.digest} is missing`, { op: "read", where: s.dir });
}

async function readIndex(s: CacheState): Promise<IndexJson> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(s.indexPath)) as IndexJson;
    return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: parsed.manifests ?? [] };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    throw withContext(e, `cache ${s.indexPath} is unreadable`);
  }
}

async function tags(s: CacheState): Promise<Map<string, Descriptor>> {
  const out = new Map<string, Descriptor>();
  for (const m of (await readIndex(s)).manifests) {
    const name = m.annotations?.[REF_NAME];
    if (name) out.set(name, m);
  }
  return out;
}

async function recordTags(
  s: CacheState,
  entries: { name: string; descriptor: Descriptor }[],
  remove: string[] = [],
): Promise<void> {
  if (entries.length === 0 && remove.length === 0) return;
  const lockFile = await Deno.open(join(s.dir, "index.json.lock"), { write: true, create: true });
  try {
    await lockFile.lock(true);
    const index = await readIndex(s);
    const byName = new Map<string, Descriptor>();
    for (const m of index.manifests) byName.set(m.annotations?.[REF_NAME] ?? m.digest, m);
    for (const name of remove) byName.delete(name);
    for (const { name, descriptor } of entries) {
      byName.set(name, {
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
        annotations: { [REF_NAME]: name },
      });
    }
    index.manifests = [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
    await writeFileAtomic(s.indexPath, JSON.stringify(index, null, 2) + "\n");
  } finally {
    lockFile.close();
  }
}

async function claim(s: CacheState, digest: string): Promise<{ waited: boolean; release(): void }> {
  const file = await Deno.open(join(s.dir, "tmp", `${digestAlgorithm(digest)}-${digestHex(digest)}.fetch`), {
    read: true,
    write: true,
    create: true,
  });
  let waited = false;
  try {
    if (!file.tryLockSync(true)) {
      waited = true;
      await file.lock(true);
    }
  } catch (e) {
    file.close();
    throw withContext(e, `cache ${s.dir}: cannot claim blob ${digest}`);
  }
  // The file stays: removing it would let a third process lock a new
  // inode while a waiter holds the old one.
  return { waited, release: () => file.close() };
}

async function beginPack(
  s: CacheState,
  partialPaths: string[],
  partSize: number,
  size: number,
): Promise<PackJournal | undefined> {
  await Deno.mkdir(s.packsDir, { recursive: true });
  const id = `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
  const base = join(s.packsDir, `${id}.tar`);
  const paths = partialPaths.length === 1 ? [base] : partialPaths.map((_, i) => partName(base, i));
  try {
    for (const [i, p] of partialPaths.entries()) await Deno.link(p, paths[i]);
  } catch {
    for (const p of paths) await Deno.remove(p).catch(() => {});
    return undefined; // another file system, or no hard links there
  }
  return packJournal(s, id, paths, partSize, size);
}

/** The journal of a pack whose files are linked in at `paths`. */
function packJournal(s: CacheState, id: string, paths: string[], partSize: number, size: number): PackJournal {
  const journalPath = join(s.packsDir, `${id}.idx`);
  const journal = Deno.openSync(journalPath, { write: true, create: true, append: true });
  // Held while the save runs, so `cache prune` leaves the pack alone. A
  // separate file nobody reads: on Windows a locked file cannot be read.
  const lockPath = join(s.packsDir, `${id}.lock`);
  const lock = Deno.openSync(lockPath, { write: true, create: true });
  lock.lockSync(true);
  const release = () => {
    for (const f of [journal, lock]) {
      try {
        f.close();
      } catch { /* closed */ }
    }
    Deno.remove(lockPath).catch(() => {});
  };
  const line = (value: unknown) => journal.writeSync(new TextEncoder().encode(JSON.stringify(value) + "\n"));
  line({ pack: 1, size, partSize, parts: paths.length });
  let count = 0;
  let bytes = 0;
  const recorded: Descriptor[] = [];
  s.packIndex.own(`${id}.idx`, paths, size);
  const discard = async () => {
    release();
    for (const p of [...paths, journalPath]) await Deno.remove(p).catch(() => {});
    for (const [digest, blob] of s.packedBlobs) if (blob.paths === paths) s.packedBlobs.delete(digest);
  };
  return {
    id,
    get count() {
      return count;
    },
    get bytes() {
      return bytes;
    },
    record(desc, offset) {
      line({ d: desc.digest, o: offset, s: desc.size });
      s.packedBlobs.set(desc.digest, { paths, offset, size: desc.size });
      recorded.push(desc);
      count++;
      bytes += desc.size;
    },
    async unpack() {
      for (const desc of recorded) await writeBlob(s, desc, () => openBlob(s, desc), true);
      await discard();
    },
    progress(desc, offset, written) {
      line({ p: desc.digest, o: offset, n: written });
    },
    close: release,
    discard,
  };
}

async function fetchRange(
  s: CacheState,
  desc: Descriptor,
  offset: number,
  length: number,
): Promise<ReadableStream<Uint8Array>> {
  if (offset < 0 || length < 0 || offset + length > desc.size) {
    throw new AirgapError(`cache ${s.dir}: range ${offset}+${length} is outside blob ${desc.digest}`);
  }
  // A range cannot be verified: a failure is only ever an error, never a reason to drop anything.
  const onError = (e: unknown) => s.failure(desc.digest, e);
  if (await hasLoose(s, desc.digest, desc.size)) {
    return fileByteStream(s.blobPath(desc.digest), { offset, length, onError });
  }
  const packed = s.packedBlobs.get(desc.digest);
  if (packed && packed.size === desc.size) {
    const volumes = await openPack(s, desc.digest, packed);
    const stream = volumes.rangeStream(packed.offset + offset, length, undefined, undefined, onError);
    volumes.close();
    return stream;
  }
  throw new NotFoundError(`cache ${s.dir}: blob ${desc.digest} is missing`, { op: "fetch", where: s.dir });
}

async function resolveCached(s: CacheState, repo: string, reference: string): Promise<ResolvedManifest> {
  if (isValidDigest(reference)) {
    await s.book.note([reference]);
    const size = await looseSize(s, reference);
    if (size === undefined) throw new AirgapError(`cache: ${repo}@${reference} is not cached`);
    if (size > MAX_MANIFEST_SIZE) throw new AirgapError(`cache: ${repo}@${reference} is too large for a manifest`);
    const bytes = await readBytes(s, { mediaType: "application/octet-stream", digest: reference, size });
    const parsed = parseManifest(bytes, undefined, `${repo}@${reference}`);
    return { descriptor: { mediaType: parsed.mediaType, digest: reference, size }, bytes };
  }
  const desc = (await tags(s)).get(`${repo}:${reference}`);
  if (!desc) throw new AirgapError(`cache: ${repo}:${reference} is not cached`);
  return {
    descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
    bytes: await readBytes(s, desc),
  };
}

/**
 * Is a lock file held (by a running save, a lease, a download)? Only a
 * missing file or a lock we could take ourselves says no: when the file
 * cannot be opened or tried (too many open files, a permission), it counts
 * as held — the answer decides what gets removed.
 */
export function lockHeld(path: string): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true });
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound); // no lock file: nobody holds it
  }
  try {
    // Got it: nobody holds it. Closing the handle (below) lets it go again —
    // no unlockSync, which fails under Wine's Windows even for a lock just taken.
    return !file.tryLockSync(true);
  } catch {
    return true;
  } finally {
    file.close();
  }
}

interface JournalState {
  paths: string[];
  /** Bytes of the journal read so far (whole lines only). */
  consumed: number;
  /** The pack's files no longer have the size it was written with: overwritten or truncated. */
  replaced: boolean;
  size: number;
}

/**
 * The blobs held in packs, read from their journals — again and again, as
 * other processes append (each journal is read from where the last scan
 * stopped). A pack is the user's archive hard-linked, so its bytes may be
 * changed under us: a pack whose files no longer have the size it was
 * written with is dropped at once, an entry past its end is ignored, and a
 * blob that fails to verify when read is struck from its journal.
 */
async function openPackIndex(packsDir: string): Promise<PackIndex> {
  const index = new PackIndex(packsDir);
  await index.scan();
  return index;
}

/** The pack journals read so far (see {@link openPackIndex}). */
class PackIndex {
  readonly packed = new Map<string, PackedBlob>();
  readonly partials = new Map<string, PartialBlob>();
  private readonly journals = new Map<string, JournalState>();
  private readonly journalOf = new Map<string[], string>();
  // One scan at a time: two reading the same journal from the same offset would both advance it.
  private scanning = Promise.resolve();

  constructor(readonly packsDir: string) {}

  scan(): Promise<void> {
    const all = () => this.scanAll();
    return (this.scanning = this.scanning.then(all, all));
  }

  /** This process writes the journal: its lines are already applied. */
  own(name: string, paths: string[], size: number) {
    this.journals.set(name, { paths, consumed: Infinity, replaced: false, size });
    this.journalOf.set(paths, name);
  }

  /** Read every journal again from the start (a pack went): the maps are replaced once the new ones are read. */
  rebuild(): Promise<void> {
    const again = async () => {
      const fresh = new PackIndex(this.packsDir);
      await fresh.scanAll();
      for (const [from, to] of [[fresh.packed, this.packed], [fresh.partials, this.partials]] as const) {
        (to as Map<string, unknown>).clear();
        for (const [k, v] of from) (to as Map<string, unknown>).set(k, v);
      }
      this.journals.clear();
      this.journalOf.clear();
      for (const [k, v] of fresh.journals) this.journals.set(k, v);
      for (const [k, v] of fresh.journalOf) this.journalOf.set(k, v);
    };
    return (this.scanning = this.scanning.then(again, again));
  }

  /** Strike a blob that failed to verify, here and in its journal (for every process). */
  strike(digest: string, blob: PackedBlob) {
    if (this.packed.get(digest) === blob) this.packed.delete(digest);
    const name = this.journalOf.get(blob.paths);
    if (!name) return;
    try {
      const file = Deno.openSync(join(this.packsDir, name), { write: true, append: true });
      try {
        file.writeSync(new TextEncoder().encode(JSON.stringify({ x: digest }) + "\n"));
      } finally {
        file.close();
      }
    } catch { /* the pack is gone already */ }
  }

  private async readNew(name: string): Promise<string> {
    const state = this.journals.get(name);
    const file = await Deno.open(join(this.packsDir, name), { read: true });
    try {
      const start = state?.consumed ?? 0;
      const size = (await file.stat()).size;
      if (size <= start) return "";
      await file.seek(start, Deno.SeekMode.Start);
      const bytes = new Uint8Array(size - start);
      let got = 0;
      while (got < bytes.byteLength) {
        const n = await file.read(bytes.subarray(got));
        if (n === null) break;
        got += n;
      }
      // Whole lines only: a line being written is read next time.
      const end = bytes.subarray(0, got).lastIndexOf(0x0a) + 1;
      if (state) state.consumed += end;
      return new TextDecoder().decode(bytes.subarray(0, end));
    } finally {
      file.close();
    }
  }

  private async start(name: string, header: { size?: number; parts?: number }, consumed: number) {
    const base = join(this.packsDir, name.replace(/\.idx$/, ".tar"));
    const parts = header.parts ?? 1;
    const paths = parts === 1 ? [base] : Array.from({ length: parts }, (_, i) => partName(base, i));
    // A failure to look (not a missing file) throws: the journal is read again next time, nothing dropped.
    const sizes = await Promise.all(paths.map((p) => fileSize(p)));
    const total = sizes.reduce((a: number, b) => a + (b ?? 0), 0);
    const missing = sizes.some((s) => s === undefined);
    const replaced = missing || (header.size !== undefined && total !== header.size);
    const state: JournalState = { paths, consumed, replaced, size: header.size ?? total };
    this.journals.set(name, state);
    this.journalOf.set(paths, name);
    if (replaced && !missing && !lockHeld(join(this.packsDir, name.replace(/\.idx$/, ".lock")))) {
      // The user's archive was overwritten or truncated: nothing in it can be trusted.
      for (const p of [...paths, join(this.packsDir, name)]) await Deno.remove(p).catch(() => {});
    }
    return state;
  }

  private apply(state: JournalState, line: string) {
    let record: { d?: string; p?: string; x?: string; o?: number; s?: number; n?: number };
    try {
      record = JSON.parse(line);
    } catch {
      return; // a torn line
    }
    const { o, s, n } = record;
    if (record.d && isValidDigest(record.d) && typeof o === "number" && typeof s === "number") {
      if (!this.packed.has(record.d) && o + s <= state.size) {
        this.packed.set(record.d, { paths: state.paths, offset: o, size: s });
      }
    } else if (record.p && isValidDigest(record.p) && typeof o === "number" && typeof n === "number") {
      const known = this.partials.get(record.p);
      if (!known || known.bytes < n) this.partials.set(record.p, { paths: state.paths, offset: o, bytes: n });
    } else if (record.x && this.packed.get(record.x)?.paths === state.paths) {
      this.packed.delete(record.x);
    }
  }

  private async scanOne(name: string) {
    const known = this.journals.get(name);
    if (known && (await Deno.stat(join(this.packsDir, name))).size <= known.consumed) return; // nothing new
    const text = await this.readNew(name);
    if (text === "") return;
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    let state = this.journals.get(name);
    if (!state) {
      let header: { size?: number; parts?: number };
      try {
        header = JSON.parse(lines[0] ?? "{}");
      } catch {
        return;
      }
      state = await this.start(name, header, new TextEncoder().encode(text).byteLength);
      lines.shift();
    }
    if (state.replaced) return;
    for (const line of lines) this.apply(state, line);
  }

  private async scanAll() {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.packsDir)) if (entry.name.endsWith(".idx")) names.push(entry.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const name of names.sort()) await this.scanOne(name).catch(() => {});
  }
}
