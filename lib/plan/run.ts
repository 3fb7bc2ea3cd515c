/**
 * `airgap plan`: resolve the declaration, compare with the cache and the
 * previous lock, show what would move, and write the new lock.
 * @module
 */
import { type ArtifactFlags, artifactPolicy, withArtifacts } from "../artifacts/carry.ts";
import type { Lock } from "../../schemas/lock.ts";
import type { Declaration } from "./declaration.ts";
import { formatBytes, formatTable, shortDigest } from "../format.ts";
import { withSources } from "./lock.ts";
import { lockFromImages, makePlan, type Plan, type ResolvedImage, ResolveError } from "./plan.ts";
import type { ImageFailure } from "../report/failures.ts";
import { displayPath } from "./declaration.ts";
import type { ResolvedSources } from "../sources/resolve.ts";
import { listFailed, resolveDeclared, retryDeclared } from "./resolve_declared.ts";
import type { Reporter } from "../report/progress.ts";
import { type NetworkOptions, registryPool } from "../store/registry/pool.ts";
import { openCache } from "../store/cache.ts";
import { type Base, formatDeltaSize } from "./delta.ts";

/** Options of {@link planCommand}. */
export interface PlanOptions {
  /** Images, sources and registry settings to resolve. */
  declaration: Declaration;
  /** Cache directory (created if missing): what it holds is not fetched again. */
  cacheDir: string;
  /** The previous lock (to compare with, or to pin from with `locked`). */
  previousLock?: Lock;
  /** Pin to `previousLock`'s digests instead of resolving tags. */
  locked?: boolean;
  /** Also compute what a delta against this base would carry. */
  base?: Base;
  /** Where messages go. */
  reporter: Reporter;
  /** Plan every image that resolves; the others are left out of the plan and the lock. */
  keepGoing?: boolean;
  /** Where to list the images that failed (`airgap.failed.txt`); removed when nothing failed. */
  failedList?: string;
  /** Timeouts, progress hooks and cancellation for the network (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
  /** `--with-signatures` and `--verify-key`: artifacts are planned (and signatures checked) as save does. */
  artifacts?: ArtifactFlags;
}

/** A plan and the lock it implies. */
export interface PlanResult {
  /** Every image with its lock status, and what a save would fetch. */
  plan: Plan;
  /** The lock the resolved images imply (sources included); not written by the command. */
  lock: Lock;
  /** Release lists and charts fetched. */
  sources: ResolvedSources;
  /** With `keepGoing`: the images that could not be resolved (listed in `failedList`). */
  failed: ImageFailure[];
}

/** Resolve and plan. */
export async function planCommand(options: PlanOptions): Promise<PlanResult> {
  const cache = await openCache(options.cacheDir);
  const pool = registryPool(options.declaration.registries, { network: options.network });
  try {
    const { sources, requests, resolution } = await resolveDeclared({ ...options, cache, registry: pool.get }, {
      phase: true,
    });
    const total = requests.length;
    const policy = await artifactPolicy(options.declaration, options.artifacts ?? {});
    const carried = await withArtifacts(resolution.images, { cache, registry: pool.get, policy });
    const failures = [...resolution.failures, ...carried.failures];
    const images = [...carried.images, ...carried.artifacts];
    await listFailed("plan", options.failedList, failures, total, retryDeclared(options.declaration));
    if (failures.length > 0 && (!options.keepGoing || carried.images.length === 0)) {
      const file = options.failedList && displayPath(options.failedList);
      throw new ResolveError(
        failures,
        `${failures.length} of ${total} images ${
          carried.failures.length > 0 ? "could not be resolved or were refused (signatures)" : "could not be resolved"
        }; no lock was written${file ? `; the full list is in ${file}` : ""}`,
      );
    }
    const plan = await makePlan(images, cache, options.previousLock, options.base, failures);
    return { plan, lock: withSources(lockFromImages(images), sources.locked), sources, failed: failures };
  } finally {
    await pool.close();
  }
}

/** Why the saved root differs from the upstream one, in a few words. */
function rootNote(image: ResolvedImage): string {
  if (image.assembled) return ` (assembled from ${Object.keys(image.assembled).length} tags)`;
  if (image.upstreamDigest === image.descriptor.digest) return "";
  if (!image.rewritten) return ` (filtered from ${shortDigest(image.upstreamDigest)})`;
  const how = image.filtered ? "filtered, foreign layers made distributable" : "foreign layers made distributable";
  return ` (${how}; upstream ${shortDigest(image.upstreamDigest)})`;
}

/** Lines below the table for images whose saved graph differs from upstream beyond filtering. */
function imageDetails(image: ResolvedImage): string[] {
  const out: string[] = [];
  const entry = image.request.entry;
  if (image.assembled) {
    const tags = Object.entries(image.assembled).map(([tag, digest]) => `${tag} (${shortDigest(digest)})`);
    out.push(`${entry}: one index assembled from the per-OS tags ${tags.join(", ")}: ${image.platforms.join(", ")}`);
  }
  if (image.foreignLayers?.length) {
    const bytes = image.foreignLayers.reduce((sum, l) => sum + l.descriptor.size, 0);
    const carried = image.absent?.size ? "left out (skip)" : "fetched from their URLs and carried";
    out.push(`${entry}: ${image.foreignLayers.length} foreign layer(s), ${formatBytes(bytes)}, ${carried}`);
  }
  for (const [upstream, saved] of Object.entries(image.rewritten ?? {})) {
    out.push(
      `${entry}: manifest ${shortDigest(upstream)} saved as ${shortDigest(saved)} (foreign layers made distributable)`,
    );
  }
  if (image.externalLayers?.length) {
    out.push(`${entry}: ${image.externalLayers.length} foreign layer(s) stay at their URLs (keep)`);
  }
  return out;
}

/** The plan as a table, one line per image, then totals. */
export function formatPlan(plan: Plan, width = Infinity): string {
  const rows = plan.images.map(({ image, lockStatus, missing, previousDigest, platform }) => {
    const fetch = missing.reduce((sum, d) => sum + d.size, 0);
    const cacheState = missing.length === 0 ? "cached" : `fetch ${formatBytes(fetch)}`;
    const platforms = image.platforms.length > 0 ? image.platforms.join(",") : platform ?? "-";
    const filtered = rootNote(image);
    const digest = `${shortDigest(image.descriptor.digest)}${filtered}`;
    return [
      lockStatus,
      cacheState,
      image.request.entry,
      previousDigest ? `${shortDigest(previousDigest)} → ${digest}` : digest,
      platforms,
    ];
  });
  for (const removed of plan.removed) rows.push(["removed", "-", removed.entry, shortDigest(removed.digest), "-"]);
  const out = formatTable(["LOCK", "CACHE", "IMAGE", "DIGEST", "PLATFORMS"], rows, { width, shrink: [2, 4] });
  const details = plan.images.flatMap(({ image }) => imageDetails(image));
  if (details.length > 0) out.push("", ...details);
  const counts = { new: 0, changed: 0, unchanged: 0 };
  for (const i of plan.images) counts[i.lockStatus]++;
  out.push("");
  out.push(
    `${plan.images.length} images (${counts.new} new, ${counts.changed} changed, ${counts.unchanged} unchanged${
      plan.removed.length ? `, ${plan.removed.length} removed` : ""
    }), ${plan.blobs.size} unique blobs, ${formatBytes(plan.totalBytes)}`,
  );
  out.push(
    plan.fetchBlobs === 0
      ? "everything is cached: nothing to fetch"
      : `to fetch: ${plan.fetchBlobs} blobs, ${formatBytes(plan.fetchBytes)} (${plan.fetchBytes} bytes)`,
  );
  if (plan.delta) {
    out.push(`${formatDeltaSize(plan.delta.source, plan.delta)}; ${formatBytes(plan.delta.fetchBytes)} still to fetch`);
  }
  return out.join("\n");
}

/** The sources of a plan, one line each: what, status, digest, images, how verified. */
export function formatSources(sources: ResolvedSources): string {
  return sources.summaries.map((s) =>
    `${s.status}  ${s.label}  ${shortDigest(s.locked.digest)}  ${s.images} images  (${s.verified}${
      s.cached ? ", cached" : ""
    })`
  ).join("\n");
}
