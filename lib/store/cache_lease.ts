/**
 * Leases: how running commands keep `cache prune` off what they use and
 * write. One rule, chosen because it needs no clock and no final list: a
 * lease journals every digest its command touches in the cache — looked up,
 * read, written or listed — *before* the command acts on the answer, and
 * prune keeps every digest a live lease journals (manifests with everything
 * they reference). Commands that write as they go (mirror, plan,
 * `serve --writable`) are covered from their first blob, with no list known
 * up front.
 *
 * "Before" is made exact by one lock file, `leases/prune.lock`: journal
 * appends hold it shared, prune holds it exclusive from reading the leases
 * until its last removal. So a use either journals before prune reads (and
 * prune keeps it) or starts after prune is done (and sees what prune left —
 * a miss, fetched again). Appends are batched: concurrent first uses share
 * one lock and one write, and a digest is journalled once per open cache.
 *
 * A lease is `leases/ID.log` (a header line, then one digest a line) beside
 * `leases/ID.lock`, locked while the process lives: OS locks die with their
 * holder, so a killed command's lease is stale at once and prune removes it.
 * @module
 */
import { join } from "node:path";
import { isValidDigest } from "../ref.ts";
import { writeAll } from "../fsutil.ts";
import { CacheReadError, errorMessage } from "../errors.ts";

/** A running command's hold on the cache (see {@link LeaseBook}). */
export interface CacheLease {
  /** Hold these digests too (a save's plan): added to what the lease already holds. */
  update(digests: Iterable<string>): Promise<void>;
  /** The command is over: what it holds may be pruned from now on. */
  release(): Promise<void>;
}

/** The directory of leases inside a cache. */
export function leasesDir(cacheDir: string): string {
  return join(cacheDir, "leases");
}

/** The lock file journal appends hold shared and prune holds exclusive. */
function pruneLockPath(cacheDir: string): string {
  return join(leasesDir(cacheDir), "prune.lock");
}

/** Run `fn` while holding the prune lock: exclusive for prune, shared for journal appends. */
export async function withPruneLock<T>(cacheDir: string, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(leasesDir(cacheDir), { recursive: true });
  const file = await Deno.open(pruneLockPath(cacheDir), { read: true, write: true, create: true });
  try {
    await file.lock(exclusive);
    return await fn();
  } finally {
    // Closing lets the lock go (no unlock: it fails under Wine's Windows).
    file.close();
  }
}

interface LeaseFile {
  log: Deno.FsFile;
  lock: Deno.FsFile;
  logPath: string;
  lockPath: string;
}

/**
 * The leases one open cache holds, and the journal every use goes through:
 * {@link note} resolves once the digests are journalled in every live lease
 * (at once when there is none: `cache ls`, `verify` and `prune` hold no lease).
 */
export class LeaseBook {
  private readonly live: LeaseFile[] = [];
  /** Journalled in every live lease. */
  private readonly journalled = new Set<string>();
  private pending = new Map<string, Promise<void>>();
  private batch: string[] = [];
  private batchDone?: PromiseWithResolvers<void>;
  /** One journal operation at a time (appends, taking and releasing leases). */
  private serial: Promise<void> = Promise.resolve();

  constructor(readonly cacheDir: string) {}

  /** Journal `digests` in every live lease before the caller uses them. */
  note(digests: Iterable<string>): Promise<void> {
    if (this.live.length === 0) return Promise.resolve();
    const waits: Promise<void>[] = [];
    for (const digest of digests) {
      if (this.journalled.has(digest) || !isValidDigest(digest)) continue;
      let wait = this.pending.get(digest);
      if (!wait) {
        if (!this.batchDone) {
          this.batchDone = Promise.withResolvers<void>();
          this.batchDone.promise.catch(() => {}); // heard by each waiter
          const done = this.batchDone;
          this.run(() => this.flush(done));
        }
        this.batch.push(digest);
        wait = this.batchDone.promise;
        this.pending.set(digest, wait);
      }
      waits.push(wait);
    }
    return waits.length === 0 ? Promise.resolve() : Promise.all(waits).then(() => {});
  }

  /** Take a lease: from now on every digest this cache touches is journalled in it. */
  async take(): Promise<CacheLease> {
    const file = await new Promise<LeaseFile>((resolve, reject) =>
      this.run(() => this.open().then(resolve, (e) => void reject(e)))
    );
    let released = false;
    return {
      update: (digests) => released ? Promise.resolve() : this.note(digests),
      release: () => {
        if (released) return Promise.resolve();
        released = true;
        return new Promise<void>((resolve) => this.run(() => this.close(file).then(resolve)));
      },
    };
  }

  private run(step: () => Promise<void>): void {
    this.serial = this.serial.then(step, step);
  }

  private async flush(done: PromiseWithResolvers<void>): Promise<void> {
    const digests = this.batch;
    this.batch = [];
    this.batchDone = undefined;
    try {
      const bytes = new TextEncoder().encode(digests.map((d) => `${d}\n`).join(""));
      await withPruneLock(this.cacheDir, false, async () => {
        for (const lease of this.live) await writeAll(lease.log, bytes);
      });
      for (const d of digests) this.journalled.add(d);
      done.resolve();
    } catch (e) {
      // Not journalled, so not protected: the use must not go ahead.
      done.reject(
        new CacheReadError(`cache ${this.cacheDir}: cannot journal this command's lease: ${errorMessage(e)}`, {
          op: "lease",
          where: this.cacheDir,
        }, { cause: e }),
      );
    } finally {
      for (const d of digests) this.pending.delete(d);
    }
  }

  /** A new lease file, holding what this cache has journalled already (another lease of it may end first). */
  private async open(): Promise<LeaseFile> {
    const dir = leasesDir(this.cacheDir);
    await Deno.mkdir(dir, { recursive: true });
    const id = `${Deno.pid}-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
    const lockPath = join(dir, `${id}.lock`);
    const logPath = join(dir, `${id}.log`);
    // Locked before the log exists: prune never sees a log whose lock is free while its process lives.
    const lock = await Deno.open(lockPath, { write: true, create: true });
    lock.lockSync(true);
    const log = await Deno.open(logPath, { write: true, createNew: true, append: true });
    const header = JSON.stringify({ lease: 1, pid: Deno.pid, started: Date.now() });
    await writeAll(log, new TextEncoder().encode([header, ...this.journalled].join("\n") + "\n"));
    const file = { log, lock, logPath, lockPath };
    this.live.push(file);
    return file;
  }

  private async close(file: LeaseFile): Promise<void> {
    this.live.splice(this.live.indexOf(file), 1);
    if (this.live.length === 0) this.journalled.clear();
    await Deno.remove(file.logPath).catch(() => {});
    for (const f of [file.log, file.lock]) {
      try {
        f.close();
      } catch { /* closed */ }
    }
    await Deno.remove(file.lockPath).catch(() => {});
  }
}

/** What live leases protect from `cache prune`. */
export interface LeaseHolds {
  /** Digests running commands journalled (used, written or listed). */
  digests: Set<string>;
  /**
   * Leases written by an older airgap (`ID.json`, no journal): the start (ms
   * since the epoch) of the oldest, whose blobs written since then stay.
   */
  since?: number;
  /** Running commands holding a lease. */
  live: number;
}

/**
 * Read the live leases; remove those whose process is gone (their lock is
 * free). Call it holding the prune lock exclusively, so no journal grows
 * while it is read. `lockHeld` says whether a lock file is held.
 */
export async function readLeases(cacheDir: string, lockHeld: (path: string) => boolean): Promise<LeaseHolds> {
  const holds: LeaseHolds = { digests: new Set(), live: 0 };
  const dir = leasesDir(cacheDir);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (/\.(log|json)$/.test(e.name)) names.push(e.name);
  } catch {
    return holds;
  }
  for (const name of names) {
    const path = join(dir, name);
    const lockPath = path.replace(/\.(log|json)$/, ".lock");
    if (!lockHeld(lockPath)) {
      for (const p of [path, lockPath]) await Deno.remove(p).catch(() => {});
      continue;
    }
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // released meanwhile
      throw e; // cannot tell what it holds: prune nothing
    }
    holds.live++;
    if (name.endsWith(".log")) {
      for (const line of text.split("\n").slice(1)) if (isValidDigest(line)) holds.digests.add(line);
      continue;
    }
    try {
      const lease = JSON.parse(text) as { started?: number; digests?: string[] };
      for (const d of lease.digests ?? []) holds.digests.add(d);
      holds.since = Math.min(holds.since ?? Infinity, typeof lease.started === "number" ? lease.started : 0);
    } catch {
      holds.since = 0; // unreadable: keep every blob
    }
  }
  return holds;
}
