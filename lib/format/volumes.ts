/**
 * An archive's bytes on disk: one file, or split volumes `NAME.001`,
 * `NAME.002`, … whose concatenation is the archive. Writers fill regions at
 * known offsets, concurrently (the whole layout is planned up front), into
 * `.partial` files renamed only when complete. Readers get random access and
 * verified range streams across parts, never joining them on disk.
 * @module
 */
import { basename, dirname } from "node:path";
import { AirgapError, TarFormatError, withContext } from "../errors.ts";
import type { Expected } from "../oci/digest.ts";
import { isNoSpace, noSpaceError, replaceFile, writeAll } from "../fsutil.ts";
import { piecesByteStream, pumpStream } from "./streams.ts";
import type { RandomAccess } from "./tar.ts";
import { partBase, partProblems, readParts } from "./checksums.ts";

/** Name of part `index` (0-based) of a split archive: `NAME.001`. */
export function partName(path: string, index: number): string {
  return `${path}.${String(index + 1).padStart(3, "0")}`;
}

/** Where a byte range falls: part index, offset inside it, length. */
interface Piece {
  part: number;
  offset: number;
  length: number;
}

function pieces(offset: number, length: number, partSize: number, parts: number): Piece[] {
  const out: Piece[] = [];
  let at = offset;
  let left = length;
  while (left > 0) {
    const part = Math.min(Math.floor(at / partSize), parts - 1);
    const inPart = at - part * partSize;
    const room = part === parts - 1 ? left : Math.min(left, partSize - inPart);
    out.push({ part, offset: inPart, length: room });
    at += room;
    left -= room;
  }
  return out;
}

/** A set of volumes being written. */
export interface VolumeWriter {
  /** Final paths of the parts (one path when not split). */
  readonly paths: string[];
  /** Paths being written. */
  readonly partialPaths: string[];
  /** Total size in bytes, all parts together. */
  readonly size: number;
  /** Bytes per part (the last part may be smaller); `size` when not split. */
  readonly partSize: number;
  /** Write bytes at an offset. */
  writeAt(offset: number, bytes: Uint8Array): Promise<void>;
  /**
   * Stream exactly `length` bytes into the region at `offset`; returns bytes
   * written. `onProgress` hears the running total after each write.
   */
  writeStream(
    offset: number,
    length: number,
    stream: ReadableStream<Uint8Array>,
    onProgress?: (written: number) => void,
  ): Promise<number>;
  /** Flush to disk and move every part into place. */
  finish(): Promise<string[]>;
  /** Remove the partial files. */
  abort(): Promise<void>;
}

/** Create volumes of `size` bytes at `path`, split into parts of `partSize` bytes if given. */
export async function createVolumes(path: string, size: number, partSize?: number): Promise<VolumeWriter> {
  const v = new VolumeState(path, size, partSize);
  await checkOutputDirectory(path);
  try {
    for (const [i, p] of v.partialPaths.entries()) {
      // Unlink, never truncate, a leftover: the cache may hold a hard link to
      // it (a pack of a killed save) whose finished blobs are worth keeping.
      await Deno.remove(p).catch(() => {});
      const file = await Deno.open(p, { write: true, createNew: true });
      await file.truncate(i === v.count - 1 ? size - v.part * (v.count - 1) : v.part);
      file.close();
    }
  } catch (e) {
    for (const p of v.partialPaths) await Deno.remove(p).catch(() => {});
    if (isNoSpace(e)) throw noSpaceError(`${v.partialPaths[0]}`, size, e);
    throw withContext(e, `cannot write archive ${path}`);
  }
  return {
    paths: v.paths,
    partialPaths: v.partialPaths,
    size,
    partSize: v.part,
    writeAt: (offset, bytes) => writeAt(v, offset, bytes),
    writeStream: (offset, length, stream, onProgress) => writeStream(v, offset, length, stream, onProgress),
    finish: () => finish(v),
    async abort() {
      await v.syncing;
      v.closeHandles();
      for (const p of v.partialPaths) await Deno.remove(p).catch(() => {});
    },
  };
}

/**
 * Refuse to write `path` when its directory does not exist, naming the part
 * of the path that is missing. Directories are never created: a mistyped
 * mount point (`/media/usb` for `/media/usb0`) would otherwise fill the root
 * file system.
 */
export async function checkOutputDirectory(path: string): Promise<void> {
  const dir = dirname(path) || ".";
  const isDir = async (p: string) => (await Deno.stat(p).catch(() => undefined))?.isDirectory;
  const found = await Deno.stat(dir).catch((e) => e instanceof Deno.errors.NotFound ? undefined : Promise.reject(e));
  if (found?.isDirectory) return;
  if (found) throw new AirgapError(`cannot write ${path}: ${dir} is not a directory`);
  let existing = dir;
  let missing = basename(dir);
  while (dirname(existing) !== existing) {
    missing = basename(existing);
    existing = dirname(existing);
    if (await isDir(existing)) break;
  }
  throw new AirgapError(
    `cannot write ${path}: ${dir} does not exist (${existing} has no ${missing}); airgap does not create directories — check the path, or create it first`,
  );
}

// Flush in the background as data accumulates, so the final flush is short
// and writeback overlaps the transfer instead of following it.
const SYNC_EVERY = 64 * 1024 * 1024;

/** The layout of volumes being written and what has been written to them. */
class VolumeState {
  readonly split: boolean;
  readonly part: number;
  readonly count: number;
  readonly paths: string[];
  readonly partialPaths: string[];
  // Bytes of completed writes, for a full disk's "still to write".
  done = 0;
  unsynced = 0;
  syncing: Promise<void> | undefined;
  readonly dirty = new Set<number>();
  /**
   * Open handles of each part, idle: a writer takes one (seek, then write)
   * and gives it back, so a run opens a handful per part, not one per blob
   * (an open and a close cost more CPU than the write of a small blob).
   */
  private readonly idle: Deno.FsFile[][];
  private closed = false;

  constructor(readonly path: string, readonly size: number, partSize?: number) {
    this.split = partSize !== undefined && partSize < size;
    this.part = this.split ? partSize! : Math.max(size, 1);
    this.count = this.split ? Math.ceil(size / this.part) : 1;
    this.paths = this.split ? Array.from({ length: this.count }, (_, i) => partName(path, i)) : [path];
    this.partialPaths = this.paths.map((p) => `${p}.partial`);
    this.idle = this.paths.map(() => []);
  }

  /** A handle of a part for one writer at a time: an idle one, or a new one. */
  async take(partIndex: number): Promise<Deno.FsFile> {
    return this.idle[partIndex].pop() ?? await Deno.open(this.partialPaths[partIndex], { write: true });
  }

  /** Give a handle back (closed instead after a failed write, or once the volumes are closed). */
  give(partIndex: number, file: Deno.FsFile, failed = false): void {
    if (failed || this.closed) file.close();
    else this.idle[partIndex].push(file);
  }

  /** Close every idle handle (before the parts are synced and renamed, or removed). */
  closeHandles(): void {
    this.closed = true;
    for (const files of this.idle) for (const f of files.splice(0)) f.close();
  }

  full(e: unknown, partIndex: number): unknown {
    return isNoSpace(e) ? noSpaceError(this.partialPaths[partIndex], this.size - this.done, e) : e;
  }

  wrote(partIndex: number, n: number): void {
    this.dirty.add(partIndex);
    this.unsynced += n;
    if (this.unsynced < SYNC_EVERY || this.syncing) return;
    this.unsynced = 0;
    const parts = [...this.dirty];
    this.dirty.clear();
    this.syncing = this.syncParts(parts).catch(() => {}).finally(() => (this.syncing = undefined));
  }

  private async syncParts(parts: number[]): Promise<void> {
    for (const i of parts) {
      const file = await this.take(i);
      let failed = true;
      try {
        await file.syncData();
        failed = false;
      } finally {
        this.give(i, file, failed);
      }
    }
  }
}

async function writeAt(v: VolumeState, offset: number, bytes: Uint8Array): Promise<void> {
  let at = 0;
  for (const piece of pieces(offset, bytes.byteLength, v.part, v.count)) {
    const file = await v.take(piece.part);
    let failed = true;
    try {
      file.seekSync(piece.offset, Deno.SeekMode.Start); // an lseek never blocks: no thread hop
      await writeAll(file, bytes.subarray(at, at + piece.length));
      failed = false;
    } catch (e) {
      throw v.full(e, piece.part);
    } finally {
      v.give(piece.part, file, failed);
    }
    at += piece.length;
  }
  v.done += bytes.byteLength;
}

async function writeStream(
  v: VolumeState,
  offset: number,
  length: number,
  stream: ReadableStream<Uint8Array>,
  onProgress?: (written: number) => void,
): Promise<number> {
  const plan = pieces(offset, length, v.part, v.count);
  let index = -1;
  let file: Deno.FsFile | undefined;
  let roomInPiece = 0;
  let total = 0;
  const release = (failed: boolean) => {
    if (file) v.give(plan[index].part, file, failed);
    file = undefined;
  };
  const next = async () => {
    release(false);
    index++;
    if (index >= plan.length) throw new AirgapError(`more than the ${length} bytes planned at offset ${offset}`);
    file = await v.take(plan[index].part);
    file.seekSync(plan[index].offset, Deno.SeekMode.Start);
    roomInPiece = plan[index].length;
  };
  const put = async (bytes: Uint8Array) => {
    let at = 0;
    while (at < bytes.byteLength) {
      if (roomInPiece === 0) await next();
      const n = Math.min(roomInPiece, bytes.byteLength - at);
      await writeAll(file!, bytes.subarray(at, at + n));
      v.wrote(plan[index].part, n);
      roomInPiece -= n;
      at += n;
      total += n;
    }
    onProgress?.(total);
  };
  let failed = true;
  try {
    await pumpStream(stream, Math.min(1024 * 1024, length), put);
    failed = false;
  } catch (e) {
    throw v.full(e, plan[Math.max(0, index)].part);
  } finally {
    release(failed);
  }
  v.done += total;
  return total;
}

async function finish(v: VolumeState): Promise<string[]> {
  await v.syncing;
  v.closeHandles();
  for (const [i, p] of v.partialPaths.entries()) {
    const file = await Deno.open(p, { write: true });
    try {
      await file.syncData();
    } catch (e) {
      throw v.full(e, i);
    } finally {
      file.close();
    }
    await replaceFile(p, v.paths[i]);
  }
  // Remove parts of an earlier, longer split under the same name.
  if (v.split) {
    for (let i = v.count;; i++) {
      try {
        await Deno.remove(partName(v.path, i));
      } catch {
        break;
      }
    }
  }
  return v.paths;
}

/** The first part a path names, for checking parts before any is found: `NAME` → `NAME.001`. */
function paths0(path: string): string[] {
  return [partBase(path) ? path : partName(path, 0)];
}

/** Throw when the parts of a split archive are not what its sums file or their sizes say. */
async function refuseParts(path: string, paths: string[]): Promise<void> {
  const base = partBase(paths[0]);
  if (!base) return;
  const check = await readParts(base);
  if (check.onDisk.size === 0) return;
  const sizes = new Map<string, number>();
  for (const part of check.onDisk.values()) sizes.set(part, (await Deno.stat(part)).size);
  const problems = partProblems(check, sizes);
  if (problems.length > 0) throw new AirgapError(`archive ${path}: ${problems.join("; ")}`);
}

/** Volumes opened for reading. */
export interface VolumeReader extends RandomAccess {
  /** The parts, in order (one path when not split). */
  readonly paths: string[];
  /** Sizes of the parts. */
  readonly partSizes: number[];
  /** Stream `length` bytes at `offset`, optionally verified, as a BYOB-capable byte stream. */
  rangeStream(
    offset: number,
    length: number,
    expected?: Expected,
    what?: string,
    onError?: (e: unknown) => unknown,
  ): ReadableStream<Uint8Array>;
  /** Which part (1-based) holds an offset, for messages. */
  partOf(offset: number): number;
  /** The parts a byte range lies in, for messages: `part 2: x.tar.002`, `parts 2–3: x.tar.002, x.tar.003`. */
  partsOf(offset: number, length: number): string;
  /** Close the files `read` opened; streams from `rangeStream` are not affected. */
  close(): void;
}

/** The parts of an archive given its name or its first part (`NAME`, `NAME.001`). */
export async function findVolumes(path: string): Promise<string[]> {
  const exists = async (p: string) => {
    try {
      return (await Deno.stat(p)).isFile;
    } catch {
      return false;
    }
  };
  let base = path;
  if (/\.001$/.test(path)) base = path.slice(0, -4);
  else if (await exists(path)) return [path];
  const parts: string[] = [];
  for (let i = 0;; i++) {
    const p = partName(base, i);
    if (!(await exists(p))) break;
    parts.push(p);
  }
  if (parts.length === 0) {
    throw new AirgapError(
      `archive ${path} does not exist${/\.\d{3}$/.test(path) ? "" : ` (nor ${basename(partName(path, 0))})`}`,
    );
  }
  return parts;
}

/**
 * Open an archive's volumes for random access. With `checkParts`, a split
 * archive's parts are first checked by name and size against
 * `NAME.SHA256SUMS` (or against each other): a missing, extra, short or
 * swapped part is refused by its file name and position (see checksums.ts).
 */
export async function openVolumes(path: string, options: { checkParts?: boolean } = {}): Promise<VolumeReader> {
  const paths = await findVolumes(path).catch(async (e) => {
    if (options.checkParts) await refuseParts(path, paths0(path));
    throw e;
  });
  if (options.checkParts) await refuseParts(path, paths);
  const partSizes: number[] = [];
  for (const p of paths) partSizes.push((await Deno.stat(p)).size);
  const starts: number[] = [];
  let size = 0;
  for (const s of partSizes) {
    starts.push(size);
    size += s;
  }
  const handles = new Map<number, Deno.FsFile>();
  const locate = (offset: number) => {
    let i = starts.length - 1;
    while (i > 0 && starts[i] > offset) i--;
    return i;
  };
  const slices = (offset: number, length: number) => {
    const out: Piece[] = [];
    let at = offset;
    let left = length;
    while (left > 0) {
      const i = locate(at);
      const inPart = at - starts[i];
      const room = Math.min(left, partSizes[i] - inPart);
      if (room <= 0) throw new AirgapError(`${path}: read past the end at offset ${at}`);
      out.push({ part: i, offset: inPart, length: room });
      at += room;
      left -= room;
    }
    return out;
  };
  return {
    paths,
    partSizes,
    size,
    partOf: (offset) => locate(offset) + 1,
    partsOf(offset, length) {
      const first = locate(offset);
      const last = locate(Math.max(offset, offset + length - 1));
      const names = paths.slice(first, last + 1).map((p) => basename(p)).join(", ");
      return first === last ? `part ${first + 1}: ${names}` : `parts ${first + 1}–${last + 1}: ${names}`;
    },
    async read(offset, length) {
      // The range is checked (slices) before anything is allocated for it.
      if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
        throw new TarFormatError(
          `${path}: read of ${length} bytes at offset ${offset} is past the end (${size} bytes)`,
        );
      }
      const pieces = slices(offset, length);
      const out = new Uint8Array(length);
      let at = 0;
      for (const piece of pieces) {
        let file = handles.get(piece.part);
        if (!file) handles.set(piece.part, file = await Deno.open(paths[piece.part], { read: true }));
        file.seekSync(piece.offset, Deno.SeekMode.Start); // an lseek never blocks: no thread hop
        let got = 0;
        while (got < piece.length) {
          const n = await file.read(out.subarray(at + got, at + piece.length));
          if (n === null) throw new AirgapError(`${paths[piece.part]}: unexpected end of file`);
          got += n;
        }
        at += piece.length;
      }
      return out;
    },
    rangeStream(offset, length, expected, what = path, onError) {
      const plan = slices(offset, length).map((p) => ({ path: paths[p.part], offset: p.offset, length: p.length }));
      return piecesByteStream(plan, { expected, what, onError });
    },
    close() {
      for (const f of handles.values()) f.close();
      handles.clear();
    },
  };
}
