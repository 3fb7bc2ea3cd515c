/**
 * `airgap images` as a user runs it (a separate process): a chart file with
 * values, and a declaration's final list with `--why`.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { hasSharedChart, SHARED_CHARTS } from "../helpers/helm.ts";

const CERT_MANAGER = join(SHARED_CHARTS, "cert-manager-v1.12.3.tgz");
const RANCHER = join(SHARED_CHARTS, "rancher-2.7.9.tgz");

const lines = (text: string) => text.split("\n").filter((l) => l !== "");

Deno.test({
  name: "airgap images --chart: cert-manager and rancher with default values, --set and -f values",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz", "rancher-2.7.9.tgz"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-images-cli-" });
    try {
      assertEquals(lines((await airgapOk(["images", "--chart", CERT_MANAGER])).stdout), [
        "quay.io/jetstack/cert-manager-acmesolver:v1.12.3",
        "quay.io/jetstack/cert-manager-cainjector:v1.12.3",
        "quay.io/jetstack/cert-manager-controller:v1.12.3",
        "quay.io/jetstack/cert-manager-ctl:v1.12.3",
        "quay.io/jetstack/cert-manager-webhook:v1.12.3",
      ]);
      const plain = await airgapOk(["images", "--chart", RANCHER]);
      assertEquals(lines(plain.stdout), ["rancher/rancher:v2.7.9", "rancher/shell:v0.1.21"]);
      assertEquals(plain.stderr, "", "no warnings");
      const withAudit = ["rancher/mirrored-bci-micro:15.4.14.3", "rancher/rancher:v2.7.9", "rancher/shell:v0.1.21"];
      assertEquals(
        lines((await airgapOk(["images", "--chart", RANCHER, "--set", "auditLog.level=1"])).stdout),
        withAudit,
      );
      const values = join(dir, "values.yaml");
      await Deno.writeTextFile(values, "auditLog:\n  level: 1\n");
      assertEquals(lines((await airgapOk(["images", "--chart", RANCHER, "-f", values])).stdout), withAudit);
      // A later --set wins over the values file, as with helm.
      assertEquals(
        lines((await airgapOk(["images", "--chart", RANCHER, "-f", values, "--set", "auditLog.level=0"])).stdout),
        ["rancher/rancher:v2.7.9", "rancher/shell:v0.1.21"],
      );
      const why = await airgapOk(["images", "--chart", RANCHER, "--set", "auditLog.level=1", "--why"]);
      assertEquals(lines(why.stdout), [
        "rancher/mirrored-bci-micro:15.4.14.3",
        "  rancher-2.7.9.tgz: rancher/templates/deployment.yaml (values auditLog.image.repository)",
        "rancher/rancher:v2.7.9",
        "  rancher-2.7.9.tgz: rancher/templates/deployment.yaml (values rancherImage)",
        "rancher/shell:v0.1.21",
        "  rancher-2.7.9.tgz: rancher/templates/post-delete-hook-job.yaml (values postDelete.image.repository)",
      ]);
      const json = JSON.parse((await airgapOk(["images", "--chart", CERT_MANAGER, "--json"])).stdout);
      assertEquals(json[1].entry, "quay.io/jetstack/cert-manager-cainjector:v1.12.3");
      assertStringIncludes(json[1].origins[0], "cert-manager/templates/cainjector-deployment.yaml");
      assertEquals(json[0].entry, "quay.io/jetstack/cert-manager-acmesolver:v1.12.3");
      assertStringIncludes(json[0].origins[0], "args of container cert-manager-controller");

      const missing = await airgap(["images", "--chart", join(dir, "nope.tgz")]);
      assertEquals(missing.code, 2);
      assertStringIncludes(missing.stderr, "cannot read chart");
      assertEquals(lines(missing.stderr).length, 1);
      const badSet = await airgap(["images", "--chart", RANCHER, "--set", "auditLog.level"]);
      assertEquals(badSet.code, 2, badSet.stderr);
      assertStringIncludes(badSet.stderr, "--set auditLog.level");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("airgap images -f airgap.yaml: the sort -u of every list, and --why names file and line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-images-cli-" });
  try {
    await Deno.writeTextFile(
      join(dir, "a.txt"),
      "# a\r\nrancher/rancher:v2.7.9\r\nbusybox:1.36\r\n\r\nrancher/shell:v0.1.21\r\n",
    );
    await Deno.writeTextFile(join(dir, "b.txt"), "quay.io/x/y:v1\nbusybox:1.36\nrancher/rancher:v2.7.9 # again\n");
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      "images:\n  - zeta/last:v1\n  - alpine:3.18\nlists:\n  - a.txt\n  - b.txt\n",
    );
    const out = await airgapOk(["images"], { cwd: dir });
    const expected = [
      "alpine:3.18",
      "busybox:1.36",
      "quay.io/x/y:v1",
      "rancher/rancher:v2.7.9",
      "rancher/shell:v0.1.21",
      "zeta/last:v1",
    ];
    assertEquals(lines(out.stdout), expected);
    const why = lines((await airgapOk(["images", "--why", "-f", "airgap.yaml"], { cwd: dir })).stdout);
    assertEquals(why.slice(why.indexOf("busybox:1.36"), why.indexOf("busybox:1.36") + 3), [
      "busybox:1.36",
      "  a.txt:3",
      "  b.txt:2",
    ]);
    assertEquals(why[why.indexOf("alpine:3.18") + 1], "  airgap.yaml:3:5");
    const listOnly = await airgapOk(["images", "-l", "b.txt"], { cwd: dir });
    assertEquals(lines(listOnly.stdout), ["busybox:1.36", "quay.io/x/y:v1", "rancher/rancher:v2.7.9"]);
    const usage = await airgap(["images", "--set", "a=b"], { cwd: dir });
    assertEquals(usage.code, 2);
    assertStringIncludes(usage.stderr, "--set needs --chart");
    const noFile = await airgap(["images", "-f", "missing.yaml"], { cwd: dir });
    assertEquals(noFile.code, 2);
    assert(noFile.stderr.includes("missing.yaml does not exist"), noFile.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
