/**
 * The planner's passes over one image, as pure functions from descriptors and
 * manifest bytes to edits: select the platforms of the root → rewrite foreign
 * layers → assemble per-OS lists → apply lock pins. The planner fetches the
 * manifests first (lib/oci/graph.ts walks them), runs these passes, and then
 * persists the edits to the cache in one step — the shape of
 * containers/image's `copy/multiple.go`: compute the instance edits as data,
 * then apply them. Nothing here does I/O, so each pass is tested without a
 * registry (tests/unit/plan_passes.test.ts).
 * @module
 */
import { REFERENCE_DIGEST } from "../oci/annotations.ts";
import { AirgapError } from "../errors.ts";
import type { LockedImage } from "../../schemas/lock.ts";
import {
  type ForeignLayer,
  type ForeignLayerPolicy,
  isExternalLayer,
  makeDistributable,
  rewrittenDescriptor,
} from "../oci/foreign.ts";
import {
  type Descriptor,
  encodeJson,
  type ImageIndex,
  type ImageManifest,
  parseManifest,
  storedChildren,
} from "../oci/manifest.ts";
import { isManifestType } from "../oci/media.ts";
import { filterIndex, type PlatformSelector } from "../oci/platform.ts";
import type { ResolvedManifest } from "../store/types.ts";
import { assembleIndex } from "./assemble.ts";

/** New manifest bytes the plan saves (a rewritten manifest or root): written to the cache by the planner. */
export interface ManifestEdit {
  /** The descriptor of the new bytes. */
  descriptor: Descriptor;
  /** The new bytes. */
  bytes: Uint8Array;
  /** The upstream manifest it replaces (unset for a new root: filtered or assembled). */
  upstream?: string;
}

/** The root after platform selection: what the graph is walked from. */
export type SelectedRoot =
  /** A single image manifest: the root itself. */
  | { kind: "image"; upstream: Descriptor }
  /** An index: its entries that were kept (`changed` when some were dropped). */
  | { kind: "index"; upstream: Descriptor; index: ImageIndex; kept: Descriptor[]; changed: boolean }
  /** Entries found under the plain and per-OS tags, to be assembled into one new index. */
  | { kind: "assembled"; entries: Descriptor[] };

/** The graph of one image as it is saved: the edits to persist and what the image carries. */
export interface GraphPlan {
  /** The root that is saved (the upstream root, a filtered index or an assembled one). */
  root: Descriptor;
  /** The root index's entries as saved (undefined for a single manifest). */
  rootEntries?: Descriptor[];
  /** True when platforms were dropped from the upstream index. */
  filtered: boolean;
  /** Manifests below the root, as saved, children before their index. */
  manifests: Descriptor[];
  /** Configs and layers (each once, in walk order). */
  blobs: Map<string, Descriptor>;
  /** Which blobs are configs. */
  configs: Set<string>;
  /** Every new manifest, children first, the root last. */
  edits: ManifestEdit[];
  /** Rewritten manifests below the root: upstream digest → saved digest. */
  rewritten: Record<string, string>;
  /** Foreign layers made distributable. */
  foreignLayers: Map<string, ForeignLayer>;
  /** Foreign layers left at their URLs (policy keep). */
  externalLayers: Map<string, Descriptor>;
  /** Blobs deliberately not carried (foreign layers under skip). */
  absent: Set<string>;
}

/** Pass 1: select the platforms of a resolved root (an index is filtered; an image is itself). */
export function selectPlatforms(root: ResolvedManifest, selector: PlatformSelector, what: string): SelectedRoot {
  const manifest = parseManifest(root.bytes, root.descriptor.mediaType, what);
  const upstream = { ...root.descriptor, mediaType: manifest.mediaType };
  if (manifest.kind !== "index") return { kind: "image", upstream };
  const filtered = filterIndex(manifest, root.bytes, selector, what);
  return { kind: "index", upstream, index: manifest, kept: filtered.kept, changed: filtered.changed };
}

/** The manifests a selected root's graph is walked from (their bytes are what the later passes read). */
export function walkRoots(selected: SelectedRoot): Descriptor[] {
  if (selected.kind === "image") return [selected.upstream];
  const entries = selected.kind === "index" ? selected.kept : selected.entries;
  return entries.filter((e) => isManifestType(e.mediaType));
}

/** What pass 2 makes of an image manifest's foreign layers. */
export interface ForeignRewrite {
  /** The manifest as saved (the rewritten one when `bytes` is set). */
  manifest: ImageManifest;
  /** New manifest bytes, when a layer was rewritten. */
  bytes?: Uint8Array;
  /** Foreign layers made distributable. */
  layers: ForeignLayer[];
  /** Digests left out of the archive (policy skip). */
  skipped: string[];
  /** Foreign layers still at their URLs (policy keep, or none rewritten). */
  external: Descriptor[];
}

/** Pass 2: rewrite the foreign layers of an image manifest under a policy (see lib/oci/foreign.ts). */
export function rewriteForeignLayers(
  image: ImageManifest,
  bytes: Uint8Array,
  policy: ForeignLayerPolicy,
  what: string,
): ForeignRewrite {
  const made = policy === "keep" ? undefined : makeDistributable(image, bytes);
  const manifest = made?.changed ? parseManifest(made.bytes, image.mediaType, what) as ImageManifest : image;
  const layers = made?.changed ? made.layers : [];
  return {
    manifest,
    ...(made?.changed ? { bytes: made.bytes } : {}),
    layers,
    skipped: policy === "skip" ? layers.map((l) => l.descriptor.digest) : [],
    external: manifest.layers.filter(isExternalLayer),
  };
}

/**
 * Point index entries at their saved manifests: an entry whose manifest was
 * rewritten gets the new digest and size, and an attestation that refers to
 * it (`vnd.docker.reference.digest`) follows. Unchanged entries are returned
 * as the same objects.
 */
export function repointEntries(entries: readonly Descriptor[], saved: ReadonlyMap<string, Descriptor>): Descriptor[] {
  const moved = new Map<string, string>();
  const out = entries.map((entry) => {
    const to = isManifestType(entry.mediaType) ? saved.get(entry.digest) : undefined;
    if (!to || to.digest === entry.digest) return entry;
    moved.set(entry.digest, to.digest);
    return { ...entry, digest: to.digest, size: to.size };
  });
  return out.map((e) => {
    const ref = e.annotations?.[REFERENCE_DIGEST];
    return ref && moved.has(ref) ? { ...e, annotations: { ...e.annotations, [REFERENCE_DIGEST]: moved.get(ref)! } } : e;
  });
}

/** Pass 3: the one index assembled from per-OS entries (see lib/plan/assemble.ts), as an edit. */
export function assembledRoot(entries: readonly Descriptor[]): ManifestEdit {
  const assembled = assembleIndex(entries);
  return { descriptor: rewrittenDescriptor(assembled.mediaType, assembled.bytes), bytes: assembled.bytes };
}

/** Pass 4: the saved root must be what the lock pins (under `--locked`). */
export function checkLockPin(locked: LockedImage | undefined, saved: Descriptor, what: string): void {
  if (locked && locked.digest !== saved.digest) {
    throw new AirgapError(
      `${what}: resolves to ${saved.digest} but airgap.lock pins ${locked.digest} (platforms changed? run "airgap plan")`,
    );
  }
}

/** The digest a locked request resolves a tag to: the lock's pin for it, if any. */
export function lockedPin(locked: LockedImage, tag: string, requestTag: string | undefined): string | undefined {
  if (locked.assembled) return locked.assembled[tag];
  return tag === requestTag ? locked.upstreamDigest ?? locked.digest : undefined;
}

/** The bytes of the manifests a walk fetched (digest → bytes), and how their parse errors name them. */
export interface FetchedManifests {
  /** Bytes by digest. */
  bytes: ReadonlyMap<string, Uint8Array>;
  /** The image, for messages. */
  what: string;
}

/** Compute the saved graph of a selected root from its fetched manifests: the edits, then what the image carries. */
export function planGraph(selected: SelectedRoot, fetched: FetchedManifests, policy: ForeignLayerPolicy): GraphPlan {
  const walk: GraphWalk = {
    fetched,
    policy,
    saved: new Map(),
    carried: {
      manifests: [],
      blobs: new Map(),
      configs: new Set(),
      edits: [],
      rewritten: {},
      foreignLayers: new Map(),
      externalLayers: new Map(),
      absent: new Set(),
    },
  };
  return { ...savedRoot(walk, selected), ...walk.carried };
}

/** The root that is saved: the image itself, the index (filtered, or pointing at rewritten entries), or an assembled one. */
function savedRoot(walk: GraphWalk, selected: SelectedRoot): Pick<GraphPlan, "root" | "rootEntries" | "filtered"> {
  if (selected.kind === "image") return { root: planManifest(walk, selected.upstream, true), filtered: false };
  const kept = selected.kind === "index" ? selected.kept : selected.entries;
  const rootEntries = planEntries(walk, kept);
  if (selected.kind === "assembled") {
    const edit = assembledRoot(rootEntries);
    walk.carried.edits.push(edit);
    return { root: edit.descriptor, rootEntries, filtered: false };
  }
  if (!selected.changed && rootEntries.every((e, i) => e === kept[i])) {
    return { root: selected.upstream, rootEntries, filtered: false };
  }
  const bytes = encodeJson({ ...selected.index.raw, manifests: rootEntries });
  const root = rewrittenDescriptor(selected.index.mediaType, bytes);
  walk.carried.edits.push({ descriptor: root, bytes });
  return { root, rootEntries, filtered: selected.changed };
}

/** State of one {@link planGraph}: what the image carries so far and the saved descriptor of each manifest seen. */
interface GraphWalk {
  carried: Omit<GraphPlan, "root" | "rootEntries" | "filtered">;
  fetched: FetchedManifests;
  policy: ForeignLayerPolicy;
  saved: Map<string, Descriptor>;
}

/** Plan index entries in order (blobs as they come, manifests below), then point them at what is saved. */
function planEntries(walk: GraphWalk, entries: readonly Descriptor[]): Descriptor[] {
  const saved = new Map<string, Descriptor>();
  for (const entry of entries) {
    if (isManifestType(entry.mediaType)) saved.set(entry.digest, planManifest(walk, entry, false));
    else if (!walk.carried.blobs.has(entry.digest)) walk.carried.blobs.set(entry.digest, entry);
  }
  return repointEntries(entries, saved);
}

/** Plan one manifest (once per digest); returns the descriptor that is saved (new when rewritten). */
function planManifest(walk: GraphWalk, desc: Descriptor, isRoot: boolean): Descriptor {
  const seen = walk.saved.get(desc.digest);
  if (seen) return seen;
  const { carried: plan, fetched } = walk;
  const bytes = fetched.bytes.get(desc.digest);
  if (!bytes) throw new AirgapError(`${fetched.what}: manifest ${desc.digest} was not fetched`);
  const label = isRoot ? fetched.what : `${fetched.what} child ${desc.digest}`;
  const manifest = parseManifest(bytes, desc.mediaType, label);
  let saved: Descriptor = { mediaType: manifest.mediaType, digest: desc.digest, size: desc.size };
  let edited: Uint8Array | undefined;
  if (manifest.kind === "index") {
    const entries = planEntries(walk, manifest.manifests);
    if (entries.some((e, i) => e !== manifest.manifests[i])) {
      edited = encodeJson({ ...manifest.raw, manifests: entries });
    }
  } else {
    const foreign = rewriteForeignLayers(manifest, bytes, walk.policy, fetched.what);
    edited = foreign.bytes;
    collectImage(plan, foreign);
  }
  if (edited) {
    saved = rewrittenDescriptor(manifest.mediaType, edited);
    plan.edits.push({ descriptor: saved, bytes: edited, upstream: desc.digest });
    plan.rewritten[desc.digest] = saved.digest;
  }
  if (!isRoot && !plan.manifests.some((m) => m.digest === saved.digest)) plan.manifests.push(saved);
  walk.saved.set(desc.digest, saved);
  return saved;
}

/** What an image manifest (after pass 2) adds to the plan: its config and layers, its foreign layers. */
function collectImage(plan: GraphWalk["carried"], foreign: ForeignRewrite): void {
  for (const layer of foreign.layers) plan.foreignLayers.set(layer.descriptor.digest, layer);
  for (const digest of foreign.skipped) plan.absent.add(digest);
  for (const layer of foreign.external) plan.externalLayers.set(layer.digest, layer);
  plan.configs.add(foreign.manifest.config.digest);
  for (const d of storedChildren(foreign.manifest)) if (!plan.blobs.has(d.digest)) plan.blobs.set(d.digest, d);
}
