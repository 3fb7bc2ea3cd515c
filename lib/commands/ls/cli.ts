/**
 * `airgap ls`: the images of an archive as a table and a totals line (or
 * JSON). The listing is `lsCommand` (lib/commands/verify/inspect.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { type Listing, lsCommand } from "../verify/inspect.ts";
import { formatBytes, formatTable, plural, shortDigest, shortId, tableWidth, wrapLine } from "../../text.ts";
import { formatContents } from "../../report/outcomes.ts";
import { out } from "../shared/context.ts";
import { firstPart } from "../shared/resolve_options.ts";

/** Register `airgap ls`. */
export function registerLs(cli: Command): void {
  cli.command("ls")
    .description("list the images of an archive: platforms, sizes, digests")
    .argument("<archive...>", "the archive, its first part, or all its parts")
    .option("--json", "print JSON")
    .action(async (archives: string[], options: { json?: boolean }) => {
      const listing = await lsCommand(resolve(firstPart(archives)));
      if (options.json) out(JSON.stringify(listing, null, 2));
      else for (const line of formatListing(listing, tableWidth())) out(line);
    });
}

/**
 * The listing as a table (image, digest, artifacts, platforms, size), a blank
 * line and the totals, every line within `width` (names cut last, in the
 * middle, distinct; digests as image IDs).
 */
export function formatListing(listing: Listing, width = Infinity): string[] {
  // A delta (or skipped foreign layers) carries part of some images: the column says what is carried.
  const partial = listing.images.some((i) => i.carried !== i.size);
  const rows = listing.images.map((i) => [
    i.kind === "image" ? i.entry : `${i.entry} (${i.kind})`,
    shortId(i.digest),
    i.artifacts ? `${i.artifacts}${i.verifiedSignatures ? " (verified)" : ""}` : "-",
    i.platforms.length ? i.platforms.join(",") : "-",
    formatBytes(i.carried),
  ]);
  const charts = listing.images.filter((i) => i.kind === "chart").length;
  const files = listing.images.filter((i) => i.kind === "file").length;
  const imageCount = listing.images.length - charts - files;
  const table = formatTable(["IMAGE", "DIGEST", "ARTIFACTS", "PLATFORMS", partial ? "CARRIED" : "SIZE"], rows, {
    width,
    shrink: [0],
    lists: [3],
    minimum: 24,
  });
  const note =
    "CARRIED: the bytes of each image this archive holds (the rest is in its base or left out; full sizes: ls --json)";
  return [
    ...table,
    "",
    ...(partial ? wrapLine(note, width) : []),
    ...wrapLine(
      `${formatContents({ images: imageCount, charts, blobs: listing.blobs, bytes: listing.bytes })}${
        files ? ` (and ${plural(files, "file")})` : ""
      }${listing.parts.length > 1 ? ` in ${listing.parts.length} parts` : ""}; the archive is ${
        formatBytes(listing.size)
      }${listing.base ? `; a delta against base ${shortDigest(listing.base)}` : ""}`,
      width,
    ),
  ];
}
