/**
 * SHA256SUMS files for split archives: one line per part, the format
 * `sha256sum -c` reads, so a site can check its transfer media with stock
 * tools as well as with `airgap verify`.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { AirgapError } from "../errors.ts";
import { createDigester } from "../oci/digest.ts";
import { writeFileAtomic } from "../fsutil.ts";
import { fileByteStream } from "./streams.ts";

/** Hex SHA-256 of a file, read through one reusable buffer. */
export async function sha256File(path: string): Promise<string> {
  const digester = createDigester("sha256");
  const reader = fileByteStream(path).getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(4 * 1024 * 1024);
  for (;;) {
    const { done, value } = await reader.read(new Uint8Array(buffer));
    if (value) buffer = value.buffer as ArrayBuffer;
    if (done) break;
    digester.update(value);
  }
  return digester.digest().slice("sha256:".length);
}

/** The checksum file that goes with an archive (`NAME.SHA256SUMS`). */
export function sumsPath(archive: string): string {
  return `${archive}.SHA256SUMS`;
}

/** Write `NAME.SHA256SUMS` for the given files (which sit next to it). */
export async function writeSums(archive: string, files: string[]): Promise<string> {
  const lines: string[] = [];
  for (const file of files) lines.push(`${await sha256File(file)}  ${basename(file)}`);
  const path = sumsPath(archive);
  await writeFileAtomic(path, lines.join("\n") + "\n");
  return path;
}

/** Parse a SHA256SUMS file: file name → hex digest. */
export function parseSums(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const match = line.match(/^([a-f0-9]{64}) [ *](.+)$/);
    if (!match) throw new AirgapError(`${file}:${i + 1}: not a SHA256SUMS line`);
    out.set(match[2], match[1]);
  }
  return out;
}

/** Check files against a SHA256SUMS file; returns the names that do not match (or are missing). */
export async function checkSums(sums: string): Promise<{ checked: string[]; bad: string[] }> {
  const expected = parseSums(await Deno.readTextFile(sums), sums);
  const checked: string[] = [];
  const bad: string[] = [];
  for (const [name, hex] of expected) {
    const path = join(dirname(sums), name);
    checked.push(name);
    try {
      if ((await sha256File(path)) !== hex) bad.push(name);
    } catch {
      bad.push(name);
    }
  }
  return { checked, bad };
}
