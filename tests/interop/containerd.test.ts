/**
 * Issue 22 item 1: the archive is a containerd/RKE2/K3s preload tarball.
 * Real containerd (Debian's, run as root in a temp dir) imports it with
 * `ctr -n k8s.io images import` — what RKE2/K3s do with `agent/images/*.tar`
 * — and registers exactly the fully qualified names kubelet asks for, or with
 * `save --registry-name` exactly the names `load` pushes; the images unpack
 * into snapshots, and skopeo still reads `oci-archive:FILE:ENTRY`.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { airgapOk } from "../helpers/cli.ts";
import {
  containerdAvailable,
  HELLO,
  imageNames as names,
  PRELOAD_ENTRIES,
  preloadUpstream,
  withContainerd,
} from "../helpers/containerd.ts";
import { interopAvailable, skopeo, withRegistries } from "../helpers/registry.ts";

const enabled = interopAvailable() && containerdAvailable();

Deno.test({
  name:
    "containerd imports the archive under the fully qualified names (or load's with --registry-name) and unpacks it",
  ignore: !enabled,
  sanitizeResources: true,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-preload-" });
    try {
      await withRegistries(async (start) => {
        const { upstream, list, images } = await preloadUpstream(start, dir);
        const save = (out: string, ...more: string[]) =>
          airgapOk(["save", "-l", list, "-s", upstream.host, "-o", out, "--cache", join(dir, "c"), "-q", ...more]);
        await save(join(dir, "a.tar"));
        await save(join(dir, "b.tar"), "--registry-name", "registry.example.com:5000/site");
        await save(join(dir, "all.tar"), "--platform", "all");

        await withContainerd(async (containerd) => {
          const k8s = (...args: string[]) => containerd.ctr("-n", "k8s.io", ...args);
          await k8s("images", "import", join(dir, "a.tar"));
          assertEquals(names(await k8s("images", "ls", "-q")), PRELOAD_ENTRIES.map(([, q]) => q).sort());
          // Unpacked for the snapshotter kubelet uses: every image is complete and has its snapshot.
          const check = await k8s("images", "check");
          for (const [, qualified] of PRELOAD_ENTRIES) {
            const line = check.split("\n").find((l) => l.startsWith(`${qualified} `));
            assert(line && /complete \(\d+\/\d+\)/.test(line), `ctr images check: ${qualified}: ${line}`);
          }
          const snapshots = await k8s("snapshots", "ls");
          assert(snapshots.split("\n").filter((l) => l.startsWith("sha256:")).length >= PRELOAD_ENTRIES.length);
          // And a container runs from the imported image, by the name kubelet would use.
          const ran = await k8s("run", "--rm", "docker.io/rancher/airgap-hello:v1", "airgap-hello");
          assertEquals(ran.trim(), HELLO);

          // With --registry-name: the names load would push to REGISTRY/PREFIX (Rancher's naming).
          await containerd.ctr("-n", "site", "images", "import", "--no-unpack", join(dir, "b.tar"));
          assertEquals(
            names(await containerd.ctr("-n", "site", "images", "ls", "-q")),
            [
              "registry.example.com:5000/site/quay.io/jetstack/cert-manager-controller:v1.12.3",
              "registry.example.com:5000/site/rancher/airgap-hello:v1",
              "registry.example.com:5000/site/rancher/busybox:1.36",
              "registry.example.com:5000/site/rancher/mirrored-pause:3.6",
              "registry.example.com:5000/site/rancher/rancher:v2.7.9",
              "registry.example.com:5000/site/rancher/shell:v0.1.21",
            ],
          );

          // Multi-platform archive: every platform's content imports (RKE2 on mixed nodes).
          await containerd.ctr(
            "-n",
            "multi",
            "images",
            "import",
            "--all-platforms",
            "--no-unpack",
            join(dir, "all.tar"),
          );
          assertEquals(
            names(await containerd.ctr("-n", "multi", "images", "ls", "-q")),
            names(
              PRELOAD_ENTRIES.map(([, q]) => q).join("\n"),
            ),
          );
          const content = new Set(names(await containerd.ctr("-n", "multi", "content", "ls", "-q")));
          const shell = images.get("rancher/shell:v0.1.21")!;
          for (const blob of [shell.root, ...shell.blobs]) {
            assert(content.has(blob.descriptor.digest), `every platform's blob is imported: ${blob.descriptor.digest}`);
          }
        });
        // OCI tools keep reading the archive by entry (org.opencontainers.image.ref.name is unchanged).
        const raw = await skopeo("inspect", "--raw", `oci-archive:${join(dir, "a.tar")}:busybox:1.36`);
        assert(raw.includes("schemaVersion"), raw);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
