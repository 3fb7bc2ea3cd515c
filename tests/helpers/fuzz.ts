/**
 * What the fuzz tests share: a seeded generator, the case count and seed
 * (fixed in CI; `AIRGAP_FUZZ_CASES` multiplies every count and
 * `AIRGAP_FUZZ_SEED` picks another seed, for a longer run), byte mutations,
 * and the rule every case is held to — it ends in success or an
 * `AirgapError` (a typed, one-line error), never another throw, a hang, or
 * memory past a bound.
 */
import { AirgapError } from "../../lib/errors.ts";
import type { Blob, GeneratedImage } from "../../lib/demo/corpus.ts";
import { type ArchiveWriterOptions, createArchive } from "../../lib/store/archive.ts";
import type { Rand } from "./seeded.ts";

export { type Rand, rand } from "./seeded.ts";

/**
 * The run's seed and how many cases a fuzzer with `base` cases runs (see the
 * module note). The Windows run (under wine, for the platform, not the
 * coverage) runs a tenth of them.
 */
export function fuzzRun(base: number): { seed: number; cases: number } {
  const factor = Number(Deno.env.get("AIRGAP_FUZZ_CASES") ?? (Deno.build.os === "windows" ? "0.1" : "1"));
  const seed = Number(Deno.env.get("AIRGAP_FUZZ_SEED") ?? "1");
  return { seed: Number.isFinite(seed) ? seed : 1, cases: Math.max(1, Math.round(base * (factor > 0 ? factor : 1))) };
}

/** Memory a fuzzing process may reach (RSS) before a case counts as unbounded. */
export const RSS_BOUND = 1024 * 1024 * 1024;

/**
 * Run one case: it must resolve, or reject with an {@link AirgapError},
 * within `ms`, and leave the process's RSS under {@link RSS_BOUND}. A
 * failure names the fuzzer, the seed and the case so it can be replayed
 * (and kept as a plain regression test).
 */
export async function oneCase<T>(
  label: string,
  fn: () => Promise<T>,
  ms = 20_000,
): Promise<{ ok: true; value: T } | { ok: false; error: AirgapError }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: no answer within ${ms} ms`)), ms);
  });
  let outcome: { ok: true; value: T } | { ok: false; error: AirgapError };
  try {
    outcome = { ok: true, value: await Promise.race([fn(), hang]) };
  } catch (e) {
    if (!(e instanceof AirgapError)) {
      throw new Error(`${label}: untyped ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
    }
    if (e.message.includes("\n")) throw new Error(`${label}: a message of several lines: ${e.message}`);
    outcome = { ok: false, error: e };
  } finally {
    clearTimeout(timer);
  }
  const rss = Deno.memoryUsage().rss;
  if (rss > RSS_BOUND) throw new Error(`${label}: RSS ${rss} bytes, over ${RSS_BOUND}`);
  return outcome;
}

/** Interesting bytes to write into a header: digits, NULs, spaces, base-256 markers, signs. */
const SPECIAL = [0, 0x20, 0x30, 0x37, 0x38, 0x39, 0x0a, 0x2d, 0x80, 0xff, 0x7f, 0x3d, 0x78, 0x4c, 0x67];

/**
 * One random mutation of `bytes`: flip a bit, set a byte (to a special
 * value), overwrite a run, insert or delete bytes, truncate, or duplicate a
 * slice. `hot` offsets (header positions) are chosen half of the time.
 */
export function mutate(r: Rand, bytes: Uint8Array, hot: readonly number[] = []): Uint8Array {
  const at = () =>
    hot.length > 0 && r.chance(0.5) ? Math.min(bytes.byteLength - 1, r.pick(hot)) : r.int(bytes.byteLength);
  const out = bytes.slice();
  if (out.byteLength === 0) return new Uint8Array([r.int(256)]);
  switch (r.int(8)) {
    case 0: {
      const i = at();
      out[i] ^= 1 << r.int(8);
      return out;
    }
    case 1:
      out[at()] = r.pick(SPECIAL);
      return out;
    case 2: {
      const i = at();
      const run = 1 + r.int(12);
      for (let k = i; k < Math.min(out.byteLength, i + run); k++) out[k] = r.chance(0.5) ? r.pick(SPECIAL) : r.int(256);
      return out;
    }
    case 3: {
      const i = at();
      const extra = new Uint8Array(1 + r.int(r.chance(0.2) ? 2048 : 16)).map(() => r.pick(SPECIAL));
      return concatBytes([bytes.subarray(0, i), extra, bytes.subarray(i)]);
    }
    case 4: {
      const i = at();
      return concatBytes([
        bytes.subarray(0, i),
        bytes.subarray(Math.min(bytes.byteLength, i + 1 + r.int(r.chance(0.2) ? 4096 : 16))),
      ]);
    }
    case 5:
      return bytes.slice(0, at());
    case 6: {
      const i = at();
      const j = r.int(bytes.byteLength);
      return concatBytes([bytes.subarray(0, i), bytes.subarray(j, j + 1 + r.int(1024)), bytes.subarray(i)]);
    }
    default: {
      // Several small changes at once.
      let next: Uint8Array = out;
      for (let k = 0; k < 2 + r.int(4); k++) next = mutate(r, next, hot);
      return next;
    }
  }
}

/** The parts, one after the other. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** One random mutation of text, at the level of characters and lines (YAML/JSON/list syntax made likely). */
export function mutateText(r: Rand, text: string, tokens: readonly string[]): string {
  const lines = text.split("\n");
  switch (r.int(6)) {
    case 0: {
      const i = r.int(lines.length);
      lines.splice(i, 0, lines[r.int(lines.length)]);
      return lines.join("\n");
    }
    case 1:
      lines.splice(r.int(lines.length), 1 + r.int(3));
      return lines.join("\n");
    case 2: {
      const i = r.int(text.length + 1);
      return text.slice(0, i) + r.pick(tokens) + text.slice(i);
    }
    case 3: {
      const i = r.int(text.length + 1);
      return text.slice(0, i) + text.slice(i + 1 + r.int(8));
    }
    case 4: {
      const i = r.int(text.length + 1);
      return text.slice(0, i) + String.fromCharCode(r.int(r.chance(0.8) ? 128 : 0x10000)) + text.slice(i);
    }
    default:
      return new TextDecoder().decode(mutate(r, new TextEncoder().encode(text)));
  }
}

/** YAML syntax both YAML fuzzers splice into their texts (each adds its own after these, in its order). */
export const YAML_SYNTAX: readonly string[] = [
  ": ",
  "- ",
  "&a ",
  "*a",
  "<<: *a\n",
  "\n  ",
  "\t",
  "{",
  "}",
  "[",
  "]",
  "'",
  '"',
];

/** The images' blobs (each root, then its blobs), one per digest. */
export function blobsOf(images: readonly GeneratedImage[]): Map<string, Blob> {
  return new Map(images.flatMap((i) => [i.root, ...i.blobs]).map((b) => [b.descriptor.digest, b]));
}

/** Write `images` as a finished archive at `path` (`extra`: a lock, a part size). */
export async function writeImagesArchive(
  path: string,
  images: readonly GeneratedImage[],
  extra: Pick<ArchiveWriterOptions, "lock" | "partSize"> = {},
): Promise<void> {
  const blobs = blobsOf(images);
  const archive = await createArchive(path, {
    images: images.map((i) => ({
      descriptor: i.root.descriptor,
      name: `docker.io/${i.repository}:${i.tag}`,
      entry: `${i.repository}:${i.tag}`,
    })),
    blobs: [...blobs.values()].map((b) => b.descriptor),
    ...extra,
  });
  for (const b of blobs.values()) await archive.push("", b.descriptor, b.bytes);
  await archive.finish();
}
