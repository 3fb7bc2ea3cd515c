/**
 * The schema of `airgap.lock`: every declared image pinned to a digest with
 * the full set of blobs it references. Written with stable ordering so a
 * git diff shows exactly which images moved.
 * @module
 */
import { z } from "zod";

const digest = z.string().regex(/^sha(256|512):[a-f0-9]+$/, { error: "expected a digest sha256:…" });

/** A signature, attestation, SBOM or referrer carried with its image. */
export const LockedArtifactSchema = z.strictObject({
  /** How it was found: a cosign tag (`signature`, `attestation`, `sbom`) or an OCI referrer. */
  role: z.enum(["signature", "attestation", "sbom", "referrer"]),
  /** Its kind, when known (a referrer's from its artifactType). */
  kind: z.enum(["signature", "attestation", "sbom"]).optional(),
  /** Digest of the manifest it belongs to (the image's root or one of its platform manifests). */
  subject: digest,
  /** Its cosign tag, e.g. `sha256-<hex>.sig` (referrers have none). */
  tag: z.string().min(1).optional(),
  digest,
  mediaType: z.string().min(1),
  size: z.number().int().nonnegative(),
  /** Every other blob of its graph → size. */
  blobs: z.record(digest, z.number().int().nonnegative()),
});

/** One pinned image. */
export const LockedImageSchema = z.strictObject({
  /** The entry as written in the declaration or list (drives target naming). */
  entry: z.string().min(1),
  /** Full source reference. */
  source: z.string().min(1),
  /** Digest of the root that is saved (a filtered index has a new digest). */
  digest,
  /** Upstream root digest, when it differs from `digest`. */
  upstreamDigest: digest.optional(),
  mediaType: z.string().min(1),
  /** Size of the root manifest. */
  size: z.number().int().nonnegative(),
  /** Platforms saved (`os/arch[/variant]`); empty for single-manifest images. */
  platforms: z.array(z.string()),
  /** Every other blob of the graph (manifests, configs, layers) → size. */
  blobs: z.record(digest, z.number().int().nonnegative()),
  /** When the saved index was assembled from per-OS tags (`TAG-windows-1809`…): tag → upstream digest. */
  assembled: z.record(z.string().min(1), digest).optional(),
  /** Manifests rewritten to carry foreign layers as ordinary blobs: upstream digest → saved digest. */
  rewritten: z.record(digest, digest).optional(),
  /** Signatures, attestations, SBOMs and referrers carried with it. */
  artifacts: z.array(LockedArtifactSchema).optional(),
  /** Its cosign signatures checked before saving: how many verified, with which keys (`sha256:` of the key file). */
  verified: z.strictObject({
    signatures: z.number().int().positive(),
    /** Attestations found for it whose DSSE signature verified with one of the keys. */
    attestations: z.number().int().nonnegative().optional(),
    keys: z.array(digest),
  }).optional(),
  /** Set when the entry is a declared file carried as an artifact (`files:`). */
  file: z.strictObject({
    /** Its name inside the gap. */
    name: z.string().min(1),
    /** Its mode when extracted, octal (`0755`). */
    mode: z.string().regex(/^0[0-7]{3,4}$/),
    /** Where it came from, as declared (a URL without its query, or a path). */
    from: z.string().min(1),
    /** SHA-256 of the file's bytes. */
    sha256: digest,
    size: z.number().int().nonnegative(),
  }).optional(),
});

/** One pinned source of image names: a Rancher release's list, or a Helm chart. */
export const LockedSourceSchema = z.strictObject({
  /** `rancher-images`, `rancher-windows-images` or `chart`. */
  kind: z.enum(["rancher-images", "rancher-windows-images", "chart"]),
  /** The asset file name (`rancher-images.txt`) or the chart name. */
  name: z.string().min(1),
  /** Rancher release or chart version. */
  version: z.string().min(1),
  /** Where it was fetched from (never with credentials). */
  url: z.string().min(1),
  /** Digest of the file (the list, or the chart `.tgz`). */
  digest,
  size: z.number().int().nonnegative(),
  /** Charts: digest of the OCI chart artifact stored in the archive. */
  artifact: digest.optional(),
});

/** The whole lock. */
export const LockSchema = z.strictObject({
  lockVersion: z.literal(1),
  /** Release lists and charts the images came from (absent when there are none). */
  sources: z.array(LockedSourceSchema).optional(),
  images: z.array(LockedImageSchema),
});

/** A carried artifact: a signature, attestation, SBOM or referrer of its image. */
export interface LockedArtifact {
  /** How it was found: a cosign tag (`signature`, `attestation`, `sbom`) or an OCI referrer. */
  role: "signature" | "attestation" | "sbom" | "referrer";
  /** Its kind, when known (a referrer's from its artifactType). */
  kind?: "signature" | "attestation" | "sbom";
  /** Digest of the manifest it belongs to (the image's root or one of its platform manifests). */
  subject: string;
  /** Its cosign tag, e.g. `sha256-<hex>.sig` (referrers have none). */
  tag?: string;
  /** Digest of its manifest. */
  digest: string;
  /** Media type of its manifest. */
  mediaType: string;
  /** Size of its manifest. */
  size: number;
  /** Every other blob of its graph → size. */
  blobs: Record<string, number>;
}

/** A pinned image. */
export interface LockedImage {
  /** The entry as written in the declaration or list (drives target naming). */
  entry: string;
  /** Full source reference. */
  source: string;
  /** Digest of the root that is saved (a filtered index has a new digest). */
  digest: string;
  /** Upstream root digest, when it differs from `digest`. */
  upstreamDigest?: string;
  /** Media type of the root. */
  mediaType: string;
  /** Size of the root manifest. */
  size: number;
  /** Platforms saved (`os/arch[/variant]`); empty for single-manifest images. */
  platforms: string[];
  /** Every other blob of the graph (manifests, configs, layers) → size. */
  blobs: Record<string, number>;
  /** When the saved index was assembled from per-OS tags: tag → upstream digest. */
  assembled?: Record<string, string>;
  /** Manifests rewritten to carry foreign layers as ordinary blobs: upstream digest → saved digest. */
  rewritten?: Record<string, string>;
  /** Signatures, attestations, SBOMs and referrers carried with it. */
  artifacts?: LockedArtifact[];
  /** Its cosign signatures checked before saving. */
  verified?: {
    /** Signatures that verified. */
    signatures: number;
    /** Attestations whose DSSE signature verified with one of the keys. */
    attestations?: number;
    /** `sha256:` of each key file used. */
    keys: string[];
  };
  /** Set when the entry is a declared file carried as an artifact (`files:`). */
  file?: {
    /** Its name inside the gap. */
    name: string;
    /** Its mode when extracted, octal (`0755`). */
    mode: string;
    /** Where it came from, as declared (a URL without its query, or a path). */
    from: string;
    /** SHA-256 of the file's bytes. */
    sha256: string;
    /** Its size in bytes. */
    size: number;
  };
}

/** A pinned source of image names: a Rancher release's list, or a Helm chart. */
export interface LockedSource {
  /** `rancher-images`, `rancher-windows-images` or `chart`. */
  kind: "rancher-images" | "rancher-windows-images" | "chart";
  /** The asset file name (`rancher-images.txt`) or the chart name. */
  name: string;
  /** Rancher release or chart version. */
  version: string;
  /** Where it was fetched from (never with credentials). */
  url: string;
  /** Digest of the file (the list, or the chart `.tgz`). */
  digest: string;
  /** Size of the file. */
  size: number;
  /** Charts: digest of the OCI chart artifact stored in the archive. */
  artifact?: string;
}

/** A parsed lock. */
export interface Lock {
  /** Format version (1). */
  lockVersion: 1;
  /** Release lists and charts the images came from (absent when there are none). */
  sources?: LockedSource[];
  /** Every pinned image. */
  images: LockedImage[];
}

// The interfaces are written out for the public API (documented, no zod
// internals in its types); these lines fail to compile if they and the
// schemas ever disagree.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree: [
  Same<Lock, z.infer<typeof LockSchema>>,
  Same<LockedImage, z.infer<typeof LockedImageSchema>>,
  Same<LockedSource, z.infer<typeof LockedSourceSchema>>,
  Same<LockedArtifact, z.infer<typeof LockedArtifactSchema>>,
] = [true, true, true, true];
void agree;

/** JSON Schema of airgap.lock. */
export function lockJsonSchema(): unknown {
  return z.toJSONSchema(LockSchema);
}
