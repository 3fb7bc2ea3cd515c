/**
 * The planner: resolve every requested image to a digest and its whole
 * graph (filtering indexes to the selected platforms), keep the manifests in
 * the cache, and compare the result with the cache and the previous lock:
 * what is new, what changed, how many bytes must move.
 * @module
 */
import { NotFoundError } from "./transport/errors.ts";
import type { Lock, LockedImage } from "../schemas/lock.ts";
import type { ImageRequest } from "./declaration.ts";
import { AirgapError, errorMessage } from "./errors.ts";
import { assembleIndex, type Assembly, findPlatforms } from "./assemble.ts";
import {
  type ForeignLayer,
  type ForeignLayerPolicy,
  isExternalLayer,
  makeDistributable,
  rewrittenDescriptor,
} from "./oci/foreign.ts";
import {
  type Descriptor,
  encodeJson,
  type ImageManifest,
  MAX_MANIFEST_SIZE,
  parseManifest,
  storedChildren,
} from "./oci/manifest.ts";
import { isManifestType } from "./oci/media.ts";
import { filterIndex, formatPlatform, isAttestation, platformWants } from "./oci/platform.ts";
import { formatReference, isValidDigest } from "./ref.ts";
import { limiter } from "./copy.ts";
import type { CacheStore } from "./store/cache.ts";
import type { Base } from "./delta.ts";
import type { RegistryStore } from "./store/registry/store.ts";
import { readAll, type ResolvedManifest } from "./store/types.ts";

const REFERENCE_DIGEST = "vnd.docker.reference.digest";

/** An image resolved to its graph. */
export interface ResolvedImage {
  /** The request this image answers. */
  request: ImageRequest;
  /** Full source reference, e.g. `docker.io/rancher/rancher:v2.7.9`. */
  name: string;
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
  /** With a base: what a delta against it carries (every manifest, blobs the base lacks). */
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
  /** Images resolved at once (default 8). */
  concurrency?: number;
  /** Called as each image is resolved. */
  onResolved?(image: ResolvedImage): void;
  /** What to do with foreign (non-distributable) layers (default include). */
  foreignLayers?: ForeignLayerPolicy;
}

/** Resolution failed for some images: every failure, one line each. */
export class ResolveError extends AirgapError {
  constructor(readonly failures: string[]) {
    super(
      failures.length === 1 ? failures[0] : `${failures.length} images could not be resolved (first: ${failures[0]})`,
    );
  }
}

/** Key of an image in a lock: the entry as written. */
export function lockKey(image: { entry: string }): string {
  return image.entry;
}

function notFound(e: unknown): boolean {
  return e instanceof NotFoundError;
}

async function resolveOne(request: ImageRequest, ctx: ResolveContext): Promise<ResolvedImage> {
  const { source } = request;
  const store = ctx.registry(source.registry);
  const repo = source.repository;
  const name = formatReference(source);
  const what = name;
  const cache = ctx.cache;
  const policy = ctx.foreignLayers ?? "include";
  const locked = ctx.locked ? ctx.lock?.images.find((i) => lockKey(i) === request.entry) : undefined;
  if (ctx.locked && !locked) {
    throw new AirgapError(`${what}: not in airgap.lock (run "airgap plan" without --locked to add it)`);
  }

  const fromCacheOrRegistry = async (desc: Descriptor): Promise<Uint8Array> => {
    if (await cache.has(desc.digest, desc.size)) return await cache.readBytes(desc);
    const bytes = await readAll(await store.fetch(repo, desc), MAX_MANIFEST_SIZE);
    await cache.putBytes(desc, bytes);
    return bytes;
  };

  const mayBeCached = async (tagged: string) => {
    const known = ctx.knownTags?.get(tagged);
    return known === undefined ? ctx.knownTags === undefined : await cache.has(known);
  };

  /** A tag or digest of this repository: from the cache when the registry's HEAD names what we hold. */
  const resolveRef = async (reference: string): Promise<ResolvedManifest> => {
    if (isValidDigest(reference)) {
      if (await cache.has(reference)) return await cache.resolve(name, reference);
    } else if (await mayBeCached(`${source.registry}/${repo}:${reference}`)) {
      // Only worth a HEAD when the cache may hold it: on a cold cache, GET at once.
      const head = await store.head(repo, reference);
      if (head && await cache.has(head.digest, head.size)) {
        return { descriptor: head, bytes: await cache.readBytes(head) };
      }
    }
    const resolved = await store.resolve(repo, reference);
    await cache.putBytes(resolved.descriptor, resolved.bytes);
    return resolved;
  };

  // Windows versions asked for: the platforms may be spread over per-OS tags.
  const perOs = !request.platforms.all && !source.digest && platformWants(request.platforms).some((w) => w.versioned);
  let root: ResolvedManifest | undefined;
  let combined: Assembly["combined"];
  if (perOs) {
    const pins = locked?.assembled;
    const found = await findPlatforms({
      what,
      tag: source.tag!,
      selector: request.platforms,
      read: fromCacheOrRegistry,
      resolveTag: async (tag) => {
        if (locked) {
          const pin = pins ? pins[tag] : tag === source.tag ? locked.upstreamDigest ?? locked.digest : undefined;
          return pin ? await resolveRef(pin) : undefined;
        }
        try {
          return await resolveRef(tag);
        } catch (e) {
          if (notFound(e)) return undefined;
          throw e;
        }
      },
    });
    root = found.plain;
    combined = found.combined;
  } else {
    root = await resolveRef(source.digest ?? (locked ? locked.upstreamDigest ?? locked.digest : source.tag!));
  }
  if (source.digest && root && root.descriptor.digest !== source.digest) {
    throw new AirgapError(`${what}: registry returned ${root.descriptor.digest}, expected ${source.digest}`);
  }

  const manifests: Descriptor[] = [];
  const blobs = new Map<string, Descriptor>();
  const configs = new Set<string>();
  const rewritten: Record<string, string> = {};
  const foreignLayers = new Map<string, ForeignLayer>();
  const externalLayers = new Map<string, Descriptor>();
  const absent = new Set<string>();
  const visited = new Map<string, Promise<Descriptor>>();

  /** Walk a manifest below the root; returns the descriptor that is saved (new when rewritten). */
  const visit = (desc: Descriptor, isRoot = false): Promise<Descriptor> => {
    let pending = visited.get(desc.digest);
    if (!pending) {
      pending = visitOnce(desc, isRoot);
      visited.set(desc.digest, pending);
    }
    return pending;
  };
  const keepRewrite = async (upstream: Descriptor, mediaType: string, bytes: Uint8Array): Promise<Descriptor> => {
    const saved = rewrittenDescriptor(mediaType, bytes);
    await cache.putBytes(saved, bytes);
    rewritten[upstream.digest] = saved.digest;
    return saved;
  };
  const visitOnce = async (desc: Descriptor, isRoot: boolean): Promise<Descriptor> => {
    const bytes = await fromCacheOrRegistry(desc);
    const manifest = parseManifest(bytes, desc.mediaType, isRoot ? what : `${what} child ${desc.digest}`);
    let saved: Descriptor = { mediaType: manifest.mediaType, digest: desc.digest, size: desc.size };
    if (manifest.kind === "index") {
      const index = manifest;
      const entries = await visitEntries(index.manifests);
      if (entries.some((e, i) => e !== index.manifests[i])) {
        saved = await keepRewrite(desc, index.mediaType, encodeJson({ ...index.raw, manifests: entries }));
      }
    } else {
      let image = manifest;
      if (policy !== "keep") {
        const made = makeDistributable(image, bytes);
        if (made.changed) {
          saved = await keepRewrite(desc, image.mediaType, made.bytes);
          image = parseManifest(made.bytes, image.mediaType, what) as ImageManifest;
          for (const layer of made.layers) {
            foreignLayers.set(layer.descriptor.digest, layer);
            if (policy === "skip") absent.add(layer.descriptor.digest);
          }
        }
      }
      for (const layer of image.layers) if (isExternalLayer(layer)) externalLayers.set(layer.digest, layer);
      configs.add(image.config.digest);
      for (const d of storedChildren(image)) if (!blobs.has(d.digest)) blobs.set(d.digest, d);
    }
    if (!isRoot && !manifests.some((m) => m.digest === saved.digest)) manifests.push(saved);
    return saved;
  };
  /** Walk index entries; an entry whose manifest was rewritten points at the new digest (its attestations too). */
  const visitEntries = async (entries: readonly Descriptor[]): Promise<Descriptor[]> => {
    const moved = new Map<string, string>();
    const out: Descriptor[] = [];
    for (const entry of entries) {
      if (!isManifestType(entry.mediaType)) {
        if (!blobs.has(entry.digest)) blobs.set(entry.digest, entry);
        out.push(entry);
        continue;
      }
      const saved = await visit(entry);
      if (saved.digest === entry.digest) {
        out.push(entry);
      } else {
        moved.set(entry.digest, saved.digest);
        out.push({ ...entry, digest: saved.digest, size: saved.size });
      }
    }
    return out.map((e) => {
      const ref = e.annotations?.[REFERENCE_DIGEST];
      return ref && moved.has(ref)
        ? { ...e, annotations: { ...e.annotations, [REFERENCE_DIGEST]: moved.get(ref)! } }
        : e;
    });
  };

  let saved: Descriptor;
  let rootEntries: Descriptor[] | undefined;
  let filteredRoot = false;
  if (combined) {
    rootEntries = await visitEntries(combined.entries);
    const assembled = assembleIndex(rootEntries);
    saved = rewrittenDescriptor(assembled.mediaType, assembled.bytes);
    await cache.putBytes(saved, assembled.bytes);
  } else {
    const manifest = parseManifest(root!.bytes, root!.descriptor.mediaType, what);
    const upstream = { ...root!.descriptor, mediaType: manifest.mediaType };
    if (manifest.kind === "index") {
      const filtered = filterIndex(manifest, root!.bytes, request.platforms, what);
      filteredRoot = filtered.changed;
      rootEntries = await visitEntries(filtered.kept);
      if (filtered.changed || rootEntries.some((e, i) => e !== filtered.kept[i])) {
        const bytes = encodeJson({ ...manifest.raw, manifests: rootEntries });
        saved = rewrittenDescriptor(manifest.mediaType, bytes);
        await cache.putBytes(saved, bytes);
      } else {
        saved = upstream;
      }
    } else {
      saved = await visit(upstream, true);
    }
  }
  const platforms = (rootEntries ?? [])
    .filter((m) => m.platform && !isAttestation(m))
    .map((m) => formatPlatform(m.platform!));
  if (locked && locked.digest !== saved.digest) {
    throw new AirgapError(
      `${what}: resolves to ${saved.digest} but airgap.lock pins ${locked.digest} (platforms changed? run "airgap plan")`,
    );
  }
  return {
    request,
    name,
    descriptor: saved,
    upstreamDigest: root?.descriptor.digest ?? saved.digest,
    platforms: [...new Set(platforms)],
    manifests,
    blobs: [...blobs.values()],
    configs,
    ...(filteredRoot ? { filtered: true } : {}),
    ...(combined ? { assembled: combined.sources } : {}),
    ...(Object.keys(rewritten).length > 0 ? { rewritten } : {}),
    ...(foreignLayers.size > 0 ? { foreignLayers: [...foreignLayers.values()] } : {}),
    ...(externalLayers.size > 0 ? { externalLayers: [...externalLayers.values()] } : {}),
    ...(absent.size > 0 ? { absent } : {}),
  };
}

/** Resolve requests; failures are collected and thrown together as a {@link ResolveError}. */
export async function resolveImages(requests: ImageRequest[], ctx: ResolveContext): Promise<ResolvedImage[]> {
  const limit = limiter(ctx.concurrency ?? 16);
  if (!ctx.knownTags) {
    const known = new Map<string, string>();
    for (const [name, desc] of await ctx.cache.tags()) known.set(name, desc.digest);
    ctx = { ...ctx, knownTags: known };
  }
  const failures: string[] = [];
  const results = await Promise.all(requests.map((request) =>
    limit(async () => {
      try {
        const image = await resolveOne(request, ctx);
        ctx.onResolved?.(image);
        return image;
      } catch (e) {
        const message = errorMessage(e);
        const name = formatReference(request.source);
        failures.push(`${request.origin}: ${message.includes(name) ? message : `${name}: ${message}`}`);
        return undefined;
      }
    })
  ));
  if (failures.length > 0) throw new ResolveError(failures);
  const images = results.filter((r): r is ResolvedImage => r !== undefined);
  const tags = images
    .filter((i) => i.request.source.tag && !i.request.source.digest)
    .map((i) => ({ name: i.name, descriptor: i.descriptor }));
  await ctx.cache.recordTags(tags);
  return images;
}

/** All descriptors of an image's graph: root, manifests, blobs. */
export function graphOf(image: ResolvedImage): Descriptor[] {
  return [image.descriptor, ...image.manifests, ...image.blobs];
}

/** Compare resolved images with the cache and the previous lock. */
export async function makePlan(
  images: ResolvedImage[],
  cache: CacheStore,
  previous?: Lock,
  base?: Base,
): Promise<Plan> {
  const blobs = new Map<string, number>();
  const missingAll = new Map<string, number>();
  const deltaBlobs = new Map<string, number>();
  const deltaFetch = new Map<string, number>();
  const planned: PlannedImage[] = [];
  const known = new Map((previous?.images ?? []).map((i) => [lockKey(i), i]));
  for (const image of images) {
    const missing: Descriptor[] = [];
    for (const d of graphOf(image)) {
      if (image.absent?.has(d.digest)) continue;
      blobs.set(d.digest, d.size);
      const carried = !base || isManifestType(d.mediaType) || !base.blobs.has(d.digest);
      if (carried) deltaBlobs.set(d.digest, d.size);
      if (!(await cache.has(d.digest, d.size))) {
        // A delta never fetches what its base provides.
        if (carried) {
          missing.push(d);
          missingAll.set(d.digest, d.size);
        }
        if (carried) deltaFetch.set(d.digest, d.size);
      }
    }
    const before = known.get(image.request.entry);
    const lockStatus: LockStatus = !before
      ? "new"
      : before.digest === image.descriptor.digest
      ? "unchanged"
      : "changed";
    planned.push({ image, lockStatus, missing });
  }
  const declared = new Set(images.map((i) => i.request.entry));
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return {
    images: planned,
    blobs,
    totalBytes: sum(blobs),
    fetchBytes: sum(missingAll),
    fetchBlobs: missingAll.size,
    removed: (previous?.images ?? []).filter((i) => !declared.has(i.entry)),
    delta: base
      ? { source: base.source, blobs: deltaBlobs.size, bytes: sum(deltaBlobs), fetchBytes: sum(deltaFetch) }
      : undefined,
  };
}

/** The lock for a set of resolved images. */
export function lockFromImages(images: ResolvedImage[]): Lock {
  return {
    lockVersion: 1,
    images: images.map((image) => ({
      entry: image.request.entry,
      source: image.name,
      digest: image.descriptor.digest,
      ...(image.upstreamDigest !== image.descriptor.digest ? { upstreamDigest: image.upstreamDigest } : {}),
      mediaType: image.descriptor.mediaType,
      size: image.descriptor.size,
      platforms: image.platforms,
      blobs: Object.fromEntries([...image.manifests, ...image.blobs].map((d) => [d.digest, d.size])),
      ...(image.assembled ? { assembled: image.assembled } : {}),
      ...(image.rewritten ? { rewritten: image.rewritten } : {}),
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
