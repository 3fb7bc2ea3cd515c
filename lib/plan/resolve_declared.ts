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
import { type ResolvedSources, resolveSources } from "./fetch_sources.ts";
import type { CacheStore } from "../store/cache.ts";
import type { NetworkOptions, RegistryPool } from "../store/registry/pool.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import { type Declaration, displayPath, type ImageRequest, mergeRequests, onlyRequested } from "./declaration.ts";
import { resolveDistribution } from "./fetch_distributions.ts";
import { type ImageFailure, retryFlags, writeFailedList } from "../report/failures.ts";
import { type Resolution, resolveEach, resolvingPlan } from "./planner.ts";
import { resolveFiles } from "./carry_files.ts";
import type { FileSpec } from "../files/spec.ts";
import { withNetwork } from "../store/registry/pool.ts";

/** The files `--only` keeps (all without it). */
function onlyFiles(files: FileSpec[], only: readonly string[] | undefined): FileSpec[] {
  const wanted = only && new Set(only);
  return files.filter((f) => !wanted || wanted.has(f.repository));
}

/** The declaration's files and its distributions': a name carried twice is an error naming both places. */
function carriedFiles(declaration: Declaration, more: FileSpec[]): FileSpec[] {
  const seen = new Map<string, FileSpec>();
  for (const file of [...declaration.files ?? [], ...more]) {
    const first = seen.get(file.repository);
    if (first) {
      throw new AirgapError(`${file.origin}: file ${file.name} is carried twice (first at ${first.origin})`, {}, {
        exitCode: 2,
      });
    }
    seen.set(file.repository, file);
  }
  return [...seen.values()];
}

/** Every declared distribution's image requests and files. */
async function resolveDistributions(ctx: DeclaredContext): Promise<{ requests: ImageRequest[]; files: FileSpec[] }> {
  const requests: ImageRequest[] = [];
  const files: FileSpec[] = [];
  for (const spec of ctx.declaration.distributions ?? []) {
    const got = await resolveDistribution(spec, {
      cache: ctx.cache,
      settings: withNetwork(ctx.declaration.registries, ctx.network),
      signal: ctx.network?.signal,
    });
    requests.push(...got.requests);
    files.push(...got.files);
  }
  return { requests, files };
}

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
  /** Every file to carry: the declaration's and its distributions' (`--only` applied). */
  files: FileSpec[];
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
  const distributions = await resolveDistributions(ctx);
  const files = carriedFiles(ctx.declaration, distributions.files);
  const entries = new Set(files.map((f) => f.repository));
  const only = ctx.declaration.only?.filter((entry) => !entries.has(entry));
  const requests = distributions.requests.length > 0
    ? mergeRequests(sources.requests, distributions.requests)
    : sources.requests;
  return { sources, requests: onlyRequested(requests, only), files: onlyFiles(files, ctx.declaration.only) };
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
  const declared = await declaredRequests(ctx);
  const { sources, requests } = declared;
  if (display.announce) {
    const files = declared.files.length;
    ctx.reporter.info(
      `resolving ${requests.length} images${files ? ` and ${files} file${files === 1 ? "" : "s"}` : ""}`,
    );
  }
  const resolving = display.phase ? ctx.reporter.phase("resolving", resolvingPlan(requests)) : undefined;
  const resolution = await resolveEach(requests, {
    cache: ctx.cache,
    registry: ctx.registry,
    lock: ctx.previousLock,
    locked: ctx.locked,
    foreignLayers: ctx.declaration.foreignLayers,
    ...(resolving ? { onResolved: (image) => resolving.imageDone(image.request.entry) } : {}),
  }).finally(() => resolving?.end());
  const files = await resolveFiles(declared.files, {
    cache: ctx.cache,
    settings: withNetwork(ctx.declaration.registries, ctx.network),
    previousLock: ctx.previousLock,
    locked: ctx.locked,
    signal: ctx.network?.signal,
  });
  resolution.images.push(...files.images);
  resolution.failures.push(...files.failures);
  return { sources, requests: [...requests, ...files.images.map((i) => i.request)], files: declared.files, resolution };
}

/**
 * What `save` and `mirror` both do first: refuse a declaration that lists
 * nothing to `verb`, then resolve it through the run's cache and registry
 * pool (whose session carries the source downloads).
 */
export function resolveForCopy(
  verb: string,
  options: Omit<DeclaredContext, "cache" | "registry" | "session"> & { reporter: Reporter },
  cache: CacheStore,
  pool: RegistryPool,
  display: ResolvingDisplay,
): Promise<DeclaredRequests & { resolution: Resolution }> {
  requireImages(options.declaration, verb);
  return resolveDeclared({ ...options, cache, registry: pool.get, session: pool.session }, display);
}

/** Refuse a declaration that lists nothing to `verb` (save, mirror). */
export function requireImages(declaration: Declaration, verb: string): void {
  if (
    declaration.requests.length === 0 && !declaration.sources?.length && !declaration.files?.length &&
    !declaration.distributions?.length
  ) {
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
