/**
 * The foundation's acceptance, end to end against real distribution
 * registries, with skopeo as the independent judge of digests.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { interopAvailable, skopeo, skopeoDigest, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { corpusBlobs, type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import { openArchive } from "../../lib/store/archive.ts";
import { parseLock } from "../../lib/lock.ts";

const enabled = interopAvailable();

/** How each corpus image is listed (as in rancher-images.txt) and where it lands. */
function entryFor(image: GeneratedImage): string {
  if (image.repository === "rancher/mirrored-pause") return `mirrored-pause:${image.tag}`; // no slash
  if (image.repository === "jetstack/cert-manager-controller") {
    return `quay.io/jetstack/cert-manager-controller:${image.tag}`;
  }
  return `${image.repository}:${image.tag}`;
}
function targetName(entry: string): string {
  return entry.includes("/") ? entry : `rancher/${entry}`;
}

Deno.test({
  name: "save then load round-trips every kind of image with identical digests",
  ignore: !enabled,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "airgap-foundation-" });
    const registries: TestRegistry[] = [];
    try {
      const upstream = await startRegistry();
      const target = await startRegistry();
      registries.push(upstream, target);
      const images = standardCorpus(24);
      await pushCorpus(
        upstream.host,
        images.map((i) => {
          const name = entryFor(i); // pulled as SOURCE/ENTRY through --source-registry, as the save script does
          const colon = name.lastIndexOf(":");
          return { ...i, repository: name.slice(0, colon), tag: name.slice(colon + 1) };
        }),
      );
      const list = join(dir, "rancher-images.txt");
      await Deno.writeTextFile(list, "# generated\r\n" + images.map(entryFor).join("\r\n") + "\r\n");
      const archive = join(dir, "images.tar");
      const cache = join(dir, "cache");
      const common = ["--cache", cache, "--platform", "all", "-q"];

      await t.step("save pulls through the source registry and writes one archive", async () => {
        const out = await airgapOk(["save", "-l", list, "-s", upstream.host, "-i", archive, ...common]);
        assertStringIncludes(out.stdout, `saved ${images.length} images`);
      });

      await t.step("the archive holds each blob once (size within 1% of the unique blobs)", async () => {
        const unique = corpusBlobs(images);
        const uniqueBytes = [...unique.values()].reduce((s, b) => s + b.bytes.byteLength, 0);
        const reader = await openArchive(archive);
        assertEquals(reader.blobs.size, unique.size);
        const { size } = await Deno.stat(archive);
        assert(size <= uniqueBytes * 1.01, `archive ${size} bytes vs ${uniqueBytes} bytes of unique blobs`);
        assert(reader.lock !== undefined, "the lock travels in the archive");
        assertEquals(parseLock(reader.lock!, "airgap.lock").images.length, images.length);
        await reader.close!();
      });

      await t.step("load pushes under Rancher's target names; skopeo sees the source digests", async () => {
        await airgapOk(["load", archive, "--registry", target.host, "-q"]);
        for (const image of images) {
          const entry = entryFor(image);
          const expected = await skopeoDigest(`${upstream.host}/${entry}`);
          assertEquals(expected, image.root.descriptor.digest);
          assertEquals(await skopeoDigest(`${target.host}/${targetName(entry)}`), expected, entry);
        }
      });

      await t.step("with a path prefix (a Harbor project)", async () => {
        await airgapOk(["load", archive, "--registry", `${target.host}/project`, "-q"]);
        const image = images.find((i) => i.repository === "rancher/mirrored-pause")!;
        assertEquals(
          await skopeoDigest(`${target.host}/project/rancher/mirrored-pause:${image.tag}`),
          image.root.descriptor.digest,
        );
      });

      await t.step("re-loading pushes nothing", async () => {
        const out = await airgapOk(["load", archive, "--registry", target.host]);
        assertStringIncludes(out.stdout, "0 blobs pushed");
      });

      await t.step("skopeo reads an image straight out of the archive", async () => {
        const busybox = images.find((i) => i.repository === "library/busybox")!;
        const layout = join(dir, "skopeo-layout");
        await skopeo(
          "copy",
          "--quiet",
          "--preserve-digests",
          // Named as listed, without the --source-registry host.
          `oci-archive:${archive}:library/busybox:1.36`,
          `oci:${layout}:bb`,
        );
        const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json")));
        assertEquals(index.manifests[0].digest, busybox.root.descriptor.digest);
      });

      await t.step("a warm cache fetches no blob again", async () => {
        const before = (await upstream.requests()).filter((r) =>
          r.method === "GET" && r.path.includes("/blobs/")
        ).length;
        const out = await airgapOk(["save", "-l", list, "-s", upstream.host, "-i", join(dir, "again.tar"), ...common]);
        const after = (await upstream.requests()).filter((r) =>
          r.method === "GET" && r.path.includes("/blobs/")
        ).length;
        assertEquals(after - before, 0, "blob GETs on the second save");
        const manifestGets = (await upstream.requests()).filter((r) =>
          r.method === "GET" && r.path.includes("/manifests/")
        );
        assertEquals(manifestGets.filter((r) => r.path.includes("/manifests/")).length > 0, true);
        assertStringIncludes(out.stdout, "fetched nothing");
        assertEquals(
          await Deno.readFile(join(dir, "again.tar")),
          await Deno.readFile(archive),
          "same inputs, same archive bytes",
        );
      });

      await t.step("default platform linux/amd64 filters indexes, pins both digests", async () => {
        const yaml = join(dir, "airgap.yaml");
        await Deno.writeTextFile(yaml, `sourceRegistry: ${upstream.host}\nimages:\n  - rancher/shell:v0.1.21\n`);
        await airgapOk(["save", "-f", yaml, "-o", join(dir, "amd64.tar"), "--cache", cache, "-q"]);
        const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        const shell = images.find((i) => i.repository === "rancher/shell")!;
        assertEquals(lock.images[0].upstreamDigest, shell.root.descriptor.digest);
        assert(lock.images[0].digest !== shell.root.descriptor.digest);
        assertEquals(lock.images[0].platforms, ["linux/amd64"]);
        await airgapOk(["load", join(dir, "amd64.tar"), "--registry", `${target.host}/amd64`, "-q"]);
        const raw = JSON.parse(
          await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${target.host}/amd64/rancher/shell:v0.1.21`),
        );
        assertEquals(raw.manifests.length, 1);
        assertEquals(raw.manifests[0].platform.architecture, "amd64");
        const plan = await airgapOk(["plan", "-f", yaml, "--cache", cache]);
        assertStringIncludes(plan.stdout, "unchanged");
        assertStringIncludes(plan.stdout, "everything is cached");
      });

      await t.step(
        "like the scripts: ./rancher-images.txt is the default list; a .gz name gets a warning",
        async () => {
          const seed = join(dir, "seed");
          await Deno.mkdir(seed);
          await Deno.copyFile(list, join(seed, "rancher-images.txt"));
          const out = await airgapOk(["save", "-s", upstream.host, "--cache", cache, "--platform", "all"], {
            cwd: seed,
          });
          assertStringIncludes(out.stderr, "using ./rancher-images.txt");
          const saved = await openArchive(join(seed, "rancher-images.tar"));
          assertEquals(saved.images.length, images.length);
          await saved.close!();
          const gz = await airgapOk(["save", "-s", upstream.host, "--cache", cache, "-i", "x.tar.gz"], {
            cwd: seed,
          });
          assertStringIncludes(gz.stderr, "will be a plain tar, not gzip");
          // --quiet: results and errors only, so not this warning.
          const quiet = await airgapOk(["save", "-s", upstream.host, "--cache", cache, "-i", "x.tar.gz", "-q"], {
            cwd: seed,
          });
          assertEquals(quiet.stderr, "");
        },
      );

      await t.step("a missing image fails the save with the list line named and no archive", async () => {
        const bad = join(dir, "bad.txt");
        await Deno.writeTextFile(bad, "rancher/rancher:v2.7.9\nrancher/does-not-exist:v1\n");
        const out = await airgap(["save", "-l", bad, "-s", upstream.host, "-i", join(dir, "bad.tar"), ...common]);
        assertEquals(out.code, 1);
        assertStringIncludes(
          out.stderr,
          `bad.txt:2: ${upstream.host}/rancher/does-not-exist:v1 not found (MANIFEST_UNKNOWN)`,
        );
        for (const name of ["bad.tar", "bad.tar.partial"]) {
          assert(!(await Deno.stat(join(dir, name)).then(() => true, () => false)), `${name} must not exist`);
        }
      });

      await t.step("loading a list entry that is not in the archive fails before pushing", async () => {
        const other = join(dir, "other.txt");
        await Deno.writeTextFile(other, "rancher/not-saved:v1\n");
        const out = await airgap(["load", "-l", other, "-i", archive, "--registry", `${target.host}/never`]);
        assertEquals(out.code, 1);
        assertStringIncludes(out.stderr, "rancher/not-saved:v1");
        const catalog = await (await fetch(`http://${target.host}/v2/_catalog`)).json();
        assert(!catalog.repositories.some((r: string) => r.startsWith("never/")));
      });
    } finally {
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
