/**
 * Windows images in a declaration: `rancher-windows-images.txt` lists and
 * `windows:` in airgap.yaml become image requests for `windows/amd64` images
 * of the requested Windows versions (`--windows-versions`, default 1809 as
 * in rancher-load-images.sh). An entry also in a Linux list is one request
 * with both platform sets, so it lands as one tag whose index holds the
 * Linux and the Windows images.
 * @module
 */
import type { ImageRequest } from "./declaration.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { formatPlatform, type PlatformSelector, platformWants, unmetWants, windowsSelector } from "../oci/platform.ts";
import { type Descriptor, parseManifest, type Platform } from "../oci/manifest.ts";
import { isIndexType } from "../oci/media.ts";
import { parseReference, sourceReference } from "../ref.ts";
import { readImageList } from "../sources/list.ts";

/** One Windows list to read. */
export interface WindowsListInput {
  path: string;
  /** How to show the path in messages. */
  shown: string;
  versions?: (string | number)[];
  sourceRegistry?: string;
}

/** One Windows image written inline. */
export interface WindowsImageInput {
  entry: string;
  origin: string;
  versions?: (string | number)[];
}

/** Everything the Windows part of a declaration says. */
export interface WindowsInput {
  lists: WindowsListInput[];
  images: WindowsImageInput[];
  /** Versions for lists and images that name none (default: 1809). */
  versions?: (string | number)[];
  /** Where `versions` was written, for messages. */
  versionsWhere: string;
  sourceRegistry?: string;
}

function source(entry: string, sourceRegistry: string | undefined, origin: string) {
  try {
    parseReference(entry);
    return sourceReference(entry, sourceRegistry);
  } catch (e) {
    throw new AirgapError(`${origin}: ${errorMessage(e)}`, { image: entry }, { exitCode: 2 });
  }
}

/** The requests of the Windows part of a declaration, in order: inline images, then lists. */
export async function windowsRequests(input: WindowsInput): Promise<ImageRequest[]> {
  const defaults = windowsSelector(input.versions, input.versionsWhere);
  const out: ImageRequest[] = [];
  for (const image of input.images) {
    const platforms = image.versions ? windowsSelector(image.versions, `${image.origin}: versions`) : defaults;
    out.push({
      entry: image.entry,
      source: source(image.entry, input.sourceRegistry, image.origin),
      platforms,
      origin: image.origin,
    });
  }
  for (const list of input.lists) {
    const platforms = list.versions ? windowsSelector(list.versions, `${list.shown}: versions`) : defaults;
    for (const { entry, line } of await readImageList(list.path, list.shown)) {
      const origin = `${list.shown}:${line}`;
      out.push({
        entry,
        source: source(entry, list.sourceRegistry ?? input.sourceRegistry, origin),
        platforms,
        origin,
      });
    }
  }
  return out;
}

/**
 * At load: every Windows version asked for (`--windows-versions`) must be in
 * the archive for each entry of the Windows lists — the archive holds what
 * was saved, and a load cannot add a version. Versions saved but not asked
 * for are loaded too (they are part of the saved index and its digest).
 */
export async function checkWindowsVersions(
  archive: { path: string; readBytes(desc: Descriptor): Promise<Uint8Array> },
  images: readonly { entry: string; descriptor: Descriptor }[],
  wanted: ReadonlyMap<string, PlatformSelector>,
): Promise<void> {
  for (const image of images) {
    const selector = wanted.get(image.entry);
    if (!selector) continue;
    const versioned = platformWants(selector).filter((w) => w.versioned);
    if (versioned.length === 0) continue;
    const platforms: Platform[] = [];
    const collect = async (desc: Descriptor, depth: number): Promise<void> => {
      const manifest = parseManifest(await archive.readBytes(desc), desc.mediaType, `${image.entry}@${desc.digest}`);
      if (manifest.kind !== "index" || depth > 4) return;
      for (const e of manifest.manifests) {
        if (e.platform) platforms.push(e.platform);
        else if (isIndexType(e.mediaType)) await collect(e, depth + 1);
      }
    };
    if (isIndexType(image.descriptor.mediaType)) await collect(image.descriptor, 0);
    const missing = unmetWants(versioned, platforms);
    if (missing.length > 0) {
      const saved = platforms.filter((p) => p.os === "windows").map((p) => formatPlatform(p)).join(", ") || "none";
      throw new AirgapError(
        `${image.entry}: ${archive.path} holds no image for ${
          missing.map((w) => formatPlatform(w.spec)).join(", ")
        } (saved Windows images: ${saved}); save it again with these --windows-versions`,
      );
    }
  }
}
