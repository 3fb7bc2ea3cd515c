/**
 * Reading and writing `airgap.lock`: stable ordering (images by entry,
 * blobs by digest) so re-locking an unchanged declaration is a no-op and a
 * version bump shows as a readable git diff.
 * @module
 */
import { type Lock, type LockedArtifact, type LockedImage, type LockedSource, LockSchema } from "../schemas/lock.ts";
import { AirgapError, errorMessage } from "./errors.ts";
import { writeFileAtomic } from "./fsutil.ts";
import { echo } from "./text.ts";
import { checkSize, readTextLimited } from "./limits.ts";

/** Parse lock text (JSON), validating it. `file` names it in errors. */
export function parseLock(text: string, file: string): Lock {
  return validLock(lockJson(text, file), file);
}

function lockJson(text: string, file: string): unknown {
  checkSize("lock", text.length, file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AirgapError(`${file}: not valid JSON (${echo(errorMessage(e))})`, { where: file });
  }
}

/** Images validated at a time by {@link parseLockInSteps}, between which signal handlers run. */
const IMAGES_PER_STEP = 500;

/**
 * {@link parseLock} for a large lock, validating its images a few hundred at
 * a time and yielding to the event loop in between: a lock at its limit
 * (16 MiB, ~15,000 images) takes seconds to validate on a busy machine, and
 * Ctrl-C must still be heard. The result and every error are the same.
 */
export async function parseLockInSteps(text: string, file: string): Promise<Lock> {
  const json = lockJson(text, file);
  const images = (json as { images?: unknown } | null)?.images;
  if (!Array.isArray(images) || images.length <= IMAGES_PER_STEP) return validLock(json, file);
  const shell = LockSchema.safeParse({ ...(json as object), images: [] });
  const valid: Lock["images"] = [];
  for (let i = 0; shell.success && i < images.length; i += IMAGES_PER_STEP) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const step = LockSchema.shape.images.safeParse(images.slice(i, i + IMAGES_PER_STEP));
    if (!step.success) break;
    valid.push(...step.data);
  }
  // Any problem: the whole lock again, for the message parseLock gives (the path names the right image).
  if (!shell.success || valid.length !== images.length) return validLock(json, file);
  return { ...shell.data, images: valid };
}

function validLock(json: unknown, file: string): Lock {
  const result = LockSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(
      /^\./,
      "",
    );
    throw new AirgapError(`${file}: ${path ? `${path}: ` : ""}${issue.message}`, { where: file });
  }
  return result.data;
}

/** Read a lock file; undefined when it does not exist. */
export async function readLock(path: string, shownAs = path): Promise<Lock | undefined> {
  let text: string;
  try {
    text = await readTextLimited(path, "lock", shownAs);
  } catch (e) {
    if (e instanceof AirgapError) throw e;
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new AirgapError(`cannot read ${shownAs}: ${errorMessage(e)}`);
  }
  return await parseLockInSteps(text, shownAs);
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function compareSources(a: LockedSource, b: LockedSource): number {
  const ka = `${a.kind}\0${a.name}\0${a.version}`;
  const kb = `${b.kind}\0${b.name}\0${b.version}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function compareArtifacts(a: LockedArtifact, b: LockedArtifact): number {
  const ka = `${a.subject}\0${a.tag ?? ""}\0${a.digest}`;
  const kb = `${b.subject}\0${b.tag ?? ""}\0${b.digest}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Normalise ordering: sources by kind, name and version; images by entry, blobs by digest; keys in schema order. */
export function normaliseLock(lock: Lock): Lock {
  const images: LockedImage[] = [...lock.images]
    .sort((a, b) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0))
    .map((i) => ({
      entry: i.entry,
      source: i.source,
      digest: i.digest,
      ...(i.upstreamDigest && i.upstreamDigest !== i.digest ? { upstreamDigest: i.upstreamDigest } : {}),
      mediaType: i.mediaType,
      size: i.size,
      platforms: [...i.platforms],
      blobs: sortedRecord(i.blobs),
      ...(i.assembled ? { assembled: sortedRecord(i.assembled) } : {}),
      ...(i.rewritten ? { rewritten: sortedRecord(i.rewritten) } : {}),
      ...(i.artifacts?.length
        ? {
          artifacts: [...i.artifacts].sort((a, b) => compareArtifacts(a, b)).map((a) => ({
            role: a.role,
            ...(a.kind ? { kind: a.kind } : {}),
            subject: a.subject,
            ...(a.tag ? { tag: a.tag } : {}),
            digest: a.digest,
            mediaType: a.mediaType,
            size: a.size,
            blobs: sortedRecord(a.blobs),
          })),
        }
        : {}),
      ...(i.verified
        ? {
          verified: {
            signatures: i.verified.signatures,
            ...(i.verified.attestations !== undefined ? { attestations: i.verified.attestations } : {}),
            keys: [...i.verified.keys].sort(),
          },
        }
        : {}),
      ...(i.file
        ? {
          file: { name: i.file.name, mode: i.file.mode, from: i.file.from, sha256: i.file.sha256, size: i.file.size },
        }
        : {}),
    }));
  const sources: LockedSource[] = [...(lock.sources ?? [])].sort(compareSources).map((s) => ({
    kind: s.kind,
    name: s.name,
    version: s.version,
    url: s.url,
    digest: s.digest,
    size: s.size,
    ...(s.artifact ? { artifact: s.artifact } : {}),
  }));
  return sources.length > 0 ? { lockVersion: 1, sources, images } : { lockVersion: 1, images };
}

/** A lock with its sources section set (left out when there are none). */
export function withSources(lock: Lock, sources: LockedSource[]): Lock {
  return sources.length > 0 ? { ...lock, sources } : lock;
}

/** The key of a source in a lock: kind, name and version. */
export function sourceKey(source: Pick<LockedSource, "kind" | "name" | "version">): string {
  return `${source.kind} ${source.name}@${source.version}`;
}

/** The lock as text. */
export function formatLock(lock: Lock): string {
  return JSON.stringify(normaliseLock(lock), null, 2) + "\n";
}

/** Write a lock file atomically. */
export async function writeLock(path: string, lock: Lock): Promise<void> {
  await writeFileAtomic(path, formatLock(lock));
}

/** All blob digests (and sizes) a lock references, roots included. */
export function lockBlobs(lock: Lock): Map<string, number> {
  const out = new Map<string, number>();
  for (const image of lock.images) {
    out.set(image.digest, image.size);
    for (const [digest, size] of Object.entries(image.blobs)) out.set(digest, size);
    for (const artifact of image.artifacts ?? []) {
      out.set(artifact.digest, artifact.size);
      for (const [digest, size] of Object.entries(artifact.blobs)) out.set(digest, size);
    }
  }
  return out;
}
