/**
 * Foreign (non-distributable) layers: Windows base layers that registries
 * do not serve, named by `urls` on an outside host (Microsoft's). What to do
 * with them is a policy:
 *
 * - `include` (default): fetch the bytes from the URLs at save time
 *   (verified like any blob), carry them, push them at load time, and
 *   rewrite the manifest to the distributable media type without `urls` —
 *   what Docker's `allow-nondistributable-artifacts` does. The manifest gets
 *   a new digest (and its index new bytes); the lock records both.
 * - `keep`: the manifest is kept byte for byte and the layers are neither
 *   fetched nor carried: the target registry must accept foreign URLs and the
 *   nodes must reach the URLs (or hold the layer already).
 * - `skip`: the manifest is rewritten exactly as under `include` (so the
 *   digests are the same) but the layer bytes are left out of the archive,
 *   with a warning: for a target that already holds them from an earlier
 *   `include` load. `load` checks that before pushing anything.
 *
 * This module is the pure part (policies, rewriting manifests, notes); the
 * fetching from the URLs is a store wrapper, lib/store/wrappers/foreign_layers.ts, so
 * the OCI model does no I/O.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { digestOf } from "./digest.ts";
import { type Descriptor, encodeJson, type ImageManifest } from "./manifest.ts";
import { FOREIGN_LAYER_TYPES } from "./media.ts";

/** What to do with foreign layers. */
export type ForeignLayerPolicy = "include" | "keep" | "skip";

/** Every policy, the default first. */
export const FOREIGN_LAYER_POLICIES: readonly ForeignLayerPolicy[] = ["include", "keep", "skip"];

/** Parse a policy as written on the command line or in airgap.yaml. */
export function parseForeignLayerPolicy(text: string, where = "--foreign-layers"): ForeignLayerPolicy {
  const value = text.trim().toLowerCase();
  if ((FOREIGN_LAYER_POLICIES as readonly string[]).includes(value)) return value as ForeignLayerPolicy;
  throw new AirgapError(`${where}: "${text}" is not a foreign-layer policy (include, keep or skip)`, {}, {
    exitCode: 2,
  });
}

/** True for non-distributable layer media types. */
export function isForeignLayer(desc: Descriptor): boolean {
  return FOREIGN_LAYER_TYPES.has(desc.mediaType);
}

/**
 * True for a non-distributable layer that names URLs: registries accept a
 * manifest referencing it without holding it (when allowed to), and clients
 * fetch it from the URLs. Such a layer is not a child a store must hold.
 */
export function isExternalLayer(desc: Descriptor): boolean {
  return isForeignLayer(desc) && (desc.urls?.length ?? 0) > 0;
}

/** A foreign layer made distributable: the descriptor that is saved, and where to fetch it. */
export interface ForeignLayer {
  /** The distributable descriptor (media type changed, no `urls`). */
  descriptor: Descriptor;
  /** The upstream media type. */
  foreignType: string;
  /** Where the bytes are (tried in turn). */
  urls: string[];
}

/** A manifest with its foreign layers made distributable. */
export interface DistributableManifest {
  /** The manifest bytes: the upstream bytes when there was nothing to change. */
  bytes: Uint8Array;
  /** True when a layer was rewritten, so the bytes (and the digest) are new. */
  changed: boolean;
  /** The layers that were rewritten. */
  layers: ForeignLayer[];
}

/**
 * Rewrite the foreign layers of an image manifest to their distributable
 * media type and drop their `urls`; every other field and descriptor is kept
 * as it is. A foreign layer without URLs is only retyped.
 */
export function makeDistributable(manifest: ImageManifest, bytes: Uint8Array): DistributableManifest {
  if (!manifest.layers.some(isForeignLayer)) return { bytes, changed: false, layers: [] };
  const layers: ForeignLayer[] = [];
  const rawLayers = (manifest.raw.layers as Record<string, unknown>[]).map((raw, i) => {
    const desc = manifest.layers[i];
    const distributable = FOREIGN_LAYER_TYPES.get(desc.mediaType);
    if (!distributable) return raw;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (key === "urls") continue;
      out[key] = key === "mediaType" ? distributable : value;
    }
    const { urls: _urls, ...rest } = desc;
    layers.push({
      descriptor: { ...rest, mediaType: distributable },
      foreignType: desc.mediaType,
      urls: desc.urls ?? [],
    });
    return out;
  });
  return { bytes: encodeJson({ ...manifest.raw, layers: rawLayers }), changed: true, layers };
}

/** The descriptor of rewritten manifest bytes. */
export function rewrittenDescriptor(mediaType: string, bytes: Uint8Array): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
}

/** Summary lines about foreign layers for a set of resolved images (empty when there are none). */
export function foreignLayerNotes(
  images: readonly { foreignLayers?: ForeignLayer[]; externalLayers?: Descriptor[] }[],
  policy: ForeignLayerPolicy,
): { warning: boolean; text: string }[] {
  const count = (list: Descriptor[]) => {
    const unique = new Map(list.map((d) => [d.digest, d.size]));
    return { n: unique.size, bytes: [...unique.values()].reduce((a, b) => a + b, 0) };
  };
  const rewritten = count(images.flatMap((i) => (i.foreignLayers ?? []).map((l) => l.descriptor)));
  const external = count(images.flatMap((i) => i.externalLayers ?? []));
  const out: { warning: boolean; text: string }[] = [];
  if (rewritten.n > 0 && policy === "include") {
    out.push({
      warning: false,
      text:
        `${rewritten.n} foreign layer(s), ${rewritten.bytes} bytes, fetched from their URLs and carried as ordinary layers (manifests rewritten: new digests, see airgap.lock)`,
    });
  }
  if (rewritten.n > 0 && policy === "skip") {
    out.push({
      warning: true,
      text:
        `${rewritten.n} foreign layer(s), ${rewritten.bytes} bytes, left out (--foreign-layers skip): the target registry must already hold them in the same repositories, e.g. from an earlier load of an archive saved with include`,
    });
  }
  if (external.n > 0) {
    out.push({
      warning: true,
      text:
        `${external.n} foreign layer(s) stay at their URLs (--foreign-layers keep): the target registry must accept foreign URLs and the nodes must reach them`,
    });
  }
  return out;
}
