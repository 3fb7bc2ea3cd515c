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
import { chartIndex, serveFiles } from "../helpers/fileserver.ts";
import { packChart } from "../helpers/helm.ts";
import { interopAvailable, skopeo, withRegistries } from "../helpers/registry.ts";
import { isChartEntry } from "../../lib/oci/chart.ts";
import { openArchive } from "../../lib/store/archive.ts";

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

Deno.test({
  name: "containerd imports an archive holding a chart artifact: the images are named, the chart is left alone",
  ignore: !enabled,
  sanitizeResources: true,
  async fn() {
    // Regression (issue 22 follow-up): a chart artifact named in index.json made `ctr images import` fail
    // (`mismatched image rootfs and manifest layers`), as carried files did; RKE2/K3s's preload would stop there.
    const dir = await Deno.makeTempDir({ prefix: "airgap-preload-chart-" });
    const chart = await packChart("hello", {
      "Chart.yaml": "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
      "templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\nspec:\n" +
        "  containers:\n    - name: hello\n      image: rancher/airgap-hello:v1\n",
    });
    const server = serveFiles({
      "/charts/index.yaml": chartIndex([{ name: "hello", version: "0.1.0", url: "hello-0.1.0.tgz", bytes: chart }]),
      "/charts/hello-0.1.0.tgz": chart,
    });
    try {
      await withRegistries(async (start) => {
        const { upstream } = await preloadUpstream(start, dir);
        await Deno.writeTextFile(
          join(dir, "airgap.yaml"),
          `sourceRegistry: ${upstream.host}\nimages: [busybox:1.36]\n` +
            `charts:\n  - name: hello\n    repo: ${server.url}/charts\n    version: 0.1.0\n`,
        );
        const archive = join(dir, "kit.tar");
        await airgapOk(["save", "-o", archive, "--cache", join(dir, "c"), "-q"], { cwd: dir });
        const reader = await openArchive(archive);
        try {
          assert(reader.images.some((i) => isChartEntry(i)), "the archive holds the chart");
        } finally {
          await reader.close?.();
        }
        await withContainerd(async (containerd) => {
          await containerd.ctr("-n", "k8s.io", "images", "import", archive);
          assertEquals(names(await containerd.ctr("-n", "k8s.io", "images", "ls", "-q")), [
            "docker.io/library/busybox:1.36",
            "docker.io/rancher/airgap-hello:v1",
          ]);
        });
      });
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
