/**
 * What a registry's refusal of a manifest with foreign-layer URLs means. The
 * registry store reports a refused manifest as a {@link ManifestRefusedError};
 * this module only adds what it means for an archive saved with `keep`. (The
 * check that everything an archive leaves out is at the target before a load
 * pushes anything is `ensureExternalBlobs` in lib/commands/load/load.ts.)
 * @module
 */
import { ManifestRefusedError } from "../errors.ts";

/** A refused manifest push of an archive with foreign URLs (saved with `keep`): say why and what to do. */
export function explainRefusal(e: unknown, externalLayers: number): unknown {
  if (externalLayers === 0 || !(e instanceof ManifestRefusedError)) return e;
  return e.withMessage(
    `${e.message} — the archive keeps ${externalLayers} foreign layer(s) at their URLs (saved with --foreign-layers keep) and this registry refuses such manifests; allow the URLs there (distribution: validation.manifests.urls.allow) or save with --foreign-layers include`,
    e.context,
  );
}
