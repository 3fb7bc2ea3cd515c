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

/** What the search found so far. */
interface Search {
  /** Entries of the combined index, in the order found. */
  entries: Descriptor[];
  /** Per-OS tags used: tag → digest. */
  sources: Record<string, string>;
  /** Tags tried, for messages. */
  tried: string[];
  /** Platforms inside nested indexes (entries without a platform that are indexes): carried whole, so they count. */
  nested: Map<string, Platform[]>;
}

/** The platforms of an index entry that has none of its own: those of the index's images, nested indexes included. */
async function nestedPlatforms(ctx: AssemblyContext, desc: Descriptor, depth = 0): Promise<Platform[]> {
  if (!isIndexType(desc.mediaType) || depth > 4) return [];
  const manifest = parseManifest(await ctx.read(desc), desc.mediaType, `${ctx.what} child ${desc.digest}`);
  if (manifest.kind !== "index") return [];
  const out: Platform[] = [];
  for (const e of manifest.manifests) {
    if (isAttestation(e)) continue;
    if (e.platform) out.push(e.platform);
    else out.push(...await nestedPlatforms(ctx, e, depth + 1));
  }
  return out;
}

/** Every platform the entries found so far provide. */
function platformsOf(search: Search): Platform[] {
  return [
    ...search.entries.filter((e) => e.platform && !isAttestation(e)).map((e) => e.platform!),
    ...search.entries.flatMap((e) => search.nested.get(e.digest) ?? []),
  ];
}

/** The entries a resolved tag offers for the selection. */
async function offered(ctx: AssemblyContext, tag: string, resolved: ResolvedManifest): Promise<Descriptor[]> {
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
}

/** Add entries not found before (and the platforms of nested indexes among them). */
async function addEntries(ctx: AssemblyContext, search: Search, list: readonly Descriptor[]): Promise<void> {
  for (const d of list) {
    if (search.entries.some((e) => e.digest === d.digest)) continue;
    search.entries.push(d);
    if (!d.platform) search.nested.set(d.digest, await nestedPlatforms(ctx, d));
  }
}

/** Try the per-OS tags of one unmet want in turn; the first that meets it adds its useful entries. */
async function searchPerOsTags(
  ctx: AssemblyContext,
  search: Search,
  wants: readonly PlatformWant[],
  want: PlatformWant,
): Promise<void> {
  for (const suffix of perOsTagSuffixes(want)) {
    const tag = `${ctx.tag}-${suffix}`;
    if (tag.length > 128 || search.tried.includes(tag)) continue;
    search.tried.push(tag);
    const resolved = await ctx.resolveTag(tag);
    if (!resolved) continue;
    const open = unmetWants(wants, platformsOf(search));
    const offer = await offered(ctx, tag, resolved);
    const images = offer.filter((d) =>
      d.platform && !isAttestation(d) && unmetWants(open, [d.platform]).length < open.length
    );
    const kept = new Set(images.map((d) => d.digest));
    const useful = offer.filter((d) =>
      kept.has(d.digest) || (isAttestation(d) && kept.has(d.annotations?.[REFERENCE_DIGEST] ?? ""))
    );
    const meetsThis = useful.some((d) => d.platform && unmetWants([want], [d.platform]).length === 0);
    if (!meetsThis) continue;
    await addEntries(ctx, search, useful);
    search.sources[tag] = resolved.descriptor.digest;
    return;
  }
}

/** Fail when nothing was found, or when a want that must be met is not (a Windows version, or every plain one). */
function checkFound(ctx: AssemblyContext, search: Search, wants: readonly PlatformWant[], found: boolean): void {
  const { tried } = search;
  const unmet = unmetWants(wants, platformsOf(search));
  const available = platformsOf(search).map((p) => formatPlatform(p)).join(", ") || "none";
  const versioned = unmet.filter((w) => w.versioned);
  const plainWants = wants.filter((w) => !w.versioned);
  const plainUnmet = unmet.filter((w) => !w.versioned);
  if (!found) {
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
}

/**
 * Find every platform a request wants: under the plain tag, then under the
 * per-OS tags for what it lacks. A want that names a Windows version must
 * be met (no host runs another build); of the others, at least one.
 */
export async function findPlatforms(ctx: AssemblyContext): Promise<Assembly> {
  const wants = platformWants(ctx.selector);
  const plain = await ctx.resolveTag(ctx.tag);
  const search: Search = { entries: [], sources: {}, tried: [ctx.tag], nested: new Map() };
  let plainOffer: Descriptor[] = [];
  if (plain) {
    plainOffer = await offered(ctx, ctx.tag, plain);
    await addEntries(ctx, search, plainOffer);
  }
  if (plain && unmetWants(wants, platformsOf(search)).length === 0) return { plain };
  for (const want of wants) {
    if (unmetWants([want], platformsOf(search)).length > 0) await searchPerOsTags(ctx, search, wants, want);
  }
  checkFound(ctx, search, wants, search.entries.length > 0 || plain !== undefined);
  const { entries, sources } = search;
  if (Object.keys(sources).length === 0) return { plain };
  if (plain && plainOffer.length > 0) sources[ctx.tag] = plain.descriptor.digest;
  return { plain, combined: { entries, sources } };
}
