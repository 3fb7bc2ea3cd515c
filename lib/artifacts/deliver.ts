/**
 * Artifacts on their way out of an archive (load) or another registry
 * (mirror): told apart from images by their index.json annotations, checked
 * again with `--verify-key` from the archive alone, and pushed after their
 * subjects — cosign artifacts under their tags, OCI referrers by digest. A
 * registry with the referrers API indexes referrers by their `subject`; for
 * one without it (distribution 2.8) the `sha256-<hex>` fallback index is
 * written too, merged with what it already lists.
 * @module
 */
import { ARTIFACT_ANNOTATION, SUBJECT_ANNOTATION, SUBJECT_ENTRY_ANNOTATION } from "../oci/annotations.ts";
import { type CopyEvent, copyGraph, type CopyRoot } from "../copy/engine.ts";
import { type Descriptor, parseManifest } from "../oci/manifest.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../oci/media.ts";
import { AirgapError } from "../errors.ts";
import type { ArchiveIndexEntry } from "../store/archive.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import type { Store } from "../store/types.ts";
import { fallbackIndex, fallbackTag } from "./discover.ts";
import { type Verification, type VerifyKey, verifySignatures } from "./verify.ts";
import { digestOf } from "../oci/digest.ts";

/** Is this index.json entry an artifact carried with an image? */
export function isArtifactEntry(image: Pick<ArchiveIndexEntry, "annotations">): boolean {
  return Boolean(image.annotations?.[ARTIFACT_ANNOTATION]);
}

/** The artifacts of the image with entry `entry`. */
export function artifactsOf(all: readonly ArchiveIndexEntry[], entry: string): ArchiveIndexEntry[] {
  return all.filter((a) => isArtifactEntry(a) && a.annotations[SUBJECT_ENTRY_ANNOTATION] === entry);
}

/**
 * `load --verify-key`: the image's signature, read from the archive, must
 * name `digest` (its root as pushed upstream) and verify with one of `keys`.
 */
export async function verifyCarried(
  image: ArchiveIndexEntry,
  digest: string,
  all: readonly ArchiveIndexEntry[],
  read: (desc: Descriptor) => Promise<Uint8Array>,
  keys: readonly VerifyKey[],
): Promise<Verification> {
  const signatures = artifactsOf(all, image.entry).filter((a) =>
    a.annotations[SUBJECT_ANNOTATION] === digest &&
    (a.annotations[ARTIFACT_ANNOTATION] === "signature" ||
      (a.annotations[ARTIFACT_ANNOTATION] === "referrer" && a.descriptor.mediaType !== OCI_INDEX))
  );
  const manifests = await Promise.all(
    signatures.map(async (s) => ({ descriptor: s.descriptor, bytes: await read(s.descriptor) })),
  );
  return await verifySignatures(image.entry, digest, manifests, read, keys);
}

/** One artifact to push: where, and under which tag (none for a referrer). */
export interface ArtifactTarget {
  /** The artifact's index.json entry. */
  artifact: ArchiveIndexEntry;
  /** Repository in the source store ("" for an archive). */
  srcRepo: string;
  /** Repository at the target. */
  repo: string;
  /** Its cosign tag, if any. */
  tag?: string;
}

/** How a referrers index lists a manifest: media type, digest, size, artifactType, annotations. */
export function referrerDescriptor(desc: Descriptor, bytes: Uint8Array): Descriptor {
  const manifest = parseManifest(bytes, desc.mediaType, `referrer ${desc.digest}`);
  const raw = manifest.raw as { artifactType?: string; annotations?: Record<string, string> };
  const artifactType = raw.artifactType ?? (manifest.kind === "manifest" ? manifest.config.mediaType : undefined);
  return {
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: desc.size,
    ...(artifactType ? { artifactType } : {}),
    ...(raw.annotations ? { annotations: raw.annotations } : {}),
  };
}

/**
 * The artifacts in the order their subjects allow: each wave holds those
 * whose subject is not itself one of `targets` (an image, pushed before) or
 * was in an earlier wave — a signature of an SBOM waits for the SBOM.
 */
export function subjectWaves(targets: readonly ArtifactTarget[]): ArtifactTarget[][] {
  const byKey = new Map(targets.map((t) => [`${t.repo}@${t.artifact.descriptor.digest}`, t]));
  const depth = new Map<ArtifactTarget, number>();
  const depthOf = (t: ArtifactTarget, seen: Set<ArtifactTarget>): number => {
    const known = depth.get(t);
    if (known !== undefined) return known;
    const subject = byKey.get(`${t.repo}@${t.artifact.annotations[SUBJECT_ANNOTATION]}`);
    // A cycle cannot be ordered; its members go in the first wave and the subject check names them.
    const d = subject && subject !== t && !seen.has(subject) ? depthOf(subject, seen.add(t)) + 1 : 0;
    depth.set(t, d);
    return d;
  };
  const waves: ArtifactTarget[][] = [];
  for (const t of targets) (waves[depthOf(t, new Set())] ??= []).push(t);
  return waves.filter((w) => w !== undefined);
}

/** Every artifact's subject must be at the target before the artifact is pushed. */
async function requireSubjects(dst: RegistryStore, wave: readonly ArtifactTarget[]): Promise<void> {
  for (const t of wave) {
    const subject = t.artifact.annotations[SUBJECT_ANNOTATION];
    if (!subject) continue;
    // The media type only picks the manifests endpoint: any manifest type will do.
    if (await dst.exists(t.repo, { mediaType: OCI_MANIFEST, digest: subject, size: 0 })) continue;
    throw new AirgapError(
      `${dst.client.registry}/${t.repo}: artifact ${t.artifact.descriptor.digest} not pushed: its subject ${subject} is not in the repository`,
      { image: `${dst.client.registry}/${t.repo}` },
    );
  }
}

/**
 * Push artifacts after their subjects (images first, by the caller; then
 * artifacts in subject order, each subject proven present), then write the
 * tag-schema fallback index for referrers wherever the target's referrers
 * API answers 404.
 */
export async function pushArtifacts(
  src: Store,
  dst: RegistryStore,
  targets: readonly ArtifactTarget[],
  read: (desc: Descriptor) => Promise<Uint8Array>,
  onEvent?: (event: CopyEvent) => void,
): Promise<number> {
  if (targets.length === 0) return 0;
  for (const wave of subjectWaves(targets)) {
    await requireSubjects(dst, wave);
    const roots: CopyRoot[] = wave.map((t) => ({
      srcRepo: t.srcRepo,
      dstRepo: t.repo,
      descriptor: t.artifact.descriptor,
      tags: t.tag ? [t.tag] : [],
      label: `${t.repo}:${t.tag ?? t.artifact.descriptor.digest}`,
    }));
    await copyGraph({ src, dst, roots, readManifest: (_repo, desc) => read(desc), onEvent });
  }
  const bySubject = new Map<string, ArtifactTarget[]>();
  for (const t of targets) {
    if (t.artifact.annotations[ARTIFACT_ANNOTATION] !== "referrer") continue;
    const key = `${t.repo}@${t.artifact.annotations[SUBJECT_ANNOTATION]}`;
    bySubject.set(key, [...bySubject.get(key) ?? [], t]);
  }
  for (const [key, list] of bySubject) {
    const [repo, subject] = key.split("@");
    const listed = await Promise.all(
      list.map(async (t) => referrerDescriptor(t.artifact.descriptor, await read(t.artifact.descriptor))),
    );
    await writeFallback(dst, repo, subject, listed);
  }
  return targets.length;
}

/** Without a referrers API at the target: add `listed` to the subject's `sha256-<hex>` index. */
async function writeFallback(dst: RegistryStore, repo: string, subject: string, listed: Descriptor[]): Promise<void> {
  const response = await dst.client.request({
    method: "GET",
    path: `/v2/${repo}/referrers/${subject}`,
    scopes: [`repository:${repo}:pull`],
    headers: { accept: OCI_INDEX },
    ok: [200, 400, 404, 405],
    op: "list referrers",
    image: `${dst.client.registry}/${repo}`,
  });
  await response.body?.cancel();
  if (response.status === 200) return; // the registry indexes them itself
  const tag = fallbackTag(subject);
  let existing: Descriptor[] | undefined;
  if ((await dst.listTags(repo).catch((): string[] => [])).includes(tag)) {
    const current = await dst.resolve(repo, tag);
    const index = parseManifest(current.bytes, current.descriptor.mediaType, `${repo}:${tag}`);
    existing = index.kind === "index" ? index.manifests : undefined;
  }
  const bytes = fallbackIndex(listed, existing);
  if (!bytes) return;
  const desc = { mediaType: OCI_INDEX, digest: digestOf(bytes), size: bytes.byteLength };
  await dst.push(repo, desc, bytes);
  await dst.tag(repo, tag, desc, bytes);
}
