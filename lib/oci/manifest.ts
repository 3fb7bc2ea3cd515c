/**
 * Descriptors, image manifests and indexes: parse bytes into values and list
 * a node's children. Manifest bytes are never re-serialised unless a manifest
 * is deliberately rewritten (see {@link filterIndex}); digests come from bytes.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { LIMITS } from "../limits.ts";
import { isValidDigest } from "../ref.ts";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_V1,
  DOCKER_MANIFEST_V1_SIGNED,
  FOREIGN_LAYER_TYPES,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  isManifestType,
  OCI_INDEX,
  OCI_MANIFEST,
} from "./media.ts";

/** Where an image runs, as in an index entry. */
export interface Platform {
  /** CPU architecture as Go names it: `amd64`, `arm64`, `arm`… */
  architecture: string;
  /** Operating system: `linux`, `windows`… */
  os: string;
  /** OS build, e.g. `10.0.17763.5830` for Windows Server 2019 (1809). */
  "os.version"?: string;
  /** Required OS features, e.g. `win32k`. */
  "os.features"?: string[];
  /** CPU variant, e.g. `v8` for arm64, `v7` for arm. */
  variant?: string;
  /** Reserved by the OCI spec. */
  features?: string[];
}

/** A content descriptor: what, which bytes, how many. */
export interface Descriptor {
  /** Media type of the content. */
  mediaType: string;
  /** Digest of the content's bytes, e.g. `sha256:…`. */
  digest: string;
  /** Exact size of the content in bytes. */
  size: number;
  /** Where else the content can be fetched (foreign layers). */
  urls?: string[];
  /** Arbitrary metadata, e.g. `org.opencontainers.image.ref.name`. */
  annotations?: Record<string, string>;
  /** The platform of a manifest listed in an index. */
  platform?: Platform;
  /** The artifact's type, for OCI artifacts. */
  artifactType?: string;
  /** The content itself, base64-encoded, when embedded. */
  data?: string;
}

/** An image manifest (Docker schema 2 or OCI), including OCI artifacts. */
export interface ImageManifest {
  /** Tells an image manifest from an index. */
  kind: "manifest";
  /** The document's own `mediaType`, else what the registry or parent said, else OCI by shape. */
  mediaType: string;
  /** The image config (or an artifact's config). */
  config: Descriptor;
  /** The layers, base first. */
  layers: Descriptor[];
  /** The manifest this one refers to (OCI referrers). */
  subject?: Descriptor;
  /** The parsed JSON, for fields this module does not model. */
  raw: Record<string, unknown>;
}

/** An image index or Docker manifest list. */
export interface ImageIndex {
  /** Tells an index from an image manifest. */
  kind: "index";
  /** The document's own `mediaType`, else what the registry or parent said, else OCI by shape. */
  mediaType: string;
  /** The manifests listed, in document order. */
  manifests: Descriptor[];
  /** The manifest this one refers to (OCI referrers). */
  subject?: Descriptor;
  /** The parsed JSON, for fields this module does not model. */
  raw: Record<string, unknown>;
}

/** Either kind of manifest. */
export type Manifest = ImageManifest | ImageIndex;

/** Largest manifest we accept (distribution's own limit is 4 MiB): `LIMITS.manifest`, see lib/limits.ts. */
export const MAX_MANIFEST_SIZE: number = LIMITS.manifest;

function fail(what: string, why: string): never {
  throw new AirgapError(`${what}: ${why}`, { op: "parse manifest" });
}

/** Validate and return a descriptor found at `where` inside a manifest. */
export function parseDescriptor(
  value: unknown,
  what: string,
  where: string,
): Descriptor {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(what, `${where} is not a descriptor object`);
  }
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== "string" || d.mediaType === "") {
    fail(what, `${where} has no mediaType`);
  }
  if (typeof d.digest !== "string" || !isValidDigest(d.digest)) {
    fail(what, `${where} has a malformed digest ${JSON.stringify(d.digest)}`);
  }
  if (
    typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0
  ) {
    fail(what, `${where} has an invalid size ${JSON.stringify(d.size)}`);
  }
  if (
    d.urls !== undefined &&
    (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== "string"))
  ) {
    fail(what, `${where} has invalid urls`);
  }
  return d as unknown as Descriptor;
}

/**
 * Parse manifest bytes. `mediaType` is what the registry or parent descriptor
 * said; the document's own `mediaType` field wins when present, and an OCI
 * manifest without one is recognised by its shape.
 */
export function parseManifest(
  bytes: Uint8Array,
  mediaType: string | undefined,
  what: string,
): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_SIZE) {
    fail(what, `manifest larger than ${MAX_MANIFEST_SIZE} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    fail(what, `manifest is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    fail(what, "manifest is not a JSON object");
  }
  const doc = json as Record<string, unknown>;
  if (doc.schemaVersion === 1) {
    fail(
      what,
      "Docker schema 1 manifests are deprecated and not supported; re-push the image with a current client",
    );
  }
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  let type = declared ?? (isManifestType(mediaType) ? mediaType : undefined);
  if (type === undefined) {
    if (Array.isArray(doc.manifests)) type = OCI_INDEX;
    else if (typeof doc.config === "object") type = OCI_MANIFEST;
  }
  if (type === DOCKER_MANIFEST_V1 || type === DOCKER_MANIFEST_V1_SIGNED) {
    fail(what, "Docker schema 1 manifests are deprecated and not supported");
  }
  if (type === undefined || !isManifestType(type)) {
    fail(what, `unsupported manifest media type ${JSON.stringify(type ?? mediaType)}`);
  }
  const subject = doc.subject === undefined ? undefined : parseDescriptor(doc.subject, what, "subject");
  if (INDEX_TYPES.has(type)) {
    if (!Array.isArray(doc.manifests)) fail(what, "index has no manifests list");
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, what, `manifests[${i}]`));
    return { kind: "index", mediaType: type, manifests, subject, raw: doc };
  }
  if (!IMAGE_MANIFEST_TYPES.has(type)) fail(what, `unsupported media type ${type}`);
  const config = parseDescriptor(doc.config, what, "config");
  if (!Array.isArray(doc.layers)) {
    if (type === DOCKER_MANIFEST || doc.layers !== undefined) {
      fail(what, "manifest has no layers list");
    }
  }
  const layers = (Array.isArray(doc.layers) ? doc.layers : []).map((l, i) => parseDescriptor(l, what, `layers[${i}]`));
  return { kind: "manifest", mediaType: type, config, layers, subject, raw: doc };
}

/** The descriptors a manifest points to (not its subject, which is a parent link). */
export function children(manifest: Manifest): Descriptor[] {
  return manifest.kind === "index" ? manifest.manifests : [manifest.config, ...manifest.layers];
}

/**
 * The children a store must hold for a manifest to be complete: all of
 * them except non-distributable layers that name `urls`, which registries
 * let clients fetch from there (see lib/oci/foreign.ts).
 */
export function storedChildren(manifest: Manifest): Descriptor[] {
  return children(manifest).filter((d) => !(FOREIGN_LAYER_TYPES.has(d.mediaType) && (d.urls?.length ?? 0) > 0));
}

/** Encode a JSON document the way registries and Docker do: compact, UTF-8. */
export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
