/**
 * Put generated images into a real registry with skopeo (an independent
 * client), through its `dir:` transport, which keeps manifest bytes exactly.
 */
import { join } from "node:path";
import { type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import type { RegistryOptions, TestRegistry } from "./registry.ts";
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

/** Write `image` in `dir` ({@link writeDirImage}) and push it to `target` (`host/name:tag`) with skopeo, digests kept. */
export async function pushDirImage(dir: string, image: GeneratedImage, target: string): Promise<void> {
  await writeDirImage(dir, image);
  await skopeo(
    "copy",
    "--quiet",
    "--all",
    "--preserve-digests",
    "--dest-tls-verify=false",
    `dir:${dir}`,
    `docker://${target}`,
  );
}

/** Push images to `host` under `prefix/repository:tag` using skopeo. */
export async function pushCorpus(host: string, images: GeneratedImage[], prefix = ""): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "airgap-corpus-" });
  try {
    for (const [i, image] of images.entries()) {
      const dir = join(tmp, String(i));
      await pushDirImage(dir, image, `${host}/${prefix ? `${prefix}/` : ""}${image.repository}:${image.tag}`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** An image list (`DIR/images.txt`, one `repository:tag` a line, as rancher-images.txt) of `images`; its path. */
export async function writeImageList(dir: string, images: GeneratedImage[]): Promise<string> {
  const list = join(dir, "images.txt");
  await Deno.writeTextFile(list, images.map((i) => `${i.repository}:${i.tag}\n`).join(""));
  return list;
}

/**
 * The usual two ends: an `upstream` registry holding `standardCorpus(count)`, an empty `site` registry (both from
 * `start`, e.g. {@link withRegistries}'s), and the corpus's image list in `dir`.
 */
export async function upstreamAndSite(
  start: (options?: RegistryOptions) => Promise<TestRegistry>,
  dir: string,
  count = 8,
): Promise<{ upstream: TestRegistry; site: TestRegistry; corpus: GeneratedImage[]; list: string }> {
  const upstream = await start();
  const site = await start();
  const corpus = standardCorpus(count);
  await pushCorpus(upstream.host, corpus);
  return { upstream, site, corpus, list: await writeImageList(dir, corpus) };
}
