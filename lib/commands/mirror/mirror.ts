/**
 * `airgap mirror`: the declaration's images straight into a target registry,
 * for semi-connected sites and jump hosts that reach both sides — save and
 * load without the archive. The same resolution as save (plan, lock,
 * platforms, Windows and foreign-layer policies) and the same target names
 * as load; blobs stream registry → registry through the copy engine, and
 * only what the target lacks moves (existence checks, cross-repository
 * mounts; an image whose root is already there is skipped whole). The cache
 * keeps the manifests resolution needs — and, with `cacheBlobs`, the blobs.
 * With a base (`--since OLD`), blobs OLD references are not copied at all:
 * the target must hold them already, which is proven before anything moves.
 * With `keepGoing`, an image that does not resolve or copy is left out (of
 * the target's checks and the lock) and listed in `failedList`, as save does.
 * @module
 */
import type { Lock } from "../../../schemas/lock.ts";
import { copyGraph, type CopyRoot } from "../../copy/engine.ts";
import { limiter } from "../../transport/limiter.ts";
import { type Declaration, displayPath } from "../../plan/declaration.ts";
import { type ImageFailure, sortFailures } from "../../report/failures.ts";
import type { Base } from "../../plan/delta.ts";
import { AirgapError } from "../../errors.ts";
import { artifactAnnotations, type ArtifactFlags, artifactPolicy, withArtifacts } from "../../plan/carry_artifacts.ts";
import { type ArtifactTarget, pushArtifacts } from "../../artifacts/deliver.ts";
import { withSources, writeLock } from "../../lock.ts";
import { foreignLayerNotes } from "../../oci/foreign.ts";
import { withForeignLayers } from "../../store/wrappers/foreign_layers.ts";
import { leavingOut } from "../../store/wrappers/leaving_out.ts";
import type { Descriptor } from "../../oci/manifest.ts";
import { graphOf, lockFromImages, type ResolvedImage, ResolveError } from "../../plan/planner.ts";
import type { Reporter } from "../../report/progress.ts";
import { targetReference } from "../../ref.ts";
import { type NetworkOptions, type RegistryPool, registryPool } from "../../store/registry/pool.ts";
import { type CacheStore, openCache } from "../../store/cache.ts";
import type { RegistryStats, RegistryStore } from "../../store/registry/store.ts";
import { listFailed, resolveForCopy } from "../../plan/resolve_declared.ts";
import { explainRefusal } from "../../copy/refusal.ts";
import { type TargetMap, targetMap } from "../../copy/targets.ts";
import { ensureExternalBlobs, type LoadedImage, perOsTags } from "../load/load.ts";
import { cacheFirst } from "../../store/wrappers/cache_first.ts";

/** Options of {@link mirrorCommand}. */
export interface MirrorOptions {
  /** Images, sources and registry settings (the target's included). */
  declaration: Declaration;
  /** Target registry `host[:port]`. */
  registry: string;
  /** Path prefix inside the target registry (a Harbor project…). */
  prefix?: string;
  /** Cache directory: manifests are kept there (and blobs with `cacheBlobs`). */
  cacheDir: string;
  /** Also keep every blob in the cache (copied registry → cache → target). */
  cacheBlobs?: boolean;
  /** The previous lock: pinned from with `locked`. */
  previousLock?: Lock;
  /** Pin to the previous lock instead of resolving tags. */
  locked?: boolean;
  /** Where to write the new lock (none: do not write one). */
  lockPath?: string;
  /** Blobs this base references are already at the target: not copied (proven first). */
  base?: Base;
  /** Where messages and progress go. */
  reporter: Reporter;
  /** Concurrent transfers per registry. */
  concurrency?: number;
  /** Timeouts, progress hooks and cancellation for the network (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
  /** Also the per-OS tags of combined indexes (`TAG-windows-1809`…), as `load --windows-image-list` leaves them. */
  perOsTags?: boolean;
  /** `--with-signatures` and `--verify-key` (see lib/artifacts). */
  artifacts?: ArtifactFlags;
  /** Mirror every image that can be mirrored; the failed ones are left out of the lock and listed. */
  keepGoing?: boolean;
  /** Where to list the images that failed (`NAME.mirror-failed.txt`); removed when nothing failed. */
  failedList?: string;
}

/** What a mirror did. */
export interface MirrorResult {
  /** Every tag (or digest-only image) at the target, checked after the copy. */
  images: LoadedImage[];
  /** What moved into the target: blobs pushed, mounted, skipped; manifests pushed. */
  stats: RegistryStats;
  /** Images (roots) whose manifest the target held already. */
  alreadyPresent: number;
  /** Bytes read from the source registries. */
  fetchedBytes: number;
  /** Blobs read from the source registries. */
  fetchedBlobs: number;
  /** The new lock (written to `lockPath` when given). */
  lock: Lock;
  /** Signatures, attestations, SBOMs and referrers pushed after their images. */
  artifacts: number;
  /** With `keepGoing`: the images that could not be mirrored (listed in `failedList`). */
  failed: ImageFailure[];
}

/** Target name (`registry/repository:tag`) → its reference and image. */
type Targets = TargetMap<ResolvedImage>;

/** Target name of each image, as load names an archive entry. */
function targetsOf(images: ResolvedImage[], registry: string, prefix: string): Targets {
  return targetMap(images, (image) => image.request.entry, registry, prefix);
}

/** Every node of every image (each once) except `left`: what this mirror carries. */
function carriedBlobs(images: ResolvedImage[], left: ReadonlySet<string>): Map<string, { size: number }> {
  const out = new Map<string, { size: number }>();
  for (const image of images) {
    for (const d of [image.descriptor, ...image.manifests, ...image.blobs]) {
      if (!left.has(d.digest)) out.set(d.digest, { size: d.size });
    }
  }
  return out;
}

/** Resolve the declaration as save does (manifests land in the cache). */
async function resolveAll(options: MirrorOptions, cache: CacheStore, pool: RegistryPool) {
  const { reporter } = options;
  const { sources, requests, resolution } = await resolveForCopy("mirror", options, cache, pool, { announce: true });
  const resolved = resolution.images;
  const failed = [...resolution.failures];
  if (failed.length > 0 && (!options.keepGoing || resolved.length === 0)) {
    await listFailures(options, failed, requests.length);
    throw new ResolveError(
      failed,
      `${failed.length} of ${requests.length} images could not be resolved; nothing was mirrored${
        options.failedList ? ` (listed in ${displayPath(options.failedList)})` : ""
      }`,
    );
  }
  // Signatures are checked (and artifacts found) before anything moves.
  const policy = await artifactPolicy(options.declaration, options.artifacts ?? {});
  const carried = await withArtifacts(resolved, { cache, registry: pool.get, policy });
  if (carried.failures.length > 0) {
    throw new ResolveError(
      carried.failures,
      `${carried.failures.length} of ${resolved.length} images refused (signatures); nothing was mirrored`,
    );
  }
  const images = carried.images;
  for (const note of foreignLayerNotes(images, options.declaration.foreignLayers ?? "include")) {
    if (note.warning) reporter.warn(note.text);
    else reporter.info(note.text);
  }
  if (sources.charts.length > 0) {
    reporter.warn(`${sources.charts.length} chart(s) resolved but not mirrored: mirror copies images`);
  }
  return { images, artifacts: carried.artifacts, failed, total: requests.length, sourcesLocked: sources.locked };
}

/** Write (or remove) the list of images that failed, as save does. */
async function listFailures(options: MirrorOptions, failed: ImageFailure[], total: number): Promise<void> {
  await listFailed("mirror", options.failedList, failed, total, (file) => `--image-list ${file}`);
}

/**
 * Copy roots grouped by source registry (each group has its own source
 * store). A tag already pointing at the digest is left alone, so a second
 * run pushes nothing.
 */
async function rootsByRegistry(targets: Targets, target: RegistryStore): Promise<Map<string, CopyRoot[]>> {
  const limit = limiter(target.concurrency);
  const current = await Promise.all(
    [...targets.values()].map(({ ref }) => ref.tag ? limit(() => target.head(ref.repository, ref.tag!)) : undefined),
  );
  const groups = new Map<string, CopyRoot[]>();
  for (const [i, [key, { ref, image }]] of [...targets].entries()) {
    const host = image.request.source.registry;
    groups.set(host, [...(groups.get(host) ?? []), {
      srcRepo: image.request.source.repository,
      dstRepo: ref.repository,
      descriptor: image.descriptor,
      tags: ref.tag && current[i]?.digest !== image.descriptor.digest ? [ref.tag] : [],
      label: key,
    }]);
  }
  return groups;
}

/** Resolve, copy what the target lacks straight into it, check every tag, write the lock. */
export async function mirrorCommand(options: MirrorOptions): Promise<MirrorResult> {
  const prefix = options.prefix ?? "";
  const cache: CacheStore = await openCache(options.cacheDir);
  // Held from the start: `cache prune` keeps what this mirror reads from and writes to the cache.
  const lease = await cache.lease();
  const pool = registryPool(options.declaration.registries, {
    concurrency: options.concurrency,
    network: options.network,
  });
  try {
    const resolved = await resolveAll(options, cache, pool);
    const { failed, total } = resolved;
    let { images, artifacts } = resolved;
    const targets = targetsOf(images, options.registry, prefix);
    const target = pool.get(options.registry);
    await target.learnRepositories({ signal: options.network?.signal }); // a new repository needs no probes
    // Not copied: foreign layers under the skip policy, and what the base references.
    const left = new Set(images.flatMap((i) => [...(i.absent ?? [])]));
    const fromBase = images.flatMap((i) => i.blobs).filter((d) => options.base?.blobs.has(d.digest));
    for (const d of fromBase) left.add(d.digest);
    const groups = await rootsByRegistry(targets, target);
    if (fromBase.length > 0) {
      await ensureExternalBlobs(
        {
          path: `the source registries (--since ${options.base!.source})`,
          blobs: carriedBlobs(images, left),
          readBytes: (desc: Descriptor) => cache.readBytes(desc),
          baseLock: options.base!.text,
        },
        [...groups.values()].flat(),
        target,
        { registry: options.registry, prefix },
      );
    }
    const present = new Set<string>();
    const lost = await copyAll(options, { images, groups, cache, pool, target, left, present });
    if (lost.length > 0) {
      for (const { key, error } of lost) {
        const { image } = targets.get(key)!;
        targets.delete(key);
        const name = image.name;
        failed.push({
          entry: image.request.entry,
          name,
          origin: image.request.origin,
          registry: options.registry,
          error,
        });
      }
      const kept = new Set([...targets.values()].map((t) => t.image));
      images = images.filter((i) => kept.has(i));
      const entries = new Set(images.map((i) => i.request.entry));
      artifacts = artifacts.filter((a) => !a.artifact || entries.has(a.artifact.subjectEntry));
    }
    if (images.length === 0 && failed.length > 0) throw failed[0].error;
    const lock = withSources(lockFromImages([...images, ...artifacts]), resolved.sourcesLocked);
    const checked = await checkTargets(target, targets);
    if (options.perOsTags) {
      const carried = { readBytes: (d: Descriptor) => cache.readBytes(d), blobs: carriedBlobs(images, left) };
      checked.push(...await perOsTags(carried, target, targets, (i) => i.request.entry));
    }
    const pushed = await mirrorArtifacts(artifacts, { cache, pool, target, registry: options.registry, prefix });
    if (options.lockPath) await writeLock(options.lockPath, lock);
    await listFailures(options, failed, total);
    const sourceStores = pool.all().filter((s) => s !== target);
    return {
      images: checked,
      stats: target.stats,
      alreadyPresent: [...targets.keys()].filter((key) => present.has(key)).length,
      fetchedBytes: sourceStores.reduce((sum, s) => sum + s.stats.bytesFetched, 0),
      fetchedBlobs: sourceStores.reduce((sum, s) => sum + s.stats.blobsFetched, 0),
      lock,
      artifacts: pushed,
      failed: sortFailures(failed),
    };
  } finally {
    await pool.close();
    await lease.release();
  }
}

/**
 * Stream every group registry → registry (the cache serves what it holds) in
 * one copy, so the engine's order holds across source registries (a child
 * shared by images from two sources is awaited, not pushed twice, and tags
 * come after every graph); with `cacheBlobs`, registry → cache first and
 * cache → registry then.
 */
async function copyAll(
  options: MirrorOptions,
  work: {
    images: ResolvedImage[];
    groups: Map<string, CopyRoot[]>;
    cache: CacheStore;
    pool: RegistryPool;
    target: RegistryStore;
    left: ReadonlySet<string>;
    /** Filled with the labels of roots the target held already. */
    present: Set<string>;
  },
): Promise<{ key: string; error: unknown }[]> {
  const { images, cache, pool, left } = work;
  const keepGoing = options.keepGoing ?? false;
  const lost: { key: string; error: unknown }[] = [];
  const byDigest = new Map(images.map((i) => [i.descriptor.digest, i]));
  const phase = options.reporter.phase("mirroring", {
    images: [...work.groups.values()].flat().map((root) => ({
      label: root.label,
      graph: graphOf(byDigest.get(root.descriptor.digest)!).filter((d) => !left.has(d.digest)),
    })),
    source: options.registry,
    done: "mirrored",
  });
  const foreign = new Map(images.flatMap((i) => i.foreignLayers ?? []).map((l) => [l.descriptor.digest, l]));
  const externalLayers = new Set(images.flatMap((i) => i.externalLayers ?? []).map((d) => d.digest)).size;
  const readManifest = (_repo: string, desc: Descriptor) => cache.readBytes(desc);
  const signal = options.network?.signal;
  const rootOf = new Map([...work.groups.values()].flat().map((r) => [r.label, r.descriptor.digest]));
  try {
    const roots = (await Promise.all([...work.groups].map(async ([host, groupRoots]) => {
      const source = cacheFirst(cache, withForeignLayers(pool.get(host), foreign), pool.get(host));
      if (!options.cacheBlobs) return groupRoots.map((r) => ({ ...r, src: source }));
      const cached = await copyGraph({
        src: source,
        dst: leavingOut(cache, left),
        roots: groupRoots.map((r) => ({ ...r, tags: [] })),
        concurrency: options.concurrency,
        readManifest,
        keepGoing,
        signal,
      });
      lost.push(...cached.failed.map(({ root, error }) => ({ key: root.label, error })));
      return groupRoots.filter((r) => !cached.failed.some((f) => f.root.label === r.label)).map((r) => ({
        ...r,
        src: cache,
      }));
    }))).flat();
    const copied = await copyGraph({
      src: cache,
      dst: leavingOut(work.target, left),
      roots,
      concurrency: options.concurrency,
      readManifest,
      keepGoing,
      signal,
      onEvent: (event) => {
        phase.copyEvent(event);
        // An image whose root manifest the target held: already present (the summary's vocabulary).
        if (
          event.type === "manifest" && event.outcome === "exists" && rootOf.get(event.label) === event.descriptor.digest
        ) {
          work.present.add(event.label);
        }
      },
    }).catch((e) => Promise.reject(explainRefusal(e, externalLayers)));
    lost.push(...copied.failed.map(({ root, error }) => ({ key: root.label, error })));
  } finally {
    phase.end();
  }
  return lost;
}

/** The artifacts, after their images: registry → registry, each host's from its own store. */
async function mirrorArtifacts(
  artifacts: ResolvedImage[],
  ctx: { cache: CacheStore; pool: RegistryPool; target: RegistryStore; registry: string; prefix: string },
): Promise<number> {
  let pushed = 0;
  for (const host of new Set(artifacts.map((a) => a.request.source.registry))) {
    const targets: ArtifactTarget[] = artifacts.filter((a) => a.request.source.registry === host).map((a) => {
      const ref = targetReference(a.request.entry, ctx.registry, ctx.prefix);
      const artifact = {
        descriptor: a.descriptor,
        name: a.name,
        entry: a.request.entry,
        annotations: artifactAnnotations(a)!,
      };
      return { artifact, srcRepo: a.request.source.repository, repo: ref.repository, tag: ref.tag };
    });
    const source = cacheFirst(ctx.cache, ctx.pool.get(host), ctx.pool.get(host));
    pushed += await pushArtifacts(source, ctx.target, targets, (d) => ctx.cache.readBytes(d));
  }
  return pushed;
}

/** Every tag (or digest-only image) must now resolve to the resolved digest. */
async function checkTargets(store: RegistryStore, targets: Targets): Promise<LoadedImage[]> {
  const out: LoadedImage[] = [];
  for (const [key, { ref, image }] of targets) {
    const selector = ref.tag ?? image.descriptor.digest;
    // The PUT's own answer named the digest: that is the proof, no second request.
    const head = store.confirmed(ref.repository, selector) ?? await store.head(ref.repository, selector);
    const digest = head?.digest ?? (await store.resolve(ref.repository, selector)).descriptor.digest;
    if (digest !== image.descriptor.digest) {
      throw new AirgapError(`${key}: registry reports ${digest} after the push, expected ${image.descriptor.digest}`);
    }
    out.push({ entry: image.request.entry, target: key, digest });
  }
  return out;
}
