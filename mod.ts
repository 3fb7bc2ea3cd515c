/**
 * airgap — carry container images (and the charts that need them) into
 * air-gapped Kubernetes and Rancher sites, keeping every digest.
 *
 * The library is one copy engine over interchangeable stores: a registry, the
 * local cache, an archive. `save` is registry → cache → archive, `load` is
 * archive → registry. This module exports the entry points — the commands as
 * functions ({@link planCommand}, {@link saveCommand}, {@link loadCommand},
 * {@link mirrorCommand}, {@link serveCommand}, {@link imagesCommand}), the copy
 * engine ({@link copyGraph}) and the stores it copies between
 * ({@link registryStore}, {@link openCache}, {@link openArchive},
 * {@link createArchive}) — with their option and result types and the types
 * their signatures name. Everything else under `lib/` is internal and may
 * change without notice.
 *
 * @example Copy an image between two registries
 * ```ts
 * import { copyGraph, createRegistryClient, parseReference, registryStore } from "./mod.ts";
 *
 * const src = registryStore(createRegistryClient("127.0.0.1:5000"));
 * const dst = registryStore(createRegistryClient("127.0.0.1:5001"));
 * const ref = parseReference("127.0.0.1:5000/rancher/shell:v0.1.21");
 * const { descriptor } = await src.resolve(ref.repository, ref.tag!);
 * await copyGraph({
 *   src,
 *   dst,
 *   roots: [{ srcRepo: ref.repository, dstRepo: ref.repository, descriptor, tags: [ref.tag!], label: "shell" }],
 * });
 * ```
 *
 * @example Push every image of an archive into a registry (what `airgap load` does, without its checks and charts)
 * ```ts
 * import { copyGraph, createRegistryClient, openArchive, parseReference, registryStore } from "./mod.ts";
 *
 * const archive = await openArchive("rancher-images.tar"); // refused unless it is exactly an airgap archive
 * const registry = registryStore(createRegistryClient("registry.example.com:5000"));
 * const roots = archive.images.map((image) => {
 *   const ref = parseReference(image.name); // the full source name, e.g. docker.io/rancher/rancher:v2.7.9
 *   const tags = ref.tag ? [ref.tag] : [];
 *   return { srcRepo: "", dstRepo: ref.repository, descriptor: image.descriptor, tags, label: image.entry };
 * });
 * const { blobs, bytes } = await copyGraph({ src: archive, dst: registry, roots });
 * console.log(`${roots.length} images: ${blobs.pushed} blobs pushed (${bytes} bytes), ${blobs.exists} already there`);
 * await archive.close?.();
 * ```
 * @module
 */
import { openCache as openCacheStore } from "./lib/store/cache.ts";
import type { Store } from "./lib/store/types.ts";
import type { Descriptor } from "./lib/oci/manifest.ts";

// ---- Declare and plan: airgap.yaml or an image list → a plan and a lock ----
export {
  type Declaration,
  declarationFromList,
  type DeclarationOverrides,
  type ImageRequest,
  loadDeclaration,
} from "./lib/plan/declaration.ts";
export { planCommand, type PlanOptions, type PlanResult } from "./lib/commands/plan/plan.ts";
export type { LockStatus, Plan, PlannedImage, ResolvedArtifact, ResolvedImage } from "./lib/plan/planner.ts";
export { formatLock, readLock, writeLock } from "./lib/lock.ts";
export type { Lock, LockedArtifact, LockedImage, LockedSource } from "./schemas/lock.ts";
export { type Base, loadBase } from "./lib/plan/delta.ts";

// ---- The commands as functions: save, load, mirror, serve, images ----
export { saveCommand, type SaveOptions, type SaveResult } from "./lib/commands/save/save.ts";
export {
  loadCommand,
  type LoadedImage,
  type LoadOptions,
  type LoadResult,
  type LoadSummary,
} from "./lib/commands/load/load.ts";
export { mirrorCommand, type MirrorOptions, type MirrorResult } from "./lib/commands/mirror/mirror.ts";
export { serveCommand, type ServeHandle, type ServeOptions } from "./lib/commands/serve/serve.ts";
// ---- The cluster side: containerd names, registries.yaml, hosts.toml, Helm values ----
export { containerdName, type RegistryNaming, registryNaming } from "./lib/cluster/names.ts";
export {
  applyRewrite,
  type MirrorPlan,
  type MirrorSet,
  mirrorsFor,
  type NameClash,
  type PrivateRegistry,
} from "./lib/cluster/mirrors.ts";
export { type ClusterConfig, clusterConfig, type RegistryAccess } from "./lib/commands/cluster_config/config.ts";
export { imagesCommand, type ImagesOptions, type ListedFile, type ListedImage } from "./lib/commands/images/images.ts";

// ---- The copy engine and the stores it copies between ----
export { type CopyEvent, copyGraph, type CopyOptions, type CopyResult, type CopyRoot } from "./lib/copy/engine.ts";
export type { Content, PushOutcome, ResolvedManifest, Store, StoreOptions } from "./lib/store/types.ts";
export {
  createRegistryClient,
  type RegistryClient,
  type RegistryRequest,
  type RegistrySettings,
  type RequestOptions,
} from "./lib/store/registry/client.ts";
export {
  type RegistryStats,
  type RegistryStore,
  registryStore,
  type RegistryStoreOptions,
} from "./lib/store/registry/store.ts";
export type { Credential } from "./lib/store/registry/auth.ts";
export { createSession, type NetworkSession, type SessionOptions } from "./lib/transport/session.ts";
export { defaultCacheDir } from "./lib/store/cache.ts";
/**
 * The local cache as a {@link Store}: content-addressed blobs every save and
 * mirror share (see {@link defaultCacheDir}), and the names it has recorded.
 * Its own machinery (packs adopted from archives, leases, download claims)
 * stays internal.
 */
export interface CacheStore extends Store {
  /** The cache directory. */
  readonly dir: string;
  /** Is a blob present (in any repository: the cache is global)? */
  has(digest: string, size?: number): Promise<boolean>;
  /** The names recorded in its `index.json`: full name (`registry/repo:tag`) → descriptor. */
  tags(): Promise<Map<string, Descriptor>>;
}
/** Open the cache at `dir`, creating it if needed; several processes may share it. */
export function openCache(dir: string): Promise<CacheStore> {
  return openCacheStore(dir);
}
export {
  type ArchiveImage,
  type ArchiveIndexEntry,
  type ArchiveLayout,
  type ArchiveReader,
  type ArchiveSummary,
  type ArchiveWriter,
  type ArchiveWriterOptions,
  createArchive,
  openArchive,
  type OpenArchiveOptions,
} from "./lib/store/archive.ts";

// ---- Chart images: what a Helm chart deploys ----
export {
  type Chart,
  type ChartDependency,
  type ChartImage,
  type ChartImagesOptions,
  type ChartImagesResult,
  type ChartImagesWarning,
  type ImageMethod,
  imagesOfChart,
  loadChart,
} from "@airgap/helm";

// ---- References, progress, errors ----
export { formatReference, parseReference, type Reference } from "./lib/ref.ts";
export {
  createReporter,
  type Phase,
  type PhasePlan,
  type Reporter,
  type ReporterOptions,
} from "./lib/report/progress.ts";
export {
  AirgapError,
  CacheReadError,
  DiskFullError,
  type ErrorContext,
  ErrorKind,
  type ErrorOptions,
  ManifestRefusedError,
  TarFormatError,
} from "./lib/errors.ts";
/** The kinds of failure (decide on the class, never on the message), and whether one is worth retrying. */
export {
  DigestMismatchError,
  InterruptedError,
  isTemporary,
  NetworkError,
  NotARegistryError,
  NotFoundError,
  TimeoutError,
  TlsError,
  TransientError,
  UnauthorizedError,
} from "./lib/error_kinds.ts";

// ---- Types the signatures above name ----
export type { Descriptor, ImageIndex, ImageManifest, Manifest, Platform } from "./lib/oci/manifest.ts";
export type { PlatformSelector, PlatformSpec } from "./lib/oci/platform.ts";
export type { ForeignLayer, ForeignLayerPolicy } from "./lib/oci/foreign.ts";
export type { RegistryUse } from "./lib/plan/declaration.ts";
export type { ChartSourceSpec, RancherSourceSpec, SourceSpec } from "./lib/sources/specs.ts";
export type { ResolvedSources, SourceSummary } from "./lib/plan/fetch_sources.ts";
export type { FileSpec } from "./lib/files/spec.ts";
export type { DistributionKind, DistributionSpec } from "./lib/files/distribution.ts";
export type { CarriedFile } from "./lib/plan/carry_files.ts";
export type { ArtifactKind } from "./lib/artifacts/discover.ts";
export type { ArtifactFlags } from "./lib/plan/carry_artifacts.ts";
export type { ChartLoadOptions, LoadedChart } from "./lib/artifacts/archived_charts.ts";
export type { NetworkOptions } from "./lib/store/registry/pool.ts";
export type { ImageFailure } from "./lib/report/failures.ts";
export type { NetworkEvents, RetryEvent, SendInit, Timeouts, Transport, WaitEvent } from "./lib/transport/http.ts";
export type { RetryOptions, RetryPolicy } from "./lib/transport/retry.ts";
export type { GoMap, ReleaseOptions } from "@airgap/helm";
export type { ArchiveProblem } from "./lib/format/archive_check.ts";
export type { TarEntry } from "./lib/format/tar.ts";
export type { RequestLogEntry, RunningServer } from "./lib/server/server.ts";
export type { Catalog, Naming, Placement } from "./lib/server/catalog.ts";
export type { ChartArtifact } from "./lib/oci/chart.ts";
