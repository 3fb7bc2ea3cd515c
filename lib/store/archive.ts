/**
 * The archive: a POSIX tar of an OCI image layout — `oci-layout`,
 * `index.json` (one entry per image, named by its source reference),
 * `airgap.lock`, then every blob once, manifests and configs before layers.
 * The layout is planned before a byte is written (every size is known), so
 * blobs are written concurrently straight into their regions, each byte
 * once, into `.partial` files renamed only when complete. Read by indexing
 * the tar headers, so blobs stream from their offsets in any order.
 * skopeo (`oci-archive:FILE:REF`), umoci and docker can read it too.
 * @module
 */
import {
  ARCHIVE_VERSION_ANNOTATION,
  BASE_ANNOTATION,
  CONTAINERD_NAME,
  ENTRY_ANNOTATION,
  KIND_ANNOTATION,
} from "../oci/annotations.ts";
import { containerdName, namedInIndex, unnamedEntryName } from "../cluster/names.ts";
import { basename } from "node:path";
import { AirgapError, DiskFullError, withContext } from "../errors.ts";
import { digestOf, ensureVerified, verifyBytes } from "../oci/digest.ts";
import { isManifestType } from "../oci/media.ts";
import { type Descriptor, MAX_MANIFEST_SIZE } from "../oci/manifest.ts";
import { OCI_INDEX } from "../oci/media.ts";
import { createVolumes, openVolumes, type VolumeReader, type VolumeWriter } from "../format/volumes.ts";
import { explainPartsFailure } from "../format/checksums.ts";
import { isValidDigest } from "../ref.ts";
import { encodeHeader, paddingSize, scanTar, TAR_END, type TarEntry, TarFormatError } from "../format/tar.ts";
import { REF_NAME } from "./cache.ts";
import {
  type ArchiveProblem,
  baseLockBlobs,
  blobDigestOf,
  checkLayout,
  memberProblem,
  memberSubject,
} from "../format/archive_check.ts";
import type { Content, PushOutcome, ResolvedManifest, Store } from "./types.ts";
import { readAll } from "./types.ts";
import { checkSize, type InputKind } from "../limits.ts";

/** Current archive format version. */
export const ARCHIVE_VERSION = "1";
/** Name of the lock inside the archive. */
export const LOCK_ENTRY = "airgap.lock";
/** Name of the base lock inside a delta archive. */
export const BASE_LOCK_ENTRY = "airgap-base.lock";

/** One image in an archive. */
export interface ArchiveImage {
  /** Root manifest or index. */
  descriptor: Descriptor;
  /** Full source reference, e.g. `docker.io/rancher/rancher:v2.7.9`. */
  name: string;
  /** The list entry as written, e.g. `rancher/rancher:v2.7.9`. */
  entry: string;
  /** More annotations for its index.json entry, e.g. `io.airgap.kind: chart`. */
  annotations?: Record<string, string>;
  /** The name containerd registers (`io.containerd.image.name`); default: see {@link containerdName}. */
  containerdName?: string;
}

/** What the writer needs up front: the table of contents and every blob, in archive order. */
export interface ArchiveWriterOptions {
  /** The images for index.json, in order. */
  images: ArchiveImage[];
  /** Every blob the archive will hold, each once, in the order they appear (manifests and configs first). */
  blobs: Descriptor[];
  /** The lock text to embed. */
  lock?: string;
  /** Extra annotations on index.json. */
  annotations?: Record<string, string>;
  /** Split into parts of this many bytes (`NAME.001`, `NAME.002`, …). */
  partSize?: number;
  /** Concurrent blob writes (default 8). */
  concurrency?: number;
  /** Hears of every blob once its bytes are in place and verified. */
  onBlobWritten?: (desc: Descriptor, offset: number) => void;
  /** Hears, every few MiB, how much of a blob is in place (for resuming a killed save). */
  onBlobProgress?: (desc: Descriptor, offset: number, written: number) => void;
  /**
   * For a delta: the lock it is cut against. Blobs that lock references are
   * left out (pushing them is acknowledged without reading them); the base
   * lock travels in the archive so loads and checks know what to expect.
   */
  base?: { lock: string; blobs: ReadonlySet<string> };
}

/** Summary of a finished archive. */
export interface ArchiveSummary {
  /** Path of the archive (of its first part when split). */
  path: string;
  /** Every part written. */
  parts: string[];
  /** Size of the archive in bytes (all parts). */
  size: number;
  /** Blobs written. */
  blobs: number;
  /** Bytes of those blobs (a delta's left-out blobs are not counted). */
  blobBytes: number;
}

/** An archive being written. */
export interface ArchiveWriter extends Store {
  /** The planned layout: where each blob's bytes go. */
  readonly layout: ArchiveLayout;
  /** The files being written (`.partial`). */
  readonly partialPaths: string[];
  /** The part size (the whole size when not split). */
  readonly partSize: number;
  /** Check every blob is in place, flush, and move the archive into place. */
  finish(): Promise<ArchiveSummary>;
  /** Give up: remove the partial files. */
  abort(): Promise<void>;
}

/** The index.json entry for an image. */
export function indexEntry(image: ArchiveImage): Descriptor {
  // Carried files and charts have no image name, so containerd's import leaves them alone (lib/cluster/names.ts).
  const named = namedInIndex(image.annotations?.[KIND_ANNOTATION]);
  return {
    mediaType: image.descriptor.mediaType,
    digest: image.descriptor.digest,
    size: image.descriptor.size,
    annotations: {
      ...(!named ? {} : {
        [REF_NAME]: image.name,
        [CONTAINERD_NAME]: image.containerdName ?? defaultContainerdName(image),
      }),
      [ENTRY_ANNOTATION]: image.entry,
      ...image.annotations,
    },
  };
}

/** Images by their entry's fully qualified name; charts and other artifacts keep their own name. */
function defaultContainerdName(image: ArchiveImage): string {
  if (image.annotations?.[KIND_ANNOTATION]) return image.name;
  return containerdName(image.entry, image.name);
}

const encoder = new TextEncoder();

/** Where everything goes in an archive, decided before a byte is written. */
export interface ArchiveLayout {
  /** Total size in bytes. */
  size: number;
  /** Blob digest → offset of its data. */
  blobs: Map<string, { offset: number; descriptor: Descriptor }>;
  /** Fixed bytes (headers, metadata, end marker) and where they go. */
  fixed: { offset: number; bytes: Uint8Array }[];
}

/** Plan an archive: metadata entries, then every blob once, in the given order. */
export function planArchive(
  images: ArchiveImage[],
  blobs: Descriptor[],
  lock?: string,
  annotations?: Record<string, string>,
  baseLock?: string,
): ArchiveLayout {
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: images.map(indexEntry),
    annotations: { [ARCHIVE_VERSION_ANNOTATION]: ARCHIVE_VERSION, ...annotations },
  };
  const fixed: { offset: number; bytes: Uint8Array }[] = [];
  const layoutBlobs = new Map<string, { offset: number; descriptor: Descriptor }>();
  let offset = 0;
  const file = (name: string, bytes: Uint8Array) => {
    const header = encodeHeader({ name, size: bytes.byteLength });
    fixed.push({ offset, bytes: header }, { offset: offset + header.byteLength, bytes });
    offset += header.byteLength + bytes.byteLength + paddingSize(bytes.byteLength);
  };
  const directory = (name: string) => {
    const header = encodeHeader({ name, size: 0, type: "directory" });
    fixed.push({ offset, bytes: header });
    offset += header.byteLength;
  };
  file("oci-layout", encoder.encode(JSON.stringify({ imageLayoutVersion: "1.0.0" })));
  file("index.json", encoder.encode(JSON.stringify(index, null, 2) + "\n"));
  if (lock !== undefined) file(LOCK_ENTRY, encoder.encode(lock));
  if (baseLock !== undefined) file(BASE_LOCK_ENTRY, encoder.encode(baseLock));
  directory("blobs/");
  const algorithms = new Set<string>();
  for (const blob of blobs) {
    if (layoutBlobs.has(blob.digest)) continue;
    const [algorithm, hex] = blob.digest.split(":");
    if (!algorithms.has(algorithm)) {
      algorithms.add(algorithm);
      directory(`blobs/${algorithm}/`);
    }
    const header = encodeHeader({ name: `blobs/${algorithm}/${hex}`, size: blob.size });
    fixed.push({ offset, bytes: header });
    offset += header.byteLength;
    layoutBlobs.set(blob.digest, { offset, descriptor: blob });
    offset += blob.size + paddingSize(blob.size);
  }
  fixed.push({ offset, bytes: TAR_END });
  offset += TAR_END.byteLength;
  return { size: offset, blobs: layoutBlobs, fixed };
}

/**
 * Start writing an archive at `path` (through `.partial` files). Headers and
 * metadata are written at once; blobs are pushed in any order, concurrently,
 * each into its planned region.
 */
export async function createArchive(path: string, options: ArchiveWriterOptions): Promise<ArchiveWriter> {
  const base = options.base;
  const annotations = base
    ? { ...options.annotations, [BASE_ANNOTATION]: digestOf(encoder.encode(base.lock)) }
    : options.annotations;
  const planned = base
    ? options.blobs.filter((d) => isManifestType(d.mediaType) || !base.blobs.has(d.digest))
    : options.blobs;
  const layout = planArchive(options.images, planned, options.lock, annotations, base?.lock);
  const volumes = await createVolumes(path, layout.size, options.partSize);
  try {
    await writeFixed(volumes, layout);
  } catch (e) {
    await volumes.abort();
    throw withContext(e, `cannot write archive ${path}`);
  }
  const w: ArchiveWriteState = {
    path,
    options,
    layout,
    volumes,
    written: new Set(),
    writing: new Map(),
    closed: false,
    blobBytes: 0,
  };
  const { written, writing } = w;
  const fail = () => {
    throw new AirgapError(`archive ${path} is write-only while it is being written`);
  };
  return {
    description: `archive ${path}`,
    concurrency: options.concurrency ?? 8,
    layout,
    partialPaths: volumes.partialPaths,
    partSize: volumes.partSize,
    exists: (_repo, desc) =>
      Promise.resolve(written.has(desc.digest) || (!layout.blobs.has(desc.digest) && !!base?.blobs.has(desc.digest))),
    fetch: () => fail(),
    resolve: () => fail(),
    push: (_repo, desc, content) => pushBlob(w, desc, content),
    tag(_repo, tag) {
      const known = options.images.some((i) => i.name.endsWith(`:${tag}`));
      if (!known) return Promise.reject(new AirgapError(`archive ${path}: tag ${tag} is not in its index`));
      return Promise.resolve();
    },
    finish: () => finishArchive(w),
    async abort() {
      w.closed = true;
      await Promise.allSettled([...writing.values()]);
      await volumes.abort();
    },
  };
}

/** Write the headers and metadata of a planned archive. */
async function writeFixed(volumes: VolumeWriter, layout: ArchiveLayout): Promise<void> {
  // Fixed bytes that touch each other go out in one write.
  let run: { offset: number; parts: Uint8Array[]; size: number } | undefined;
  const flush = async () => {
    if (!run) return;
    const bytes = new Uint8Array(run.size);
    let at = 0;
    for (const p of run.parts) {
      bytes.set(p, at);
      at += p.byteLength;
    }
    await volumes.writeAt(run.offset, bytes);
    run = undefined;
  };
  for (const { offset, bytes } of layout.fixed) {
    if (run && run.offset + run.size === offset && run.size < 4 * 1024 * 1024) {
      run.parts.push(bytes);
      run.size += bytes.byteLength;
    } else {
      await flush();
      run = { offset, parts: [bytes], size: bytes.byteLength };
    }
  }
  await flush();
}

/** An archive being written: its plan, its volumes, and the blobs in place so far. */
interface ArchiveWriteState {
  readonly path: string;
  readonly options: ArchiveWriterOptions;
  readonly layout: ArchiveLayout;
  readonly volumes: VolumeWriter;
  readonly written: Set<string>;
  readonly writing: Map<string, Promise<PushOutcome>>;
  closed: boolean;
  blobBytes: number;
}

function pushBlob(w: ArchiveWriteState, desc: Descriptor, content: Content): Promise<PushOutcome> {
  const { path, layout, written, writing } = w;
  if (w.closed) return Promise.reject(new AirgapError(`archive ${path} is already closed`));
  if (written.has(desc.digest)) return Promise.resolve("exists");
  // The base provides it: acknowledged, never read.
  if (!layout.blobs.has(desc.digest) && w.options.base?.blobs.has(desc.digest)) return Promise.resolve("exists");
  const pending = writing.get(desc.digest);
  if (pending) return pending.then(() => "exists" as const);
  const started = writeBlob(w, desc, content).finally(() => writing.delete(desc.digest));
  writing.set(desc.digest, started);
  return started;
}

async function writeBlob(w: ArchiveWriteState, desc: Descriptor, content: Content): Promise<PushOutcome> {
  const { path, options, volumes } = w;
  const slot = w.layout.blobs.get(desc.digest);
  if (!slot) throw new AirgapError(`archive ${path}: blob ${desc.digest} is not part of its plan`);
  if (slot.descriptor.size !== desc.size) {
    throw new AirgapError(
      `archive ${path}: blob ${desc.digest} is planned with ${slot.descriptor.size} bytes, not ${desc.size}`,
    );
  }
  const what = `archive blob ${desc.digest}`;
  if (content instanceof Uint8Array) {
    verifyBytes(content, desc, what);
    await volumes.writeAt(slot.offset, content);
  } else {
    const CHECKPOINT = 8 * 1024 * 1024;
    for (let attempt = 0;; attempt++) {
      let reported = 0;
      const progress = options.onBlobProgress
        ? (written: number) => {
          if (written - reported < CHECKPOINT || written >= desc.size) return;
          reported = written;
          options.onBlobProgress!(desc, slot.offset, written);
        }
        : undefined;
      try {
        const stream = ensureVerified(await content(), desc, what);
        const n = await volumes.writeStream(slot.offset, desc.size, stream, progress);
        if (n !== desc.size) throw new AirgapError(`${what}: wrote ${n} of ${desc.size} bytes`);
        break;
      } catch (e) {
        // One more try from scratch: a dropped connection, resumed bytes or a cache entry that did not
        // verify (the cache dropped it: the retry fetches it). A full disk stays full.
        if (attempt >= 1 || e instanceof DiskFullError) throw e;
      }
    }
  }
  w.written.add(desc.digest);
  w.blobBytes += desc.size;
  options.onBlobWritten?.(desc, slot.offset);
  return "pushed";
}

async function finishArchive(w: ArchiveWriteState): Promise<ArchiveSummary> {
  const { path, layout, written } = w;
  await Promise.allSettled([...w.writing.values()]);
  const missing = [...layout.blobs.keys()].filter((d) => !written.has(d));
  if (missing.length > 0) {
    throw new AirgapError(
      `archive ${path} is incomplete: ${missing.length} blob(s) were not written (first: ${missing[0]})`,
    );
  }
  w.closed = true;
  const parts = await w.volumes.finish();
  return { path: parts[0], parts, size: layout.size, blobs: written.size, blobBytes: w.blobBytes };
}

/** An image listed in an archive's index.json. */
export interface ArchiveIndexEntry extends ArchiveImage {
  /** Every annotation of its index.json entry (the naming ones included). */
  annotations: Record<string, string>;
}

/** An archive opened for reading. */
export interface ArchiveReader extends Store {
  /** The path it was opened with. */
  readonly path: string;
  /** The files of the archive (several when split). */
  readonly parts: string[];
  /** Size of the archive in bytes. */
  readonly size: number;
  /** The images in index.json, in order. */
  readonly images: ArchiveIndexEntry[];
  /** Annotations on index.json. */
  readonly annotations: Record<string, string>;
  /** The embedded lock, if any. */
  readonly lock?: string;
  /** For a delta: the lock it was cut against. */
  readonly baseLock?: string;
  /** Blob digest → its entry (offset, size). */
  readonly blobs: ReadonlyMap<string, TarEntry>;
  /** Read a small blob into memory, verified. */
  readBytes(desc: Descriptor, limit?: number): Promise<Uint8Array>;
}

/** Options of {@link openArchive}. */
export interface OpenArchiveOptions {
  /**
   * Collect what is wrong here instead of refusing the archive (`verify`).
   * Without it, the first problem is thrown: a member that is not part of
   * the layout, an image whose graph is incomplete or does not hash to its
   * digests, an embedded lock that disagrees with index.json. With it, the
   * graphs and the lock are left to the caller ({@link checkLayout}).
   */
  problems?: ArchiveProblem[];
}

/**
 * Open an archive (a file, or the first part or base name of split volumes):
 * index its headers, read its metadata, and refuse anything that is not
 * exactly the OCI layout an archive holds (see `archive_check.ts`).
 */
export async function openArchive(path: string, options: OpenArchiveOptions = {}): Promise<ArchiveReader> {
  const report = (problem: ArchiveProblem) => {
    if (!options.problems) throw new AirgapError(`archive ${path}: ${problem.subject}: ${problem.message}`);
    options.problems.push(problem);
  };
  let access: VolumeReader;
  try {
    access = await openVolumes(path, { checkParts: true });
  } catch (e) {
    if (e instanceof AirgapError) throw e;
    throw withContext(e, `cannot open archive ${path}`);
  }
  let metadata: ArchiveMetadata;
  try {
    const { entries, blobs } = await indexMembers(path, access, report);
    metadata = { blobs, ...await readMetadata(path, access, entries) };
  } catch (e) {
    throw await explainPartsFailure(path, access.paths, e);
  } finally {
    access.close();
  }
  const reader = archiveReader(path, access, metadata);
  if (!options.problems) {
    try {
      const { annotations, baseLock } = metadata;
      const base = annotations[BASE_ANNOTATION] && baseLock !== undefined ? baseLockBlobs(baseLock) : undefined;
      const { problems } = await checkLayout(reader, base);
      if (problems.length > 0) report(problems[0]);
    } catch (e) {
      access.close();
      throw e instanceof AirgapError ? e : withContext(e, `archive ${path}`);
    }
  }
  return reader;
}

/** What an archive holds, read once when it is opened. */
interface ArchiveMetadata {
  images: ArchiveIndexEntry[];
  annotations: Record<string, string>;
  lock?: string;
  baseLock?: string;
  blobs: Map<string, TarEntry>;
}

/** Index the tar members of an archive (name → entry, blob digest → entry), reporting members out of place. */
async function indexMembers(
  path: string,
  access: VolumeReader,
  report: (problem: ArchiveProblem) => void,
): Promise<{ entries: Map<string, TarEntry>; blobs: Map<string, TarEntry> }> {
  const entries = new Map<string, TarEntry>();
  const blobs = new Map<string, TarEntry>();
  try {
    const head = await access.read(0, Math.min(access.size, 2));
    if (head[0] === 0x1f && head[1] === 0x8b) {
      throw new AirgapError(
        `archive ${path} is gzip-compressed; decompress it first (gunzip -k ${basename(path)})`,
      );
    }
    const seen = new Map<string, number>();
    for await (const entry of scanTar(access)) {
      const problem = memberProblem(entry, seen);
      if (problem) {
        report({ subject: memberSubject(entry), message: problem });
        continue;
      }
      if (entry.type === "5") continue;
      seen.set(entry.name, entry.headerOffset);
      entries.set(entry.name, entry);
      const digest = blobDigestOf(entry.name);
      if (digest) blobs.set(digest, entry);
    }
  } catch (e) {
    if (e instanceof TarFormatError) throw e.withMessage(`archive ${path}: ${e.message}`, {});
    throw e;
  }
  return { entries, blobs };
}

/** Read index.json and the embedded locks. */
async function readMetadata(
  path: string,
  access: VolumeReader,
  entries: Map<string, TarEntry>,
): Promise<Omit<ArchiveMetadata, "blobs">> {
  const readText = async (name: string, kind: InputKind): Promise<string | undefined> => {
    const entry = entries.get(name);
    if (!entry) return undefined;
    checkSize(kind, entry.size, `archive ${path}: ${name}`);
    return new TextDecoder().decode(await access.read(entry.offset, entry.size));
  };
  if (!entries.has("oci-layout")) {
    throw new AirgapError(`${path} is not an OCI archive (no oci-layout entry)`);
  }
  const indexText = await readText("index.json", "archiveIndex");
  if (indexText === undefined) throw new AirgapError(`${path} is not an OCI archive (no index.json)`);
  let index: { manifests?: Descriptor[]; annotations?: Record<string, string> };
  try {
    index = JSON.parse(indexText);
  } catch {
    throw new AirgapError(`archive ${path}: index.json is not valid JSON`);
  }
  if (!isIndexShape(index)) throw new AirgapError(`archive ${path}: index.json is not an OCI image index`);
  const annotations = index.annotations ?? {};
  const images = (index.manifests ?? []).map((m) => {
    const a = m.annotations ?? {};
    const unnamed = unnamedEntryName(a[KIND_ANNOTATION], a[ENTRY_ANNOTATION]);
    const name = a[REF_NAME] ?? a[CONTAINERD_NAME] ?? unnamed ?? m.digest;
    return {
      descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.size },
      name,
      entry: a[ENTRY_ANNOTATION] ?? name,
      annotations: a,
    };
  });
  const lock = await readText(LOCK_ENTRY, "lock");
  const baseLock = await readText(BASE_LOCK_ENTRY, "lock");
  return { images, annotations, lock, baseLock };
}

/** index.json as the reader uses it: manifests with string digests and sizes, annotations of strings. */
function isIndexShape(index: unknown): index is { manifests?: Descriptor[]; annotations?: Record<string, string> } {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const strings = (v: unknown) =>
    v === undefined || (isObject(v) && Object.values(v).every((s) => typeof s === "string"));
  if (!isObject(index) || !strings(index.annotations)) return false;
  if (index.manifests === undefined) return true;
  return Array.isArray(index.manifests) &&
    index.manifests.every((m) =>
      isObject(m) && typeof m.digest === "string" && typeof m.mediaType === "string" &&
      Number.isSafeInteger(m.size) && (m.size as number) >= 0 && strings(m.annotations)
    );
}

/** The store over an indexed archive. */
function archiveReader(path: string, access: VolumeReader, metadata: ArchiveMetadata): ArchiveReader {
  const { images, blobs } = metadata;
  const find = (desc: Descriptor) => {
    const entry = blobs.get(desc.digest);
    if (!entry) throw new AirgapError(`archive ${path} does not hold blob ${desc.digest}`, { op: "fetch" });
    if (entry.size !== desc.size) {
      throw new AirgapError(
        `archive ${path}: blob ${desc.digest} is ${entry.size} bytes, expected ${desc.size}`,
        { op: "fetch" },
      );
    }
    return entry;
  };
  const fetch = (_repo: string, desc: Descriptor) => {
    const entry = find(desc);
    const part = access.paths.length > 1 ? ` (${access.partsOf(entry.offset, entry.size)})` : "";
    return Promise.resolve(
      access.rangeStream(entry.offset, entry.size, desc, `archive ${path}${part}: blob ${desc.digest}`),
    );
  };
  const readBytes = async (desc: Descriptor, limit = MAX_MANIFEST_SIZE) => {
    if (desc.size > limit) throw new AirgapError(`archive blob ${desc.digest} is too large to read into memory`);
    return await readAll(await fetch("", desc), limit);
  };
  const readOnly = () => Promise.reject(new AirgapError(`archive ${path} is read-only`));
  return {
    description: `archive ${path}`,
    path,
    parts: access.paths,
    size: access.size,
    images,
    annotations: metadata.annotations,
    lock: metadata.lock,
    baseLock: metadata.baseLock,
    blobs,
    concurrency: 6,
    readBytes,
    close() {
      access.close();
      return Promise.resolve();
    },
    exists: (_repo, desc) => Promise.resolve(blobs.get(desc.digest)?.size === desc.size),
    fetch,
    fetchRange(_repo, desc, offset, length) {
      const entry = find(desc);
      if (offset < 0 || length < 0 || offset + length > entry.size) {
        return Promise.reject(
          new AirgapError(`archive ${path}: range ${offset}+${length} is outside blob ${desc.digest}`),
        );
      }
      return Promise.resolve(access.rangeStream(entry.offset + offset, length));
    },
    push: readOnly,
    tag: readOnly,
    async resolve(_repo, reference): Promise<ResolvedManifest> {
      const image = isValidDigest(reference)
        ? images.find((i) => i.descriptor.digest === reference)
        : images.find((i) => i.name === reference || i.entry === reference);
      if (!image) throw new AirgapError(`archive ${path} holds no image ${reference}`);
      return { descriptor: image.descriptor, bytes: await readBytes(image.descriptor) };
    },
  };
}
