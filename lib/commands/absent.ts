/**
 * Before a load pushes anything: blobs that the archive's images reference
 * but the archive does not hold — left out on purpose, like foreign layers
 * saved with `--foreign-layers skip` — must already be at the target, or the
 * load stops here with nothing pushed. Finding them also teaches the registry
 * store which repositories hold them, so other repositories mount them.
 * @module
 */
import type { CopyRoot } from "../copy.ts";
import { AirgapError } from "../errors.ts";
import { parseManifest, storedChildren } from "../oci/manifest.ts";
import { isManifestType } from "../oci/media.ts";
import { isExternalLayer } from "../oci/foreign.ts";
import type { ArchiveReader } from "../store/archive.ts";
import type { Store } from "../store/types.ts";

/**
 * Throw unless every blob the roots need that the archive lacks is at the
 * target. Returns how many foreign layers the manifests leave at their URLs
 * (saved with `keep`): the target must accept those manifests.
 */
export async function checkAbsentBlobs(
  archive: ArchiveReader,
  target: Store,
  roots: readonly CopyRoot[],
): Promise<{ externalLayers: number }> {
  const missing: string[] = [];
  const external = new Set<string>();
  const seen = new Set<string>();
  for (const root of roots) {
    const walk = async (desc: { mediaType: string; digest: string; size: number }): Promise<void> => {
      const key = `${root.dstRepo}@${desc.digest}`;
      if (seen.has(key)) return;
      seen.add(key);
      const held = archive.blobs.get(desc.digest)?.size === desc.size;
      if (isManifestType(desc.mediaType)) {
        if (!held) {
          if (!(await target.exists(root.dstRepo, desc))) missing.push(`${root.label} needs manifest ${desc.digest}`);
          return;
        }
        const manifest = parseManifest(await archive.readBytes(desc), desc.mediaType, `${root.label}@${desc.digest}`);
        if (manifest.kind === "manifest") {
          for (const l of manifest.layers) if (isExternalLayer(l)) external.add(l.digest);
        }
        for (const child of storedChildren(manifest)) await walk(child);
        return;
      }
      if (!held && !(await target.exists(root.dstRepo, desc))) {
        missing.push(`${root.label} needs ${desc.digest} (${desc.size} bytes)`);
      }
    };
    await walk(root.descriptor);
  }
  if (missing.length > 0) {
    throw new AirgapError(
      `${missing.length} blob(s) are neither in ${archive.path} nor at the target, so nothing was pushed: ${
        missing[0]
      }${
        missing.length > 1 ? ` (and ${missing.length - 1} more)` : ""
      }; foreign layers saved with --foreign-layers skip must be loaded first from an archive saved with include`,
    );
  }
  return { externalLayers: external.size };
}

/** A refused manifest push of an archive with foreign URLs (saved with `keep`): say why and what to do. */
export function explainRefusal(e: unknown, externalLayers: number): unknown {
  if (externalLayers === 0 || !(e instanceof AirgapError) || e.context.op !== "push manifest") return e;
  if (e.context.status !== 500 && e.context.code !== "MANIFEST_INVALID") return e;
  return new AirgapError(
    `${e.message} — the archive keeps ${externalLayers} foreign layer(s) at their URLs (saved with --foreign-layers keep) and this registry refuses such manifests; allow the URLs there (distribution: validation.manifests.urls.allow) or save with --foreign-layers include`,
    e.context,
    { cause: e },
  );
}
