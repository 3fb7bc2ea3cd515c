/**
 * File helpers for the streaming paths: full writes, atomic replacement
 * (files are read as streams by lib/format/streams.ts). Paths are always
 * built with node:path by callers.
 * @module
 */
import { dirname } from "node:path";
import { AirgapError, DiskFullError, errorMessage } from "./errors.ts";
import { formatBytes } from "./text.ts";

/** Write every byte (FsFile.write may write fewer than asked). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += await file.write(bytes.subarray(offset));
  }
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
    await replaceFile(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw isNoSpace(e) ? noSpaceError(path, bytes.byteLength, e) : e;
  }
}

/** The file operations {@link replaceFile} uses (replaceable in tests). */
export interface ReplaceOps {
  os: string;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  sleep(ms: number): Promise<void>;
}

const REAL_OPS: ReplaceOps = {
  os: Deno.build.os,
  rename: (from, to) => Deno.rename(from, to),
  remove: (path) => Deno.remove(path),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Waits between attempts to replace a file another program holds (Windows); ~1.5 s in all. */
const REPLACE_WAITS_MS = [25, 50, 100, 200, 400, 800];

/**
 * Move `from` over `to`, which may exist and be open. On POSIX a rename does
 * it. On Windows a rename over a file that any handle holds open fails (even
 * airgap's own, e.g. `airgap serve` reading the archive being re-saved), but
 * the open file itself can be renamed when its holders allow it (Deno's
 * handles do): it is moved aside, the new file put in place, and the old one
 * deleted — its readers keep their bytes until they close it. A holder that
 * forbids even that (an editor, a scanner) is waited for briefly, then named
 * in a one-line error.
 */
export async function replaceFile(from: string, to: string, ops: ReplaceOps = REAL_OPS): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt <= REPLACE_WAITS_MS.length; attempt++) {
    if (attempt > 0) await ops.sleep(REPLACE_WAITS_MS[attempt - 1]);
    try {
      await ops.rename(from, to);
      return;
    } catch (e) {
      if (ops.os !== "windows" || !(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.Busy)) {
        throw e;
      }
      last = e;
    }
    const aside = `${to}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.old`;
    try {
      await ops.rename(to, aside);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // gone meanwhile: the plain rename can work now
      last = e;
      continue;
    }
    try {
      await ops.rename(from, to);
    } catch (e) {
      await ops.rename(aside, to).catch(() => {});
      throw e;
    }
    await ops.remove(aside).catch(() => {}); // Windows deletes it when its last reader closes
    return;
  }
  throw new AirgapError(
    `cannot replace ${to}: another program has it open (${errorMessage(last)}); close it and run again`,
    { where: to },
  );
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
export function noSpaceError(path: string, stillToWrite: number, cause?: unknown): DiskFullError {
  return new DiskFullError(
    `no space left on ${path}: ${formatBytes(Math.max(0, stillToWrite))} still to write`,
    { op: "write", where: path },
    { cause },
  );
}
