/**
 * Put generated images into a real registry with skopeo (an independent
 * client), through its `dir:` transport, which keeps manifest bytes exactly.
 */
import { join } from "node:path";
import type { GeneratedImage } from "../../lib/demo/corpus.ts";
import { isManifestType } from "../../lib/oci/media.ts";
import { skopeo } from "./registry.ts";

/** Write an image in skopeo's `dir:` format. */
export async function writeDirImage(dir: string, image: GeneratedImage): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "version"), "Directory Transport Version: 1.1\n");
  await Deno.writeFile(join(dir, "manifest.json"), image.root.bytes);
  for (const b of image.blobs) {
    const hex = b.descriptor.digest.slice("sha256:".length);
    const name = isManifestType(b.descriptor.mediaType) ? `${hex}.manifest.json` : hex;
    await Deno.writeFile(join(dir, name), b.bytes);
  }
}

/** Push images to `host` under `prefix/repository:tag` using skopeo. */
export async function pushCorpus(host: string, images: GeneratedImage[], prefix = ""): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "airgap-corpus-" });
  try {
    for (const [i, image] of images.entries()) {
      const dir = join(tmp, String(i));
      await writeDirImage(dir, image);
      const name = `${prefix ? `${prefix}/` : ""}${image.repository}:${image.tag}`;
      await skopeo(
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        `dir:${dir}`,
        `docker://${host}/${name}`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
