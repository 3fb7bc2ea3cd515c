/**
 * Files inside the gap: `airgap files ls|extract ARCHIVE`. The archive's
 * file entries are found by their manifest (`artifactType`
 * `application/vnd.airgap.file.v1`), not by a name, so a file is known the
 * same way in an archive, a cache or a registry. Each file is streamed from
 * the archive verified against its digest into a partial file, given its
 * mode, and renamed into place: a file that is written is exactly the bytes
 * that were declared. Names are checked safe (no `/`, no `..`) before any
 * path is built from them.
 * @module
 */
import { join } from "node:path";
import { AirgapError } from "../../errors.ts";
import { replaceFile } from "../../fsutil.ts";
import type { Descriptor } from "../../oci/manifest.ts";
import { type ArchiveIndexEntry, type ArchiveReader, openArchive } from "../../store/archive.ts";
import { writeStreamToFile } from "../../format/streams.ts";
import { formatMode, readFileArtifact } from "../../files/artifact.ts";

/** A file an archive carries. */
export interface ArchivedFile {
  /** Its name inside the gap. */
  name: string;
  /** Its mode, octal (`0755`). */
  mode: string;
  /** The entry it travels under (`files/NAME`), the repository `load` pushes it to. */
  entry: string;
  /** Digest of its artifact manifest (what `oras pull …@DIGEST` names). */
  manifest: string;
  /** SHA-256 of its bytes. */
  sha256: string;
  /** Its size in bytes. */
  size: number;
  /** False in a delta whose base carries the bytes. */
  carried: boolean;
}

/** The file entries of an archive, with their layers. */
export async function archivedFiles(
  archive: Pick<ArchiveReader, "images" | "blobs" | "readBytes" | "path">,
): Promise<(ArchivedFile & { layer: Descriptor })[]> {
  const out: (ArchivedFile & { layer: Descriptor })[] = [];
  for (const entry of archive.images) {
    const file = await fileOf(archive, entry);
    if (file) out.push(file);
  }
  return out;
}

async function fileOf(
  archive: Pick<ArchiveReader, "blobs" | "readBytes" | "path">,
  entry: ArchiveIndexEntry,
): Promise<(ArchivedFile & { layer: Descriptor }) | undefined> {
  if (!archive.blobs.has(entry.descriptor.digest)) return undefined;
  const artifact = readFileArtifact(
    await archive.readBytes(entry.descriptor),
    `archive ${archive.path}: ${entry.entry}`,
  );
  if (!artifact) return undefined;
  return {
    name: artifact.name,
    mode: formatMode(artifact.mode),
    entry: entry.entry,
    manifest: entry.descriptor.digest,
    sha256: artifact.layer.digest,
    size: artifact.layer.size,
    carried: archive.blobs.has(artifact.layer.digest),
    layer: artifact.layer,
  };
}

/** `airgap files ls ARCHIVE`. */
export async function listArchivedFiles(path: string): Promise<ArchivedFile[]> {
  const archive = await openArchive(path);
  try {
    return (await archivedFiles(archive)).map(({ layer: _, ...file }) => file);
  } finally {
    await archive.close?.();
  }
}

/** What {@link extractFiles} writes. */
export interface ExtractOptions {
  /** The directory to write into (created when missing). */
  dir: string;
  /** Only these files (by name); every file without. */
  names?: string[];
  /** Cancels the extraction. */
  signal?: AbortSignal;
}

/** `airgap files extract ARCHIVE`: every (or each named) file written into `dir`, verified, with its mode. */
export async function extractFiles(path: string, options: ExtractOptions): Promise<ArchivedFile[]> {
  const archive = await openArchive(path);
  try {
    const files = await archivedFiles(archive);
    const wanted = options.names && new Set(options.names);
    if (wanted) {
      const unknown = [...wanted].filter((n) => !files.some((f) => f.name === n));
      if (unknown.length > 0) {
        throw new AirgapError(`archive ${path}: no file named ${unknown.join(", ")} (files ls lists them)`, {}, {
          exitCode: 2,
        });
      }
    }
    const chosen = files.filter((f) => !wanted || wanted.has(f.name));
    const missing = chosen.find((f) => !f.carried);
    if (missing) {
      throw new AirgapError(
        `archive ${path}: file ${missing.name} (${missing.sha256}) is not in this delta: its base archive carries it`,
      );
    }
    await Deno.mkdir(options.dir, { recursive: true });
    for (const file of chosen) {
      options.signal?.throwIfAborted();
      await writeFile(archive, file.layer, join(options.dir, file.name), parseInt(file.mode, 8));
    }
    return chosen.map(({ layer: _, ...file }) => file);
  } finally {
    await archive.close?.();
  }
}

/** Stream one file out verified into a partial file, set its mode, rename it into place. */
async function writeFile(archive: ArchiveReader, layer: Descriptor, path: string, mode: number): Promise<void> {
  const partial = `${path}.partial`;
  const file = await Deno.open(partial, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await writeStreamToFile(await archive.fetch("", layer), file);
    await file.syncData();
    file.close();
    // Permission bits only: a carried file never becomes setuid, setgid or sticky here.
    if (Deno.build.os !== "windows") await Deno.chmod(partial, mode & 0o777);
  } catch (e) {
    try {
      file.close();
    } catch { /* closed already */ }
    await Deno.remove(partial).catch(() => {});
    throw e;
  }
  await replaceFile(partial, path);
}
