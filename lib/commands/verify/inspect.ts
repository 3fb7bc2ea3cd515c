/**
 * `airgap verify` and `airgap ls`: look inside an archive (whole, split, or
 * a delta) without loading it.
 * @module
 */
import { BASE_ANNOTATION, KIND_ANNOTATION } from "../../oci/annotations.ts";
import { artifactsOf, isArtifactEntry } from "../../artifacts/deliver.ts";
import { basename } from "node:path";
import { limiter } from "../../transport/limiter.ts";
import { errorMessage } from "../../errors.ts";
import { checkSums, sumsPath } from "../../format/checksums.ts";
import { lockBlobs, parseLock } from "../../lock.ts";
import { checkLayout } from "../../format/archive_check.ts";
import { walkGraph } from "../../oci/graph.ts";
import { isChartEntry } from "../../oci/chart.ts";
import { digestOf } from "../../oci/digest.ts";
import type { Descriptor } from "../../oci/manifest.ts";
import { isIndexType } from "../../oci/media.ts";
import { singleImagePlatform } from "../../oci/platform.ts";
import { type ArchiveReader, BASE_LOCK_ENTRY, openArchive } from "../../store/archive.ts";
import type { Base } from "../../plan/delta.ts";

/** One problem found by verify. */
export interface Problem {
  /** The image, blob or part concerned. */
  subject: string;
  /** What is wrong, on one line. */
  message: string;
}

/** What verify found. */
export interface VerifyResult {
  /** The archive path, as given. */
  archive: string;
  /** The archive's files (several when split). */
  parts: string[];
  /** Blobs the archive holds. */
  blobs: number;
  /** Bytes re-hashed (a blob that failed counts what was read of it). */
  bytes: number;
  /** Images in index.json (charts not included). */
  images: number;
  /** Helm charts in index.json. */
  charts: number;
  /** Signatures, attestations, SBOMs and referrers carried with the images (checked like images). */
  artifacts: number;
  /** Blobs the archive relies on its base for (deltas). */
  fromBase: number;
  /** Everything found wrong; empty when the archive is sound. */
  problems: Problem[];
}

/** Options of {@link verifyCommand}. */
export interface VerifyOptions {
  /** A base lock to check a delta's outside blobs against. */
  base?: Base;
  /** Hears the bytes about to be re-hashed (every blob once), before the first chunk. */
  onStart?: (totalBytes: number) => void;
  /** Hears the length of each chunk re-hashed (for a progress line). */
  onProgress?: (bytes: number) => void;
}

async function readable(archive: ArchiveReader, desc: Descriptor): Promise<Uint8Array | undefined> {
  return archive.blobs.has(desc.digest) ? await archive.readBytes(desc) : undefined;
}

/**
 * Report every tar member that is not part of the layout, re-hash every
 * blob, check every image's graph is complete (or complete given its base)
 * and agrees with the embedded lock, and check the parts against their
 * SHA256SUMS file.
 */
export async function verifyCommand(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  // Members that are not part of the layout are reported, not refused.
  const problems: Problem[] = [];
  const archive = await openArchive(path, { problems });
  try {
    // 1. Parts against their checksums (transfer damage), when there is a sums file.
    const badParts = new Set<string>();
    if (archive.parts.length > 1) {
      const base = archive.parts[0].replace(/\.001$/, "");
      try {
        const { checked, bad } = await checkSums(sumsPath(base));
        for (const name of bad) {
          badParts.add(name);
          const position = `part ${checked.indexOf(name) + 1} of ${checked.length}`;
          problems.push({
            subject: `${name} (${position})`,
            message: `does not match its ${basename(sumsPath(base))} line`,
          });
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          problems.push({ subject: basename(sumsPath(base)), message: errorMessage(e) });
        }
      }
    }
    // 2. Every blob re-hashed; an error names the part and the blob.
    let bytes = 0;
    options.onStart?.([...archive.blobs.values()].reduce((sum, e) => sum + e.size, 0));
    const limit = limiter(2);
    await Promise.all([...archive.blobs.entries()].map(([digest, entry]) =>
      limit(async () => {
        const desc = { mediaType: "application/octet-stream", digest, size: entry.size };
        try {
          const stream = await archive.fetch("", desc);
          for await (const chunk of stream) {
            bytes += chunk.byteLength;
            options.onProgress?.(chunk.byteLength);
          }
        } catch (e) {
          const part = archive.parts.length > 1 ? `${partsOf(archive, entry.offset, entry.size, badParts)} ` : "";
          problems.push({ subject: `${part}blob ${digest}`, message: errorMessage(e) });
        }
      })
    ));
    // 3. Graphs complete (or complete given the base), and the lock agrees with the index.
    const baseBlobs = baseDigests(archive, options.base, problems);
    const layout = await checkLayout(archive, baseBlobs);
    problems.push(...layout.problems);
    const fromBase = layout.fromBase;
    return {
      archive: path,
      parts: archive.parts,
      blobs: archive.blobs.size,
      bytes,
      images: archive.images.filter((i) => !isChartEntry(i) && !isArtifactEntry(i)).length,
      charts: archive.images.filter(isChartEntry).length,
      artifacts: archive.images.filter(isArtifactEntry).length,
      fromBase,
      problems,
    };
  } finally {
    await archive.close?.();
  }
}

/**
 * The parts a blob lies in, for a damaged blob's line: the part that fails
 * its SHA256SUMS line when one of them does (`part 3 (x.tar.003, which fails
 * its SHA256SUMS line)`), else every part it spans (`parts 2–3 (x.tar.002,
 * x.tar.003)`).
 */
function partsOf(archive: ArchiveReader, offset: number, size: number, bad: Set<string>): string {
  const spanned: number[] = [];
  let start = 0;
  for (const [i, part] of archive.parts.entries()) {
    const end = start + Deno.statSync(part).size;
    if (offset < end && offset + Math.max(size, 1) > start) spanned.push(i);
    start = end;
  }
  if (spanned.length === 0) spanned.push(archive.parts.length - 1);
  const name = (i: number) => basename(archive.parts[i]);
  const damaged = spanned.filter((i) => bad.has(name(i)));
  if (damaged.length === 1) return `part ${damaged[0] + 1} (${name(damaged[0])}, which fails its SHA256SUMS line)`;
  if (spanned.length === 1) return `part ${spanned[0] + 1} (${name(spanned[0])})`;
  return `parts ${spanned[0] + 1}–${spanned.at(-1)! + 1} (${spanned.map(name).join(", ")})`;
}

/** The digests a delta may leave out: from `--base` when given, else the base lock it carries. */
function baseDigests(archive: ArchiveReader, base: Base | undefined, problems: Problem[]): Set<string> | undefined {
  const declared = archive.annotations[BASE_ANNOTATION];
  if (base) {
    if (declared && declared !== digestOf(new TextEncoder().encode(base.text))) {
      problems.push({ subject: base.source, message: `is not the base this delta was cut against (${declared})` });
    }
    return base.blobs;
  }
  if (!declared) return undefined;
  if (!archive.baseLock) {
    problems.push({ subject: BASE_LOCK_ENTRY, message: "the archive is a delta but carries no base lock" });
    return undefined;
  }
  return new Set(lockBlobs(parseLock(archive.baseLock, BASE_LOCK_ENTRY)).keys());
}

/** One image as listed. */
export interface ListedImage {
  /** The list entry as written, e.g. `rancher/rancher:v2.7.9`. */
  entry: string;
  /** Full source reference, e.g. `docker.io/rancher/rancher:v2.7.9`. */
  name: string;
  /** Digest of the root manifest or index. */
  digest: string;
  /** Media type of the root. */
  mediaType: string;
  /** The `io.airgap.kind` annotation: `chart` for Helm charts, else `image`. */
  kind: string;
  /** Platforms (`os/arch[/variant]`): from the embedded lock when it lists them, else found in the graph. */
  platforms: string[];
  /** Bytes of the image's graph (unique blobs). */
  size: number;
  /** Of which carried by this archive. */
  carried: number;
  /** Signatures, attestations, SBOMs and referrers carried with it. */
  artifacts: number;
  /** Set when its cosign signatures were verified at save time: how many. */
  verifiedSignatures?: number;
  /** Set for a carried file (`files:`): its name, mode, SHA-256 and size, from the embedded lock. */
  file?: { name: string; mode: string; from: string; sha256: string; size: number };
}

/** What ls shows. */
export interface Listing {
  /** The archive path, as given. */
  archive: string;
  /** The archive's files (several when split). */
  parts: string[];
  /** Size of the archive in bytes (all parts). */
  size: number;
  /** Blobs the archive holds. */
  blobs: number;
  /** Bytes of those blobs, counted as verify counts them (the tar's headers and index not included). */
  bytes: number;
  /** Set for a delta: the base lock's digest. */
  base?: string;
  /** Every index.json entry, in order. */
  images: ListedImage[];
}

/** `[os/arch]` of a single-manifest image whose config the archive carries; else none. */
async function onePlatform(archive: ArchiveReader, root: Descriptor): Promise<string[]> {
  if (isIndexType(root.mediaType) || !archive.blobs.has(root.digest)) return [];
  const platform = await singleImagePlatform(
    await archive.readBytes(root),
    async (config) =>
      archive.blobs.get(config.digest)?.size === config.size ? await archive.readBytes(config) : undefined,
  );
  return platform ? [platform] : [];
}

/** List an archive's images, platforms and sizes. */
export async function lsCommand(path: string): Promise<Listing> {
  const archive = await openArchive(path);
  try {
    const lock = archive.lock ? parseLock(archive.lock, `${path}: airgap.lock`) : undefined;
    const pinned = new Map(lock?.images.map((i) => [i.entry, i]) ?? []);
    const images: ListedImage[] = [];
    for (const image of archive.images) {
      if (isArtifactEntry(image)) continue;
      const graph = await walkGraph(image.descriptor, (d) => readable(archive, d), image.name);
      const locked = pinned.get(image.entry);
      const sizes = new Map<string, number>(graph.nodes.map((n) => [n.digest, n.size]));
      if (locked) { for (const [d, s] of Object.entries(locked.blobs)) sizes.set(d, s); }
      const size = [...sizes.values()].reduce((a, b) => a + b, 0);
      const carried = [...sizes.keys()].filter((d) => archive.blobs.has(d)).reduce((a, d) => a + sizes.get(d)!, 0);
      images.push({
        entry: image.entry,
        name: image.name,
        digest: image.descriptor.digest,
        mediaType: image.descriptor.mediaType,
        kind: image.annotations[KIND_ANNOTATION] ?? "image",
        platforms: locked?.platforms.length
          ? locked.platforms
          : graph.platforms.length
          ? graph.platforms
          : await onePlatform(archive, image.descriptor),
        size,
        carried,
        artifacts: artifactsOf(archive.images, image.entry).length,
        ...(locked?.verified ? { verifiedSignatures: locked.verified.signatures } : {}),
        ...(locked?.file ? { file: locked.file } : {}),
      });
    }
    return {
      archive: path,
      parts: archive.parts,
      size: archive.size,
      blobs: archive.blobs.size,
      bytes: [...archive.blobs.values()].reduce((sum, e) => sum + e.size, 0),
      base: archive.annotations[BASE_ANNOTATION],
      images,
    };
  } finally {
    await archive.close?.();
  }
}
