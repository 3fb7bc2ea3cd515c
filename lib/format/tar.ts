/**
 * The small part of tar (POSIX ustar with PAX extended headers) the archive
 * needs: encode headers for a sequential writer, and index an archive by
 * seeking from header to header so entries can be read at random offsets
 * (parallel loads, serving blobs straight out of the archive). Streaming tar
 * libraries hide entry offsets, which is exactly what we need here.
 * @module
 */
import { TarFormatError } from "../errors.ts";
import { echo } from "../text.ts";
import { LIMITS } from "../limits.ts";

/** Tar block size. */
export const BLOCK = 512;
/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Uint8Array = new Uint8Array(BLOCK * 2);
const USTAR_MAX_SIZE = 0o77777777777; // 8 GiB - 1

/** A tar entry to write. */
export interface TarEntryHeader {
  name: string;
  size: number;
  type?: "file" | "directory";
  mode?: number;
  /** Seconds since the epoch; 0 by default so archives are reproducible. */
  mtime?: number;
}

const encoder = new TextEncoder();

function writeString(block: Uint8Array, offset: number, length: number, value: string) {
  const bytes = encoder.encode(value);
  block.set(bytes.subarray(0, length), offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number) {
  const text = value.toString(8).padStart(length - 1, "0");
  writeString(block, offset, length - 1, text);
  block[offset + length - 1] = 0;
}

function checksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum;
}

function rawHeader(name: string, size: number, typeflag: string, mode: number, mtime: number): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, mode);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, Math.min(size, USTAR_MAX_SIZE));
  writeOctal(block, 136, 12, mtime);
  writeString(block, 156, 1, typeflag);
  writeString(block, 257, 6, "ustar\0");
  writeString(block, 263, 2, "00");
  const sum = checksum(block);
  writeString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = encoder.encode(body).byteLength + 1;
  while (String(length).length + encoder.encode(body).byteLength !== length) length++;
  return `${length}${body}`;
}

/** Bytes occupied by padding after `size` bytes of data. */
export function paddingSize(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Zero padding after an entry's data. */
export function padding(size: number): Uint8Array {
  return new Uint8Array(paddingSize(size));
}

/**
 * Header block(s) for an entry: a PAX extended header first when the size
 * exceeds ustar's 8 GiB or the name does not fit in 100 bytes.
 */
export function encodeHeader(entry: TarEntryHeader): Uint8Array {
  const type = entry.type ?? "file";
  const mode = entry.mode ?? (type === "directory" ? 0o755 : 0o644);
  const mtime = entry.mtime ?? 0;
  const records: string[] = [];
  let name = entry.name;
  if (encoder.encode(name).byteLength > 100) {
    records.push(paxRecord("path", name));
    name = name.slice(0, 99);
  }
  if (entry.size > USTAR_MAX_SIZE) records.push(paxRecord("size", String(entry.size)));
  const main = rawHeader(name, type === "directory" ? 0 : entry.size, type === "directory" ? "5" : "0", mode, mtime);
  if (records.length === 0) return main;
  const pax = encoder.encode(records.join(""));
  const paxHeader = rawHeader(`PaxHeaders/${name}`.slice(0, 100), pax.byteLength, "x", 0o644, mtime);
  const out = new Uint8Array(BLOCK + pax.byteLength + paddingSize(pax.byteLength) + BLOCK);
  out.set(paxHeader, 0);
  out.set(pax, BLOCK);
  out.set(main, out.byteLength - BLOCK);
  return out;
}

/** An entry found in an archive. */
export interface TarEntry {
  /** Path in the archive (PAX and GNU long names applied, a leading `./` dropped). */
  name: string;
  /** `0` file, `5` directory, … (the ustar typeflag). */
  type: string;
  /** Bytes of the entry's data. */
  size: number;
  /** Offset of the entry's data in the archive. */
  offset: number;
  /** Offset of the entry's first header block (PAX header included). */
  headerOffset: number;
}

const decoder = new TextDecoder();

function readString(block: Uint8Array, offset: number, length: number): string {
  let end = offset;
  while (end < offset + length && block[end] !== 0) end++;
  return decoder.decode(block.subarray(offset, end));
}

/** Bytes a PAX extended header or GNU long name may take (`LIMITS.tarExtendedHeader`). */
const MAX_EXTENDED_HEADER = LIMITS.tarExtendedHeader;

function corrupt(offset: number, why: string): TarFormatError {
  return new TarFormatError(`corrupt tar header at offset ${offset} (${why})`);
}

/**
 * A numeric header field, parsed strictly: octal digits between optional
 * spaces and NULs, or GNU base-256 (positive, up to 2^53). Anything else is
 * a {@link TarFormatError} naming the field and the header's offset.
 */
function readNumber(block: Uint8Array, offset: number, length: number, field: string, at: number): number {
  if (block[offset] & 0x80) {
    if (block[offset] !== 0x80) throw corrupt(at, `${field} field is a negative or oversized base-256 number`);
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + block[i];
    if (!Number.isSafeInteger(value)) throw corrupt(at, `${field} field is a base-256 number over 2^53`);
    return value;
  }
  let text = "";
  for (let i = offset; i < offset + length; i++) text += String.fromCharCode(block[i]);
  const trimmed = text.replace(/^[ \0]+|[ \0]+$/g, "");
  if (trimmed === "") return 0;
  if (!/^[0-7]+$/.test(trimmed)) throw corrupt(at, `${field} field is not an octal number`);
  return parseInt(trimmed, 8);
}

/** PAX records (`LENGTH KEY=VALUE\n`), parsed strictly: a malformed record is a {@link TarFormatError}. */
function parsePax(bytes: Uint8Array, at: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < bytes.byteLength) {
    let space = i;
    while (space < bytes.byteLength && space - i < 8 && bytes[space] >= 0x30 && bytes[space] <= 0x39) space++;
    const length = Number(decoder.decode(bytes.subarray(i, space)));
    if (bytes[space] !== 0x20 || !(length > space - i + 1) || i + length > bytes.byteLength) {
      throw corrupt(at, `malformed PAX record at byte ${i}`);
    }
    if (bytes[i + length - 1] !== 0x0a) throw corrupt(at, `PAX record at byte ${i} does not end with a newline`);
    const record = decoder.decode(bytes.subarray(space + 1, i + length - 1));
    const eq = record.indexOf("=");
    if (eq <= 0) throw corrupt(at, `PAX record at byte ${i} has no key`);
    out[record.slice(0, eq)] = record.slice(eq + 1);
    i += length;
  }
  return out;
}

/** Random access to an archive's bytes (one file, or split volumes). */
export interface RandomAccess {
  /** Total size in bytes. */
  readonly size: number;
  /** Read exactly `length` bytes at `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Thrown when an archive's structure is broken; names the offset (an {@link AirgapError}). */
export { TarFormatError };

/**
 * Walk an archive's headers, seeking past data. Yields file and directory
 * entries; PAX and GNU long-name headers are applied to the entry they
 * precede. Checks every header checksum.
 */
export async function* scanTar(source: RandomAccess): AsyncGenerator<TarEntry> {
  let offset = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let headerOffset = 0;
  let pending = false;
  /** The data of an extended header, its size checked against the limit and the archive before it is read. */
  const extended = (size: number, what: string) => {
    if (size > MAX_EXTENDED_HEADER) {
      throw corrupt(offset, `${what} of ${size} bytes, over the limit of ${MAX_EXTENDED_HEADER}`);
    }
    if (offset + BLOCK + size > source.size) {
      throw new TarFormatError(`truncated archive: ${what} at offset ${offset} needs ${size} bytes`);
    }
    return source.read(offset + BLOCK, size);
  };
  while (offset + BLOCK <= source.size) {
    const block = await source.read(offset, BLOCK);
    if (block.every((b) => b === 0)) return;
    const stored = readNumber(block, 148, 8, "checksum", offset);
    if (stored !== checksum(block)) throw corrupt(offset, "checksum mismatch");
    if (!pending) headerOffset = offset;
    const type = String.fromCharCode(block[156] || 48);
    let size = readNumber(block, 124, 12, "size", offset);
    if (type === "x" || type === "g" || type === "L") {
      const data = await extended(size, type === "L" ? "long name" : "PAX header");
      if (type === "x") pax = { ...pax, ...parsePax(data, offset) };
      if (type === "L") longName = readString(data, 0, size);
      offset += BLOCK + size + paddingSize(size);
      pending = pending || type !== "g";
      continue;
    }
    const prefix = readString(block, 345, 155);
    let name = readString(block, 0, 100);
    if (prefix && readString(block, 257, 6).startsWith("ustar")) name = `${prefix}/${name}`;
    if (longName !== undefined) name = longName;
    if (pax.path !== undefined) name = pax.path;
    if (pax.size !== undefined) {
      if (!/^\d{1,16}$/.test(pax.size) || !Number.isSafeInteger(Number(pax.size))) {
        throw corrupt(headerOffset, `PAX size "${echo(pax.size, 40)}" is not a number`);
      }
      size = Number(pax.size);
    }
    const dataOffset = offset + BLOCK;
    if (dataOffset + size > source.size) {
      throw new TarFormatError(`truncated archive: entry ${echo(name)} at offset ${offset} needs ${size} bytes`);
    }
    yield { name: name.replace(/^\.\//, ""), type, size, offset: dataOffset, headerOffset };
    offset = dataOffset + size + paddingSize(size);
    pax = {};
    longName = undefined;
    pending = false;
  }
}
