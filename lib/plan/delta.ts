/**
 * Deltas: an archive cut against a base (a previous airgap.lock, or the lock
 * inside a previous archive) carries every manifest but only the other
 * blobs the base does not reference.
 * @module
 */
import type { Lock } from "../../schemas/lock.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { formatBytes } from "../text.ts";
import { formatLock, lockBlobs, parseLockInSteps } from "../lock.ts";
import { readTextLimited } from "../limits.ts";
import { openArchive } from "../store/archive.ts";

/** A base to cut a delta against. */
export interface Base {
  /** Where it came from (for messages). */
  source: string;
  /** The base lock, parsed. */
  lock: Lock;
  /** The lock's canonical text (what the delta embeds and names by digest). */
  text: string;
  /** Every digest the base references. */
  blobs: Set<string>;
}

/** Read a base: a lock file, or an archive (its embedded lock). */
export async function loadBase(path: string, shownAs = path): Promise<Base> {
  let text: string | undefined;
  try {
    const head = new Uint8Array(1);
    const file = await Deno.open(path, { read: true });
    try {
      await file.read(head);
    } finally {
      file.close();
    }
    if (head[0] === 0x7b) text = await readTextLimited(path, "lock", shownAs); // "{": a lock
  } catch (e) {
    if (e instanceof AirgapError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) throw new AirgapError(`cannot read ${shownAs}: ${errorMessage(e)}`);
  }
  if (text === undefined) {
    const archive = await openArchive(path).catch((e) => {
      if (e instanceof AirgapError && /not an OCI archive|corrupt tar|truncated/.test(e.message)) {
        throw new AirgapError(`${shownAs} is neither an airgap.lock nor an archive`, {}, { exitCode: 2 });
      }
      throw e;
    });
    await archive.close?.();
    if (!archive.lock) throw new AirgapError(`${shownAs} holds no airgap.lock, so it cannot serve as a base`);
    text = archive.lock;
  }
  const lock = await parseLockInSteps(text, shownAs);
  return { source: shownAs, lock, text: formatLock(lock), blobs: new Set(lockBlobs(lock).keys()) };
}

/** The size of a delta: the blobs (manifests, configs, layers) the new side references and the base does not. */
export interface DeltaSize {
  /** How many such blobs. */
  blobs: number;
  /** Their bytes. */
  bytes: number;
}

/**
 * The one definition of what a delta carries, used by `plan --since`, `diff`
 * and `save --since` so that they print the same numbers for the same two
 * locks: every digest `references` (digest → size, e.g. `lockBlobs(newLock)`)
 * holds that the base does not. (The archive also repeats the few small
 * manifests the base has, so that every image in it is complete.)
 */
export function deltaSize(references: ReadonlyMap<string, number>, base: ReadonlySet<string>): DeltaSize {
  const size: DeltaSize = { blobs: 0, bytes: 0 };
  for (const [digest, bytes] of references) {
    if (base.has(digest)) continue;
    size.blobs++;
    size.bytes += bytes;
  }
  return size;
}

/** The one label for {@link deltaSize}: `delta against OLD: 16 new blobs, 12 MiB`. */
export function formatDeltaSize(source: string, size: DeltaSize): string {
  return `delta against ${source}: ${size.blobs} new blob${size.blobs === 1 ? "" : "s"}, ${
    formatBytes(size.bytes)
  } (${size.bytes} bytes)`;
}
