/**
 * A file as an OCI artifact, in the conventions `oras` uses: an image
 * manifest with `artifactType`, the empty config
 * (`application/vnd.oci.empty.v1+json`, `{}`), and one layer holding the
 * file's bytes as they are, titled with `org.opencontainers.image.title`.
 * The mode travels in an annotation of the layer. The manifest is written
 * byte-for-byte the same for the same file, name and mode, so an unchanged
 * file has the same digest in every lock and a delta never carries it again.
 * `oras pull REGISTRY/files/NAME@DIGEST` writes the file after `load`.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";
import type { Descriptor } from "../oci/manifest.ts";
import { OCI_LAYER, OCI_MANIFEST } from "../oci/media.ts";

/** The manifest's `artifactType` of a carried file. */
export const FILE_ARTIFACT_TYPE = "application/vnd.airgap.file.v1";
/** The empty config of OCI artifacts. */
export const EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json";
/** The file's name (what `oras pull` writes). */
export const TITLE_ANNOTATION = "org.opencontainers.image.title";
/** The file's mode, octal (`0755`). */
export const FILE_MODE_ANNOTATION = "io.airgap.file.mode";

const EMPTY = new TextEncoder().encode("{}");

/** The empty config blob and its descriptor. */
export function emptyConfig(): { descriptor: Descriptor; bytes: Uint8Array } {
  return { descriptor: { mediaType: EMPTY_CONFIG_TYPE, digest: digestOf(EMPTY), size: EMPTY.length }, bytes: EMPTY };
}

/** A file artifact: its manifest, config and layer. */
export interface FileArtifact {
  /** The file's name. */
  name: string;
  /** Its mode. */
  mode: number;
  /** The manifest (bytes as stored). */
  manifest: { descriptor: Descriptor; bytes: Uint8Array };
  /** The empty config. */
  config: Descriptor;
  /** The file's bytes as a blob. */
  layer: Descriptor;
}

/** `0755`. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;
}

/** The artifact of a file whose bytes hash to `layer`. */
export function fileArtifact(name: string, mode: number, content: { digest: string; size: number }): FileArtifact {
  const config = emptyConfig().descriptor;
  const layer: Descriptor = {
    mediaType: OCI_LAYER,
    digest: content.digest,
    size: content.size,
    annotations: { [TITLE_ANNOTATION]: name, [FILE_MODE_ANNOTATION]: formatMode(mode) },
  };
  const bytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: FILE_ARTIFACT_TYPE,
    config,
    layers: [layer],
  }));
  return {
    name,
    mode,
    manifest: { descriptor: { mediaType: OCI_MANIFEST, digest: digestOf(bytes), size: bytes.length }, bytes },
    config,
    layer: { mediaType: OCI_LAYER, digest: content.digest, size: content.size },
  };
}

/** What a file artifact's manifest says: its name, mode and layer; undefined when it is not one. */
export function readFileArtifact(
  bytes: Uint8Array,
  what: string,
): { name: string; mode: number; layer: Descriptor } | undefined {
  let m: {
    artifactType?: unknown;
    layers?: { mediaType?: unknown; digest?: unknown; size?: unknown; annotations?: Record<string, unknown> }[];
  };
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (m?.artifactType !== FILE_ARTIFACT_TYPE) return undefined;
  const layer = Array.isArray(m.layers) && m.layers.length === 1 ? m.layers[0] : undefined;
  const name = layer?.annotations?.[TITLE_ANNOTATION];
  const mode = layer?.annotations?.[FILE_MODE_ANNOTATION];
  if (
    !layer || typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || typeof mode !== "string" ||
    !/^0?[0-7]{3,4}$/.test(mode) || typeof layer.digest !== "string" || typeof layer.size !== "number"
  ) {
    throw new AirgapError(`${what}: a file artifact without one titled layer with a safe name and a mode`);
  }
  return {
    name,
    mode: parseInt(mode, 8) & 0o7777,
    layer: { mediaType: String(layer.mediaType), digest: layer.digest, size: layer.size },
  };
}
