/**
 * The step `plan`, `save`, `mirror` and `images` share: fetch the
 * declaration's sources (release lists, charts), apply `--only`, then resolve
 * every image. Written once so the four commands read a declaration the same
 * way; each decides for itself what a failure means (`--keep-going`).
 * @module
 */
import type { NetworkSession } from "../transport/session.ts";
import type { Lock } from "../../schemas/lock.ts";
import { AirgapError } from "../errors.ts";
import type { Reporter } from "../report/progress.ts";
import { type ResolvedSources, resolveSources } from "../sources/resolve.ts";
import type { CacheStore } from "../store/cache.ts";
import type { NetworkOptions } from "../store/registry/pool.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import { type Declaration, displayPath, type ImageRequest, onlyRequested } from "./declaration.ts";
import { type ImageFailure, retryFlags, writeFailedList } from "../report/failures.ts";
import { type Resolution, resolveEach, resolvingPlan } from "./plan.ts";

/** What reading a declaration needs: the caller owns the cache and the registry pool (and closes them). */
export interface DeclaredContext {
  /** The declaration. */
  declaration: Declaration;
  /** Fetched lists, charts and manifests are kept here. */
  cache: CacheStore;
  /** The registry store for a host (a pool's `get`). */
  registry(host: string): RegistryStore;
  /** The previous lock: to compare with, or to pin from with `locked`. */
  previousLock?: Lock;
  /** Use the lock's digests instead of resolving tags and versions. */
  locked?: boolean;
  /** Timeouts, progress hooks and cancellation. */
  network?: NetworkOptions;
  /** The run's network session (the pool's): source downloads go through it. */
  session?: NetworkSession;
}

/** The declaration's sources and the requests it makes (`--only` applied). */
export interface DeclaredRequests {
  /** Release lists and charts fetched. */
  sources: ResolvedSources;
  /** Every image request, sources included. */
  requests: ImageRequest[];
}

/** Fetch the declaration's sources and list its requests (`--only` applied). */
export async function declaredRequests(
  ctx: DeclaredContext & { reporter?: { warn(line: string): void } },
): Promise<DeclaredRequests> {
  const sources = await resolveSources(ctx.declaration, {
    network: ctx.network,
    cache: ctx.cache,
    previousLock: ctx.previousLock,
    locked: ctx.locked,
    registry: ctx.registry,
    session: ctx.session,
    reporter: ctx.reporter,
  });
  return { sources, requests: onlyRequested(sources.requests, ctx.declaration.only) };
}

/** How {@link resolveDeclared} shows its progress. */
export interface ResolvingDisplay {
  /** Say `resolving N images` first. */
  announce?: boolean;
  /** Show the resolving phase (one step per image). */
  phase?: boolean;
}

/** {@link declaredRequests}, then every request resolved: the images, and the failures collected. */
export async function resolveDeclared(
  ctx: DeclaredContext & { reporter: Reporter },
  display: ResolvingDisplay = {},
): Promise<DeclaredRequests & { resolution: Resolution }> {
  const { sources, requests } = await declaredRequests(ctx);
  if (display.announce) ctx.reporter.info(`resolving ${requests.length} images`);
  const resolving = display.phase ? ctx.reporter.phase("resolving", resolvingPlan(requests)) : undefined;
  const resolution = await resolveEach(requests, {
    cache: ctx.cache,
    registry: ctx.registry,
    lock: ctx.previousLock,
    locked: ctx.locked,
    foreignLayers: ctx.declaration.foreignLayers,
    ...(resolving ? { onResolved: (image) => resolving.imageDone(image.request.entry) } : {}),
  }).finally(() => resolving?.end());
  return { sources, requests, resolution };
}

/** Refuse a declaration that lists nothing to `verb` (save, mirror). */
export function requireImages(declaration: Declaration, verb: string): void {
  if (declaration.requests.length === 0 && !declaration.sources?.length) {
    throw new AirgapError(`nothing to ${verb}: the declaration lists no images`, {}, { exitCode: 2 });
  }
}

/**
 * Write the list of images that failed (`--failed-list`; removed when nothing
 * failed), headed by the command that retries them: `retry` gives its
 * arguments from the list's path as shown.
 */
export async function listFailed(
  command: string,
  failedList: string | undefined,
  failures: ImageFailure[],
  total: number,
  retry: (file: string) => string,
): Promise<void> {
  if (!failedList) return;
  const file = displayPath(failedList);
  await writeFailedList(
    failedList,
    failures,
    `airgap ${command}: ${failures.length} of ${total} images failed; retry them with: airgap ${command} ${
      retry(file)
    }`,
  );
}

/** The retry arguments of a declaration's command: the failed list, and the declaration when it is not the default. */
export function retryDeclared(declaration: Declaration): (file: string) => string {
  return (file) => retryFlags(file, declaration.configPath && displayPath(declaration.configPath));
}
