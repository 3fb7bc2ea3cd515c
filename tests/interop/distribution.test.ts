/**
 * The Kubernetes distribution as a source, offline: a local file server
 * laid out like an RKE2 release (and a K3s one), images in a real registry
 * (through `sourceRegistry`). `save` turns the release's image list into
 * images and its tarball, list, checksum file and install script into
 * files verified against the release's `sha256sum-ARCH.txt`; `load` pushes
 * them; `files extract` writes a directory `INSTALL_RKE2_ARTIFACT_PATH` can
 * point at. A tarball that does not match the checksum file stops the save
 * with one line naming the declaration's line.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { serveFiles, sha256sums } from "../helpers/fileserver.ts";
import { entryImage, interopAvailable, seedStorage, startRegistry } from "../helpers/registry.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { parseLock } from "../../lib/lock.ts";

const enabled = interopAvailable();

const TAG = "v1.27.10+rke2r1";
const LIST =
  "docker.io/rancher/rke2-runtime:v1.27.10-rke2r1\ndocker.io/rancher/hardened-coredns:v1.10.1-build20231009\n";
const TARBALL = new TextEncoder().encode("pretend rke2 tarball ".repeat(500));
const INSTALL = "#!/bin/sh\necho install rke2\n";
const K3S_TAG = "v1.27.10+k3s1";
const K3S_LIST = "docker.io/rancher/mirrored-pause:3.6\n";
const K3S_BINARY = new TextEncoder().encode("pretend k3s binary");

Deno.test({
  name: "rke2/k3s source: release list → images, tarball/list/checksums/install.sh → files, verified; load; extract",
  ignore: !enabled,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "airgap-distribution-" });
    const release = {
      "rke2-images-all.linux-amd64.txt": LIST,
      "rke2.linux-amd64.tar.gz": TARBALL,
    };
    const server = serveFiles({
      [`/rke2/${TAG}/rke2-images-all.linux-amd64.txt`]: LIST,
      [`/rke2/${TAG}/rke2.linux-amd64.tar.gz`]: TARBALL,
      [`/rke2/${TAG}/sha256sum-amd64.txt`]: sha256sums(release),
      [`/rke2/${TAG}/install.sh`]: INSTALL,
      [`/k3s/${K3S_TAG}/k3s-images.txt`]: K3S_LIST,
      [`/k3s/${K3S_TAG}/k3s`]: K3S_BINARY,
      [`/k3s/${K3S_TAG}/sha256sum-amd64.txt`]: sha256sums({ "k3s-images.txt": K3S_LIST, k3s: K3S_BINARY }),
      [`/k3s/${K3S_TAG}/install.sh`]: "#!/bin/sh\necho install k3s\n",
    });
    const upstream = await startRegistry();
    const target = await startRegistry();
    try {
      await seedStorage(
        upstream,
        [...LIST.trim().split("\n"), ...K3S_LIST.trim().split("\n")].map((e) =>
          entryImage(e.replace("docker.io/", ""))
        ),
      );
      const cache = join(dir, "cache");
      const archive = join(dir, "kit.tar");
      const declaration = `rke2:
  version: ${TAG}
  url: ${server.url}/rke2/{version}/
  sourceRegistry: ${upstream.host}
`;
      await Deno.writeTextFile(join(dir, "airgap.yaml"), declaration);

      await t.step("save: the list's images and the release's files, pinned", async () => {
        await airgapOk(["save", "--cache", cache, "-o", archive], { cwd: dir });
        const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        const files = lock.images.filter((i) => i.file).map((i) => i.file!);
        assertEquals(files.map((f) => f.name).sort(), [
          "install.sh",
          "rke2-images-all.linux-amd64.txt",
          "rke2.linux-amd64.tar.gz",
          "sha256sum-amd64.txt",
        ]);
        assertEquals(files.find((f) => f.name === "rke2.linux-amd64.tar.gz")!.sha256, digestOf(TARBALL));
        assertEquals(files.find((f) => f.name === "install.sh")!.mode, "0755");
        // docker.io/ is dropped from the entries: load puts them where system-default-registry looks.
        assertEquals(lock.images.filter((i) => !i.file).map((i) => i.entry).sort(), [
          "rancher/hardened-coredns:v1.10.1-build20231009",
          "rancher/rke2-runtime:v1.27.10-rke2r1",
        ]);
        const plan = JSON.parse((await airgapOk(["plan", "--json", "--cache", cache], { cwd: dir })).stdout);
        const origins = plan.images.filter((i: { file?: unknown }) => !i.file).map((i: { origin: string }) => i.origin);
        assertEquals(origins.sort(), [
          `rke2-images-all.linux-amd64.txt@${TAG}:1`,
          `rke2-images-all.linux-amd64.txt@${TAG}:2`,
        ]);
      });

      await t.step("load pushes images and files; extract gives the artifact directory", async () => {
        await airgapOk(["load", archive, "--registry", target.host]);
        const tags = await fetch(`http://${target.host}/v2/files/rke2.linux-amd64.tar.gz/tags/list`);
        assertEquals((await tags.json()).tags, ["latest"]);
        const image = await fetch(`http://${target.host}/v2/rancher/rke2-runtime/tags/list`);
        assertEquals((await image.json()).tags, ["v1.27.10-rke2r1"]);
        const out = join(dir, "artifacts");
        await airgapOk(["files", "extract", archive, "-d", out]);
        assertEquals(digestOf(await Deno.readFile(join(out, "rke2.linux-amd64.tar.gz"))), digestOf(TARBALL));
        assertEquals(await Deno.readTextFile(join(out, "install.sh")), INSTALL);
        // What install.sh checks with INSTALL_RKE2_ARTIFACT_PATH: the tarball against the checksum file.
        const sums = await Deno.readTextFile(join(out, "sha256sum-amd64.txt"));
        assertStringIncludes(sums, `${digestOf(TARBALL).slice(7)}  rke2.linux-amd64.tar.gz`);
      });

      await t.step("k3s: the binary for the architecture, mode 0755", async () => {
        await Deno.writeTextFile(
          join(dir, "airgap.yaml"),
          `k3s:
  version: ${K3S_TAG}
  url: ${server.url}/k3s/{version}
  sourceRegistry: ${upstream.host}
`,
        );
        await airgapOk(["save", "--cache", cache, "-o", join(dir, "k3s.tar")], { cwd: dir });
        const listed = JSON.parse((await airgapOk(["files", "ls", "--json", join(dir, "k3s.tar")])).stdout) as {
          name: string;
          mode: string;
        }[];
        assertEquals(Object.fromEntries(listed.map((f) => [f.name, f.mode])), {
          "install.sh": "0755",
          k3s: "0755",
          "k3s-images.txt": "0644",
          "sha256sum-amd64.txt": "0644",
        });
      });

      await t.step(
        "a tarball that does not match sha256sum-amd64.txt: one line naming rke2:, nothing saved",
        async () => {
          await Deno.writeTextFile(join(dir, "airgap.yaml"), declaration);
          server.files.set(`/rke2/${TAG}/rke2.linux-amd64.tar.gz`, "tampered");
          const bad = join(dir, "bad.tar");
          const result = await airgap(["save", "--cache", join(dir, "cache2"), "-o", bad], { cwd: dir });
          assert(result.code !== 0);
          assertStringIncludes(
            result.stderr,
            "airgap.yaml:2:3: file rke2.linux-amd64.tar.gz: sha256 mismatch: sha256sum-amd64.txt lists sha256:",
          );
          assert(await Deno.stat(bad).then(() => false, () => true));
        },
      );
    } finally {
      await upstream.stop();
      await target.stop();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
