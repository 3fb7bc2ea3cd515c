/**
 * Fixture of the embedded-registry tests: the standard corpus pushed to a
 * real distribution registry by skopeo, then saved with every platform by
 * `saveCommand` into an archive in a temporary directory.
 */
import { join } from "node:path";
import { saveCommand } from "../../lib/commands/save/save.ts";
import { type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import type { Declaration, ImageRequest } from "../../lib/plan/declaration.ts";
import { parsePlatformSelector } from "../../lib/oci/platform.ts";
import { createReporter, type Reporter } from "../../lib/report/progress.ts";
import { sourceReference } from "../../lib/ref.ts";
import { type ArchiveReader, createArchive, openArchive } from "../../lib/store/archive.ts";
import { assertEquals } from "../helpers/assert.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { startRegistry } from "../helpers/registry.ts";

/** A reporter that prints nothing. */
export const silent: Reporter = createReporter({ quiet: true, live: false, write: () => {} });

/** A declaration of `images` (as `repository:tag` entries) pulled from `host`, every platform. */
export function corpusDeclaration(images: GeneratedImage[], host: string): Declaration {
  const requests: ImageRequest[] = images.map((image, i) => {
    const entry = `${image.repository}:${image.tag}`;
    return {
      entry,
      source: sourceReference(entry, host),
      platforms: parsePlatformSelector(["all"]),
      origin: `corpus:${i + 1}`,
    };
  });
  return { requests, registries: new Map([[host, { noAuthFiles: true }]]) };
}

/** An archive of the corpus, and where it lives. */
export interface CorpusArchive {
  dir: string;
  path: string;
  images: GeneratedImage[];
  archive: ArchiveReader;
  cleanup(): Promise<void>;
}

/** Build the corpus archive (registry → cache → archive); the registry is stopped afterwards. */
export async function buildCorpusArchive(): Promise<CorpusArchive> {
  const images = standardCorpus();
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-test-" });
  const registry = await startRegistry();
  try {
    await pushCorpus(registry.host, images);
    const path = join(dir, "corpus.tar");
    await saveCommand({
      declaration: corpusDeclaration(images, registry.host),
      output: path,
      cacheDir: join(dir, "save-cache"),
      reporter: silent,
    });
    const archive = await openArchive(path);
    return {
      dir,
      path,
      images,
      archive,
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  } finally {
    await registry.stop();
  }
}

/**
 * Save `images` from the server at `host` with our save into `DIR/NAME.tar`
 * and assert the archive holds what `expected` holds: the same entries at
 * the same digests, the same blobs. Returns the new archive.
 */
export async function assertSavedBack(
  images: GeneratedImage[],
  host: string,
  dir: string,
  name: string,
  expected: ArchiveReader,
): Promise<ArchiveReader> {
  const output = join(dir, `${name}.tar`);
  await saveCommand({
    declaration: corpusDeclaration(images, host),
    output,
    cacheDir: join(dir, `${name}-cache`),
    reporter: silent,
  });
  const back = await openArchive(output);
  const digests = (a: ArchiveReader) => Object.fromEntries(a.images.map((i) => [i.entry, i.descriptor.digest]));
  assertEquals(digests(back), digests(expected));
  assertEquals(new Set(back.blobs.keys()), new Set(expected.blobs.keys()));
  return back;
}

/**
 * Write an archive of `images` straight from memory (no registry): entries
 * `repository:tag`, names `docker.io/repository:tag`. For tests that only
 * need an archive, not the save pipeline.
 */
export async function writeCorpusArchive(path: string, images: GeneratedImage[]): Promise<ArchiveReader> {
  await writeCorpusParts(path, images);
  return await openArchive(path);
}

/** {@link writeCorpusArchive} without opening it, split in parts of `partSize` when given: the parts' paths. */
export async function writeCorpusParts(path: string, images: GeneratedImage[], partSize?: number): Promise<string[]> {
  const writer = await createArchive(path, {
    images: images.map((i) => ({
      descriptor: i.root.descriptor,
      name: `docker.io/${i.repository}:${i.tag}`,
      entry: `${i.repository}:${i.tag}`,
    })),
    blobs: images.flatMap((i) => [i.root.descriptor, ...i.blobs.map((b) => b.descriptor)]),
    partSize,
  });
  for (const image of images) {
    for (const blob of [image.root, ...image.blobs]) await writer.push("", blob.descriptor, blob.bytes);
  }
  return (await writer.finish()).parts;
}
