/**
 * `airgap ls`: the images of an archive as a table and a totals line (or
 * JSON). The listing is `lsCommand` (lib/store/inspect.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { type Listing, lsCommand } from "../store/inspect.ts";
import { formatBytes, formatTable, shortDigest, tableWidth } from "../format.ts";
import { formatContents } from "../report/outcomes.ts";
import { out } from "./context.ts";
import { firstPart } from "./resolve.ts";

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

/** The listing as a table (image, digest, artifacts, platforms, size), a blank line and the totals. */
export function formatListing(listing: Listing, width = Infinity): string[] {
  const rows = listing.images.map((i) => [
    i.kind === "image" ? i.entry : `${i.entry} (${i.kind})`,
    shortDigest(i.digest),
    i.artifacts ? `${i.artifacts}${i.verifiedSignatures ? " (verified)" : ""}` : "-",
    i.platforms.length ? i.platforms.join(",") : "-",
    i.carried === i.size ? formatBytes(i.size) : `${formatBytes(i.carried)} of ${formatBytes(i.size)}`,
  ]);
  const charts = listing.images.filter((i) => i.kind === "chart").length;
  const imageCount = listing.images.length - charts;
  const table = formatTable(["IMAGE", "DIGEST", "ARTIFACTS", "PLATFORMS", "SIZE"], rows, { width, shrink: [0, 3] });
  return [
    ...table,
    "",
    `${formatContents({ images: imageCount, charts, blobs: listing.blobs, bytes: listing.bytes })}${
      listing.parts.length > 1 ? ` in ${listing.parts.length} parts` : ""
    }; the archive is ${formatBytes(listing.size)}${
      listing.base ? `; a delta against base ${shortDigest(listing.base)}` : ""
    }`,
  ];
}
