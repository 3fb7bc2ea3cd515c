/**
 * The planner: resolve every requested image to a digest and its whole
 * graph (filtering indexes to the selected platforms), keep the manifests in
 * the cache, and compare the result with the cache and the previous lock:
 * what is new, what changed, how many bytes must move.
 * @module
 */
import type { Lock, LockedImage } from "../schemas/lock.ts";
import type { ImageRequest } from "./declaration.ts";
import { AirgapError, errorMessage } from "./errors.ts";
import { digestOf } from "./oci/digest.ts";
import { type Descriptor, type Manifest, MAX_MANIFEST_SIZE, parseManifest } from "./oci/manifest.ts";
import { isManifestType } from "./oci/media.ts";
import { filterIndex, formatPlatform } from "./oci/platform.ts";
import { formatReference } from "./ref.ts";
import { limiter } from "./copy.ts";
import type { CacheStore } from "./store/cache.ts";
import type { Base } from "./delta.ts";
import type { RegistryStore } from "./store/registry/store.ts";
import { readAll } from "./store/types.ts";

/** An image resolved to its graph. */
export interface ResolvedImage {
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
}

/** How an image compares with the previous lock. */
export type LockStatus = "new" | "changed" | "unchanged";

/** One line of a plan. */
export interface PlannedImage {
  image: ResolvedImage;
  lockStatus: LockStatus;
  /** Blobs of this image missing from the cache. */
  missing: Descriptor[];
}

/** The plan: images, their status, and the totals. */
export interface Plan {
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
  cache: CacheStore;
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

async function resolveOne(request: ImageRequest, ctx: ResolveContext): Promise<ResolvedImage> {
  const { source } = request;
  const store = ctx.registry(source.registry);
  const repo = source.repository;
  const name = formatReference(source);
  const what = name;
  const cache = ctx.cache;

  const fromCacheOrRegistry = async (desc: Descriptor): Promise<Uint8Array> => {
    if (await cache.has(desc.digest, desc.size)) return await cache.readBytes(desc);
    const bytes = await readAll(await store.fetch(repo, desc), MAX_MANIFEST_SIZE);
    await cache.putBytes(desc, bytes);
    return bytes;
  };

  let pinned = source.digest;
  if (ctx.locked) {
    const locked = ctx.lock?.images.find((i) => lockKey(i) === request.entry);
    if (!locked) throw new AirgapError(`${what}: not in airgap.lock (run "airgap plan" without --locked to add it)`);
    pinned = locked.upstreamDigest ?? locked.digest;
  }

  let root: Descriptor | undefined;
  let rootBytes: Uint8Array | undefined;
  if (pinned) {
    if (await cache.has(pinned)) {
      const resolved = await cache.resolve(name, pinned);
      root = resolved.descriptor;
      rootBytes = resolved.bytes;
    }
  } else {
    const head = await store.head(repo, source.tag!);
    if (head && await cache.has(head.digest, head.size)) {
      root = head;
      rootBytes = await cache.readBytes(head);
    }
  }
  if (!root || !rootBytes) {
    const resolved = await store.resolve(repo, pinned ?? source.tag!);
    root = resolved.descriptor;
    rootBytes = resolved.bytes;
    await cache.putBytes(root, rootBytes);
  }
  if (source.digest && root.digest !== source.digest) {
    throw new AirgapError(`${what}: registry returned ${root.digest}, expected ${source.digest}`);
  }

  const manifest = parseManifest(rootBytes, root.mediaType, what);
  root = { ...root, mediaType: manifest.mediaType };
  const manifests: Descriptor[] = [];
  const blobs = new Map<string, Descriptor>();
  const configs = new Set<string>();
  const addBlobs = (m: Manifest) => {
    if (m.kind !== "manifest") return;
    configs.add(m.config.digest);
    for (const d of [m.config, ...m.layers]) if (!blobs.has(d.digest)) blobs.set(d.digest, d);
  };
  let saved = root;
  let platforms: string[] = [];

  if (manifest.kind === "index") {
    const filtered = filterIndex(manifest, rootBytes, request.platforms, what);
    if (filtered.changed) {
      saved = { mediaType: manifest.mediaType, digest: digestOf(filtered.bytes), size: filtered.bytes.byteLength };
      await cache.putBytes(saved, filtered.bytes);
    }
    const walk = async (entries: Descriptor[]) => {
      for (const child of entries) {
        if (!isManifestType(child.mediaType)) {
          if (!blobs.has(child.digest)) blobs.set(child.digest, child);
          continue;
        }
        if (manifests.some((m) => m.digest === child.digest)) continue;
        manifests.push(child);
        const bytes = await fromCacheOrRegistry(child);
        const parsed = parseManifest(bytes, child.mediaType, `${what} child ${child.digest}`);
        if (parsed.kind === "index") await walk(parsed.manifests);
        else addBlobs(parsed);
      }
    };
    await walk(filtered.kept);
    platforms = filtered.kept
      .filter((m) => m.platform && !m.annotations?.["vnd.docker.reference.type"])
      .map((m) => formatPlatform(m.platform!));
  } else {
    addBlobs(manifest);
  }
  if (ctx.locked) {
    const locked = ctx.lock!.images.find((i) => lockKey(i) === request.entry)!;
    if (locked.digest !== saved.digest) {
      throw new AirgapError(
        `${what}: resolves to ${saved.digest} but airgap.lock pins ${locked.digest} (platforms changed? run "airgap plan")`,
      );
    }
  }
  return {
    request,
    name,
    descriptor: saved,
    upstreamDigest: root.digest,
    platforms: [...new Set(platforms)],
    manifests,
    blobs: [...blobs.values()],
    configs,
  };
}

/** Resolve requests; failures are collected and thrown together as a {@link ResolveError}. */
export async function resolveImages(requests: ImageRequest[], ctx: ResolveContext): Promise<ResolvedImage[]> {
  const limit = limiter(ctx.concurrency ?? 8);
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
  const add = (list: Descriptor[], d: Descriptor) => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    list.push(d);
  };
  for (const image of images) add(manifests, image.descriptor);
  for (const image of images) for (const d of image.manifests) add(manifests, d);
  for (const image of images) for (const d of image.blobs) if (image.configs.has(d.digest)) add(configs, d);
  for (const image of images) for (const d of image.blobs) add(layers, d);
  return [...manifests, ...configs, ...layers];
}
