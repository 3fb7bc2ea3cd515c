/**
 * Artifacts as images: each signature, attestation, SBOM or referrer found
 * for a resolved image becomes one more {@link ResolvedImage} (its manifest
 * kept in the cache, its entry in the subject's repository), so the planner,
 * the archive, deltas and the copy engine carry it with no special case. The
 * subject is verified here, before anything is written, when keys are given.
 * @module
 */
import {
  ARTIFACT_ANNOTATION,
  KIND_ANNOTATION,
  SUBJECT_ANNOTATION,
  SUBJECT_ENTRY_ANNOTATION,
} from "../oci/annotations.ts";
import type { LockedArtifact } from "../../schemas/lock.ts";
import { limiter } from "../transport/limiter.ts";
import { AirgapError } from "../errors.ts";
import type { ImageFailure } from "../report/failures.ts";
import { type Descriptor, MAX_MANIFEST_SIZE, parseManifest, storedChildren } from "../oci/manifest.ts";
import type { ResolvedImage } from "./planner.ts";
import type { CacheStore } from "../store/cache.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import { readAll } from "../store/types.ts";
import type { Declaration } from "./declaration.ts";
import {
  ARTIFACT_KINDS,
  artifactEntry,
  type ArtifactKind,
  discoverArtifacts,
  type FoundArtifact,
} from "../artifacts/discover.ts";
import { countVerifiedAttestations, loadVerifyKey, type VerifyKey, verifySignatures } from "../artifacts/verify.ts";

/** What to carry and check for one image: decided by {@link artifactPolicy}'s caller. */
export interface ArtifactPolicy {
  /** Kinds to carry (verification adds signatures). */
  kinds: readonly ArtifactKind[];
  /** Keys a signature must verify with (none: no verification). */
  keys: readonly VerifyKey[];
}

/** What {@link withArtifacts} needs. */
export interface CarryContext {
  /** The cache: artifact manifests and signature payloads are kept there. */
  cache: CacheStore;
  /** The registry store of a host. */
  registry(host: string): RegistryStore;
  /** The policy of an image. */
  policy(image: ResolvedImage): ArtifactPolicy;
}

/** The archive annotations of an artifact image. */
export function artifactAnnotations(image: ResolvedImage): Record<string, string> | undefined {
  if (image.file) return { [KIND_ANNOTATION]: "file" };
  const a = image.artifact;
  return a
    ? { [SUBJECT_ANNOTATION]: a.subject, [ARTIFACT_ANNOTATION]: a.role, [SUBJECT_ENTRY_ANNOTATION]: a.subjectEntry }
    : undefined;
}

/** The lock's record of an artifact image. */
export function lockedArtifact(image: ResolvedImage): LockedArtifact {
  const a = image.artifact!;
  return {
    role: a.role,
    ...(a.kind ? { kind: a.kind } : {}),
    subject: a.subject,
    ...(a.tag ? { tag: a.tag } : {}),
    digest: image.descriptor.digest,
    mediaType: image.descriptor.mediaType,
    size: image.descriptor.size,
    blobs: Object.fromEntries([...image.manifests, ...image.blobs].map((d) => [d.digest, d.size])),
  };
}

/**
 * Discover, verify and add the artifacts of every image whose policy asks
 * for them. An image whose discovery or verification fails is returned in
 * `failures` (its artifacts are not added, and it must not be saved).
 */
export async function withArtifacts(
  images: ResolvedImage[],
  ctx: CarryContext,
): Promise<{ images: ResolvedImage[]; artifacts: ResolvedImage[]; failures: ImageFailure[] }> {
  const failures: ImageFailure[] = [];
  const kept: ResolvedImage[] = [];
  const artifacts: ResolvedImage[] = [];
  const limit = limiter(8);
  await Promise.all(images.map((image) =>
    limit(async () => {
      const policy = ctx.policy(image);
      try {
        if (policy.kinds.length === 0 && policy.keys.length === 0) return kept.push(image);
        const found = await artifactsOf(image, policy, ctx);
        kept.push(image);
        artifacts.push(...found);
      } catch (e) {
        const { entry, source } = image.request;
        failures.push({ entry, name: image.name, origin: image.request.origin, registry: source.registry, error: e });
      }
    })
  ));
  const at = new Map(images.map((image, i) => [image, i]));
  const order = (list: ResolvedImage[]) => list.sort((a, b) => at.get(a)! - at.get(b)!);
  return {
    images: order(kept),
    artifacts: artifacts.sort((a, b) => a.request.entry.localeCompare(b.request.entry)),
    failures,
  };
}

async function artifactsOf(image: ResolvedImage, policy: ArtifactPolicy, ctx: CarryContext): Promise<ResolvedImage[]> {
  const { source } = image.request;
  const store = ctx.registry(source.registry);
  const kinds: ArtifactKind[] = [...policy.kinds];
  if (policy.keys.length > 0 && !kinds.includes("signature")) kinds.push("signature");
  const subjects = [image.upstreamDigest, ...image.manifests.map((m) => m.digest)];
  const found = await discoverArtifacts({ store, repo: source.repository, what: image.name }, subjects, kinds);
  const readBlob = async (desc: Descriptor): Promise<Uint8Array> => {
    if (await ctx.cache.has(desc.digest, desc.size)) return await ctx.cache.readBytes(desc, desc.size);
    const bytes = await readAll(await store.fetch(source.repository, desc), Math.max(desc.size, MAX_MANIFEST_SIZE));
    await ctx.cache.putBytes(desc, bytes);
    return bytes;
  };
  for (const f of found) await ctx.cache.putBytes(f.manifest.descriptor, f.manifest.bytes);
  if (policy.keys.length > 0) {
    const signatures = found.filter((f) => f.kind === "signature" && f.subject === image.upstreamDigest);
    image.verified = await verifySignatures(
      image.name,
      image.upstreamDigest,
      signatures.map((f) => f.manifest),
      readBlob,
      policy.keys,
    );
    const attestations = found.filter((f) => f.kind === "attestation" && f.subject === image.upstreamDigest);
    if (attestations.length > 0) {
      const verified = await countVerifiedAttestations(attestations.map((f) => f.manifest), readBlob, policy.keys);
      image.verified = { ...image.verified, attestations: verified };
    }
  }
  const out: ResolvedImage[] = [];
  for (const f of found) out.push(await asImage(image, f, readBlob));
  return out;
}

async function asImage(
  subject: ResolvedImage,
  found: FoundArtifact,
  read: (desc: Descriptor) => Promise<Uint8Array>,
): Promise<ResolvedImage> {
  const { descriptor, bytes } = found.manifest;
  const what = `${subject.name} artifact ${descriptor.digest}`;
  const manifests: Descriptor[] = [];
  const blobs = new Map<string, Descriptor>();
  const configs = new Set<string>();
  const walk = async (desc: Descriptor, content: Uint8Array, depth: number) => {
    const manifest = parseManifest(content, desc.mediaType, what);
    if (manifest.kind === "index") {
      if (depth > 0) throw new AirgapError(`${what}: nested indexes are not carried`);
      for (const child of manifest.manifests) {
        manifests.push(child);
        await walk(child, await read(child), depth + 1);
      }
      return;
    }
    configs.add(manifest.config.digest);
    for (const d of storedChildren(manifest)) if (!blobs.has(d.digest)) blobs.set(d.digest, d);
  };
  await walk(descriptor, bytes, 0);
  const tagOrDigest = found.tag ?? descriptor.digest;
  const entry = artifactEntry(subject.request.entry, tagOrDigest);
  const source = { ...subject.request.source, tag: found.tag, digest: found.tag ? undefined : descriptor.digest };
  const named = (name: string) => {
    const base = name.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
    return found.tag ? `${base}:${found.tag}` : `${base}@${descriptor.digest}`;
  };
  return {
    request: { ...subject.request, entry, source, origins: undefined },
    name: named(subject.name),
    sourceName: named(subject.sourceName),
    descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size },
    upstreamDigest: descriptor.digest,
    platforms: [],
    manifests,
    blobs: [...blobs.values()],
    configs,
    artifact: {
      role: found.role,
      kind: found.kind,
      subject: found.subject,
      subjectEntry: subject.request.entry,
      tag: found.tag,
      listed: found.listed,
    },
  };
}

/** What the command line adds: `--with-signatures` and `--verify-key` (for every image). */
export interface ArtifactFlags {
  /** Carry signatures, attestations and SBOMs of every image. */
  withSignatures?: boolean;
  /** Key files every image's signature must verify with. */
  verifyKeys?: string[];
}

/**
 * The one place the artifact policy is decided. Kinds: `--with-signatures`
 * (all), else the image entry's `artifacts:`, else the declaration's. Keys:
 * `--verify-key` files, plus the entry's `verify:`, else its source registry's,
 * else the declaration's. Every key file is read once, up front.
 */
export async function artifactPolicy(
  declaration: Pick<Declaration, "artifacts" | "verifyKeys" | "verifyByRegistry" | "requests">,
  flags: ArtifactFlags,
): Promise<(image: ResolvedImage) => ArtifactPolicy> {
  const paths = new Set([
    ...flags.verifyKeys ?? [],
    ...declaration.verifyKeys ?? [],
    ...[...declaration.verifyByRegistry?.values() ?? []].flat(),
    ...declaration.requests.flatMap((r) => r.verifyKeys ?? []),
  ]);
  const loaded = new Map<string, VerifyKey>();
  for (const path of paths) loaded.set(path, await loadVerifyKey(path));
  return (image) => {
    const { request } = image;
    const kinds = flags.withSignatures ? ARTIFACT_KINDS : request.artifacts ?? declaration.artifacts ?? [];
    const declared = request.verifyKeys ?? declaration.verifyByRegistry?.get(request.source.registry) ??
      declaration.verifyKeys ?? [];
    const keys = [...new Set([...flags.verifyKeys ?? [], ...declared])].map((p) => loaded.get(p) ?? null)
      .filter((k): k is VerifyKey => k !== null);
    return { kinds, keys };
  };
}
