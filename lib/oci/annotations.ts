/**
 * Every annotation key airgap reads or writes, defined once: its own
 * (`io.airgap.*`, on an archive's index.json entries and on carried
 * artifacts), containerd's image name, and the keys Docker's buildx uses to
 * tie an attestation manifest to the image it describes.
 * @module
 */

/** On an archive's index.json entry: what it is (`chart`; images have none). */
export const KIND_ANNOTATION = "io.airgap.kind";
/** On a chart's index.json entry: the chart's name. */
export const CHART_NAME_ANNOTATION = "io.airgap.chart.name";
/** On a chart's index.json entry: the chart's version (as in Chart.yaml). */
export const CHART_VERSION_ANNOTATION = "io.airgap.chart.version";
/** The list entry exactly as written (drives target naming at load). */
export const ENTRY_ANNOTATION = "io.airgap.entry";
/** On index.json: the archive format version. */
export const ARCHIVE_VERSION_ANNOTATION = "io.airgap.archive.version";
/** On a delta's index.json: the digest of the base lock. */
export const BASE_ANNOTATION = "io.airgap.base";
/** On a carried artifact's entry: the digest of the image it belongs to. */
export const SUBJECT_ANNOTATION = "io.airgap.subject";
/** On a carried artifact's entry: `signature`, `attestation`, `sbom` (cosign tags) or `referrer` (OCI subject). */
export const ARTIFACT_ANNOTATION = "io.airgap.artifact";
/** On a carried artifact's entry: the list entry of the image it belongs to. */
export const SUBJECT_ENTRY_ANNOTATION = "io.airgap.subject.entry";
/** The image name containerd and Docker use when importing an OCI layout. */
export const CONTAINERD_NAME = "io.containerd.image.name";
/** Docker (buildx): on an attestation manifest in an index, what it is (`attestation-manifest`). */
export const REFERENCE_TYPE = "vnd.docker.reference.type";
/** Docker (buildx): on an attestation manifest in an index, the digest of the image it describes. */
export const REFERENCE_DIGEST = "vnd.docker.reference.digest";
