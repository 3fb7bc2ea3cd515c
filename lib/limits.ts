/**
 * How much of any input airgap reads, decided in one place. Every file,
 * archive member or download airgap did not write itself is bounded before
 * it is parsed, so a hostile or mistaken input costs bounded memory and
 * bounded (sub-second) synchronous parse time — the process stays responsive
 * to Ctrl-C and SIGTERM. Each limit is far above any real input (a
 * declaration of a few KiB, a Rancher image list of ~100 KiB) and is
 * documented in docs/limits.md; a refusal is one line naming the file, its
 * size and the limit.
 * @module
 */
import { AirgapError } from "./errors.ts";
import { ECHO_MAX, formatBytes } from "./text.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** The limits, by kind of input (bytes). */
export const LIMITS = {
  /** `airgap.yaml`: a declaration (real ones are a few KiB; 256 KiB is ~6,000 inline images). */
  declaration: 256 * KiB,
  /** An image list (`rancher-images.txt` is ~60 KiB for ~1,000 images; 1 MiB is ~25,000). */
  imageList: 1 * MiB,
  /** A Helm values file (`--values`, `valuesFiles:`, `--set-file`; a chart's own values.yaml, Chart.yaml). */
  values: 1 * MiB,
  /** `airgap.lock` (~1-2 KiB per image), on disk or embedded in an archive. */
  lock: 16 * MiB,
  /** An archive's `index.json`. */
  archiveIndex: 16 * MiB,
  /** A manifest (distribution's own limit is 4 MiB): see `MAX_MANIFEST_SIZE`. */
  manifest: 4 * MiB,
  /** A decompressed Helm chart (Helm's own ceiling). */
  chart: 100 * MiB,
  /** A tar PAX extended header or GNU long name. */
  tarExtendedHeader: 1 * MiB,
  /** Characters of user input echoed back in a message (`echo` in lib/text.ts). */
  echoed: ECHO_MAX,
} as const;

/** A kind of input {@link LIMITS} bounds. */
export type InputKind = Exclude<keyof typeof LIMITS, "echoed">;

/** What each kind is called in messages. */
const NAMES: Record<InputKind, string> = {
  declaration: "declaration",
  imageList: "image list",
  values: "values file",
  lock: "lock",
  archiveIndex: "archive index",
  manifest: "manifest",
  chart: "chart",
  tarExtendedHeader: "tar extended header",
};

/** The one-line refusal of an input larger than its limit (exit code 2: the input is the user's). */
export function tooLarge(kind: InputKind, where: string, size?: number): AirgapError {
  const bytes = size === undefined ? "more than" : `${formatBytes(size)}, over`;
  return new AirgapError(
    `${where}: ${NAMES[kind]} too large (${bytes} the limit of ${formatBytes(LIMITS[kind])}; see docs/limits.md)`,
    { where },
    { exitCode: 2 },
  );
}

/** Refuse `size` bytes of `kind` when over its limit. */
export function checkSize(kind: InputKind, size: number, where: string): void {
  if (size > LIMITS[kind]) throw tooLarge(kind, where, size);
}

/**
 * Read a text file of `kind`, refusing it (without reading it whole) when it
 * is larger than its limit. The file is read to at most limit + 1 bytes, so
 * a pipe or a file that grows is bounded too. Errors opening or reading it
 * are thrown as they are (callers tell "does not exist" apart and say what
 * the file was).
 */
export async function readTextLimited(path: string, kind: InputKind, shownAs = path): Promise<string> {
  const limit = LIMITS[kind];
  const file = await Deno.open(path, { read: true });
  try {
    const info = await file.stat();
    if (info.isFile && info.size > limit) throw tooLarge(kind, shownAs, info.size);
    const body = new BoundedBytes(limit);
    while (true) {
      const chunk = new Uint8Array(Math.min(limit + 1 - body.seen, 1 * MiB) || 1);
      const n = await file.read(chunk);
      if (n === null) break;
      if (!body.add(chunk.subarray(0, n))) throw tooLarge(kind, shownAs);
    }
    return new TextDecoder().decode(body.bytes());
  } finally {
    file.close();
  }
}

/**
 * Bytes gathered in memory up to a bound: the one size-bounded reader behind
 * every small body airgap reads whole (a file above, a stream in
 * {@link readBounded}, a request body in the embedded server). Only the
 * first `limit` bytes are kept; what the caller does with more is its own
 * policy (an error, a refusal, a truncated error text).
 */
export class BoundedBytes {
  readonly #chunks: Uint8Array[] = [];
  #kept = 0;
  /** Bytes offered so far, kept or not. */
  seen = 0;
  /** Gather at most `limit` bytes. */
  constructor(readonly limit: number) {}

  /** Offer a chunk; false once more than `limit` bytes have come. */
  add(chunk: Uint8Array): boolean {
    this.seen += chunk.byteLength;
    const room = this.limit - this.#kept;
    if (room > 0 && chunk.byteLength > 0) {
      const part = chunk.byteLength <= room ? chunk : chunk.subarray(0, room);
      this.#chunks.push(part);
      this.#kept += part.byteLength;
    }
    return !this.over;
  }

  /** More than `limit` bytes came. */
  get over(): boolean {
    return this.seen > this.limit;
  }

  /** The bytes kept (the first `limit`), copied into one array of their size. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#kept);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

/**
 * Read a stream into memory, at most `limit` bytes: it is read to its end,
 * or cancelled as soon as it holds more (then `over` is set and the first
 * `limit` bytes are kept).
 */
export async function readBounded(stream: ReadableStream<Uint8Array>, limit: number): Promise<BoundedBytes> {
  const body = new BoundedBytes(limit);
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return body;
      if (!body.add(value)) {
        await reader.cancel().catch(() => {});
        return body;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
