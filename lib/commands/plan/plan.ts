/**
 * `airgap plan`: resolve the declaration, compare with the cache and the
 * previous lock, show what would move, and write the new lock.
 * @module
 */
import { type ArtifactFlags, artifactPolicy, withArtifacts } from "../../plan/carry_artifacts.ts";
import type { Lock } from "../../../schemas/lock.ts";
import type { Declaration } from "../../plan/declaration.ts";
import { withSources } from "../../lock.ts";
import { lockFromImages, makePlan, type Plan, ResolveError } from "../../plan/planner.ts";
import type { ImageFailure } from "../../report/failures.ts";
import { displayPath } from "../../plan/declaration.ts";
import type { ResolvedSources } from "../../plan/fetch_sources.ts";
import { listFailed, resolveDeclared, retryDeclared } from "../../plan/resolve_declared.ts";
import { type Reporter, trace } from "../../report/progress.ts";
import { type NetworkOptions, registryPool } from "../../store/registry/pool.ts";
import { openCache } from "../../store/cache.ts";
import type { Base } from "../../plan/delta.ts";

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
  /** Where to list the images that failed (`airgap.plan-failed.txt`); removed when nothing failed. */
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
  trace("plan: start");
  const cache = await openCache(options.cacheDir);
  const lease = await cache.lease(); // `cache prune` keeps what the plan reads and writes
  const pool = registryPool(options.declaration.registries, { network: options.network });
  trace("plan: cache open, lease taken");
  try {
    const { sources, requests, resolution } = await resolveDeclared({
      ...options,
      cache,
      registry: pool.get,
      session: pool.session,
    }, {
      phase: true,
    });
    trace("plan: resolved");
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
    trace("plan: artifacts");
    const plan = await makePlan(images, cache, options.previousLock, options.base, failures);
    trace("plan: compared with the cache");
    return { plan, lock: withSources(lockFromImages(images), sources.locked), sources, failed: failures };
  } finally {
    await pool.close();
    await lease.release();
    trace("plan: closed");
  }
}
