/**
 * Other clients read what we write, and we push the way registries expect:
 * umoci and oci-image-tool on extracted archives, chunked uploads accepted
 * by distribution and judged by skopeo.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgapOk } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { interopAvailable, skopeoDigest, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { copyGraph } from "../../lib/copy/engine.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";

const enabled = interopAvailable(
  "/usr/bin/docker-registry",
  "/usr/bin/skopeo",
  "/usr/bin/umoci",
  "/usr/bin/oci-image-tool",
);

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${text}`);
  return text;
}

Deno.test({
  name: "umoci and oci-image-tool accept the extracted archive",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-clients-" });
    let registry: TestRegistry | undefined;
    try {
      registry = await startRegistry();
      const images = standardCorpus(1);
      await pushCorpus(registry.host, images);
      const list = join(dir, "list.txt");
      await Deno.writeTextFile(list, images.map((i) => `${registry!.host}/${i.repository}:${i.tag}`).join("\n"));
      await airgapOk([
        "save",
        "-l",
        list,
        "-o",
        join(dir, "all.tar"),
        "--cache",
        join(dir, "c"),
        "--platform",
        "all",
        "-q",
      ]);
      const layout = join(dir, "layout");
      await Deno.mkdir(layout);
      await run("tar", ["-xf", join(dir, "all.tar"), "-C", layout]);
      const listed = await run("umoci", ["ls", "--layout", layout]);
      for (const i of images) assertStringIncludes(listed, `${registry.host}/${i.repository}:${i.tag}`);
      const busybox = `${registry.host}/library/busybox:1.36`;
      await run("umoci", ["unpack", "--rootless", "--image", `${layout}:${busybox}`, join(dir, "bundle")]);
      assert((await Deno.stat(join(dir, "bundle", "rootfs", "data", "busybox.bin"))).isFile);

      // oci-image-tool validates one image per layout.
      const one = join(dir, "one.txt");
      await Deno.writeTextFile(one, `${busybox}\n`);
      await airgapOk(["save", "-l", one, "-o", join(dir, "one.tar"), "--cache", join(dir, "c"), "-q"]);
      const single = join(dir, "single");
      await Deno.mkdir(single);
      await run("tar", ["-xf", join(dir, "one.tar"), "-C", single]);
      assertStringIncludes(
        await run("oci-image-tool", ["validate", "--type", "image", "--ref", `name=${busybox}`, single]),
        "Validation succeeded",
      );
    } finally {
      await registry?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "chunked (PATCH) uploads are accepted by distribution with identical digests",
  ignore: !enabled,
  async fn() {
    const registries: TestRegistry[] = [];
    try {
      const upstream = await startRegistry();
      const target = await startRegistry();
      registries.push(upstream, target);
      const images = standardCorpus(8);
      await pushCorpus(upstream.host, images);
      const src = registryStore(createRegistryClient(upstream.host));
      const dst = registryStore(createRegistryClient(target.host), { chunkedUploads: true, chunkSize: 100_000 });
      const roots = await Promise.all(images.map(async (i) => ({
        srcRepo: i.repository,
        dstRepo: `chunked/${i.repository}`,
        descriptor: (await src.resolve(i.repository, i.tag)).descriptor,
        tags: [i.tag],
        label: i.repository,
      })));
      const result = await copyGraph({ src, dst, roots });
      assert(result.blobs.pushed > 0);
      const patches = (await target.requests()).filter((r) => r.method === "PATCH");
      assert(patches.length > result.blobs.pushed, `expected several PATCH requests, saw ${patches.length}`);
      for (const image of images) {
        assertEquals(
          await skopeoDigest(`${target.host}/chunked/${image.repository}:${image.tag}`),
          image.root.descriptor.digest,
        );
      }
      await src.close?.();
      await dst.close?.();
    } finally {
      for (const r of registries) await r.stop();
    }
  },
});
