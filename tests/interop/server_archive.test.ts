/**
 * `serve ARCHIVE` acceptance: an archive made by `save` (every platform) is
 * a registry that skopeo — an independent client — copies every image out
 * of with identical digests, and that our own save can pull from again.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { interopAvailable, skopeo, skopeoDigest } from "../helpers/registry.ts";
import { corpusBlobs, type GeneratedImage } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { isManifestType, OCI_INDEX, OCI_MANIFEST } from "../../lib/oci/media.ts";
import { archiveImages, createCatalog, registryNaming, startServer } from "../../lib/server/server.ts";
import { assertSavedBack, buildCorpusArchive } from "./server_fixture.ts";

const enabled = interopAvailable();

/** Every blob of an image's graph (root included). */
function graph(image: GeneratedImage): Set<string> {
  return new Set([image.root.descriptor.digest, ...image.blobs.map((b) => b.descriptor.digest)]);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isFile) out.push(entry.name);
  return out;
}

Deno.test({
  name: "serve ARCHIVE: skopeo copies every image out with identical digests; our save round-trips",
  ignore: !enabled,
  async fn(t) {
    const fixture = await buildCorpusArchive();
    const { archive, images, dir } = fixture;
    const catalog = createCatalog(archive, archiveImages(archive));
    const server = await startServer({ store: archive, catalog });
    try {
      await t.step("the catalog lists every repository under its own name", async () => {
        const response = await fetch(`${server.url}/v2/_catalog`);
        const body = await response.json() as { repositories: string[] };
        assertEquals(body.repositories, images.map((i) => i.repository).sort());
        assertEquals(catalog.warnings, []);
      });

      await t.step("skopeo copy --all --preserve-digests of every image", async () => {
        await Deno.mkdir(join(dir, "copies"));
        for (const image of images) {
          const source = `docker://${server.host}/${image.repository}:${image.tag}`;
          const out = join(dir, "copies", image.repository.replaceAll("/", "_"));
          const oci = [OCI_INDEX, OCI_MANIFEST].includes(image.root.descriptor.mediaType);
          // skopeo 1.9 writes only OCI media types into an oci: layout; Docker images go to dir:.
          const destination = oci ? `oci:${out}:${image.tag}` : `dir:${out}`;
          await skopeo("copy", "--quiet", "--all", "--preserve-digests", "--src-tls-verify=false", source, destination);
          let rootDigest: string;
          let blobs: string[];
          if (oci) {
            const index = JSON.parse(await Deno.readTextFile(join(out, "index.json"))) as {
              manifests: { digest: string }[];
            };
            rootDigest = index.manifests[0].digest;
            blobs = (await filesUnder(join(out, "blobs", "sha256"))).map((h) => `sha256:${h}`);
          } else {
            rootDigest = digestOf(await Deno.readFile(join(out, "manifest.json")));
            const files = (await filesUnder(out)).filter((f) => /^[a-f0-9]{64}(\.manifest\.json)?$/.test(f));
            blobs = [rootDigest, ...files.map((f) => `sha256:${f.slice(0, 64)}`)];
          }
          assertEquals(rootDigest, image.root.descriptor.digest, image.repository);
          assertEquals(new Set(blobs), graph(image), `${image.repository}: the whole graph, nothing else`);
          // The bytes on disk are the bytes of the corpus.
          for (const digest of blobs) {
            const name = digest.slice(7);
            const path = oci
              ? join(out, "blobs", "sha256", name)
              : digest === rootDigest
              ? join(out, "manifest.json")
              : (await Deno.stat(join(out, name)).then(
                () => join(out, name),
                () => join(out, `${name}.manifest.json`),
              ));
            assertEquals(digestOf(await Deno.readFile(path)), digest);
          }
        }
      });

      await t.step("skopeo inspect and list-tags", async () => {
        for (const image of images) {
          assertEquals(
            await skopeoDigest(`${server.host}/${image.repository}:${image.tag}`),
            image.root.descriptor.digest,
          );
        }
        const busybox = images.find((i) => i.repository === "library/busybox")!;
        const inspected = JSON.parse(
          await skopeo("inspect", "--tls-verify=false", `docker://${server.host}/library/busybox:${busybox.tag}`),
        ) as { Digest: string; Architecture: string; Layers: string[] };
        assertEquals(inspected.Digest, busybox.root.descriptor.digest);
        assertEquals(inspected.Layers.length, busybox.blobs.length - 1);
        // Docker Hub aliases: `busybox` is `library/busybox`.
        assertEquals(await skopeoDigest(`${server.host}/busybox:${busybox.tag}`), busybox.root.descriptor.digest);
        const tags = JSON.parse(
          await skopeo("list-tags", "--tls-verify=false", `docker://${server.host}/rancher/rancher`),
        ) as { Tags: string[] };
        assertEquals(tags.Tags, ["v2.7.9"]);
      });

      await t.step("the catalog paginates with Link headers", async () => {
        const seen: string[] = [];
        let next: string | undefined = "/v2/_catalog?n=3";
        let pages = 0;
        while (next) {
          const response: Response = await fetch(`${server.url}${next}`);
          const body = await response.json() as { repositories: string[] };
          assert(body.repositories.length <= 3);
          seen.push(...body.repositories);
          next = response.headers.get("link")?.match(/<([^>]+)>/)?.[1];
          pages++;
        }
        assertEquals(seen, images.map((i) => i.repository).sort());
        assertEquals(pages, Math.ceil(images.length / 3));
      });

      await t.step("our save, pulling from the served archive, writes the same images", async () => {
        const again = await assertSavedBack(images, server.host, dir, "again", archive);
        assertEquals(new Set(again.blobs.keys()), new Set(corpusBlobs(images).keys()));
      });
    } finally {
      await server.close();
    }

    // The same archive under the names `airgap load --registry registry.local/mirror` creates.
    const targets = await startServer({
      store: archive,
      catalog: createCatalog(archive, archiveImages(archive), registryNaming("registry.local", "mirror")),
    });
    try {
      await t.step("--registry-name: served under the target names", async () => {
        const body = await (await fetch(`${targets.url}/v2/_catalog`)).json() as { repositories: string[] };
        assertEquals(body.repositories, images.map((i) => `mirror/${i.repository}`).sort());
        for (const image of images) {
          assertEquals(
            await skopeoDigest(`${targets.host}/mirror/${image.repository}:${image.tag}`),
            image.root.descriptor.digest,
          );
        }
        const layer = images[0].blobs.find((b) => !isManifestType(b.descriptor.mediaType))!;
        const head = await fetch(`${targets.url}/v2/mirror/${images[0].repository}/blobs/${layer.descriptor.digest}`, {
          method: "HEAD",
        });
        assertEquals(head.status, 200);
        assertEquals(head.headers.get("content-length"), String(layer.bytes.byteLength));
      });
    } finally {
      await targets.close();
      await fixture.cleanup();
    }
  },
});
