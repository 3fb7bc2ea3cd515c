/**
 * `airgap diff OLD.lock NEW.lock`: what changed between two locks — images
 * added, removed, changed (same entry, new digest), re-tagged (same digest
 * under a new entry) — and the bytes a delta from OLD to NEW would move.
 * @module
 */
import type { Lock, LockedImage } from "../../../schemas/lock.ts";
import { lockBlobs } from "../../lock.ts";
import { deltaSize } from "../../plan/delta.ts";

/** The difference between two locks. */
export interface LockDiff {
  /** Images whose entry is only in NEW (and not a re-tag of an OLD digest). */
  added: LockedImage[];
  /** Images whose entry is only in OLD (and was not re-tagged). */
  removed: LockedImage[];
  /** Same entry in both, with a new digest. */
  changed: { before: LockedImage; after: LockedImage }[];
  /** Entries whose digest was already in OLD under another entry. */
  retagged: { before: LockedImage; after: LockedImage }[];
  /** How many entries kept their digest. */
  unchanged: number;
  /** Blobs NEW references that OLD does not: what a delta carries ({@link deltaSize}). */
  newBlobs: number;
  /** Bytes of those new blobs. */
  newBytes: number;
}

/** Compare two locks. */
export function diffLocks(before: Lock, after: Lock): LockDiff {
  const old = new Map(before.images.map((i) => [i.entry, i]));
  const now = new Map(after.images.map((i) => [i.entry, i]));
  const oldByDigest = new Map(before.images.map((i) => [i.digest, i]));
  const diff: LockDiff = { added: [], removed: [], changed: [], retagged: [], unchanged: 0, newBlobs: 0, newBytes: 0 };
  for (const image of after.images) {
    const was = old.get(image.entry);
    if (!was) {
      const same = oldByDigest.get(image.digest);
      if (same && !now.has(same.entry)) diff.retagged.push({ before: same, after: image });
      else diff.added.push(image);
    } else if (was.digest !== image.digest) diff.changed.push({ before: was, after: image });
    else diff.unchanged++;
  }
  const retaggedFrom = new Set(diff.retagged.map((r) => r.before.entry));
  for (const image of before.images) {
    if (!now.has(image.entry) && !retaggedFrom.has(image.entry)) diff.removed.push(image);
  }
  const delta = deltaSize(lockBlobs(after), new Set(lockBlobs(before).keys()));
  return { ...diff, newBlobs: delta.blobs, newBytes: delta.bytes };
}
