/**
 * Blob upload sessions of the writable registry. Each session is a file in
 * the cache's `tmp/` directory and a running SHA-256; request bodies are
 * written synchronously chunk by chunk (gathered into large writes), so a
 * layer never sits in memory and a slow disk slows the sender down instead
 * of filling a buffer. Completing a session verifies the digest and renames
 * the file into the cache's blob directory; a wrong digest leaves the session
 * as it was before the failed request, so the client can retry.
 *
 * Each server holds an exclusive lock on `tmp/uploads-ID.lock` while it runs
 * and names its files `tmp/upload-ID-…`: files whose owner's lock is free (a
 * killed server's) are removed when a server starts and by `cache prune`,
 * while another running server's uploads are left alone.
 *
 * Limits (see {@link UploadLimits}): at most so many sessions open at once
 * (one more is answered 429 TOOMANYREQUESTS), at most so many bytes in one
 * upload (413, the session dropped), and a session no request touched for
 * the idle time is dropped with its file by a sweep that runs while the
 * server does (and removes killed servers' files as it goes).
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { dirname, join } from "node:path";
import { createDigester, digestAlgorithm } from "../oci/digest.ts";
import type { Descriptor } from "../oci/manifest.ts";
import { formatBytes } from "../text.ts";
import { type CacheStore, lockHeld } from "../store/cache.ts";
import { fileByteStream } from "../format/streams.ts";
import { httpError, storageError } from "./error_codes.ts";

/** Writes are gathered into pieces of this size. */
const WRITE_SIZE = 1024 * 1024;

/** Limits of a writable server's uploads. */
export interface UploadLimits {
  /** Upload sessions open at once (default {@link DEFAULT_UPLOAD_LIMITS}). */
  maxUploads: number;
  /** Bytes in one upload. */
  maxUploadSize: number;
  /** A session untouched this long (ms) is dropped with its file. */
  idleMs: number;
}

/**
 * Defaults: 64 sessions (a dozen clients pushing six layers at a time),
 * 32 GiB a blob (the largest layers seen in the wild are a few GiB), 15 min
 * idle (a client that stalls longer restarts its upload anyway).
 */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxUploads: 64,
  maxUploadSize: 32 * 1024 ** 3,
  idleMs: 15 * 60 * 1000,
};

/** The 413 answer to an upload over the size limit. */
export function uploadTooLarge(limit: number) {
  return httpError("SIZE_INVALID", `upload larger than the registry's limit of ${formatBytes(limit)}`, {
    limit,
  }, { status: 413 });
}

/** An upload in progress. */
export interface UploadSession {
  readonly id: string;
  /** The (canonical) repository it was started in. */
  readonly repository: string;
  /** Bytes received so far. */
  readonly size: number;
}

interface Session extends UploadSession {
  size: number;
  path: string;
  /** SHA-256 of the bytes received (copied, never finished, so the session can go on). */
  hash: Hash;
  busy: boolean;
  /** When a request last touched it (ms since epoch). */
  touched: number;
}

/** The upload sessions of one server. */
export interface Uploads {
  /** Start a session (creates its file). */
  start(repository: string): UploadSession;
  /** A session by id, only in the repository it was started in. */
  get(id: string, repository: string): UploadSession | undefined;
  /** Append a request body; resolves with the number of bytes received. */
  append(session: UploadSession, body: IncomingMessage): Promise<number>;
  /** Where a session stands, to {@link Uploads.rollback} to if a request fails. */
  mark(session: UploadSession): UploadMark;
  /** Undo what was appended since `mark` (nothing if the session is gone). */
  rollback(session: UploadSession, mark: UploadMark): void;
  /**
   * Check the content against `digest` and move it into the cache. On a
   * mismatch a DIGEST_INVALID error is thrown and the session kept.
   */
  complete(session: UploadSession, digest: string): Promise<Descriptor>;
  /** Drop a session and its file. */
  cancel(session: UploadSession): void;
  /** Drop every session (server shutdown). */
  closeAll(): void;
  /** The limits in force. */
  readonly limits: UploadLimits;
}

/** A session's state at one moment (see {@link Uploads.mark}). */
export interface UploadMark {
  readonly size: number;
  readonly hash: Hash;
}

const LOCK = /^uploads-([0-9a-f]+)\.lock(\.new)?$/;
const FILE = /^upload-([0-9a-f]+)-/;

/**
 * Remove the upload files of servers that no longer run (killed ones): those
 * whose owner's lock file is gone or not held. Returns what was removed.
 */
export function removeStaleUploads(cacheDir: string, options: { dryRun?: boolean } = {}): {
  files: number;
  bytes: number;
} {
  const tmp = join(cacheDir, "tmp");
  const removed = { files: 0, bytes: 0 };
  let names: string[];
  try {
    names = [...Deno.readDirSync(tmp)].map((e) => e.name);
  } catch {
    return removed;
  }
  const remove = (name: string) => {
    const path = join(tmp, name);
    try {
      const size = Deno.statSync(path).size;
      if (!options.dryRun) Deno.removeSync(path);
      removed.files++;
      removed.bytes += size;
    } catch {
      // gone already
    }
  };
  for (const name of names) {
    const lock = name.match(LOCK);
    if (!lock || lockHeld(join(tmp, name))) continue;
    // A lock being created is renamed into place once held; a stray `.new` one is a minute old at least.
    const age = Date.now() - (Deno.statSync(join(tmp, name)).mtime?.getTime() ?? 0);
    if (lock[2] === undefined || age > 60_000) remove(name);
  }
  for (const name of names) {
    const owner = name.match(FILE)?.[1];
    if (owner === undefined) continue;
    if (!lockHeld(join(tmp, `uploads-${owner}.lock`))) remove(name);
  }
  return removed;
}

/** Take this server's lock: created under a temporary name and renamed once held, so no sweep sees it free. */
function takeLock(tmp: string, id: string): { file: Deno.FsFile; path: string } {
  const path = join(tmp, `uploads-${id}.lock`);
  const file = Deno.openSync(`${path}.new`, { read: true, write: true, create: true });
  file.lockSync(true);
  Deno.renameSync(`${path}.new`, path);
  return { file, path };
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) offset += file.writeSync(bytes.subarray(offset));
}

/** What the upload sessions of one server share. */
interface UploadState {
  readonly cache: CacheStore;
  readonly sessions: Map<string, Session>;
  readonly tmp: string;
  readonly serverId: string;
  lock: { file: Deno.FsFile; path: string } | undefined;
  readonly limits: UploadLimits;
  sweeper: ReturnType<typeof setInterval> | undefined;
}

/** Upload sessions whose files live in `cache.dir/tmp`, within `limits` (defaults: {@link DEFAULT_UPLOAD_LIMITS}). */
export function createUploads(cache: CacheStore, limits: Partial<UploadLimits> = {}): Uploads {
  const tmp = join(cache.dir, "tmp");
  Deno.mkdirSync(tmp, { recursive: true });
  removeStaleUploads(cache.dir);
  const serverId = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const u: UploadState = {
    cache,
    sessions: new Map(),
    tmp,
    serverId,
    lock: takeLock(tmp, serverId),
    limits: {
      ...DEFAULT_UPLOAD_LIMITS,
      ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)),
    },
    sweeper: undefined,
  };
  startSweeper(u);
  const { sessions } = u;
  return {
    limits: u.limits,
    start: (repository) => startSession(u, repository),
    get(id, repository) {
      const session = sessions.get(id);
      return session && session.repository === repository ? session : undefined;
    },
    append: (handle, body) => append(u, handle, body),
    complete: (handle, digest) => complete(u, handle, digest),
    mark(handle) {
      const session = own(u, handle);
      return { size: session.size, hash: session.hash.copy() };
    },
    rollback(handle, mark) {
      const session = sessions.get(handle.id);
      if (!session || session.busy || session.size === mark.size) return;
      try {
        Deno.truncateSync(session.path, mark.size);
        session.size = mark.size;
        session.hash = mark.hash.copy();
      } catch {
        drop(u, session);
      }
    },
    cancel(handle) {
      const session = sessions.get(handle.id);
      if (session) drop(u, session);
    },
    closeAll: () => closeAll(u),
  };
}

function own(u: UploadState, session: UploadSession): Session {
  const found = u.sessions.get(session.id);
  if (!found) throw httpError("BLOB_UPLOAD_UNKNOWN", "upload is unknown or was cancelled", { id: session.id });
  return found;
}

function drop(u: UploadState, session: Session): void {
  u.sessions.delete(session.id);
  try {
    Deno.removeSync(session.path);
  } catch {
    // already gone
  }
}

/** Drop the sessions idle longer than the limit; true when any was dropped. */
function dropIdle(u: UploadState): boolean {
  const now = Date.now();
  let dropped = false;
  for (const session of [...u.sessions.values()]) {
    if (!session.busy && now - session.touched > u.limits.idleMs) {
      drop(u, session);
      dropped = true;
    }
  }
  return dropped;
}

/**
 * Sweep idle sessions (and killed servers' files) every quarter of the idle
 * time, at most a minute apart; the timer does not keep the process alive.
 */
function startSweeper(u: UploadState): void {
  const every = Math.min(60_000, Math.max(10, Math.floor(u.limits.idleMs / 4)));
  const sweeper = setInterval(() => {
    dropIdle(u);
    removeStaleUploads(u.cache.dir);
  }, every);
  Deno.unrefTimer(sweeper);
  u.sweeper = sweeper;
}

function startSession(u: UploadState, repository: string): Session {
  const now = Date.now();
  if (u.sessions.size >= u.limits.maxUploads) dropIdle(u);
  if (u.sessions.size >= u.limits.maxUploads) {
    throw httpError("TOOMANYREQUESTS", `${u.limits.maxUploads} uploads are already in progress; try again later`, {
      limit: u.limits.maxUploads,
    }, { headers: { "retry-after": "10" } });
  }
  const id = crypto.randomUUID();
  const path = join(u.tmp, `upload-${u.serverId}-${id}`);
  try {
    Deno.mkdirSync(u.tmp, { recursive: true });
    Deno.writeFileSync(path, new Uint8Array(0));
  } catch (e) {
    throw storageError(e, "cannot start upload");
  }
  const session: Session = {
    id,
    repository,
    size: 0,
    path,
    hash: createHash("sha256"),
    busy: false,
    touched: now,
  };
  u.sessions.set(id, session);
  return session;
}

function append(u: UploadState, handle: UploadSession, body: IncomingMessage): Promise<number> {
  const session = own(u, handle);
  if (session.busy) {
    body.resume();
    return Promise.reject(httpError("BLOB_UPLOAD_INVALID", "another request is writing to this upload"));
  }
  session.busy = true;
  session.touched = Date.now();
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(session.path, { append: true });
  } catch (e) {
    session.busy = false;
    drop(u, session);
    body.resume();
    return Promise.reject(storageError(e, "cannot reopen upload"));
  }
  return receive(session, file, body, u.limits.maxUploadSize, () => drop(u, session));
}

/**
 * Write a request body to a session's open file, gathered into large
 * writes, up to `limit` bytes in the session; `onFatal` drops the session
 * when the disk fails or the limit is passed (413).
 */
function receive(
  session: Session,
  file: Deno.FsFile,
  body: IncomingMessage,
  limit: number,
  onFatal: () => void,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const buffer = new Uint8Array(WRITE_SIZE);
    let used = 0;
    let received = 0;
    let failure: unknown;
    let tooLarge = false;
    let settled = false;
    const flush = () => {
      if (used > 0) writeAllSync(file, buffer.subarray(0, used));
      used = 0;
    };
    const write = (chunk: Uint8Array) => {
      if (chunk.byteLength >= WRITE_SIZE) {
        flush();
        writeAllSync(file, chunk);
      } else {
        if (used + chunk.byteLength > WRITE_SIZE) flush();
        buffer.set(chunk, used);
        used += chunk.byteLength;
      }
      // Counted once accepted for writing; a failed write drops the session, so size, digest and file agree.
      session.hash.update(chunk);
      session.size += chunk.byteLength;
      received += chunk.byteLength;
    };
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      try {
        flush();
      } catch (e) {
        failure ??= e;
        error ??= e;
      }
      file.close();
      session.busy = false;
      session.touched = Date.now();
      if (error === undefined) return resolve(received);
      if (tooLarge) {
        onFatal();
        reject(uploadTooLarge(limit));
      } else if (failure !== undefined) {
        // The disk failed: this session cannot go on.
        onFatal();
        reject(storageError(failure, "cannot store upload"));
      } else {
        reject(error);
      }
    };
    body.on("data", (chunk: Uint8Array) => {
      if (failure !== undefined || tooLarge) return;
      if (session.size + chunk.byteLength > limit) {
        tooLarge = true;
        return settle(uploadTooLarge(limit));
      }
      try {
        write(chunk);
      } catch (e) {
        failure = e;
        body.resume();
        settle(e);
      }
    });
    body.on("end", () => settle());
    body.on("error", (e: unknown) => settle(e ?? new Error("request failed")));
    body.on("close", () => {
      if (!body.complete) settle(new Error("the client closed the connection during the upload"));
    });
  });
}

async function complete(u: UploadState, handle: UploadSession, digest: string): Promise<Descriptor> {
  const session = own(u, handle);
  const algorithm = digestAlgorithm(digest);
  let actual: string;
  if (session.busy) throw httpError("BLOB_UPLOAD_INVALID", "another request is writing to this upload");
  try {
    const file = Deno.openSync(session.path, { write: true });
    try {
      file.syncDataSync();
    } finally {
      file.close();
    }
    if (algorithm === "sha256") {
      actual = `sha256:${session.hash.copy().digest("hex")}`;
    } else {
      const digester = createDigester(algorithm);
      for await (const chunk of fileByteStream(session.path)) digester.update(chunk);
      actual = digester.digest();
    }
  } catch (e) {
    drop(u, session);
    throw storageError(e, "cannot finish upload");
  }
  if (actual !== digest) {
    throw httpError("DIGEST_INVALID", "provided digest did not match uploaded content", {
      expected: digest,
      actual,
      size: session.size,
    });
  }
  u.sessions.delete(session.id);
  const desc: Descriptor = { mediaType: "application/octet-stream", digest, size: session.size };
  try {
    if (await u.cache.has(digest, session.size)) {
      await Deno.remove(session.path);
    } else {
      const target = u.cache.blobPath(digest);
      await Deno.mkdir(dirname(target), { recursive: true });
      await Deno.rename(session.path, target);
    }
  } catch (e) {
    await Deno.remove(session.path).catch(() => {});
    throw storageError(e, `cannot store blob ${digest}`);
  }
  return desc;
}

function closeAll(u: UploadState): void {
  clearInterval(u.sweeper);
  for (const session of [...u.sessions.values()]) drop(u, session);
  if (u.lock) {
    u.lock.file.close();
    try {
      Deno.removeSync(u.lock.path);
    } catch {
      // removed by hand
    }
    u.lock = undefined;
  }
}
