/**
 * The archive being written, shared with the cache: a tee in which every
 * blob fetched for a save lands once — in the archive — and is in the cache
 * too, because the cache adopts the archive's file as a pack (hard links) and
 * a journal records where each fetched blob's verified bytes are. This store
 * owns that journal: it tells it what landed and how far a blob got (so a
 * killed save resumes), shares downloads with other saves using the same
 * cache, and decides at the end whether the pack is worth keeping. Saves
 * stay orchestration; what "write once into archive and cache" means lives
 * here. When the archive is on another file system there is no pack
 * ({@link PackTee.adopt} says so) and the caller fills the cache separately.
 * @module
 */
import type { Descriptor } from "../../oci/manifest.ts";
import type { ArchiveSummary, ArchiveWriter, ArchiveWriterOptions } from "../archive.ts";
import type { CacheStore, PackJournal } from "../cache.ts";
import type { Store } from "../types.ts";

/** The archive shared with the cache as a pack. */
export interface PackTee {
  /** Hooks for the archive writer's options: they journal where the fetched blobs' bytes are. */
  readonly hooks: Required<Pick<ArchiveWriterOptions, "onBlobWritten" | "onBlobProgress">>;
  /**
   * Adopt the archive as a pack of the cache. The destination to copy into:
   * the archive, claiming each download among saves sharing the cache —
   * undefined when the archive is on another file system (no pack).
   */
  adopt(archive: ArchiveWriter): Promise<Store | undefined>;
  /** True when a pack journals the archive (after {@link adopt}). */
  readonly packing: boolean;
  /** True for a blob this save fetches (not one the cache had): what the pack records. */
  fetched(digest: string): boolean;
  /** A blob fetched after all (its cached copy failed): the pack records it too. */
  missed(desc: Descriptor): void;
  /** The archive is finished: keep the pack, or (mostly old content) keep only the new blobs, loose. */
  finish(summary: ArchiveSummary): Promise<void>;
  /** The archive was abandoned: a pack with nothing in it goes. */
  abort(): Promise<void>;
  /** Release the journal (and its lock). */
  close(): void;
}

/** A tee over `cache` for the blobs in `fetching` (the plan's missing blobs; only those go into the pack). */
export function packTee(cache: CacheStore, fetching: Set<string>): PackTee {
  let journal: PackJournal | undefined;
  return {
    hooks: {
      onBlobWritten: (desc, offset) => {
        if (fetching.has(desc.digest)) journal?.record(desc, offset);
      },
      onBlobProgress: (desc, offset, written) => {
        if (fetching.has(desc.digest)) journal?.progress(desc, offset, written);
      },
    },
    async adopt(archive) {
      journal = await cache.beginPack(archive.partialPaths, archive.partSize, archive.layout.size);
      return journal ? sharingDownloads(archive, cache, fetching) : undefined;
    },
    get packing() {
      return journal !== undefined;
    },
    fetched: (digest) => fetching.has(digest),
    missed: (desc) => void fetching.add(desc.digest),
    async finish(summary) {
      if (journal && journal.bytes * 2 < summary.blobBytes) {
        // Mostly old content: a pack would keep a duplicate archive alive in
        // the cache. Keep the new blobs loose instead.
        if (journal.count > 0) await journal.unpack();
        else await journal.discard();
        journal = undefined;
      }
    },
    async abort() {
      if (journal && journal.count === 0) await journal.discard();
    },
    close: () => journal?.close(),
  };
}

/**
 * Share downloads with other saves using the same cache: a blob about to be
 * fetched is claimed first; when another process held the claim, its blob
 * is usually in the cache by now, and is read from there (and not counted as
 * this save's to pack).
 */
function sharingDownloads(dst: Store, cache: CacheStore, fetching: Set<string>): Store {
  const refresh = coalesced(() => cache.refresh());
  return {
    ...dst,
    async push(repo, desc, content) {
      // The plan found it missing: claim it at once (the look-up after the claim is the one that counts).
      if (content instanceof Uint8Array || !fetching.has(desc.digest)) return await dst.push(repo, desc, content);
      const claim = await cache.claim(desc.digest);
      try {
        // Another save may have fetched it while we waited, or since we planned: look again.
        await refresh();
        if (await cache.has(desc.digest, desc.size)) fetching.delete(desc.digest);
        return await dst.push(repo, desc, content);
      } finally {
        claim.release();
      }
    },
  };
}

/**
 * One `run` at a time, shared: a caller gets a run that started after its
 * call — the one starting next, shared by everyone who asked while the
 * current one ran. A save re-reads the cache's pack journals after each
 * claim; 32 small blobs claimed at once cost one or two reads, not 32
 * (each a directory listing and a stat per journal).
 */
export function coalesced(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const current = run().finally(() => {
      if (running === current) running = undefined;
    });
    running = current;
    return current;
  };
  return () => {
    if (!running) return start();
    next ??= running.catch(() => {}).then(() => {
      next = undefined;
      return start();
    });
    return next;
  };
}
