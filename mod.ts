/**
 * airgap — carry container images (and the charts that need them) into
 * air-gapped Kubernetes and Rancher sites, keeping every digest.
 *
 * The library is one copy engine over interchangeable stores: a registry, the
 * local cache, an archive. `save` is registry → cache → archive, `load` is
 * archive → registry.
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
 * @module
 */

/** Image references: parse, normalise, name targets as Rancher's scripts do. */
export {
  formatReference,
  parseReference,
  type Reference,
  sourceReference,
  splitRegistryArgument,
  targetReference,
} from "./lib/ref.ts";
/** Errors meant for users: one line with context. */
export { AirgapError, type ErrorContext } from "./lib/errors.ts";
/** The kinds of failure (decide on the class, never on the message), and whether one is worth retrying. */
export {
  DigestMismatchError,
  type ErrorOptions,
  InterruptedError,
  isTemporary,
  NetworkError,
  NotARegistryError,
  NotFoundError,
  TimeoutError,
  TlsError,
  TransientError,
  TransportError,
  UnauthorizedError,
} from "./lib/transport/errors.ts";
/** The one HTTP transport and retry policy (timeouts, redirects, credentials bound to their origin). */
export {
  createTransport,
  DEFAULT_TIMEOUTS,
  type NetworkEvents,
  type RetryEvent,
  type Timeouts,
  type Transport,
  type TransportOptions,
  type WaitEvent,
} from "./lib/transport/http.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetries } from "./lib/transport/retry.ts";
/** Manifests, descriptors and platforms. */
export {
  children,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Manifest,
  parseManifest,
  type Platform,
} from "./lib/oci/manifest.ts";
export * as mediaTypes from "./lib/oci/media.ts";
export {
  type FilteredIndex,
  filterIndex,
  formatPlatform,
  parsePlatform,
  parsePlatformSelector,
  type PlatformSelector,
  type PlatformSpec,
} from "./lib/oci/platform.ts";
export { digestOf, type Expected, verifyingStream } from "./lib/oci/digest.ts";
/** Windows releases (names ↔ builds) and foreign (non-distributable) layers. */
export {
  parseWindowsVersion,
  parseWindowsVersions,
  WINDOWS_RELEASES,
  type WindowsRelease,
  type WindowsVersion,
} from "./lib/oci/windows.ts";
export {
  type DistributableManifest,
  type ForeignLayer,
  type ForeignLayerPolicy,
  makeDistributable,
  parseForeignLayerPolicy,
} from "./lib/oci/foreign.ts";
export { withForeignLayers } from "./lib/store/foreign_layers.ts";
export { assembleIndex, type Assembly, type AssemblyContext, findPlatforms } from "./lib/plan/assemble.ts";
/** The store interface and its implementations. */
export type { Content, PushOutcome, ResolvedManifest, Store, StoreOptions } from "./lib/store/types.ts";
export {
  createRegistryClient,
  type RegistryClient,
  type RegistryRequest,
  type RegistrySettings,
} from "./lib/store/registry/client.ts";
export type { Credential } from "./lib/store/registry/auth.ts";
export {
  type RegistryStats,
  type RegistryStore,
  registryStore,
  type RegistryStoreOptions,
} from "./lib/store/registry/store.ts";
export {
  type CacheLease,
  type CacheStore,
  defaultCacheDir,
  openCache,
  type PackedBlob,
  type PackJournal,
  type PartialBlob,
} from "./lib/store/cache.ts";
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
export type { ArchiveProblem } from "./lib/store/archive_check.ts";
/** Tar entries and random-access sources, as archives and volumes expose them. */
export type { RandomAccess, TarEntry } from "./lib/store/tar.ts";
/**
 * The embedded registry: any store served over the OCI distribution API,
 * read-only or accepting pushes into a cache. See {@link startServer}.
 */
export {
  archiveImages,
  cacheImages,
  type Catalog,
  createCatalog,
  type Naming,
  type Placement,
  registryNaming,
  type RequestLogEntry,
  type RunningServer,
  type ServerOptions,
  sourceNaming,
  startServer,
  type StoredImage,
} from "./lib/store/server.ts";
/** The copy engine. */
export { type CopyEvent, copyGraph, type CopyOptions, type CopyResult, type CopyRoot } from "./lib/transfer/copy.ts";
/** Progress reporting, as the commands accept it. */
export type { Phase, Reporter } from "./lib/report/progress.ts";
/** Declarations, plans and locks. */
export {
  type Declaration,
  declarationFromList,
  type DeclarationOverrides,
  type ImageRequest,
  imageRequest,
  loadDeclaration,
  mergeRequests,
} from "./lib/plan/declaration.ts";
export {
  lockFromImages,
  type LockStatus,
  makePlan,
  type Plan,
  type PlannedImage,
  type ResolveContext,
  type ResolvedImage,
  resolveImages,
} from "./lib/plan/plan.ts";
export { formatLock, parseLock, readLock, sourceKey, withSources, writeLock } from "./lib/plan/lock.ts";
export type { Lock, LockedArtifact, LockedImage, LockedSource } from "./schemas/lock.ts";
/**
 * Where image names come from: image lists, Rancher releases and Helm charts.
 *
 * @example The images of a Rancher release and of a chart, with where each came from
 * ```ts
 * import { fetchChart, fetchRancherLists, imagesOfChart, loadChart } from "./mod.ts";
 *
 * const [list] = await fetchRancherLists({ version: "v2.7.9" }); // checked against sha256sum.txt
 * for (const { entry, line } of list.entries) console.log(entry, `${list.file}@${list.version}:${line}`);
 *
 * const chart = await fetchChart({ name: "cert-manager", repo: "https://charts.jetstack.io", version: "v1.12.3" });
 * const { images } = imagesOfChart(await loadChart(chart.bytes), { set: ["installCRDs=true"] });
 * for (const { image, origin } of images) console.log(image, origin.template, origin.valuesPath);
 * ```
 */
export { type ListEntry, parseImageList, readImageList } from "./lib/sources/list.ts";
export {
  fetchRancherLists,
  isPrerelease,
  parseSha256Sums,
  RANCHER_IMAGES,
  RANCHER_RELEASES_URL,
  RANCHER_WINDOWS_IMAGES,
  rancherAssetsUrl,
  type RancherFetchOptions,
  type RancherList,
  type RancherListKind,
  rancherReleaseTag,
} from "./lib/sources/rancher.ts";
export {
  type ChartFetchOptions,
  type ChartSpec,
  fetchChart,
  type FetchedChart,
  MAX_CHART_SIZE,
  normaliseRepo,
} from "./lib/sources/charts.ts";
export {
  type Chart,
  type ChartDependency,
  type ChartImage,
  chartImages,
  type ChartImagesOptions,
  type ChartImagesResult,
  type ChartImagesWarning,
  type ImageMethod,
  imagesOfChart,
  loadChart,
  parseSet,
  parseValues,
  type ReleaseOptions,
} from "./lib/sources/helm/mod.ts";
export type { GoMap } from "./lib/sources/helm/gotypes.ts";
export type { ChartSourceSpec, RancherSourceSpec, SourceSpec } from "./lib/sources/declared.ts";
/** Fetch a declaration's Rancher release and charts into image requests, lock entries and chart artifacts. */
export {
  chartImageOrigin,
  type ResolvedSources,
  resolveSources,
  type SourceContext,
  type SourceSummary,
} from "./lib/sources/resolve.ts";
export { type Download, download, type DownloadOptions } from "./lib/sources/http.ts";
/** Helm charts as OCI artifacts (as `helm push` stores them), and how archives mark them. */
export {
  type ChartArtifact,
  chartArtifact,
  chartConfigJson,
  chartEntry,
  chartLayer,
  chartTag,
  isChartEntry,
} from "./lib/oci/chart.ts";
/** The commands, as functions. */
export { saveCommand, type SaveOptions, type SaveResult } from "./lib/transfer/save.ts";
export { loadCommand, type LoadedImage, type LoadOptions, type LoadResult } from "./lib/transfer/load.ts";
export { mirrorCommand, type MirrorOptions, type MirrorResult } from "./lib/transfer/mirror.ts";
export { planCommand, type PlanOptions, type PlanResult } from "./lib/plan/run.ts";
export { formatSources } from "./lib/commands/plan.ts";
export { formatImageList } from "./lib/commands/images.ts";
export {
  chartFileImages,
  type ChartFileOptions,
  imagesCommand,
  type ImagesOptions,
  type ListedImage,
} from "./lib/plan/images.ts";
/** Charts in archives: written as files or pushed as OCI charts by `load`. */
export {
  archiveCharts,
  archiveImageEntries,
  type ChartLoadOptions,
  extractCharts,
  loadCharts,
  type LoadChartsOptions,
  type LoadedChart,
} from "./lib/artifacts/charts.ts";
export { parseListen, serveCommand, type ServeHandle, type ServeOptions } from "./lib/store/server/serve.ts";
/** Deltas: cut an archive against a previous lock or archive. */
export { type Base, deltaBlobs, loadBase } from "./lib/plan/delta.ts";
/** Inspect archives: verify every byte and graph, list images. */
export {
  type ListedImage as ArchiveListedImage,
  type Listing,
  lsCommand,
  type Problem,
  verifyCommand,
  type VerifyOptions,
  type VerifyResult,
} from "./lib/store/inspect.ts";
/** Compare two locks. */
export { diffLocks, type LockDiff } from "./lib/plan/diff.ts";
/** Look after the cache. */
export {
  cacheLs,
  cachePrune,
  type CacheSummary,
  cacheVerify,
  type CacheVerifyResult,
  type PruneResult,
} from "./lib/store/cache_care.ts";
/** Split volumes and their checksums. */
export { createVolumes, findVolumes, openVolumes, type VolumeReader, type VolumeWriter } from "./lib/store/volumes.ts";
export { checkSums, sha256File, writeSums } from "./lib/store/checksums.ts";
/** An image's whole graph, walked from its root. */
export { type Graph, walkGraph } from "./lib/oci/graph.ts";
/** Generated images (demo, tests, benchmarks) and the demo itself. */
export { type Blob as CorpusBlob, type GeneratedImage, standardCorpus } from "./lib/demo/corpus.ts";
export { demoCommand, type DemoOptions } from "./lib/demo/demo.ts";

// Types the public signatures above refer to.
export type { RegistryUse } from "./lib/plan/declaration.ts";
export type { ArtifactKind } from "./lib/artifacts/discover.ts";
export type { ArtifactFlags } from "./lib/artifacts/carry.ts";
export type { NetworkOptions } from "./lib/store/registry/pool.ts";
export type { ImageFailure } from "./lib/report/failures.ts";
export type { LoadSummary } from "./lib/transfer/load.ts";
export type { RequestOptions } from "./lib/store/registry/client.ts";
export type { RetryOptions } from "./lib/transport/retry.ts";
export type { PhasePlan } from "./lib/report/progress.ts";
export type { ResolvedArtifact } from "./lib/plan/plan.ts";
export type { SendInit } from "./lib/transport/http.ts";
