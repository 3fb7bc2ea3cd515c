/**
 * `airgap diff`: two locks (or archives) compared, one line per image that
 * differs, then the counts and the bytes a delta would carry (or JSON). The
 * comparison is `diffLocks` (lib/plan/diff.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { diffLocks, type LockDiff } from "../plan/diff.ts";
import { formatDeltaSize, loadBase } from "../plan/delta.ts";
import { shortDigest } from "../format.ts";
import { out } from "./context.ts";

/** Register `airgap diff`. */
export function registerDiff(cli: Command): void {
  cli.command("diff")
    .description("compare two locks: images added, removed, changed, re-tagged, and the bytes that move")
    .argument("<old>", "the older airgap.lock (or an archive)")
    .argument("<new>", "the newer airgap.lock (or an archive)")
    .option("--json", "print JSON")
    .action(async (oldPath: string, newPath: string, options: { json?: boolean }) => {
      const before = await loadBase(resolve(oldPath), oldPath);
      const after = await loadBase(resolve(newPath), newPath);
      const diff = diffLocks(before.lock, after.lock);
      if (options.json) out(JSON.stringify(diff, null, 2));
      else for (const line of formatDiff(diff, oldPath)) out(line);
    });
}

/** The differences, `+`/`-`/`~`/`>` per image, the counts, and what a delta against `oldPath` would carry. */
export function formatDiff(diff: LockDiff, oldPath: string): string[] {
  const lines: string[] = [];
  for (const i of diff.added) lines.push(`+ ${i.entry}  ${shortDigest(i.digest)}`);
  for (const i of diff.removed) lines.push(`- ${i.entry}  ${shortDigest(i.digest)}`);
  for (const c of diff.changed) {
    lines.push(`~ ${c.after.entry}  ${shortDigest(c.before.digest)} -> ${shortDigest(c.after.digest)}`);
  }
  for (const r of diff.retagged) lines.push(`> ${r.before.entry} -> ${r.after.entry}  ${shortDigest(r.after.digest)}`);
  lines.push(
    `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed, ${diff.retagged.length} re-tagged, ${diff.unchanged} unchanged`,
  );
  lines.push(formatDeltaSize(oldPath, { blobs: diff.newBlobs, bytes: diff.newBytes }));
  return lines;
}
