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
  filterIndex,
  formatPlatform,
  parsePlatform,
  parsePlatformSelector,
  type PlatformSelector,
  type PlatformSpec,
} from "./lib/oci/platform.ts";
export { digestOf, verifyingStream } from "./lib/oci/digest.ts";
/** Windows releases (names ↔ builds) and foreign (non-distributable) layers. */
export {
  parseWindowsVersion,
  parseWindowsVersions,
  WINDOWS_RELEASES,
  type WindowsRelease,
  type WindowsVersion,
} from "./lib/oci/windows.ts";
export {
  type ForeignLayerPolicy,
  makeDistributable,
  parseForeignLayerPolicy,
  withForeignLayers,
} from "./lib/oci/foreign.ts";
export { assembleIndex, findPlatforms } from "./lib/assemble.ts";
/** The store interface and its implementations. */
export type { Content, PushOutcome, ResolvedManifest, Store } from "./lib/store/types.ts";
export { createRegistryClient, type RegistryClient, type RegistrySettings } from "./lib/store/registry/client.ts";
export { type RegistryStore, registryStore } from "./lib/store/registry/store.ts";
export { type CacheStore, defaultCacheDir, openCache } from "./lib/store/cache.ts";
export { type ArchiveReader, type ArchiveWriter, createArchive, openArchive } from "./lib/store/archive.ts";
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
export { copyGraph, type CopyOptions, type CopyResult, type CopyRoot } from "./lib/copy.ts";
/** Declarations, plans and locks. */
export { type Declaration, declarationFromList, type ImageRequest, loadDeclaration } from "./lib/declaration.ts";
export { lockFromImages, makePlan, type Plan, type ResolvedImage, resolveImages } from "./lib/plan.ts";
export { formatLock, parseLock, readLock, writeLock } from "./lib/lock.ts";
export { parseImageList } from "./lib/sources/list.ts";
/** The commands, as functions. */
export { saveCommand, type SaveOptions, type SaveResult } from "./lib/commands/save.ts";
export { loadCommand, type LoadOptions, type LoadResult } from "./lib/commands/load.ts";
export { planCommand, type PlanOptions } from "./lib/commands/plan.ts";
export { parseListen, serveCommand, type ServeHandle, type ServeOptions } from "./lib/commands/serve.ts";
/** Deltas: cut an archive against a previous lock or archive. */
export { type Base, deltaBlobs, loadBase } from "./lib/delta.ts";
/** Inspect archives: verify every byte and graph, list images. */
export {
  type ListedImage,
  type Listing,
  lsCommand,
  type Problem,
  verifyCommand,
  type VerifyResult,
} from "./lib/commands/inspect.ts";
/** Compare two locks. */
export { diffLocks, type LockDiff } from "./lib/commands/diff.ts";
/** Look after the cache. */
export {
  cacheLs,
  cachePrune,
  type CacheSummary,
  cacheVerify,
  type CacheVerifyResult,
  type PruneResult,
} from "./lib/commands/cache.ts";
/** Split volumes and their checksums. */
export { createVolumes, findVolumes, openVolumes, type VolumeReader, type VolumeWriter } from "./lib/store/volumes.ts";
export { checkSums, sha256File, writeSums } from "./lib/checksums.ts";
/** An image's whole graph, walked from its root. */
export { type Graph, walkGraph } from "./lib/oci/graph.ts";
/** Generated images (demo, tests, benchmarks) and the demo itself. */
export { type GeneratedImage, standardCorpus } from "./lib/corpus.ts";
export { demoCommand, type DemoOptions } from "./lib/commands/demo.ts";
