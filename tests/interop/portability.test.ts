/**
 * Issue 11, files meant for git are portable: with `--source-registry`, the
 * lock and index.json name images by their source name (no mirror host), so
 * skopeo finds `oci-archive:FILE:rancher/shell:v0.1.21` as written in the list.
 */
import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { airgapOk } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { interopAvailable, skopeo, skopeoDigest, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { parseLock } from "../../lib/lock.ts";

const enabled = interopAvailable();

Deno.test({
  name: "with a mirror, the lock and index.json carry the source names, and skopeo reads them as listed",
  ignore: !enabled,
  async fn() {
    await withTempDir(async (dir) => {
      const registries: TestRegistry[] = [];
      try {
        const mirror = await startRegistry();
        const site = await startRegistry();
        registries.push(mirror, site);
        const corpus = standardCorpus().filter((i) => ["rancher/shell", "library/busybox"].includes(i.repository));
        await pushCorpus(mirror.host, corpus);
        const list = join(dir, "images.txt");
        await Deno.writeTextFile(list, "rancher/shell:v0.1.21\nlibrary/busybox:1.36\n");
        const archive = join(dir, "images.tar");
        const lockPath = join(dir, "airgap.lock");
        await airgapOk([
          "save",
          ...["-l", list, "-s", mirror.host, "--platform", "all", "--cache", join(dir, "cache")],
          ...["-o", archive, "--lock", lockPath, "-q"],
        ]);
        const lock = parseLock(await Deno.readTextFile(lockPath), "airgap.lock");
        assertEquals(lock.images.map((i) => i.source).sort(), ["library/busybox:1.36", "rancher/shell:v0.1.21"]);
        const lockText = await Deno.readTextFile(lockPath);
        assertEquals(lockText.includes(mirror.host), false, "the mirror's host is not in the lock");

        const shell = corpus.find((i) => i.repository === "rancher/shell")!;
        await skopeo(
          "copy",
          "--all",
          "--dest-tls-verify=false",
          `oci-archive:${archive}:rancher/shell:v0.1.21`,
          `docker://${site.host}/rancher/shell:v0.1.21`,
        );
        assertEquals(await skopeoDigest(`${site.host}/rancher/shell:v0.1.21`), shell.root.descriptor.digest);
        const raw = await skopeo("inspect", "--raw", `oci-archive:${archive}:library/busybox:1.36`);
        assertEquals(JSON.parse(raw).schemaVersion, 2);
      } finally {
        for (const r of registries) await r.stop();
      }
    }, "airgap-portable-");
  },
});
