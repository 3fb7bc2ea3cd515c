/**
 * The planner: resolve every requested image to a digest and its whole
 * graph (filtering indexes to the selected platforms), keep the manifests in
 * the cache, and compare the result with the cache and the previous lock:
 * what is new, what changed, how many bytes must move.
 * @module
 */
import { InterruptedError, NotFoundError } from "../error_kinds.ts";
import type { Lock, LockedImage } from "../../schemas/lock.ts";
import type { ImageRequest } from "./declaration.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { failureCause, type ImageFailure, sortFailures } from "../report/failures.ts";
import { type Assembly, findPlatforms } from "./assemble.ts";
import type { ForeignLayer, ForeignLayerPolicy } from "../oci/foreign.ts";
import { walkGraph } from "../oci/graph.ts";
import { type Descriptor, MAX_MANIFEST_SIZE } from "../oci/manifest.ts";
import { isIndexType, isManifestType } from "../oci/media.ts";
import { formatPlatform, isAttestation, platformWants, singleImagePlatform } from "../oci/platform.ts";
import {
  checkLockPin,
  type FetchedManifests,
  type GraphPlan,
  lockedPin,
  type ManifestEdit,
  planGraph,
  type SelectedRoot,
  selectPlatforms,
  walkRoots,
} from "./passes.ts";
import { formatReference, isValidDigest, parseReference } from "../ref.ts";
import { limiter } from "../transport/limiter.ts";
import { DEFAULT_METADATA_CONCURRENCY } from "../transport/bounds.ts";
import { lockedArtifact } from "./carry_artifacts.ts";
import type { CarriedFile } from "./carry_files.ts";
import type { CacheStore } from "../store/cache.ts";
import { type Base, deltaSize } from "./delta.ts";
import { lockBlobs } from "../lock.ts";
import { countingPlan, type PhasePlan, trace } from "../report/progress.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import { readAll, type ResolvedManifest } from "../store/types.ts";

/** An image resolved to its graph. */
export interface ResolvedImage {
  /** The request this image answers. */
  request: ImageRequest;
  /** Full reference it is fetched from, e.g. `docker.io/rancher/rancher:v2.7.9` or `mirror:5000/rancher/rancher:v2.7.9`. */
  name: string;
  /**
   * How the image is known at its origin, for files meant for git and for
   * other tools (the lock, index.json): `name`, except that with a mirror
   * (`--source-registry`) it is the entry as written, without the mirror's
   * host — so `skopeo copy oci-archive:FILE:rancher/fleet:v0.9.0` finds it and
   * the lock does not depend on which mirror a machine used.
   */
  sourceName: string;
  /** Root that is saved: the upstream root, or a platform-filtered index. */
  descriptor: Descriptor;
  /** Digest of the upstream root. */
  upstreamDigest: string;
  /** Platforms kept (`os/arch[/variant]`); empty for single-manifest images. */
  platforms: string[];
  /** Manifests below the root. */
  manifests: Descriptor[];
  /** Configs and layers (each once). */
  blobs: Descriptor[];
  /** Which of `blobs` are configs (they travel with the manifests, before layers). */
  configs: Set<string>;
  /** True when platforms were dropped from the upstream index. */
  filtered?: boolean;
  /** Set when the saved index was assembled from per-OS tags: tag → upstream digest. */
  assembled?: Record<string, string>;
  /** Manifests rewritten (foreign layers made distributable, and their parents): upstream digest → saved digest. */
  rewritten?: Record<string, string>;
  /** Foreign layers made distributable (policies include and skip): fetched from their URLs. */
  foreignLayers?: ForeignLayer[];
  /** Foreign layers left at their URLs (policy keep): not carried. */
  externalLayers?: Descriptor[];
  /** Blobs of the graph deliberately not carried (foreign layers under skip): the target must hold them. */
  absent?: Set<string>;
  /** Set on a signature, attestation, SBOM or referrer carried with its subject image (see lib/artifacts). */
  artifact?: ResolvedArtifact;
  /** The subject's cosign signatures verified before saving: how many, with which keys. */
  verified?: { signatures: number; attestations?: number; keys: string[] };
  /** Set on a declared file carried as an artifact (see lib/files). */
  file?: CarriedFile;
}

/** What makes a {@link ResolvedImage} an artifact of another. */
export interface ResolvedArtifact {
  /** A cosign tag kind, or `referrer`. */
  role: "signature" | "attestation" | "sbom" | "referrer";
  /** The kind, when known. */
  kind?: "signature" | "attestation" | "sbom";
  /** Digest of the manifest it belongs to. */
  subject: string;
  /** The entry of its subject image. */
  subjectEntry: string;
  /** Its cosign tag (referrers have none). */
  tag?: string;
  /** How a referrers index lists it. */
  listed?: Descriptor;
}

/** How an image compares with the previous lock. */
export type LockStatus = "new" | "changed" | "unchanged";

/** One line of a plan. */
export interface PlannedImage {
  /** The resolved image. */
  image: ResolvedImage;
  /** How it compares with the previous lock (by entry and digest). */
  lockStatus: LockStatus;
  /** Blobs of this image missing from the cache. */
  missing: Descriptor[];
  /** For a changed image: the digest the previous lock pinned. */
  previousDigest?: string;
  /** For a single-manifest image whose config is cached: its platform, `os/arch[/variant]`. */
  platform?: string;
}

/** The plan: images, their status, and the totals. */
export interface Plan {
  /** Every resolved image, in order. */
  images: PlannedImage[];
  /** Every unique blob (roots and manifests included) → size. */
  blobs: Map<string, number>;
  /** Unique bytes of all images. */
  totalBytes: number;
  /** Unique bytes missing from the cache. */
  fetchBytes: number;
  /** Unique blobs missing from the cache. */
  fetchBlobs: number;
  /** Images in the previous lock no longer declared. */
  removed: LockedImage[];
  /** With a base: what a delta against it carries ({@link deltaSize}), and of that what is still to fetch. */
  delta?: { source: string; blobs: number; bytes: number; fetchBytes: number };
}

/** What resolution needs. */
export interface ResolveContext {
  /** The cache: manifests are read from it when present and stored in it when fetched. */
  cache: CacheStore;
  /**
   * Names the cache has resolved before (`registry/repo:tag` → digest). A tag
   * not in it is fetched at once; undefined means "ask the registry first".
   */
  knownTags?: ReadonlyMap<string, string>;
  /** The registry store for a host (shared, so tokens and connections are reused). */
  registry(host: string): RegistryStore;
  /** The previous lock. */
  lock?: Lock;
  /** Use the lock's digests instead of resolving tags (reproducible re-saves). */
  locked?: boolean;
  /** Images resolved at once (default: {@link resolveConcurrency}). */
  concurrency?: number;
  /** Called as each image is resolved. */
  onResolved?(image: ResolvedImage): void;
  /** What to do with foreign (non-distributable) layers (default include). */
  foreignLayers?: ForeignLayerPolicy;
}

/**
 * Resolution failed for some images: every failure, with its list line. The
 * message is one line; {@link groupFailures} gives the grouped report.
 */
export class ResolveError extends AirgapError {
  /** One line per failure: `origin: image: reason`. */
  readonly failures: string[];
  constructor(readonly details: ImageFailure[], message?: string) {
    const lines = details.map(failureLine);
    super(
      message ??
        (lines.length === 1 ? lines[0] : `${lines.length} images could not be resolved (first: ${lines[0]})`),
    );
    this.failures = lines;
  }
}

/** `origin: image: reason` for one failure. */
export function failureLine(failure: ImageFailure): string {
  const message = errorMessage(failure.error);
  const name = failure.name ?? failure.entry;
  return `${failure.origin}: ${message.includes(name) ? message : `${name}: ${message}`}`;
}

/** Key of an image in a lock: the entry as written. */
export function lockKey(image: { entry: string }): string {
  return image.entry;
}

/** Where one request's manifests come from: the cache first, then its registry (what is fetched lands in the cache). */
interface ImageSource {
  /** The request's full reference, for messages. */
  what: string;
  /** The repository's registry. */
  store: RegistryStore;
  /** The repository. */
  repo: string;
  /** The registry host. */
  registry: string;
  /** The cache. */
  cache: CacheStore;
  /** See {@link ResolveContext.knownTags}. */
  knownTags?: ReadonlyMap<string, string>;
}

/** A manifest or config of the repository: from the cache, else fetched (and kept in the cache). */
async function readManifest(src: ImageSource, desc: Descriptor): Promise<Uint8Array> {
  // A cached copy that fails to read or verify is dropped by the cache: fetch it again.
  const cached = await src.cache.has(desc.digest, desc.size)
    ? await src.cache.readBytes(desc).catch(() => undefined)
    : undefined;
  if (cached) return cached;
  const bytes = await readAll(await src.store.fetch(src.repo, desc), MAX_MANIFEST_SIZE);
  await src.cache.putBytes(desc, bytes);
  return bytes;
}

/** Whether the cache may hold what a tag names: worth a HEAD first. */
async function mayBeCached(src: ImageSource, tagged: string): Promise<boolean> {
  const known = src.knownTags?.get(tagged);
  return known === undefined ? src.knownTags === undefined : await src.cache.has(known);
}

/** A tag or digest of this repository: from the cache when the registry's HEAD names what we hold. */
async function resolveReference(src: ImageSource, reference: string): Promise<ResolvedManifest> {
  const { cache, store, repo } = src;
  if (isValidDigest(reference)) {
    const cached = await cache.has(reference)
      ? await cache.resolve(src.what, reference).catch(() => undefined)
      : undefined;
    if (cached) return cached;
  } else if (await mayBeCached(src, `${src.registry}/${repo}:${reference}`)) {
    // Only worth a HEAD when the cache may hold it: on a cold cache, GET at once.
    const head = await store.head(repo, reference);
    // No separate look-up first: a read of what the cache lacks (or holds at another size) fails, and is fetched.
    const cached = head ? await cache.readBytes(head).catch(() => undefined) : undefined;
    if (head && cached) return { descriptor: head, bytes: cached };
  }
  const resolved = await store.resolve(repo, reference);
  await cache.putBytes(resolved.descriptor, resolved.bytes);
  return resolved;
}

/** A per-OS tag for the assembly: under `--locked` only what the lock pins; otherwise undefined when it does not exist. */
async function resolvePerOsTag(
  src: ImageSource,
  tag: string,
  requestTag: string | undefined,
  locked: LockedImage | undefined,
): Promise<ResolvedManifest | undefined> {
  if (locked) {
    const pin = lockedPin(locked, tag, requestTag);
    return pin ? await resolveReference(src, pin) : undefined;
  }
  try {
    return await resolveReference(src, tag);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** The upstream root: one reference, or (Windows versions asked for) the platforms spread over per-OS tags. */
async function locateRoot(
  src: ImageSource,
  request: ImageRequest,
  locked: LockedImage | undefined,
): Promise<{ root?: ResolvedManifest; combined?: Assembly["combined"] }> {
  const { source } = request;
  const perOs = !request.platforms.all && !source.digest && platformWants(request.platforms).some((w) => w.versioned);
  if (!perOs) {
    return {
      root: await resolveReference(
        src,
        source.digest ?? (locked ? locked.upstreamDigest ?? locked.digest : source.tag!),
      ),
    };
  }
  const found = await findPlatforms({
    what: src.what,
    tag: source.tag!,
    selector: request.platforms,
    read: (desc) => readManifest(src, desc),
    resolveTag: (tag) => resolvePerOsTag(src, tag, source.tag, locked),
  });
  return { root: found.plain, combined: found.combined };
}

/** Every manifest of the selected graph (walked by lib/oci/graph.ts), from the cache or the registry. */
async function fetchManifests(
  src: ImageSource,
  selected: SelectedRoot,
  root: ResolvedManifest | undefined,
): Promise<FetchedManifests> {
  const bytes = new Map<string, Uint8Array>();
  if (root) bytes.set(root.descriptor.digest, root.bytes);
  const read = async (desc: Descriptor) => {
    const known = bytes.get(desc.digest) ?? await readManifest(src, desc);
    bytes.set(desc.digest, known);
    return known;
  };
  const { what } = src;
  const imageRoot = selected.kind === "image" ? selected.upstream.digest : undefined;
  const label = (desc: Descriptor) => desc.digest === imageRoot ? what : `${what} child ${desc.digest}`;
  for (const start of walkRoots(selected)) await walkGraph(start, read, what, { label });
  return { bytes, what };
}

/** The lock's entry for a request under `--locked` (which must have one). */
function lockedEntry(request: ImageRequest, ctx: ResolveContext, what: string): LockedImage | undefined {
  if (!ctx.locked) return undefined;
  const locked = ctx.lock?.images.find((i) => lockKey(i) === request.entry);
  if (!locked) throw new AirgapError(`${what}: not in airgap.lock (run "airgap plan" without --locked to add it)`);
  return locked;
}

/**
 * Resolve one request: locate its root, select platforms, fetch the
 * manifests, compute the saved graph (lib/plan/passes.ts), persist the new
 * manifests to the cache, and hold the result to the lock's pin.
 */
async function resolveOne(request: ImageRequest, ctx: ResolveContext): Promise<ResolvedImage> {
  const { source } = request;
  const what = formatReference(source);
  const src: ImageSource = {
    what,
    store: ctx.registry(source.registry),
    repo: source.repository,
    registry: source.registry,
    cache: ctx.cache,
    knownTags: ctx.knownTags,
  };
  const locked = lockedEntry(request, ctx, what);
  const { root, combined } = await locateRoot(src, request, locked);
  if (source.digest && root && root.descriptor.digest !== source.digest) {
    throw new AirgapError(`${what}: registry returned ${root.descriptor.digest}, expected ${source.digest}`);
  }
  const selected: SelectedRoot = combined
    ? { kind: "assembled", entries: combined.entries }
    : selectPlatforms(root!, request.platforms, what);
  const graph = planGraph(selected, await fetchManifests(src, selected, root), ctx.foreignLayers ?? "include");
  await persistEdits(ctx.cache, graph.edits);
  checkLockPin(locked, graph.root, what);
  const image = resolvedImage(request, what, graph, root, combined);
  if (root && root.descriptor.digest === image.descriptor.digest) rootBytes.set(image, root.bytes);
  return image;
}

/** Apply a plan's edits: the new manifests into the cache, children first (an index never lands before its entries). */
async function persistEdits(cache: CacheStore, edits: readonly ManifestEdit[]): Promise<void> {
  for (const edit of edits) await cache.putBytes(edit.descriptor, edit.bytes);
}

/** The {@link ResolvedImage} a graph plan describes. */
function resolvedImage(
  request: ImageRequest,
  name: string,
  graph: GraphPlan,
  root: ResolvedManifest | undefined,
  combined: Assembly["combined"],
): ResolvedImage {
  const platforms = (graph.rootEntries ?? [])
    .filter((m) => m.platform && !isAttestation(m))
    .map((m) => formatPlatform(m.platform!));
  return {
    request,
    name,
    sourceName: sourceNameOf(request, name),
    descriptor: graph.root,
    upstreamDigest: root?.descriptor.digest ?? graph.root.digest,
    platforms: [...new Set(platforms)],
    manifests: graph.manifests,
    blobs: [...graph.blobs.values()],
    configs: graph.configs,
    ...(graph.filtered ? { filtered: true } : {}),
    ...(combined ? { assembled: combined.sources } : {}),
    ...(Object.keys(graph.rewritten).length > 0 ? { rewritten: graph.rewritten } : {}),
    ...(graph.foreignLayers.size > 0 ? { foreignLayers: [...graph.foreignLayers.values()] } : {}),
    ...(graph.externalLayers.size > 0 ? { externalLayers: [...graph.externalLayers.values()] } : {}),
    ...(graph.absent.size > 0 ? { absent: graph.absent } : {}),
  };
}

/** Progress while resolving: each request counts once, by entry; the registries named are what is waited on. */
export function resolvingPlan(requests: readonly ImageRequest[]): PhasePlan {
  const hosts = [...new Set(requests.map((r) => r.source.registry))];
  return countingPlan(
    [...new Set(requests.map((r) => r.entry))],
    hosts.length === 1 ? hosts[0] : `${hosts.length} registries`,
  );
}

/** See {@link ResolvedImage.sourceName}: the entry when it was fetched from a mirror, else the full name. */
export function sourceNameOf(request: ImageRequest, name: string): string {
  let written: string;
  try {
    written = formatReference(parseReference(request.entry));
  } catch {
    return name;
  }
  return written === name ? name : request.entry.trim();
}

/** What {@link resolveEach} resolved, and what it could not. */
export interface Resolution {
  /** Resolved images, in request order. */
  images: ResolvedImage[];
  /** Requests that failed, with their errors. */
  failures: ImageFailure[];
}

/**
 * Resolve every request that can be resolved. Once a registry turns out to be
 * unreachable, its remaining images fail at once with the same cause instead
 * of each waiting for the network again.
 */
export async function resolveEach(requests: ImageRequest[], ctx: ResolveContext): Promise<Resolution> {
  const limit = limiter(ctx.concurrency ?? resolveConcurrency(requests, ctx.registry));
  if (!ctx.knownTags) {
    const known = new Map<string, string>();
    for (const [name, desc] of await ctx.cache.tags()) known.set(name, desc.digest);
    ctx = { ...ctx, knownTags: known };
  }
  trace(`resolve: ${requests.length} requests, cached tags read`);
  const failures: ImageFailure[] = [];
  const unreachable = new Map<string, unknown>();
  const results = await Promise.all(requests.map((request) =>
    limit(async () => {
      const registry = request.source.registry;
      try {
        if (unreachable.has(registry)) throw unreachable.get(registry);
        const image = await resolveOne(request, ctx);
        ctx.onResolved?.(image);
        return image;
      } catch (e) {
        if (e instanceof InterruptedError) throw e; // Ctrl-C is not an image's failure
        if (!unreachable.has(registry) && failureCause(e, registry).unreachable) unreachable.set(registry, e);
        const name = formatReference(request.source);
        failures.push({ entry: request.entry, name, origin: request.origin, registry, error: e });
        return undefined;
      }
    })
  ));
  trace("resolve: every request answered");
  const images = results.filter((r): r is ResolvedImage => r !== undefined);
  const tags = images
    .filter((i) => i.request.source.tag && !i.request.source.digest)
    .map((i) => ({ name: i.name, descriptor: i.descriptor }));
  await ctx.cache.recordTags(tags);
  trace("resolve: tags recorded");
  return { images, failures: sortFailures(failures) };
}

/**
 * How many images resolve at once: enough to fill every registry's metadata
 * bound (lib/transport/bounds.ts) — resolving an image is HEAD and GET of
 * manifests, so the per-host bound is what limits the network, and a warm
 * plan has all its HEADs in flight up to it (a smaller image bound used to
 * serialise them into round trips). The bytes an image holds meanwhile are
 * its manifests: small.
 */
export function resolveConcurrency(
  requests: readonly ImageRequest[],
  registry: (host: string) => RegistryStore,
): number {
  const hosts = new Set(requests.map((r) => r.source.registry));
  let sum = 0;
  for (const host of hosts) {
    let bound: number | undefined;
    try {
      bound = registry(host).client?.metadataConcurrency;
    } catch {
      // a registry that cannot be set up fails its images later, one by one
    }
    sum += bound ?? DEFAULT_METADATA_CONCURRENCY;
  }
  return Math.max(16, sum);
}

/** All descriptors of an image's graph: root, manifests, blobs. */
export function graphOf(image: ResolvedImage): Descriptor[] {
  return [image.descriptor, ...image.manifests, ...image.blobs];
}

/**
 * The platform of a single-manifest image, when its manifest and config are
 * in the cache (no network); `held` says which are (`digest size`; both are
 * in the image's graph, so asked already).
 */
async function cachedPlatform(
  cache: CacheStore,
  image: ResolvedImage,
  held: ReadonlySet<string>,
): Promise<string | undefined> {
  const root = image.descriptor;
  const read = async (d: Descriptor) => held.has(`${d.digest} ${d.size}`) ? await cache.readBytes(d) : undefined;
  // The root's bytes resolution read already (verified then), when the cache holds it: not read and hashed again.
  const known = held.has(`${root.digest} ${root.size}`) ? rootBytes.get(image) : undefined;
  const manifest = known ?? await read(root);
  return manifest ? await singleImagePlatform(manifest, read) : undefined;
}

/**
 * The verified bytes of each image's root as resolution read them, for the
 * platform column (no second read and hash of every root when the plan is
 * compared with the cache). Weak: they go with the image.
 */
const rootBytes = new WeakMap<ResolvedImage, Uint8Array>();

/** Cache lookups in flight at once while comparing a plan with the cache (a stat or a small read each). */
const CACHE_LOOKUPS = 64;

/**
 * What the cache holds of the images' graphs (`digest size`, each unique blob
 * asked once) and the platform of each single-manifest image. Asked
 * concurrently: one at a time, 2,848 images cost thousands of sequential
 * stats and reads, and each first look-up its own lease journal append
 * (concurrent ones share one, lib/store/cache_lease.ts).
 */
async function cacheFacts(
  images: readonly ResolvedImage[],
  cache: CacheStore,
): Promise<{ held: Set<string>; platforms: (string | undefined)[] }> {
  const limit = limiter(CACHE_LOOKUPS);
  const asked = new Map<string, Descriptor>();
  for (const image of images) {
    for (const d of graphOf(image)) if (!image.absent?.has(d.digest)) asked.set(`${d.digest} ${d.size}`, d);
  }
  const held = new Set<string>();
  await Promise.all(
    [...asked].map(([key, d]) => limit(async () => void ((await cache.has(d.digest, d.size)) && held.add(key)))),
  );
  const platforms = await Promise.all(
    images.map((image) =>
      image.platforms.length > 0 || isIndexType(image.descriptor.mediaType)
        ? undefined
        : limit(() => cachedPlatform(cache, image, held))
    ),
  );
  return { held, platforms };
}

/**
 * Compare resolved images with the cache and the previous lock. `failed`
 * entries (declared, but not resolved this time) are not "removed".
 */
export async function makePlan(
  images: ResolvedImage[],
  cache: CacheStore,
  previous?: Lock,
  base?: Base,
  failed: readonly { entry: string }[] = [],
): Promise<Plan> {
  const blobs = new Map<string, number>();
  const missingAll = new Map<string, number>();
  const deltaFetch = new Map<string, number>();
  const planned: PlannedImage[] = [];
  const known = new Map((previous?.images ?? []).map((i) => [lockKey(i), i]));
  const { held, platforms } = await cacheFacts(images, cache);
  images.forEach((image, i) => {
    const missing: Descriptor[] = [];
    for (const d of graphOf(image)) {
      if (image.absent?.has(d.digest)) continue;
      blobs.set(d.digest, d.size);
      const carried = !base || isManifestType(d.mediaType) || !base.blobs.has(d.digest);
      if (!held.has(`${d.digest} ${d.size}`)) {
        // A delta never fetches what its base provides.
        if (carried) {
          missing.push(d);
          missingAll.set(d.digest, d.size);
        }
        if (carried) deltaFetch.set(d.digest, d.size);
      }
    }
    const before = image.artifact ? lockedArtifactOf(known, image) : known.get(image.request.entry);
    const lockStatus: LockStatus = !before
      ? "new"
      : before.digest === image.descriptor.digest
      ? "unchanged"
      : "changed";
    const platform = platforms[i];
    planned.push({
      image,
      lockStatus,
      missing,
      ...(lockStatus === "changed" ? { previousDigest: before!.digest } : {}),
      ...(platform ? { platform } : {}),
    });
  });
  const declared = new Set([...images.map((i) => i.request.entry), ...failed.map((f) => f.entry)]);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return {
    images: planned,
    blobs,
    totalBytes: sum(blobs),
    fetchBytes: sum(missingAll),
    fetchBlobs: missingAll.size,
    removed: (previous?.images ?? []).filter((i) => !declared.has(i.entry)),
    delta: base
      ? {
        source: base.source,
        ...deltaSize(lockBlobs(lockFromImages(images)), base.blobs),
        fetchBytes: sum(deltaFetch),
      }
      : undefined,
  };
}

/** An artifact as the previous lock has it under its subject (same tag, or same digest for a referrer). */
function lockedArtifactOf(known: Map<string, LockedImage>, image: ResolvedImage): { digest: string } | undefined {
  const { subjectEntry, tag } = image.artifact!;
  return known.get(subjectEntry)?.artifacts?.find((a) => tag ? a.tag === tag : a.digest === image.descriptor.digest);
}

/** The lock for a set of resolved images. */
export function lockFromImages(images: ResolvedImage[]): Lock {
  const artifacts = new Map<string, ResolvedImage[]>();
  for (const image of images) {
    if (image.artifact) {
      artifacts.set(image.artifact.subjectEntry, [...artifacts.get(image.artifact.subjectEntry) ?? [], image]);
    }
  }
  return {
    lockVersion: 1,
    images: images.filter((image) => !image.artifact).map((image) => ({
      entry: image.request.entry,
      source: image.sourceName,
      digest: image.descriptor.digest,
      ...(image.upstreamDigest !== image.descriptor.digest ? { upstreamDigest: image.upstreamDigest } : {}),
      mediaType: image.descriptor.mediaType,
      size: image.descriptor.size,
      platforms: image.platforms,
      blobs: Object.fromEntries([...image.manifests, ...image.blobs].map((d) => [d.digest, d.size])),
      ...(image.assembled ? { assembled: image.assembled } : {}),
      ...(image.rewritten ? { rewritten: image.rewritten } : {}),
      ...(artifacts.has(image.request.entry)
        ? { artifacts: artifacts.get(image.request.entry)!.map(lockedArtifact) }
        : {}),
      ...(image.verified ? { verified: image.verified } : {}),
      ...(image.file ? { file: image.file } : {}),
    })),
  };
}

/**
 * Every blob of a set of images, each once, in archive order: manifests
 * (roots first), then configs, then layers.
 */
export function archiveOrder(images: ResolvedImage[]): Descriptor[] {
  const seen = new Set<string>();
  const manifests: Descriptor[] = [];
  const configs: Descriptor[] = [];
  const layers: Descriptor[] = [];
  const absent = new Set(images.flatMap((i) => [...(i.absent ?? [])]));
  const add = (list: Descriptor[], d: Descriptor) => {
    if (seen.has(d.digest) || absent.has(d.digest)) return;
    seen.add(d.digest);
    list.push(d);
  };
  for (const image of images) add(manifests, image.descriptor);
  for (const image of images) for (const d of image.manifests) add(manifests, d);
  for (const image of images) for (const d of image.blobs) if (image.configs.has(d.digest)) add(configs, d);
  for (const image of images) for (const d of image.blobs) add(layers, d);
  return [...manifests, ...configs, ...layers];
}
