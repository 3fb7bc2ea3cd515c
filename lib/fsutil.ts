/**
 * File helpers for the streaming paths: large reads, full writes, atomic
 * replacement. Paths are always built with node:path by callers.
 * @module
 */
import { dirname } from "node:path";
import { AirgapError } from "./errors.ts";
import { formatBytes } from "./format.ts";

/** Read size for streaming files: large reads keep syscalls and chunks few. */
export const READ_CHUNK = 1024 * 1024;

/** Write every byte (FsFile.write may write fewer than asked). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += await file.write(bytes.subarray(offset));
  }
}

/**
 * Stream `length` bytes of a file starting at `offset` (default: to the end).
 * The file is opened lazily and closed when the stream ends or is cancelled.
 */
export function fileRangeStream(
  path: string,
  offset = 0,
  length?: number,
  chunkSize = READ_CHUNK,
): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let remaining = length ?? Infinity;
  const close = () => {
    try {
      file?.close();
    } catch {
      // already closed
    }
    file = undefined;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!file) {
          file = await Deno.open(path, { read: true });
          if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
        }
        if (remaining <= 0) {
          close();
          controller.close();
          return;
        }
        const buffer = new Uint8Array(Math.min(chunkSize, remaining));
        const n = await file.read(buffer);
        if (n === null || n === 0) {
          close();
          if (length !== undefined && remaining > 0) {
            controller.error(new Error(`${path}: unexpected end of file (${remaining} bytes missing)`));
          } else {
            controller.close();
          }
          return;
        }
        remaining -= n;
        controller.enqueue(n === buffer.byteLength ? buffer : buffer.subarray(0, n));
      } catch (e) {
        close();
        controller.error(e);
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 2 });
}

/** Write a small file atomically: temp file in the same directory, then rename. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.mkdir(dirname(path), { recursive: true });
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, bytes);
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw isNoSpace(e) ? noSpaceError(path, bytes.byteLength, e) : e;
  }
}

/** Does a path exist? */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Size of a file, or undefined when it does not exist. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Did a write fail because its file system is full? */
export function isNoSpace(e: unknown): boolean {
  return (e as { code?: string })?.code === "ENOSPC" || /\(os error 28\)/.test(String((e as Error)?.message));
}

/**
 * The one message for a full disk: the file being written and what was still
 * to come, so the operator knows how much room to make before re-running.
 */
export function noSpaceError(path: string, stillToWrite: number, cause?: unknown): AirgapError {
  return new AirgapError(
    `no space left on ${path}: ${formatBytes(Math.max(0, stillToWrite))} still to write`,
    { op: "write", where: path },
    { cause },
  );
}
