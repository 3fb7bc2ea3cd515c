/**
 * Small but real images, generated in memory: gzip'd tar layers with
 * deterministic content, Docker and OCI manifests, manifest lists and
 * indexes, artifacts. Used by the demo, the tests and the benchmarks, so no
 * image ever has to be downloaded to exercise the whole tool.
 * @module
 */
import { gzipSync } from "node:zlib";
import { digestOf } from "../oci/digest.ts";
import { type Descriptor, encodeJson, type Platform } from "../oci/manifest.ts";
import * as media from "../oci/media.ts";
import { encodeHeader, padding, TAR_END } from "../format/tar.ts";

/** A blob with its bytes. */
export interface Blob {
  /** Media type, digest and size of `bytes`. */
  descriptor: Descriptor;
  /** The content itself. */
  bytes: Uint8Array;
}

/** An image (or index) with every blob of its graph. */
export interface GeneratedImage {
  /** Repository path, e.g. `rancher/shell`. */
  repository: string;
  /** The tag the root is published under. */
  tag: string;
  /** The root manifest or index. */
  root: Blob;
  /** Every blob below the root (child manifests, configs, layers), each once. */
  blobs: Blob[];
  /** Foreign (non-distributable) layers: not in a registry, served from their `urls`. */
  foreign?: Blob[];
}

/** Deterministic pseudo-random bytes (xorshift), so digests are stable across runs. */
export function pseudoRandomBytes(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 2166136261;
  for (const c of seed) x = Math.imul(x ^ c.charCodeAt(0), 16777619) >>> 0;
  if (x === 0) x = 1;
  const view = new DataView(out.buffer);
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view.setUint32(i, x);
  }
  for (; i < size; i++) out[i] = (x >>> ((i % 4) * 8)) & 0xff;
  return out;
}

function blob(mediaType: string, bytes: Uint8Array, extra: Partial<Descriptor> = {}): Blob {
  return { descriptor: { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra }, bytes };
}

/** A tar holding one file of pseudo-random content. */
export function tarWithFile(name: string, content: Uint8Array): Uint8Array {
  const header = encodeHeader({ name, size: content.byteLength });
  const pad = padding(content.byteLength);
  const out = new Uint8Array(header.byteLength + content.byteLength + pad.byteLength + TAR_END.byteLength);
  out.set(header, 0);
  out.set(content, header.byteLength);
  return out;
}

/** A gzip'd tar layer with one file; returns the layer and its uncompressed digest (diffID). */
export function makeLayer(seed: string, size: number, mediaType = media.OCI_LAYER_GZIP): Blob & { diffId: string } {
  const tar = tarWithFile(`data/${seed.replace(/[^a-z0-9]/gi, "_")}.bin`, pseudoRandomBytes(seed, size));
  const bytes = mediaType.endsWith("gzip") ? new Uint8Array(gzipSync(tar, { level: 1 })) : tar;
  return { ...blob(mediaType, bytes), diffId: digestOf(tar) };
}

/** What one single-platform image is made of. */
export interface ImageSpec {
  /** Docker schema 2 or OCI media types. */
  format: "docker" | "oci";
  platform?: Platform;
  /** Layers: seeds and sizes; equal seeds give identical (shared) layers. */
  layers: { seed: string; size: number }[];
  /** Leave out the optional `mediaType` field of an OCI manifest. */
  omitMediaType?: boolean;
  /** Extra config label, to make otherwise equal images differ. */
  label?: string;
  /**
   * A foreign (non-distributable) base layer, as Windows base images have:
   * Docker's foreign type or OCI's non-distributable type, with `urls` made
   * of each base URL and the layer's hex digest (`BASE/HEX`).
   */
  foreignBase?: { seed: string; size: number; urlBases: string[] };
}

/** Build one image manifest with its config and layers. */
export function makeManifest(spec: ImageSpec): { manifest: Blob; blobs: Blob[]; foreign: Blob[] } {
  const docker = spec.format === "docker";
  const platform = spec.platform ?? { os: "linux", architecture: "amd64" };
  const foreign = spec.foreignBase
    ? [foreignLayer(spec.foreignBase.seed, spec.foreignBase.size, spec.format, spec.foreignBase.urlBases)]
    : [];
  const layers = [
    ...foreign,
    ...spec.layers.map((l) => makeLayer(l.seed, l.size, docker ? media.DOCKER_LAYER : media.OCI_LAYER_GZIP)),
  ];
  const config = blob(
    docker ? media.DOCKER_CONFIG : media.OCI_CONFIG,
    encodeJson({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      ...(platform["os.version"] ? { "os.version": platform["os.version"] } : {}),
      config: { Labels: { "io.airgap.corpus": spec.label ?? "" } },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created_by: "airgap corpus" })),
    }),
  );
  const manifest = {
    schemaVersion: 2,
    ...(spec.omitMediaType ? {} : { mediaType: docker ? media.DOCKER_MANIFEST : media.OCI_MANIFEST }),
    config: config.descriptor,
    layers: layers.map((l) => l.descriptor),
  };
  const unique = new Map<string, Blob>();
  for (const b of [config, ...layers.slice(foreign.length)]) {
    unique.set(b.descriptor.digest, { descriptor: b.descriptor, bytes: b.bytes });
  }
  return {
    manifest: blob(docker ? media.DOCKER_MANIFEST : media.OCI_MANIFEST, encodeJson(manifest)),
    blobs: [...unique.values()],
    foreign: foreign.map((f) => ({ descriptor: f.descriptor, bytes: f.bytes })),
  };
}

/** A foreign base layer whose `urls` are `BASE/HEX` for each base. */
export function foreignLayer(
  seed: string,
  size: number,
  format: "docker" | "oci",
  urlBases: string[],
): Blob & { diffId: string } {
  const layer = makeLayer(seed, size, format === "docker" ? media.DOCKER_FOREIGN_LAYER : media.OCI_NONDIST_LAYER_GZIP);
  const hex = layer.descriptor.digest.slice("sha256:".length);
  return { ...layer, descriptor: { ...layer.descriptor, urls: urlBases.map((b) => `${b}/${hex}`) } };
}

/** A Windows Server 2019 (1809) platform with a revision. */
export const WINDOWS_1809: Platform = { os: "windows", architecture: "amd64", "os.version": "10.0.17763.5206" };
/** A Windows Server 2022 platform with a revision. */
export const WINDOWS_LTSC2022: Platform = { os: "windows", architecture: "amd64", "os.version": "10.0.20348.2113" };

/** A single-manifest image. */
export function singleImage(repository: string, tag: string, spec: ImageSpec): GeneratedImage {
  const { manifest, blobs, foreign } = makeManifest(spec);
  return { repository, tag, root: manifest, blobs, ...(foreign.length > 0 ? { foreign } : {}) };
}

/** A multi-platform image: a Docker manifest list or an OCI index over per-platform images. */
export function multiPlatformImage(
  repository: string,
  tag: string,
  format: "docker" | "oci",
  variants: ImageSpec[],
): GeneratedImage {
  const children = variants.map((v) => makeManifest({ ...v, format }));
  const index = {
    schemaVersion: 2,
    mediaType: format === "docker" ? media.DOCKER_MANIFEST_LIST : media.OCI_INDEX,
    manifests: children.map((c, i) => ({ ...c.manifest.descriptor, platform: variants[i].platform })),
  };
  const unique = new Map<string, Blob>();
  const foreign = new Map<string, Blob>();
  for (const c of children) {
    unique.set(c.manifest.descriptor.digest, c.manifest);
    for (const b of c.blobs) unique.set(b.descriptor.digest, b);
    for (const f of c.foreign) foreign.set(f.descriptor.digest, f);
  }
  return {
    repository,
    tag,
    root: blob(index.mediaType, encodeJson(index)),
    blobs: [...unique.values()],
    ...(foreign.size > 0 ? { foreign: [...foreign.values()] } : {}),
  };
}

/** A Helm chart stored as an OCI artifact. */
export function helmChartArtifact(repository: string, tag: string, chartName: string): GeneratedImage {
  const config = blob(media.HELM_CHART_CONFIG, encodeJson({ name: chartName, version: tag, apiVersion: "v2" }));
  const chart = blob(
    media.HELM_CHART_LAYER,
    new Uint8Array(gzipSync(tarWithFile(`${chartName}/Chart.yaml`, new TextEncoder().encode(`name: ${chartName}\n`)))),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: media.OCI_MANIFEST,
    config: config.descriptor,
    layers: [chart.descriptor],
  };
  return { repository, tag, root: blob(media.OCI_MANIFEST, encodeJson(manifest)), blobs: [config, chart] };
}

const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64", variant: "v8" };
const ARM: Platform = { os: "linux", architecture: "arm", variant: "v7" };

/**
 * The standard test corpus: shared base layers, Docker and OCI formats,
 * multi-platform lists and indexes, single manifests, an OCI manifest
 * without `mediaType`, an artifact, an image listing one layer twice.
 * `scale` multiplies layer sizes (1 = a few hundred KiB in all).
 */
export function standardCorpus(scale = 1, bumped: readonly string[] = []): GeneratedImage[] {
  const kib = (n: number) => Math.max(1, Math.round(n * 1024 * scale));
  // A bumped image gets one new layer on top of each variant (a new version on the same bases).
  const bump = (repository: string, spec: ImageSpec): ImageSpec =>
    bumped.includes(repository)
      ? {
        ...spec,
        layers: [...spec.layers, {
          seed: `${repository}-${spec.platform?.architecture ?? "amd64"}-bump`,
          size: kib(12),
        }],
      }
      : spec;
  const base = { seed: "base-os", size: kib(96) };
  const baseArm = { seed: "base-os-arm64", size: kib(90) };
  return [
    multiPlatformImage("rancher/rancher", "v2.7.9", "docker", [
      bump("rancher/rancher", {
        format: "docker",
        platform: AMD64,
        layers: [base, { seed: "rancher-amd64", size: kib(64) }],
      }),
      bump("rancher/rancher", {
        format: "docker",
        platform: ARM64,
        layers: [baseArm, { seed: "rancher-arm64", size: kib(60) }],
      }),
    ]),
    multiPlatformImage("rancher/shell", "v0.1.21", "oci", [
      bump("rancher/shell", { format: "oci", platform: AMD64, layers: [base, { seed: "shell-amd64", size: kib(24) }] }),
      bump("rancher/shell", {
        format: "oci",
        platform: ARM64,
        layers: [baseArm, { seed: "shell-arm64", size: kib(22) }],
      }),
      bump("rancher/shell", { format: "oci", platform: ARM, layers: [{ seed: "shell-arm", size: kib(20) }] }),
    ]),
    singleImage(
      "rancher/mirrored-pause",
      "3.6",
      bump("rancher/mirrored-pause", { format: "docker", layers: [{ seed: "pause", size: kib(4) }] }),
    ),
    singleImage(
      "library/busybox",
      "1.36",
      bump("library/busybox", { format: "oci", layers: [base, { seed: "busybox", size: kib(16) }] }),
    ),
    singleImage("jetstack/cert-manager-controller", "v1.12.3", {
      format: "oci",
      omitMediaType: true,
      layers: [{ seed: "cm-controller", size: kib(32) }],
    }),
    singleImage("rancher/twice", "v1", {
      format: "docker",
      layers: [{ seed: "same-layer", size: kib(8) }, { seed: "middle", size: kib(4) }, {
        seed: "same-layer",
        size: kib(8),
      }],
    }),
    helmChartArtifact("rancher/charts/rancher-webhook", "103.0.0", "rancher-webhook"),
  ];
}

/** Every blob of a set of images, each once (roots included). */
export function corpusBlobs(images: GeneratedImage[]): Map<string, Blob> {
  const out = new Map<string, Blob>();
  for (const image of images) {
    out.set(image.root.descriptor.digest, image.root);
    for (const b of image.blobs) out.set(b.descriptor.digest, b);
  }
  return out;
}
