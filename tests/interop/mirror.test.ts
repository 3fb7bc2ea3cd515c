/**
 * `airgap mirror` acceptance: distribution → distribution with no archive,
 * digests identical (skopeo judges), the cache holding manifests only; a
 * second run pushes nothing; `--since` refuses, before pushing anything, a
 * target that lacks what the base references; `--cache-blobs` keeps blobs.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { interopAvailable, skopeoDigest, type TestRegistry, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { mirrorCommand, type MirrorOptions } from "../../lib/commands/mirror/mirror.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { loadBase } from "../../lib/plan/delta.ts";
import { isManifestType } from "../../lib/oci/media.ts";
import { openCache } from "../../lib/store/cache.ts";
import { corpusDeclaration, silent } from "./server_fixture.ts";

Deno.test({
  name: "mirror: distribution → distribution with identical digests; a second run pushes nothing",
  ignore: !interopAvailable(),
  async fn(t) {
    const images = standardCorpus(0.25);
    await withRegistries(async (start) => {
      const source = await start();
      const target = await start();
      const fresh = await start();
      await pushCorpus(source.host, images);
      await withTempDir(async (dir) => {
        const cacheDir = join(dir, "cache");
        const declaration = corpusDeclaration(images, source.host);
        const into = (registry: TestRegistry, extra: Partial<MirrorOptions> = {}) =>
          mirrorCommand({
            declaration: {
              ...declaration,
              registries: new Map([...declaration.registries, [registry.host, { noAuthFiles: true }]]),
            },
            registry: registry.host,
            cacheDir,
            reporter: silent,
            ...extra,
          });
        const lockPath = join(dir, "airgap.lock");

        await t.step("every image arrives with its digest; the cache keeps manifests only", async () => {
          const result = await into(target, { lockPath });
          assertEquals(result.images.length, images.length);
          for (const image of images) {
            const name = `${target.host}/${image.repository}:${image.tag}`;
            assertEquals(await skopeoDigest(name), image.root.descriptor.digest, name);
          }
          assert(result.stats.blobsPushed > 0);
          const cache = await openCache(cacheDir);
          for (const image of images) {
            for (const blob of image.blobs) {
              const cached = await cache.has(blob.descriptor.digest);
              assertEquals(
                cached,
                isManifestType(blob.descriptor.mediaType),
                `${image.repository} ${blob.descriptor.digest}`,
              );
            }
          }
        });

        await t.step("a second run pushes nothing", async () => {
          const again = await into(target);
          assertEquals(again.images.length, images.length);
          assertEquals(
            [again.stats.blobsPushed, again.stats.blobsMounted, again.stats.manifestsPushed, again.fetchedBlobs],
            [0, 0, 0, 0],
          );
        });

        await t.step(
          "--since: a target lacking what the base references is refused before anything moves",
          async () => {
            const base = await loadBase(lockPath);
            await assertRejects(() => into(fresh, { base }), Error, "Nothing was pushed");
            const catalog = await (await fetch(`http://${fresh.host}/v2/_catalog`)).json() as {
              repositories: string[];
            };
            assertEquals(catalog.repositories, []);
            // Against the target that has it all, the same delta mirror moves nothing.
            const delta = await into(target, { base });
            assertEquals([delta.stats.blobsPushed, delta.fetchedBlobs], [0, 0]);
          },
        );

        await t.step("--cache-blobs keeps every blob in the cache too", async () => {
          const result = await into(fresh, { cacheBlobs: true });
          for (const image of images) {
            const name = `${fresh.host}/${image.repository}:${image.tag}`;
            assertEquals(await skopeoDigest(name), image.root.descriptor.digest, name);
          }
          assert(result.stats.blobsPushed > 0);
          const cache = await openCache(cacheDir);
          for (const image of images) {
            for (const blob of image.blobs) assert(await cache.has(blob.descriptor.digest), blob.descriptor.digest);
          }
        });

        await t.step(
          "perOsTags: the per-OS tags load --windows-image-list leaves, on the child's exact bytes",
          async () => {
            const result = await into(fresh, { perOsTags: true });
            const rancher = images.find((i) => i.repository === "rancher/rancher")!;
            const amd64 = (JSON.parse(new TextDecoder().decode(rancher.root.bytes)) as {
              manifests: { digest: string; platform: { os: string; architecture: string } }[];
            }).manifests.find((m) => m.platform.os === "linux" && m.platform.architecture === "amd64")!;
            const name = `${fresh.host}/rancher/rancher:${rancher.tag}-linux-amd64`;
            assert(result.images.some((i) => i.target === name && i.digest === amd64.digest), name);
            assertEquals(await skopeoDigest(name), amd64.digest);
          },
        );

        await t.step("the CLI: an image list from a source registry, into a registry that has it all", async () => {
          const list = join(dir, "images.txt");
          await Deno.writeTextFile(list, images.map((i) => `${i.repository}:${i.tag}\n`).join(""));
          const run = await airgap([
            "mirror",
            "-l",
            list,
            "-s",
            source.host,
            "-r",
            fresh.host,
            "--platform",
            "all",
            "--cache",
            cacheDir,
            "-q",
          ]);
          assertEquals(run.code, 0, run.stderr);
          // A registry that has it all: every image already present, said as load says it.
          assertStringIncludes(
            run.stdout,
            `mirrored ${images.length} images (0 new, ${images.length} already present) into ${fresh.host}`,
          );
          assertStringIncludes(run.stdout, "0 blobs pushed");
          assertStringIncludes(run.stdout, "0 manifests pushed");
        });
      }, "airgap-mirror-");
    });
  },
});
