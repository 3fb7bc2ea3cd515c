/**
 * Media types of the OCI image spec and Docker's registry formats.
 * @module
 */

/** Docker image manifest, schema 2. */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** Docker manifest list. */
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker schema 1; refused: deprecated and not content-addressable across registries. */
export const DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json";
/** Docker schema 1, signed (JWS); refused like the unsigned form. */
export const DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/** OCI image manifest. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** OCI image index. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** Docker image config. */
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
/** OCI image config. */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";

/** Docker layer (gzip). */
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** Docker foreign (non-distributable) layer, e.g. Windows base layers. */
export const DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/** OCI layer, uncompressed tar. */
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
/** OCI layer, gzip-compressed tar. */
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
/** OCI layer, zstd-compressed tar. */
export const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
/** OCI non-distributable layer, uncompressed (deprecated in image-spec 1.1, still found in the wild). */
export const OCI_NONDIST_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar";
/** OCI non-distributable layer, gzip-compressed. */
export const OCI_NONDIST_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/** OCI non-distributable layer, zstd-compressed. */
export const OCI_NONDIST_LAYER_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/** Config of a Helm chart stored as an OCI artifact. */
export const HELM_CHART_CONFIG = "application/vnd.cncf.helm.config.v1+json";
/** Helm chart content (the chart `.tgz`) as an OCI layer. */
export const HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/** Manifests that list other manifests. */
export const INDEX_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, DOCKER_MANIFEST_LIST]);
/** Manifests that list a config and layers. */
export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);

/** The `Accept` list for manifest requests, most specific first. */
export const MANIFEST_ACCEPT: readonly string[] = [
  OCI_INDEX,
  DOCKER_MANIFEST_LIST,
  OCI_MANIFEST,
  DOCKER_MANIFEST,
];

/** True for media types that are manifests (index or image manifest). */
export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType !== undefined &&
    (INDEX_TYPES.has(mediaType) || IMAGE_MANIFEST_TYPES.has(mediaType));
}

/** True for index / manifest-list media types. */
export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_TYPES.has(mediaType);
}

/** Non-distributable ("foreign") layer media types, which carry `urls`. */
export const FOREIGN_LAYER_TYPES: ReadonlyMap<string, string> = new Map([
  [DOCKER_FOREIGN_LAYER, DOCKER_LAYER],
  [OCI_NONDIST_LAYER, OCI_LAYER],
  [OCI_NONDIST_LAYER_GZIP, OCI_LAYER_GZIP],
  [OCI_NONDIST_LAYER_ZSTD, OCI_LAYER_ZSTD],
]);
