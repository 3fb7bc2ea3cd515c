/**
 * The archive: a POSIX tar of an OCI image layout. Written sequentially —
 * `oci-layout`, `index.json` (one entry per image, named by its source
 * reference), `airgap.lock`, then every blob once, manifests and configs
 * before layers — to a `.partial` file renamed only when complete. Read by
 * indexing the tar headers, so blobs stream from their offsets in any order.
 * skopeo (`oci-archive:FILE:REF`), umoci and docker can read it too.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { AirgapError, withContext } from "../errors.ts";
import { ensureVerified, verifyBytes, verifyingStream } from "../oci/digest.ts";
import { type Descriptor, MAX_MANIFEST_SIZE } from "../oci/manifest.ts";
import { OCI_INDEX } from "../oci/media.ts";
import { bufferedWriter, fileRangeStream } from "../fsutil.ts";
import { isValidDigest } from "../ref.ts";
import { encodeHeader, padding, type RandomAccess, scanTar, TAR_END, type TarEntry, TarFormatError } from "../tar.ts";
import { REF_NAME } from "./cache.ts";
import type { Content, PushOutcome, ResolvedManifest, Store } from "./types.ts";
import { readAll } from "./types.ts";

/** Annotation: the image name containerd and Docker use when importing. */
export const CONTAINERD_NAME = "io.containerd.image.name";
/** Annotation: the list entry exactly as written (drives target naming at load). */
export const ENTRY_ANNOTATION = "io.airgap.entry";
/** Annotation on index.json: archive format version. */
export const ARCHIVE_VERSION_ANNOTATION = "io.airgap.archive.version";
/** Current archive format version. */
export const ARCHIVE_VERSION = "1";
/** Name of the lock inside the archive. */
export const LOCK_ENTRY = "airgap.lock";

/** One image in an archive. */
export interface ArchiveImage {
  /** Root manifest or index. */
  descriptor: Descriptor;
  /** Full source reference, e.g. `docker.io/rancher/rancher:v2.7.9`. */
  name: string;
  /** The list entry as written, e.g. `rancher/rancher:v2.7.9`. */
  entry: string;
}

/** What the writer needs up front: the archive's table of contents. */
export interface ArchiveWriterOptions {
  images: ArchiveImage[];
  /** The lock text to embed. */
  lock?: string;
  /** Extra annotations on index.json. */
  annotations?: Record<string, string>;
}

/** Summary of a finished archive. */
export interface ArchiveSummary {
  path: string;
  size: number;
  blobs: number;
  blobBytes: number;
}

/** An archive being written. */
export interface ArchiveWriter extends Store {
  /** Write the end marker, flush, and move the archive into place. */
  finish(): Promise<ArchiveSummary>;
  /** Give up: remove the partial file. */
  abort(): Promise<void>;
}

/** The index.json entry for an image. */
export function indexEntry(image: ArchiveImage): Descriptor {
  return {
    mediaType: image.descriptor.mediaType,
    digest: image.descriptor.digest,
    size: image.descriptor.size,
    annotations: {
      [REF_NAME]: image.name,
      [CONTAINERD_NAME]: image.name,
      [ENTRY_ANNOTATION]: image.entry,
    },
  };
}

const encoder = new TextEncoder();

/** Start writing an archive at `path` (through `path.partial`). */
export async function createArchive(path: string, options: ArchiveWriterOptions): Promise<ArchiveWriter> {
  const partial = `${path}.partial`;
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dirname(path) || ".", { recursive: true });
    file = await Deno.open(partial, { write: true, create: true, truncate: true });
  } catch (e) {
    throw withContext(e, `cannot write archive ${path}`);
  }
  const out = bufferedWriter(file, 4 * 1024 * 1024);
  let size = 0;
  let blobBytes = 0;
  const written = new Set<string>();
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  const write = async (bytes: Uint8Array) => {
    await out.write(bytes);
    size += bytes.byteLength;
  };
  const writeEntry = async (name: string, bytes: Uint8Array) => {
    await write(encodeHeader({ name, size: bytes.byteLength }));
    await write(bytes);
    await write(padding(bytes.byteLength));
  };

  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: options.images.map(indexEntry),
    annotations: { [ARCHIVE_VERSION_ANNOTATION]: ARCHIVE_VERSION, ...options.annotations },
  };
  await writeEntry("oci-layout", encoder.encode(JSON.stringify({ imageLayoutVersion: "1.0.0" })));
  await writeEntry("index.json", encoder.encode(JSON.stringify(index, null, 2) + "\n"));
  if (options.lock !== undefined) await writeEntry(LOCK_ENTRY, encoder.encode(options.lock));
  await write(encodeHeader({ name: "blobs/", size: 0, type: "directory" }));
  const algorithms = new Set<string>();

  async function writeBlob(desc: Descriptor, content: Content): Promise<PushOutcome> {
    if (closed) throw new AirgapError(`archive ${path} is already closed`);
    if (written.has(desc.digest)) return "exists";
    const [algorithm, hex] = desc.digest.split(":");
    if (!algorithms.has(algorithm)) {
      algorithms.add(algorithm);
      await write(encodeHeader({ name: `blobs/${algorithm}/`, size: 0, type: "directory" }));
    }
    await write(encodeHeader({ name: `blobs/${algorithm}/${hex}`, size: desc.size }));
    if (content instanceof Uint8Array) {
      verifyBytes(content, desc, `archive blob ${desc.digest}`);
      await write(content);
    } else {
      const stream = ensureVerified(await content(), desc, `archive blob ${desc.digest}`);
      // A stream error leaves the tar inconsistent: the whole archive fails.
      for await (const chunk of stream) await write(chunk);
    }
    await write(padding(desc.size));
    written.add(desc.digest);
    blobBytes += desc.size;
    return "pushed";
  }

  const fail = () => {
    throw new AirgapError(`archive ${path} is write-only while it is being written`);
  };

  return {
    description: `archive ${path}`,
    concurrency: 1,
    order: "metadata-first",
    exists: (_repo, desc) => Promise.resolve(written.has(desc.digest)),
    fetch: () => fail(),
    resolve: () => fail(),
    push(_repo, desc, content) {
      // Entries must not interleave: serialise every push.
      const next = queue.then(() => writeBlob(desc, content));
      queue = next.catch(() => {});
      return next;
    },
    tag(_repo, tag) {
      const known = options.images.some((i) => i.name.endsWith(`:${tag}`));
      if (!known) return Promise.reject(new AirgapError(`archive ${path}: tag ${tag} is not in its index`));
      return Promise.resolve();
    },
    async finish() {
      await queue;
      closed = true;
      await write(TAR_END);
      await out.flush();
      await file.syncData();
      file.close();
      await Deno.rename(partial, path);
      return { path, size, blobs: written.size, blobBytes };
    },
    async abort() {
      closed = true;
      try {
        file.close();
      } catch {
        // already closed
      }
      await Deno.remove(partial).catch(() => {});
    },
  };
}

/** A file as random-access bytes. */
export async function fileAccess(path: string): Promise<RandomAccess & { close(): void }> {
  const file = await Deno.open(path, { read: true });
  const { size } = await file.stat();
  return {
    size,
    async read(offset, length) {
      const buffer = new Uint8Array(length);
      await file.seek(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < length) {
        const n = await file.read(buffer.subarray(got));
        if (n === null) throw new TarFormatError(`${path}: unexpected end of file at ${offset + got}`);
        got += n;
      }
      return buffer;
    },
    close: () => file.close(),
  };
}

/** An image listed in an archive's index.json. */
export interface ArchiveIndexEntry extends ArchiveImage {
  annotations: Record<string, string>;
}

/** An archive opened for reading. */
export interface ArchiveReader extends Store {
  readonly path: string;
  /** Size of the archive in bytes. */
  readonly size: number;
  /** The images in index.json, in order. */
  readonly images: ArchiveIndexEntry[];
  /** Annotations on index.json. */
  readonly annotations: Record<string, string>;
  /** The embedded lock, if any. */
  readonly lock?: string;
  /** Blob digest → its entry (offset, size). */
  readonly blobs: ReadonlyMap<string, TarEntry>;
  /** Read a small blob into memory, verified. */
  readBytes(desc: Descriptor, limit?: number): Promise<Uint8Array>;
}

/** Open an archive: index its headers and read its metadata. */
export async function openArchive(path: string): Promise<ArchiveReader> {
  let access: Awaited<ReturnType<typeof fileAccess>>;
  try {
    access = await fileAccess(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new AirgapError(`archive ${path} does not exist`);
    throw withContext(e, `cannot open archive ${path}`);
  }
  const entries = new Map<string, TarEntry>();
  const blobs = new Map<string, TarEntry>();
  try {
    const head = await access.read(0, Math.min(access.size, 2));
    if (head[0] === 0x1f && head[1] === 0x8b) {
      throw new AirgapError(
        `archive ${path} is gzip-compressed; decompress it first (gunzip -k ${basename(path)})`,
      );
    }
    for await (const entry of scanTar(access)) {
      entries.set(entry.name, entry);
      const match = entry.name.match(/^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/);
      if (match && entry.type !== "5") {
        const digest = `${match[1]}:${match[2]}`;
        if (isValidDigest(digest)) blobs.set(digest, entry);
      }
    }
  } catch (e) {
    access.close();
    if (e instanceof TarFormatError) throw new AirgapError(`archive ${path}: ${e.message}`);
    throw e;
  }
  const readText = async (name: string): Promise<string | undefined> => {
    const entry = entries.get(name);
    if (!entry) return undefined;
    if (entry.size > 64 * 1024 * 1024) throw new AirgapError(`archive ${path}: ${name} is implausibly large`);
    return new TextDecoder().decode(await access.read(entry.offset, entry.size));
  };
  let images: ArchiveIndexEntry[];
  let annotations: Record<string, string>;
  let lock: string | undefined;
  try {
    if (!entries.has("oci-layout")) {
      throw new AirgapError(`${path} is not an OCI archive (no oci-layout entry)`);
    }
    const indexText = await readText("index.json");
    if (indexText === undefined) throw new AirgapError(`${path} is not an OCI archive (no index.json)`);
    let index: { manifests?: Descriptor[]; annotations?: Record<string, string> };
    try {
      index = JSON.parse(indexText);
    } catch {
      throw new AirgapError(`archive ${path}: index.json is not valid JSON`);
    }
    annotations = index.annotations ?? {};
    images = (index.manifests ?? []).map((m) => {
      const a = m.annotations ?? {};
      const name = a[CONTAINERD_NAME] ?? a[REF_NAME] ?? m.digest;
      return {
        descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.size },
        name,
        entry: a[ENTRY_ANNOTATION] ?? name,
        annotations: a,
      };
    });
    lock = await readText(LOCK_ENTRY);
  } finally {
    access.close();
  }

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
    return Promise.resolve(
      fileRangeStream(path, entry.offset, entry.size).pipeThrough(verifyingStream(desc, `archive blob ${desc.digest}`)),
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
    size: access.size,
    images,
    annotations,
    lock,
    blobs,
    concurrency: 6,
    readBytes,
    exists: (_repo, desc) => Promise.resolve(blobs.get(desc.digest)?.size === desc.size),
    fetch,
    fetchRange(_repo, desc, offset, length) {
      const entry = find(desc);
      if (offset < 0 || length < 0 || offset + length > entry.size) {
        return Promise.reject(
          new AirgapError(`archive ${path}: range ${offset}+${length} is outside blob ${desc.digest}`),
        );
      }
      return Promise.resolve(fileRangeStream(path, entry.offset + offset, length));
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

/** Path helper: the default archive name next to a declaration file. */
export function defaultArchivePath(configPath: string | undefined): string {
  return configPath ? join(dirname(configPath), "airgap-images.tar") : "airgap-images.tar";
}
