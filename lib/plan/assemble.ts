/**
 * Multi-OS images from per-OS tags. Rancher's older scheme publishes a
 * Windows image as `IMAGE:TAG-windows-<release>` (and Linux as `IMAGE:TAG` or
 * `IMAGE:TAG-linux-amd64`) instead of one index holding both; the load script
 * then builds the combined list with `docker manifest create --amend`. Here
 * the planner does it: it finds the platforms a request wants under the
 * plain tag first, then under the per-OS tags, and assembles one index whose
 * entries carry the platform of each image's config — `os.version` included,
 * which is what Windows nodes pick by. The children keep their bytes; only
 * the index is new, and the tags it came from are pinned in the lock.
 * @module
 */
import { REFERENCE_DIGEST } from "../oci/annotations.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { type Descriptor, encodeJson, parseManifest, type Platform } from "../oci/manifest.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, isIndexType, OCI_INDEX } from "../oci/media.ts";
import {
  formatPlatform,
  isAttestation,
  type PlatformSelector,
  type PlatformWant,
  platformWants,
  selectEntries,
  selectorMatches,
  unmetWants,
} from "../oci/platform.ts";
import { windowsTagSuffixes } from "../oci/windows.ts";
import type { ResolvedManifest } from "../store/types.ts";

/** The platform an image config declares (as `docker manifest create` copies it into a list). */
export function platformFromConfig(bytes: Uint8Array, what: string): Platform {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new AirgapError(`${what}: image config is not valid JSON (${errorMessage(e)})`);
  }
  const text = (key: string) => (typeof config[key] === "string" && config[key] !== "" ? config[key] : undefined);
  const os = text("os");
  const architecture = text("architecture");
  if (!os || !architecture) throw new AirgapError(`${what}: image config names no os/architecture`);
  const platform: Platform = { architecture, os };
  if (text("os.version")) platform["os.version"] = text("os.version");
  const features = config["os.features"];
  if (Array.isArray(features) && features.length > 0 && features.every((f) => typeof f === "string")) {
    platform["os.features"] = features;
  }
  if (text("variant")) platform.variant = text("variant");
  return platform;
}

/**
 * The bytes of an assembled index: a Docker manifest list when every entry
 * is a Docker manifest (what `docker manifest create` makes), else an OCI
 * index. Compact JSON, entries in the given order, so the same inputs give
 * the same digest.
 */
export function assembleIndex(entries: readonly Descriptor[]): { mediaType: string; bytes: Uint8Array } {
  const mediaType = entries.length > 0 && entries.every((e) => e.mediaType === DOCKER_MANIFEST)
    ? DOCKER_MANIFEST_LIST
    : OCI_INDEX;
  return { mediaType, bytes: encodeJson({ schemaVersion: 2, mediaType, manifests: entries }) };
}

/** What the planner gives the search. */
export interface AssemblyContext {
  /** The image, for messages. */
  what: string;
  /** The tag as requested. */
  tag: string;
  /** The platforms the request wants. */
  selector: PlatformSelector;
  /** Resolve a tag of the same repository; undefined when it does not exist. */
  resolveTag(tag: string): Promise<ResolvedManifest | undefined>;
  /** Read a small blob (an image config) of the same repository. */
  read(desc: Descriptor): Promise<Uint8Array>;
}

/** The outcome of the search. */
export interface Assembly {
  /** The plain tag's root, when it exists. */
  plain?: ResolvedManifest;
  /** Set when per-OS tags were needed: the entries of the combined index and the tags used (tag → digest). */
  combined?: { entries: Descriptor[]; sources: Record<string, string> };
}

/** Per-OS tag suffixes for a want: `windows-1809`, `windows-ltsc2019` … or `linux-amd64`. */
export function perOsTagSuffixes(want: PlatformWant): string[] {
  const { spec } = want;
  if (spec.os === "windows" && want.versioned) return windowsTagSuffixes(spec.osVersions![0]);
  return [`${spec.os}-${spec.architecture}`];
}

function describeWant(want: PlatformWant): string {
  return formatPlatform(want.spec);
}

/**
 * Find every platform a request wants: under the plain tag, then under the
 * per-OS tags for what it lacks. A want that names a Windows version must
 * be met (no host runs another build); of the others, at least one.
 */
export async function findPlatforms(ctx: AssemblyContext): Promise<Assembly> {
  const wants = platformWants(ctx.selector);
  const plain = await ctx.resolveTag(ctx.tag);
  const entries: Descriptor[] = [];
  const sources: Record<string, string> = {};
  const tried: string[] = [ctx.tag];
  /** Platforms inside nested indexes (entries without a platform that are indexes): carried whole, so they count. */
  const nested = new Map<string, Platform[]>();
  const nestedPlatforms = async (desc: Descriptor, depth = 0): Promise<Platform[]> => {
    if (!isIndexType(desc.mediaType) || depth > 4) return [];
    const manifest = parseManifest(await ctx.read(desc), desc.mediaType, `${ctx.what} child ${desc.digest}`);
    if (manifest.kind !== "index") return [];
    const out: Platform[] = [];
    for (const e of manifest.manifests) {
      if (isAttestation(e)) continue;
      if (e.platform) out.push(e.platform);
      else out.push(...await nestedPlatforms(e, depth + 1));
    }
    return out;
  };
  const platformsOf = () => [
    ...entries.filter((e) => e.platform && !isAttestation(e)).map((e) => e.platform!),
    ...entries.flatMap((e) => nested.get(e.digest) ?? []),
  ];

  /** The entries a resolved tag offers for the selection. */
  const offered = async (tag: string, resolved: ResolvedManifest): Promise<Descriptor[]> => {
    const manifest = parseManifest(resolved.bytes, resolved.descriptor.mediaType, `${ctx.what} (${tag})`);
    if (manifest.kind === "index") return selectEntries(manifest.manifests, ctx.selector);
    const platform = platformFromConfig(await ctx.read(manifest.config), `${ctx.what} (${tag})`);
    if (!selectorMatches(ctx.selector, platform)) return [];
    return [{
      mediaType: manifest.mediaType,
      digest: resolved.descriptor.digest,
      size: resolved.descriptor.size,
      platform,
    }];
  };
  const add = async (list: Descriptor[]) => {
    for (const d of list) {
      if (entries.some((e) => e.digest === d.digest)) continue;
      entries.push(d);
      if (!d.platform) nested.set(d.digest, await nestedPlatforms(d));
    }
  };

  let plainOffer: Descriptor[] = [];
  if (plain) {
    plainOffer = await offered(ctx.tag, plain);
    await add(plainOffer);
  }
  if (plain && unmetWants(wants, platformsOf()).length === 0) return { plain };

  for (const want of wants) {
    if (unmetWants([want], platformsOf()).length === 0) continue;
    for (const suffix of perOsTagSuffixes(want)) {
      const tag = `${ctx.tag}-${suffix}`;
      if (tag.length > 128 || tried.includes(tag)) continue;
      tried.push(tag);
      const resolved = await ctx.resolveTag(tag);
      if (!resolved) continue;
      const open = unmetWants(wants, platformsOf());
      const offer = await offered(tag, resolved);
      const images = offer.filter((d) =>
        d.platform && !isAttestation(d) && unmetWants(open, [d.platform]).length < open.length
      );
      const kept = new Set(images.map((d) => d.digest));
      const useful = offer.filter((d) =>
        kept.has(d.digest) || (isAttestation(d) && kept.has(d.annotations?.[REFERENCE_DIGEST] ?? ""))
      );
      const meetsThis = useful.some((d) => d.platform && unmetWants([want], [d.platform]).length === 0);
      if (!meetsThis) continue;
      await add(useful);
      sources[tag] = resolved.descriptor.digest;
      break;
    }
  }

  const unmet = unmetWants(wants, platformsOf());
  const available = platformsOf().map((p) => formatPlatform(p)).join(", ") || "none";
  const versioned = unmet.filter((w) => w.versioned);
  const plainWants = wants.filter((w) => !w.versioned);
  const plainUnmet = unmet.filter((w) => !w.versioned);
  if (entries.length === 0 && !plain) {
    throw new AirgapError(`${ctx.what} not found (tags tried: ${tried.join(", ")})`, { status: 404 });
  }
  if (versioned.length > 0 || (plainWants.length > 0 && plainUnmet.length === plainWants.length)) {
    const missing = [...versioned, ...(plainUnmet.length === plainWants.length ? plainUnmet : [])];
    throw new AirgapError(
      `${ctx.what}: no image for ${missing.map(describeWant).join(", ")} (found: ${available}; tags tried: ${
        tried.join(", ")
      })`,
      { op: "select platform" },
    );
  }
  if (Object.keys(sources).length === 0) return { plain };
  if (plain && plainOffer.length > 0) sources[ctx.tag] = plain.descriptor.digest;
  return { plain, combined: { entries, sources } };
}
