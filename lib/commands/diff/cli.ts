/**
 * `airgap diff`: two locks (or archives) compared, one line per image that
 * differs, then the counts and the bytes a delta would carry (or JSON). The
 * comparison is `diffLocks` (lib/commands/diff/diff.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { diffLocks, type LockDiff } from "./diff.ts";
import { formatDeltaSize, loadBase } from "../../plan/delta.ts";
import { fitNames, MIN_DISTINCT, shortDigest, tableWidth, wrapLine } from "../../text.ts";
import { out } from "../shared/context.ts";

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
      else for (const line of formatDiff(diff, oldPath, tableWidth())) out(line);
    });
}

/**
 * The differences, `+`/`-`/`~`/`>` per image, the counts, and what a delta
 * against `oldPath` would carry; within `width`, the names cut in the middle
 * (distinct) and the digests as image IDs.
 */
export function formatDiff(diff: LockDiff, oldPath: string, width = Infinity): string[] {
  const rows: [string, string, string][] = [
    ...diff.added.map((i) => ["+", i.entry, shortDigest(i.digest)] as [string, string, string]),
    ...diff.removed.map((i) => ["-", i.entry, shortDigest(i.digest)] as [string, string, string]),
    ...diff.changed.map((c) =>
      ["~", c.after.entry, `${shortDigest(c.before.digest)} -> ${shortDigest(c.after.digest)}`] as [
        string,
        string,
        string,
      ]
    ),
    ...diff.retagged.map((r) =>
      [">", `${r.before.entry} -> ${r.after.entry}`, shortDigest(r.after.digest)] as [string, string, string]
    ),
  ];
  const fits = rows.every(([mark, name, digest]) => mark.length + name.length + digest.length + 3 <= width);
  const short = (d: string) => fits ? d : d.replaceAll(/sha256:([0-9a-f]{12})/g, "$1");
  const room = Math.max(MIN_DISTINCT, width - 4 - Math.max(0, ...rows.map(([, , d]) => short(d).length)));
  const names = fitNames(rows.map(([, name]) => name), fits ? Infinity : room);
  const lines = rows.map(([mark, name, digest]) => `${mark} ${names.get(name)}  ${short(digest)}`);
  lines.push(
    `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed, ${diff.retagged.length} re-tagged, ${diff.unchanged} unchanged`,
  );
  lines.push(formatDeltaSize(oldPath, { blobs: diff.newBlobs, bytes: diff.newBytes }));
  return lines.flatMap((l) => wrapLine(l, width));
}
