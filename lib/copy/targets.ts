/**
 * Target names in the target registry: load names an archive entry and
 * mirror names a resolved image by the same rule, so an image lands under the
 * same name whichever way it travelled. Kept in one place so the two cannot
 * drift, with the one check that matters: two entries may not claim one name
 * with different digests. A digest-only entry is named by its digest, so
 * `rancher/shell@sha256:A` and `rancher/shell@sha256:B` are two names.
 * @module
 */
import { AirgapError } from "../errors.ts";
import type { Descriptor } from "../oci/manifest.ts";
import { formatReference, type Reference, targetReference } from "../ref.ts";

/** Target name (`registry/repository:tag`, or `registry/repository@digest` for a digest-only entry) → its reference and image. */
export type TargetMap<T> = Map<string, { ref: Reference; image: T }>;

/** The target name of each image (`entryOf` gives its list entry); two entries may not claim one name with different digests. */
export function targetMap<T extends { descriptor: Descriptor }>(
  images: readonly T[],
  entryOf: (image: T) => string,
  registry: string,
  prefix: string,
): TargetMap<T> {
  const targets: TargetMap<T> = new Map();
  for (const image of images) {
    const ref = targetReference(entryOf(image), registry, prefix);
    const key = formatReference(ref.tag ? { ...ref, digest: undefined } : ref);
    const clash = targets.get(key);
    if (clash && clash.image.descriptor.digest !== image.descriptor.digest) {
      throw new AirgapError(
        `entries "${entryOf(clash.image)}" and "${entryOf(image)}" both map to ${key} with different digests`,
      );
    }
    targets.set(key, { ref, image });
  }
  return targets;
}
