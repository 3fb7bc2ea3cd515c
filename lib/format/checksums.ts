/**
 * SHA256SUMS files for split archives: one line per part, the format
 * `sha256sum -c` reads, so a site can check its transfer media with stock
 * tools as well as with `airgap verify`.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { AirgapError, errorMessage } from "../errors.ts";
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

/**
 * A split archive's parts as an operator carries them: what `NAME.SHA256SUMS`
 * lists (when it is there) and what is on disk. Problems are named by file
 * and position (`rancher.tar.003 (part 3 of 5)`), never by an offset inside
 * the concatenation; the sums file decides how many parts there are, else the
 * parts' sizes (every part but the last is the same size) tell what they can.
 */
export interface PartCheck {
  /** The base name: `NAME` of `NAME.001`. */
  base: string;
  /** Part names `NAME.SHA256SUMS` lists, in order; undefined without one. */
  listed?: string[];
  /** Every `NAME.NNN` file on disk, by number. */
  onDisk: Map<number, string>;
}

/** The base name of a part path (`x.tar.002` → `x.tar`), or undefined. */
export function partBase(path: string): string | undefined {
  return /\.\d{3}$/.test(path) ? path.slice(0, -4) : undefined;
}

/** Read what there is to know about `base`'s parts: the sums file's list, the `NAME.NNN` files on disk. */
export async function readParts(base: string): Promise<PartCheck> {
  const name = basename(base);
  const onDisk = new Map<number, string>();
  try {
    for await (const entry of Deno.readDir(dirname(base))) {
      const match = entry.name.startsWith(`${name}.`) && entry.name.slice(name.length).match(/^\.(\d{3})$/);
      if (match && !entry.isDirectory) onDisk.set(Number(match[1]), join(dirname(base), entry.name));
    }
  } catch { /* an unreadable directory: the open that follows says so */ }
  let listed: string[] | undefined;
  try {
    const sums = parseSums(await Deno.readTextFile(sumsPath(base)), basename(sumsPath(base)));
    listed = [...sums.keys()].filter((n) => /^\.\d{3}$/.test(n.slice(name.length)) && n.startsWith(name)).sort();
    if (listed.length === 0) listed = undefined;
  } catch { /* no sums file (or not one of ours): sizes alone */ }
  return { base, listed, onDisk };
}

/** `NAME.003 (part 3 of 5)`; `of N` only when the number of parts is known. */
function partLabel(path: string, index: number, count?: number): string {
  return `${basename(path)} (part ${index + 1}${count ? ` of ${count}` : ""})`;
}

/**
 * What is wrong with the parts by their names and sizes alone (no hashing):
 * a part the sums file lists that is absent, a part it does not list, a gap
 * in the numbering, a part before the last whose size is not the others'.
 */
export function partProblems(check: PartCheck, sizes: Map<string, number>): string[] {
  const problems: string[] = [];
  const sums = basename(sumsPath(check.base));
  const numbers = [...check.onDisk.keys()].sort((a, b) => a - b);
  let expected: string[];
  if (check.listed) {
    expected = check.listed.map((n) => join(dirname(check.base), n));
    const count = expected.length;
    for (const [i, path] of expected.entries()) {
      if (![...check.onDisk.values()].includes(path)) {
        problems.push(`${partLabel(path, i, count)} is missing (${sums} lists it)`);
      }
    }
    for (const n of numbers) {
      const path = check.onDisk.get(n)!;
      if (!expected.includes(path)) {
        problems.push(`${basename(path)} is not in ${sums}, which lists ${count} parts: an extra part`);
      }
    }
  } else {
    const last = numbers.at(-1) ?? 0;
    expected = Array.from({ length: last }, (_, i) => check.onDisk.get(i + 1) ?? `${check.base}.${pad(i + 1)}`);
    for (let n = 1; n <= last; n++) {
      if (!check.onDisk.has(n)) {
        const after = numbers.filter((m) => m > n).map((m) => basename(check.onDisk.get(m)!));
        problems.push(`${partLabel(`${check.base}.${pad(n)}`, n - 1)} is missing: ${after.join(", ")} follow it`);
      }
    }
  }
  if (problems.length > 0) return problems;
  return problems.concat(sizeProblems(expected, sizes, check.listed ? expected.length : undefined));
}

/** Every part but the last has the size most of them have; the last is no larger. */
function sizeProblems(paths: string[], sizes: Map<string, number>, count?: number): string[] {
  if (paths.length < 2) return [];
  const full = mostCommon(paths.slice(0, -1).map((p) => sizes.get(p) ?? 0));
  const problems: string[] = [];
  const last = paths.length - 1;
  for (const [i, path] of paths.entries()) {
    const size = sizes.get(path) ?? 0;
    if (i < last && size !== full) {
      const how = size < full ? "short" : "long";
      problems.push(
        `${partLabel(path, i, count)} is ${size} bytes where the parts before the last are ${full}: ${how}`,
      );
    }
  }
  const lastSize = sizes.get(paths[last]) ?? 0;
  if (problems.length === 0 && lastSize > full && paths.length === 2) {
    problems.push(
      `${basename(paths[0])} (part 1${count ? ` of ${count}` : ""}) is smaller than ${
        basename(paths[1])
      }, the last: the two are swapped (or ${basename(paths[0])} is short)`,
    );
  } else if (problems.length === 0 && lastSize > full) {
    problems.push(
      `${
        partLabel(paths[last], last, count)
      }, the last, is ${lastSize} bytes, more than the ${full} of the others: a part swapped with the last, or an extra part`,
    );
  }
  // One short part before a full-size last one: the last part was put in its place.
  const short = paths.findIndex((p, i) => i < last && (sizes.get(p) ?? 0) < full);
  if (problems.length === 1 && short >= 0 && lastSize === full) {
    problems[0] = `${partLabel(paths[short], short, count)} has the size a last part has and ${
      basename(paths[last])
    } a full part's: the two are swapped (or ${basename(paths[short])} is short)`;
  }
  return problems;
}

function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0][0];
}

function pad(n: number): string {
  return String(n).padStart(3, "0");
}

/**
 * Why reading a split archive failed, by its parts (called only on a failure,
 * since it hashes): each part against `NAME.SHA256SUMS` — one that holds
 * another's bytes is a swap, one that matches nothing is damaged or short —
 * or, without a sums file, what the sizes say about an archive that ends
 * too soon. Undefined when the parts look right.
 */
export async function diagnoseParts(paths: string[]): Promise<string | undefined> {
  const base = partBase(paths[0]);
  if (!base) return undefined;
  const check = await readParts(base);
  const sizes = new Map<string, number>();
  for (const path of check.onDisk.values()) sizes.set(path, (await Deno.stat(path)).size);
  const cheap = partProblems(check, sizes);
  if (cheap.length > 0) return cheap.join("; ");
  const sums = basename(sumsPath(base));
  if (check.listed) {
    const listedHex = parseSums(await Deno.readTextFile(sumsPath(base)), sums);
    const byHex = new Map([...listedHex.entries()].map(([name, hex]) => [hex, name]));
    const problems: string[] = [];
    const count = check.listed.length;
    const holds = new Map<string, string | undefined>();
    for (const name of check.listed) {
      const hex = await sha256File(join(dirname(base), name));
      if (hex !== listedHex.get(name)) holds.set(name, byHex.get(hex));
    }
    for (const [i, name] of check.listed.entries()) {
      if (!holds.has(name)) continue;
      const other = holds.get(name);
      const path = join(dirname(base), name);
      if (other && holds.get(other) === name) {
        // A pair that holds each other's bytes: said once.
        const j = check.listed.indexOf(other);
        if (j > i) problems.push(`${name} and ${other} (parts ${i + 1} and ${j + 1} of ${count}) are swapped`);
      } else if (other) problems.push(`${partLabel(path, i, count)} holds what ${sums} lists for ${other}`);
      else problems.push(`${partLabel(path, i, count)} does not match its ${sums} line: damaged or short`);
    }
    return problems.length > 0 ? problems.join("; ") : undefined;
  }
  const last = paths.at(-1)!;
  const full = sizes.get(paths[0]) ?? 0;
  return sizes.get(last) === full
    ? `a part after ${basename(last)} may be missing (every part is ${full} bytes, the last too; no ${sums} to tell)`
    : `${partLabel(last, paths.length - 1)}, the last, may be short (no ${sums} to tell)`;
}

/**
 * `e`, the failure to read a split archive, explained by its parts when
 * {@link diagnoseParts} finds why (a swap, a damaged or short part); else `e`.
 */
export async function explainPartsFailure(archive: string, paths: string[], e: unknown): Promise<unknown> {
  if (!partBase(paths[0])) return e;
  const why = await diagnoseParts(paths).catch(() => undefined);
  return why ? new AirgapError(`archive ${archive}: ${why} (reading it failed: ${errorMessage(e)})`) : e;
}
