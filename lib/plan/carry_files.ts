/**
 * Files at plan time: each declared file is downloaded (through the one
 * source download, lib/sources/download.ts) or read as a stream straight into
 * the cache's `tmp/`, hashed as it is written — never held in memory, so a
 * site's ISO of several GiB costs disk, not RAM — bounded by
 * {@link MAX_FILE_SIZE}, checked against its declared SHA-256 before the
 * cache adopts it, and carried as a file artifact (lib/files/artifact.ts)
 * built from its digest and size alone. From there it
 * is one more {@link ResolvedImage} — repository `files/NAME`, tag `latest`,
 * all of its blobs in the cache — so the planner, the lock, the archive,
 * deltas, verify, ls and load carry it with no special case. A file whose
 * bytes the cache already holds (by its declared SHA-256, or with
 * `--locked` the lock's) is not fetched again; any other is read again, as a
 * tag is resolved again, so a changed file is seen.
 * @module
 */
import type { LockedImage } from "../../schemas/lock.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { parsePlatformSelector } from "../oci/platform.ts";
import type { ImageRequest } from "./declaration.ts";
import type { ResolvedImage } from "./planner.ts";
import type { ImageFailure } from "../report/failures.ts";
import { displayUrl, downloadStream } from "../sources/download.ts";
import type { CacheStore } from "../store/cache.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import { emptyConfig, fileArtifact } from "../files/artifact.ts";
import { FILES_REGISTRY, type FileSpec, MAX_FILE_SIZE } from "../files/spec.ts";

/** What a carried file adds to its {@link ResolvedImage} (and the lock keeps). */
export interface CarriedFile {
  /** Its name inside the gap. */
  name: string;
  /** Its mode when extracted (`0755`). */
  mode: string;
  /** Where it came from, as declared (a URL without its query, or a path). */
  from: string;
  /** SHA-256 of its bytes, `sha256:<hex>`. */
  sha256: string;
  /** Its size in bytes. */
  size: number;
}

/** What resolving files needs. */
export interface FileContext {
  /** Files are kept here by digest. */
  cache: CacheStore;
  /** Connection settings by host (CA, credentials, timeouts, cancellation). */
  settings?: ReadonlyMap<string, RegistrySettings>;
  /** The previous lock: with `locked`, a file it pins is read from the cache when there. */
  previousLock?: { images: LockedImage[] };
  /** Use the lock's pins (`--locked`): a file without a declared sha256 is taken as the lock pinned it. */
  locked?: boolean;
  /** Cancels downloads. */
  signal?: AbortSignal;
}

/** The request a file answers: entry `files/NAME` (its target name at load), pulled from nowhere. */
export function fileRequest(spec: FileSpec): ImageRequest {
  return {
    entry: spec.repository,
    source: { registry: FILES_REGISTRY, repository: spec.repository, tag: "latest" },
    platforms: parsePlatformSelector(["all"]),
    origin: spec.origin,
  };
}

/** Resolve every declared file; a file that cannot be fetched or does not verify is a failure naming its entry. */
export async function resolveFiles(
  specs: readonly FileSpec[],
  ctx: FileContext,
): Promise<{ images: ResolvedImage[]; failures: ImageFailure[] }> {
  const images: ResolvedImage[] = [];
  const failures: ImageFailure[] = [];
  for (const spec of specs) {
    try {
      images.push(await resolveFile(spec, ctx));
    } catch (e) {
      if (ctx.signal?.aborted) throw e;
      failures.push({ entry: spec.repository, origin: spec.origin, registry: FILES_REGISTRY, error: e });
    }
  }
  return { images, failures };
}

/** One file into the cache, as an artifact. */
export async function resolveFile(spec: FileSpec, ctx: FileContext): Promise<ResolvedImage> {
  const pinned = ctx.locked ? ctx.previousLock?.images.find((i) => i.entry === spec.repository)?.file : undefined;
  const known = spec.sha256 ?? pinned?.sha256;
  let content: { digest: string; size: number } | undefined;
  if (known) {
    const size = await ctx.cache.blobSize(known);
    if (size !== undefined) content = { digest: known, size };
  }
  if (!content) content = await fetchFile(spec, ctx, spec.sha256 ?? pinned?.sha256);
  const artifact = fileArtifact(spec.name, spec.mode, content);
  const config = emptyConfig();
  await ctx.cache.putBytes(config.descriptor, config.bytes);
  await ctx.cache.putBytes(artifact.manifest.descriptor, artifact.manifest.bytes);
  const request = fileRequest(spec);
  return {
    request,
    name: `${FILES_REGISTRY}/${spec.repository}:latest`,
    sourceName: `${spec.repository}:latest`,
    descriptor: artifact.manifest.descriptor,
    upstreamDigest: artifact.manifest.descriptor.digest,
    platforms: [],
    manifests: [],
    blobs: [artifact.config, artifact.layer],
    configs: new Set([artifact.config.digest]),
    file: {
      name: spec.name,
      mode: `0${spec.mode.toString(8).padStart(3, "0")}`,
      from: spec.url.startsWith("file:") && !/^file:/i.test(spec.written) ? spec.written : displayUrl(spec.url),
      sha256: content.digest,
      size: content.size,
    },
  };
}

/** Who gave the SHA-256 a file must have. */
function whoSays(spec: FileSpec): string {
  return spec.sha256 ? (spec.sha256From ? `${spec.sha256From} lists` : "declared") : "airgap.lock pins";
}

/** Stream a file into the cache, refusing it (nothing kept) unless it hashes to `expected`. */
async function fetchFile(
  spec: FileSpec,
  ctx: FileContext,
  expected: string | undefined,
): Promise<{ digest: string; size: number }> {
  let mismatch: AirgapError | undefined;
  const accept = ({ digest }: { digest: string }) => {
    if (!expected || digest === expected) return;
    mismatch = new AirgapError(
      `${spec.origin}: file ${spec.name}: sha256 mismatch: ${whoSays(spec)} ${expected}, ${
        displayUrl(spec.url)
      } has ${digest}`,
      { where: spec.origin },
    );
    throw mismatch;
  };
  let got;
  try {
    got = await downloadStream(
      spec.url,
      { settings: ctx.settings, limit: MAX_FILE_SIZE, signal: ctx.signal },
      (body) =>
        ctx.cache.putStream(body, { limit: MAX_FILE_SIZE, what: `file ${spec.name}`, accept, signal: ctx.signal }),
    );
  } catch (e) {
    if (ctx.signal?.aborted || e === mismatch) throw e;
    throw new AirgapError(`${spec.origin}: file ${spec.name}: ${errorMessage(e)}`, { where: spec.origin }, {
      cause: e,
    });
  }
  if (!got.found) {
    throw new AirgapError(
      `${spec.origin}: file ${spec.name}: not found at ${displayUrl(spec.url)} (HTTP ${got.status})`,
      { where: spec.origin },
    );
  }
  return got.value;
}
