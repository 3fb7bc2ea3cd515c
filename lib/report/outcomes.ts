/**
 * One vocabulary for what happened to images and blobs, decided here once
 * so that `save`, `load`, `mirror`, `ls` and `verify` (and their `--json`)
 * never describe the same thing with different words or numbers:
 *
 * - an image is loaded/mirrored/saved, **already present**, or **failed**;
 *   the count a summary leads with is the images that made it, never
 *   including the failed ones;
 * - a blob is **pushed**, **mounted**, **already present** or **skipped**
 *   (left out on purpose: a delta's base, a foreign layer);
 * - bytes are the blobs' bytes (configs and layers, each once), printed by
 *   `formatBytes` — the archive's own size is said apart ("the archive is …");
 * - counts and nouns agree through {@link plural} ("1 chart", "2 charts").
 *
 * The failed-list name rule lives next to it in ./failures.ts.
 * @module
 */
import { formatBytes, formatRate, plural } from "../text.ts";

export { plural };

/** The words, as the text summaries print them (the `--json` keys are `pushed`, `mounted`, `exists`). */
export const OUTCOME_WORDS = {
  pushed: "pushed",
  mounted: "mounted",
  present: "already present",
  skipped: "skipped",
  failed: "failed",
} as const;

/** Unique blobs by outcome and the bytes uploaded. */
export interface BlobOutcomes {
  pushed: number;
  mounted: number;
  present: number;
  bytes: number;
}

/** `3 blobs pushed (1.2 MiB at 4.0 MiB/s), 1 mounted, 5 already present`. */
export function formatBlobOutcomes(b: BlobOutcomes, elapsedMs?: number): string {
  const rate = b.bytes > 0 && elapsedMs !== undefined ? ` at ${formatRate(b.bytes, elapsedMs)}` : "";
  return `${plural(b.pushed, "blob")} ${OUTCOME_WORDS.pushed} (${
    formatBytes(b.bytes)
  }${rate}), ${b.mounted} ${OUTCOME_WORDS.mounted}, ${b.present} ${OUTCOME_WORDS.present}`;
}

/**
 * `loaded 14 images (12 new, 2 already present)`: `done` counts the images
 * that made it (failed ones never among them), `present` those of them the
 * target held already.
 */
export function formatImageOutcomes(verb: string, counts: { done: number; present?: number }): string {
  const present = counts.present ?? 0;
  const split = present > 0 ? ` (${counts.done - present} new, ${present} ${OUTCOME_WORDS.present})` : "";
  return `${verb} ${plural(counts.done, "image")}${split}`;
}

/** `; 2 images failed` at the end of a summary line, or nothing. */
export function formatFailed(failed: number): string {
  return failed > 0 ? `; ${plural(failed, "image")} ${OUTCOME_WORDS.failed}` : "";
}

/** `16 images, 1 chart, 100 blobs, 14.1 MiB`: what an archive holds, as `ls` and `verify` both say it. */
export function formatContents(c: { images: number; charts?: number; blobs: number; bytes: number }): string {
  return `${plural(c.images, "image")}${c.charts ? `, ${plural(c.charts, "chart")}` : ""}, ${
    plural(c.blobs, "blob")
  }, ${formatBytes(c.bytes)}`;
}
