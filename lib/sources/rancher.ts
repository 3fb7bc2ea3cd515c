/**
 * Rancher releases as a source of image names: the release's
 * `rancher-images.txt` (and `rancher-windows-images.txt`), fetched from its
 * assets — GitHub by default, any mirror by URL — checked against the
 * release's `sha256sum.txt` when it publishes one, kept in the cache by
 * digest and pinned in the lock. Pre-releases are refused unless allowed,
 * as Rancher's air-gap instructions warn.
 * @module
 */
import { LIMITS } from "../limits.ts";
import { AirgapError } from "../errors.ts";
import type { NetworkSession } from "../transport/session.ts";
import { digestOf } from "../oci/digest.ts";
import type { CacheStore } from "../store/cache.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import { displayUrl, download } from "./download.ts";
import { type ListEntry, parseImageList } from "./list.ts";

/** Where Rancher publishes release assets; the version's assets are under `<version>/`. */
export const RANCHER_RELEASES_URL = "https://github.com/rancher/rancher/releases/download/";
/** The Linux image list asset. */
export const RANCHER_IMAGES = "rancher-images.txt";
/** The Windows image list asset. */
export const RANCHER_WINDOWS_IMAGES = "rancher-windows-images.txt";
/** The checksums asset: `<sha256>  <file>` lines. */
export const RANCHER_SHA256SUMS = "sha256sum.txt";

/** Which list: Linux or Windows. */
export type RancherListKind = "rancher-images" | "rancher-windows-images";

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/;

/** Is this a pre-release (`-rc1`, `-alpha3`, `-beta`, any `-suffix`)? */
export function isPrerelease(version: string): boolean {
  const match = version.trim().match(VERSION);
  return match !== null && match[4] !== undefined;
}

/**
 * Check a Rancher version and normalise it to its release tag (`2.7.9` →
 * `v2.7.9`). Pre-releases are refused unless `allowPrerelease`.
 */
export function rancherReleaseTag(version: string, allowPrerelease = false): string {
  const text = version.trim();
  if (!VERSION.test(text)) {
    throw new AirgapError(`"${version}" is not a Rancher release version (expected vMAJOR.MINOR.PATCH, e.g. v2.7.9)`);
  }
  const tag = text.startsWith("v") ? text : `v${text}`;
  if (isPrerelease(tag) && !allowPrerelease) {
    throw new AirgapError(
      `${tag} is a pre-release: Rancher's air-gap guide warns not to use versions marked rc or Pre-release, they are not stable enough for production (set rancher.allowPrerelease: true to use it anyway)`,
    );
  }
  return tag;
}

/** The directory URL of a release's assets: `url` (with `{version}` replaced) or GitHub's. */
export function rancherAssetsUrl(tag: string, url?: string): string {
  const base = url ? url.replaceAll("{version}", tag) : `${RANCHER_RELEASES_URL}${tag}/`;
  return base.endsWith("/") ? base : `${base}/`;
}

/** Parse `sha256sum` output: file name (without `./` or `*`) → `sha256:hex`. */
export function parseSha256Sums(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, raw] of text.replace(/^\uFEFF/, "").split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = line.match(/^([a-fA-F0-9]{64})\s+\*?(.+)$/);
    if (!match) throw new AirgapError(`${file}:${i + 1}: expected "<sha256>  <file>"`, { where: file });
    const name = match[2].trim().replace(/^\.\//, "").split("/").pop()!;
    out.set(name, `sha256:${match[1].toLowerCase()}`);
  }
  return out;
}

/** One fetched image list of a release. */
export interface RancherList {
  /** Linux or Windows list. */
  kind: RancherListKind;
  /** The asset name, e.g. `rancher-images.txt`. */
  file: string;
  /** The release tag, e.g. `v2.7.9`. */
  version: string;
  /** Where it is published. */
  url: string;
  /** Digest of the file. */
  digest: string;
  /** Size of the file. */
  size: number;
  /** How it was checked: against `sha256sum.txt`, against the lock, or only pinned now. */
  verified: "sha256sum.txt" | "lock" | "unverified";
  /** Whether it came from the cache (no download). */
  cached: boolean;
  /** Its entries, with line numbers. */
  entries: ListEntry[];
}

/** Options of {@link fetchRancherLists}. */
export interface RancherFetchOptions {
  /** Release version (`v2.7.9`). */
  version: string;
  /** Assets directory URL (default GitHub's); `{version}` is replaced. */
  url?: string;
  /** Accept pre-releases. */
  allowPrerelease?: boolean;
  /** Fetch the Linux list (default true). */
  linux?: boolean;
  /** Fetch the Windows list too. */
  windows?: boolean;
  /** Content-addressed cache: fetched lists are kept here, pinned ones read from here. */
  cache?: CacheStore;
  /** Digests pinned by the lock, by asset name. */
  pinned?: ReadonlyMap<string, string>;
  /** Use the pinned digests: read them from the cache, or fetch and insist they match. */
  locked?: boolean;
  /** Connection settings by host. */
  settings?: ReadonlyMap<string, RegistrySettings>;
  /** The run's network session: downloads go through it (else each builds one from `settings`). */
  session?: NetworkSession;
}

const LIST_LIMIT = LIMITS.imageList;

/**
 * Fetch a release's image lists: verified against `sha256sum.txt` when the
 * release has one (a list it does not name is an error), cached by digest.
 * A list whose digest is known (from `sha256sum.txt`, or pinned with
 * `locked`) and already cached is not downloaded again.
 */
export async function fetchRancherLists(options: RancherFetchOptions): Promise<RancherList[]> {
  const tag = rancherReleaseTag(options.version, options.allowPrerelease);
  const base = rancherAssetsUrl(tag, options.url);
  const wanted: [RancherListKind, string][] = [];
  if (options.linux !== false) wanted.push(["rancher-images", RANCHER_IMAGES]);
  if (options.windows) wanted.push(["rancher-windows-images", RANCHER_WINDOWS_IMAGES]);

  let sums: Promise<Map<string, string> | undefined> | undefined;
  const release: Release = {
    tag,
    base,
    checksums: () =>
      sums ??= (async () => {
        const url = new URL(RANCHER_SHA256SUMS, base).href;
        const got = await download(url, { settings: options.settings, session: options.session, limit: LIST_LIMIT });
        if (!got.found) return undefined;
        return parseSha256Sums(new TextDecoder().decode(got.bytes), `${RANCHER_SHA256SUMS}@${tag}`);
      })(),
  };

  const out: RancherList[] = [];
  for (const [kind, file] of wanted) {
    const url = new URL(file, base).href;
    const { bytes, verified, cached } = await listBytes(release, file, options);
    const digest = digestOf(bytes);
    await options.cache?.putBytes({ mediaType: "text/plain", digest, size: bytes.byteLength }, bytes);
    const entries = parseImageList(new TextDecoder().decode(bytes), `${file}@${tag}`);
    out.push({
      kind,
      file,
      version: tag,
      url: displayUrl(url),
      digest,
      size: bytes.byteLength,
      verified,
      cached,
      entries,
    });
  }
  return out;
}

/** A release's assets: its tag, where they are, and its `sha256sum.txt` (fetched once, when first asked). */
interface Release {
  tag: string;
  base: string;
  checksums(): Promise<Map<string, string> | undefined>;
}

/** One list's bytes: pinned and cached, listed in `sha256sum.txt` and cached, or downloaded (and checked). */
async function listBytes(
  release: Release,
  file: string,
  options: RancherFetchOptions,
): Promise<{ bytes: Uint8Array; verified: RancherList["verified"]; cached: boolean }> {
  const { tag, base } = release;
  const url = new URL(file, base).href;
  const pinned = options.pinned?.get(file);
  if (options.locked && !pinned) {
    throw new AirgapError(`rancher ${tag}: ${file} is not in airgap.lock (run "airgap plan" without --locked)`);
  }
  if (options.locked && pinned && options.cache && await options.cache.has(pinned)) {
    return { bytes: await readCached(options.cache, pinned), verified: "lock", cached: true };
  }
  let verified: RancherList["verified"] = "unverified";
  let cached = false;
  let bytes: Uint8Array;
  const listed = (await release.checksums())?.get(file);
  if ((await release.checksums()) && !listed) {
    throw new AirgapError(`rancher ${tag}: ${RANCHER_SHA256SUMS} at ${displayUrl(base)} does not list ${file}`);
  }
  if (listed && options.cache && await options.cache.has(listed)) {
    bytes = await readCached(options.cache, listed);
    cached = true;
  } else {
    const got = await download(url, { settings: options.settings, session: options.session, limit: LIST_LIMIT });
    if (!got.found) {
      throw new AirgapError(
        `rancher ${tag}: ${file} not found at ${displayUrl(url)} (HTTP ${got.status}): is ${tag} a Rancher release?`,
      );
    }
    bytes = got.bytes;
  }
  const digest = digestOf(bytes);
  if (listed && digest !== listed) {
    throw new AirgapError(
      `rancher ${tag}: ${file} from ${
        displayUrl(url)
      } does not match ${RANCHER_SHA256SUMS}: it is ${digest}, the release lists ${listed}`,
    );
  }
  if (listed) verified = "sha256sum.txt";
  if (options.locked && digest !== pinned) {
    throw new AirgapError(
      `rancher ${tag}: ${file} from ${displayUrl(url)} is ${digest}, but airgap.lock pins ${pinned}`,
    );
  }
  if (options.locked && !listed) verified = "lock";
  return { bytes, verified, cached };
}

async function readCached(cache: CacheStore, digest: string): Promise<Uint8Array> {
  const size = await cache.blobSize(digest);
  return await cache.readBytes({ mediaType: "text/plain", digest, size: size ?? 0 }, LIST_LIMIT);
}
