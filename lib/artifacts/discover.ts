/**
 * Finding the signatures, attestations and SBOMs that belong to an image.
 * Two conventions exist side by side and both are read: cosign's tag scheme
 * (`sha256-<hex>.sig`, `.att`, `.sbom` in the image's repository) and OCI 1.1
 * referrers (manifests whose `subject` is the image, listed by the referrers
 * API, or — on registries without it — by the `sha256-<hex>` fallback index).
 * What is found is an ordinary manifest graph to the copy engine; this module
 * only decides which manifests those are. Names and filters are pure
 * functions so they are tested without a registry.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { type Descriptor, parseManifest } from "../oci/manifest.ts";
import { OCI_INDEX } from "../oci/media.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import type { ResolvedManifest } from "../store/types.ts";

/** What a user asks to carry (`artifacts:` in airgap.yaml). */
export type ArtifactKind = "signature" | "attestation" | "sbom";
/** Every kind, in the order `--with-signatures` asks for them. */
export const ARTIFACT_KINDS: readonly ArtifactKind[] = ["signature", "attestation", "sbom"];
/** How an artifact was found and is named in an archive (`io.airgap.artifact`). */
export type ArtifactRole = ArtifactKind | "referrer";

const SUFFIX: Record<ArtifactKind, string> = { signature: "sig", attestation: "att", sbom: "sbom" };

/** Cosign's signature attached as a tag, and the artifactType cosign gives it as a referrer. */
export const COSIGN_SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json";
/** The simple-signing payload layer of a cosign signature. */
export const SIMPLE_SIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** A DSSE envelope (cosign attestations). */
export const DSSE_TYPE = "application/vnd.dsse.envelope.v1+json";

/** `sha256:abc…` → `sha256-abc…`: the tag the OCI referrers fallback uses. */
export function fallbackTag(digest: string): string {
  return digest.replace(":", "-");
}

/** Cosign's tag for an artifact of `digest`: `sha256-<hex>.sig`, `.att`, `.sbom`. */
export function cosignTag(digest: string, kind: ArtifactKind): string {
  return `${fallbackTag(digest)}.${SUFFIX[kind]}`;
}

/** The cosign tags among `tags` that belong to one of `subjects`, with their kind and subject. */
export function cosignTagsFor(
  tags: readonly string[],
  subjects: readonly string[],
  kinds: readonly ArtifactKind[],
): { tag: string; kind: ArtifactKind; subject: string }[] {
  const present = new Set(tags);
  const out: { tag: string; kind: ArtifactKind; subject: string }[] = [];
  for (const subject of new Set(subjects)) {
    for (const kind of kinds) {
      const tag = cosignTag(subject, kind);
      if (present.has(tag)) out.push({ tag, kind, subject });
    }
  }
  return out;
}

/** What kind a referrer is, from its artifactType (or config media type): undefined for "some other artifact". */
export function referrerKind(desc: Pick<Descriptor, "artifactType" | "mediaType">): ArtifactKind | undefined {
  const type = desc.artifactType ?? "";
  if (type === COSIGN_SIGNATURE_ARTIFACT || type.includes("signature") || type.includes("notary")) return "signature";
  if (type.includes("in-toto") || type.includes("dsse") || type.includes("provenance")) return "attestation";
  if (type.includes("spdx") || type.includes("cyclonedx") || type.includes("sbom")) return "sbom";
  return undefined;
}

/** Keep the referrers of the wanted kinds; artifacts of unknown types only when every kind is wanted. */
export function wantedReferrers(referrers: readonly Descriptor[], kinds: readonly ArtifactKind[]): Descriptor[] {
  const all = ARTIFACT_KINDS.every((k) => kinds.includes(k));
  return referrers.filter((r) => {
    const kind = referrerKind(r);
    return kind ? kinds.includes(kind) : all;
  });
}

/** The tag-schema fallback index listing `referrers` (merged with what `existing` lists), or undefined if unchanged. */
export function fallbackIndex(
  referrers: readonly Descriptor[],
  existing?: readonly Descriptor[],
): Uint8Array | undefined {
  const listed = [...(existing ?? [])];
  let changed = existing === undefined;
  for (const r of referrers) {
    if (listed.some((l) => l.digest === r.digest)) continue;
    listed.push(r);
    changed = true;
  }
  if (!changed) return undefined;
  return new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: listed }));
}

/** The entry of an artifact, from its subject's: same repository, `:TAG` or `@DIGEST`. */
export function artifactEntry(subjectEntry: string, tagOrDigest: string): string {
  const at = subjectEntry.indexOf("@");
  let repo = at === -1 ? subjectEntry : subjectEntry.slice(0, at);
  const slash = repo.lastIndexOf("/");
  const colon = repo.lastIndexOf(":");
  if (colon > slash) repo = repo.slice(0, colon);
  return tagOrDigest.includes(":") ? `${repo}@${tagOrDigest}` : `${repo}:${tagOrDigest}`;
}

/** An artifact found for a subject. */
export interface FoundArtifact {
  /** How it was found: a cosign tag kind, or `referrer`. */
  role: ArtifactRole;
  /** The kind, when known (a referrer's from its artifactType). */
  kind?: ArtifactKind;
  /** Digest of the manifest it belongs to. */
  subject: string;
  /** Its cosign tag; referrers have none (they are pushed by digest). */
  tag?: string;
  /** Its manifest, exact bytes. */
  manifest: ResolvedManifest;
  /** The descriptor a referrers index lists it under (artifactType, annotations), for referrers. */
  listed?: Descriptor;
}

/** Where discovery reads from. */
export interface DiscoverSource {
  /** The registry. */
  store: RegistryStore;
  /** The repository in it. */
  repo: string;
  /** For messages: the image. */
  what: string;
}

/**
 * The referrers of `digest`: the referrers API, else (HTTP 404 or another
 * refusal) the `sha256-<hex>` fallback index when the repository has one.
 */
export async function listReferrers(src: DiscoverSource, digest: string, tags: string[]): Promise<Descriptor[]> {
  const response = await src.store.client.request({
    method: "GET",
    path: `/v2/${src.repo}/referrers/${digest}`,
    scopes: [`repository:${src.repo}:pull`],
    headers: { accept: OCI_INDEX },
    ok: [200, 400, 404, 405],
    op: "list referrers",
    image: src.what,
  });
  if (response.status === 200) {
    const body = await response.json() as { manifests?: Descriptor[] };
    return body.manifests ?? [];
  }
  await response.body?.cancel();
  if (!tags.includes(fallbackTag(digest))) return [];
  const resolved = await src.store.resolve(src.repo, fallbackTag(digest));
  const index = parseManifest(resolved.bytes, resolved.descriptor.mediaType, `${src.what} ${fallbackTag(digest)}`);
  return index.kind === "index" ? index.manifests : [];
}

/** Every artifact of `subjects` (the root and the platform manifests saved) of the wanted kinds. */
export async function discoverArtifacts(
  src: DiscoverSource,
  subjects: readonly string[],
  kinds: readonly ArtifactKind[],
): Promise<FoundArtifact[]> {
  if (kinds.length === 0) return [];
  const tags = await src.store.listTags(src.repo);
  const found: FoundArtifact[] = [];
  for (const { tag, kind, subject } of cosignTagsFor(tags, subjects, kinds)) {
    found.push({ role: kind, kind, subject, tag, manifest: await src.store.resolve(src.repo, tag) });
  }
  for (const subject of new Set(subjects)) {
    for (const listed of wantedReferrers(await listReferrers(src, subject, tags), kinds)) {
      if (found.some((f) => f.manifest.descriptor.digest === listed.digest)) continue;
      const manifest = await src.store.resolve(src.repo, listed.digest);
      if (manifest.descriptor.digest !== listed.digest) {
        throw new AirgapError(`${src.what}: referrer ${listed.digest} resolved to ${manifest.descriptor.digest}`);
      }
      found.push({ role: "referrer", kind: referrerKind(listed), subject, manifest, listed });
    }
  }
  return found;
}
