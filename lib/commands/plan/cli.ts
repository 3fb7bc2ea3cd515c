/**
 * `airgap plan`: its options, and its output — the plan as a table (or
 * JSON), the sources it fetched, the lock it wrote. The planning itself is
 * `planCommand` (lib/commands/plan/plan.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { planCommand, type PlanResult } from "./plan.ts";
import type { Plan } from "../../plan/planner.ts";
import { displayPath } from "../../plan/declaration.ts";
import { formatDeltaSize, loadBase } from "../../plan/delta.ts";
import { writeLock } from "../../lock.ts";
import type { ResolvedSources } from "../../plan/fetch_sources.ts";
import { failedListPath, keepGoingHelp } from "../../report/failures.ts";
import { formatBytes, formatTable, plural, shortDigest, shortId, tableWidth, wrapLine } from "../../text.ts";
import { network, out, reporterFor, reportLeftOut } from "../shared/context.ts";
import { addCommonOptions, addWindowsOptions, collect, type DeclarationOptions } from "../shared/options.ts";
import { artifactFlags, declaration, lockToWrite, previousLockOf } from "../shared/resolve_options.ts";
import { namingPathOptions, preflightLock, writableCacheDir } from "../shared/resolve_options.ts";

/** The options of `airgap plan`. */
export interface PlanCliOptions extends DeclarationOptions {
  lock?: string;
  locked?: boolean;
  writeLock: boolean;
  since?: string;
  json?: boolean;
  keepGoing?: boolean;
  withSignatures?: boolean;
  verifyKey?: string[];
}

/** Register `airgap plan`. */
export function registerPlan(cli: Command): void {
  addWindowsOptions(addCommonOptions(
    cli.command("plan")
      .description("resolve the declaration, show what is cached, new or changed, and write airgap.lock"),
  ))
    .option("-l, --image-list <file>", "plan an image list instead of airgap.yaml")
    .option("-s, --source-registry <host>", "pull from this registry (mirror) instead")
    .option("--lock <file>", "lock file (default: airgap.lock next to airgap.yaml)")
    .option("--locked", "use the digests pinned in the lock instead of resolving tags")
    .option("--no-write-lock", "do not write the lock")
    .option("--since <old>", "also show what a delta against OLD (an airgap.lock or archive) would carry")
    .option("--json", "print the plan as JSON")
    .option("--keep-going", keepGoingHelp("plan", "airgap"))
    .option("--with-signatures", "also plan cosign signatures, attestations, SBOMs and OCI referrers")
    .option(
      "--verify-key <file>",
      "refuse images without a cosign signature verifying with this PEM key (repeatable)",
      collect,
    )
    .action(plan);
}

async function plan(options: PlanCliOptions): Promise<void> {
  const decl = await declaration(options);
  const base = options.since ? await loadBase(resolve(options.since), options.since) : undefined;
  const { lockPath, previousLock } = await previousLockOf(options, decl);
  const failedList = failedListPath(lockPath ?? resolve("airgap.lock"), "plan");
  const reporter = reporterFor(options);
  const writing = options.writeLock ? lockToWrite(decl, options.lock, lockPath) : undefined;
  await preflightLock(writing);
  const cache = await writableCacheDir(options, decl);
  const result = await planCommand({
    declaration: decl,
    cacheDir: cache,
    previousLock,
    locked: options.locked,
    base,
    reporter,
    keepGoing: options.keepGoing ?? decl.keepGoing,
    failedList,
    network: network(options, reporter),
    artifacts: artifactFlags(options),
  }).catch(namingPathOptions({ cache }));
  reportLeftOut(result.failed, failedList, reporter, decl.configPath, options.quiet);
  if (options.json) out(JSON.stringify(planJson(result), null, 2));
  else {
    if (result.sources.summaries.length > 0) out(formatSources(result.sources, tableWidth()) + "\n");
    out(formatPlan(result.plan, tableWidth()));
  }
  if (writing) {
    await writeLock(writing, result.lock).catch(namingPathOptions({ lock: writing }));
    if (!options.json) out(`wrote ${displayPath(writing)}`);
  }
}

/** `plan --json` (airgap schema --of plan). */
export function planJson({ plan, sources }: Pick<PlanResult, "plan" | "sources">) {
  return {
    images: plan.images.map((p) => ({
      entry: p.image.request.entry,
      source: p.image.name,
      origin: p.image.request.origin,
      digest: p.image.descriptor.digest,
      upstreamDigest: p.image.upstreamDigest,
      ...(p.previousDigest ? { previousDigest: p.previousDigest } : {}),
      platforms: p.image.platforms,
      ...(p.image.assembled ? { assembled: p.image.assembled } : {}),
      ...(p.image.rewritten ? { rewritten: p.image.rewritten } : {}),
      ...(p.image.foreignLayers ? { foreignLayers: p.image.foreignLayers.length } : {}),
      ...(p.image.file ? { file: p.image.file } : {}),
      lock: p.lockStatus,
      missingBlobs: p.missing.length,
      missingBytes: p.missing.reduce((s, d) => s + d.size, 0),
    })),
    removed: plan.removed.map((r) => r.entry),
    sources: sources.summaries.map((s) => ({ ...s.locked, status: s.status, images: s.images })),
    totalBytes: plan.totalBytes,
    uniqueBlobs: plan.blobs.size,
    fetchBytes: plan.fetchBytes,
    fetchBlobs: plan.fetchBlobs,
    delta: plan.delta,
  };
}

/** Marks a DIGEST cell whose saved root differs from the upstream one (explained below the table). */
const ROOT_MARK = "*";

/** Lines below the table for images whose saved graph differs from upstream beyond filtering, or that changed. */
function imageDetails({ image, previousDigest }: Plan["images"][number]): string[] {
  const out: string[] = [];
  const entry = image.request.entry;
  if (previousDigest) out.push(`${entry}: changed, ${shortId(previousDigest)} → ${shortId(image.descriptor.digest)}`);
  if (image.assembled) {
    const tags = Object.entries(image.assembled).map(([tag, digest]) => `${tag} (${shortId(digest)})`);
    out.push(`${entry}: one index assembled from the per-OS tags ${tags.join(", ")}: ${image.platforms.join(", ")}`);
  }
  if (image.foreignLayers?.length) {
    const bytes = image.foreignLayers.reduce((sum, l) => sum + l.descriptor.size, 0);
    const carried = image.absent?.size ? "left out (skip)" : "fetched from their URLs and carried";
    out.push(`${entry}: ${image.foreignLayers.length} foreign layer(s), ${formatBytes(bytes)}, ${carried}`);
  }
  for (const [upstream, saved] of Object.entries(image.rewritten ?? {})) {
    out.push(`${entry}: manifest ${shortId(upstream)} saved as ${shortId(saved)} (foreign layers made distributable)`);
  }
  if (image.externalLayers?.length) {
    out.push(`${entry}: ${image.externalLayers.length} foreign layer(s) stay at their URLs (keep)`);
  }
  return out;
}

/**
 * The plan as a table, one line per image, then the notes (changed digests,
 * assembled or rewritten roots) and the totals — every line within `width`:
 * names are cut in the middle last, digests are image IDs as in `docker
 * images`, and a root that differs from upstream is marked and explained in
 * one line below instead of widening the DIGEST column.
 */
export function formatPlan(plan: Plan, width = Infinity): string {
  const rows = plan.images.map(({ image, lockStatus, missing, platform }) => {
    const fetch = missing.reduce((sum, d) => sum + d.size, 0);
    const cacheState = missing.length === 0 ? "cached" : formatBytes(fetch);
    const platforms = image.platforms.length > 0 ? image.platforms.join(",") : platform ?? "-";
    const differs = image.upstreamDigest !== image.descriptor.digest || image.assembled;
    return [
      lockStatus,
      cacheState,
      image.request.entry,
      `${shortId(image.descriptor.digest)}${differs ? ROOT_MARK : ""}`,
      platforms,
    ];
  });
  for (const removed of plan.removed) rows.push(["removed", "-", removed.entry, shortId(removed.digest), "-"]);
  const out = formatTable(["LOCK", "TO FETCH", "IMAGE", "DIGEST", "PLATFORMS"], rows, {
    width,
    shrink: [2],
    lists: [4],
    minimum: 24,
  });
  const notes: string[] = [];
  if (rows.some((r) => r[3].endsWith(ROOT_MARK))) {
    notes.push(
      `${ROOT_MARK} saved root differs from upstream's (platforms filtered, per-OS tags assembled or foreign layers made distributable); upstream digests: plan --json`,
    );
  }
  notes.push(...plan.images.flatMap(imageDetails));
  const counts = { new: 0, changed: 0, unchanged: 0 };
  for (const i of plan.images) counts[i.lockStatus]++;
  const totals = [
    `${
      plural(plan.images.length, "image")
    } (${counts.new} new, ${counts.changed} changed, ${counts.unchanged} unchanged${
      plan.removed.length ? `, ${plan.removed.length} removed` : ""
    }), ${plural(plan.blobs.size, "unique blob")}, ${formatBytes(plan.totalBytes)}`,
    plan.fetchBlobs === 0
      ? "everything is cached: nothing to fetch"
      : `to fetch: ${plural(plan.fetchBlobs, "blob")}, ${formatBytes(plan.fetchBytes)} (${plan.fetchBytes} bytes)`,
  ];
  if (plan.delta) {
    totals.push(
      `${formatDeltaSize(plan.delta.source, plan.delta)}; ${formatBytes(plan.delta.fetchBytes)} still to fetch`,
    );
  }
  return [...out, ...(notes.length ? ["", ...notes] : []), "", ...totals].flatMap((l) => wrapLine(l, width)).join(
    "\n",
  );
}

/** The sources of a plan, one line each: what, status, digest, images, how verified. */
export function formatSources(sources: ResolvedSources, width = Infinity): string {
  return sources.summaries.flatMap((s) =>
    wrapLine(
      `${s.status}  ${s.label}  ${shortDigest(s.locked.digest)}  ${plural(s.images, "image")}  (${s.verified}${
        s.cached ? ", cached" : ""
      })`,
      width,
    )
  ).join("\n");
}
