/**
 * The application's use of the Helm engine: the `plan`/`images` chart flags
 * (`--release-name`, `--namespace`, `--set-json`, `--set-file`,
 * `--api-versions`) reaching the templates, `--why` naming where a chart
 * image came from, and the list's mark on a fallback image. The engine's own
 * tests are in packages/helm/tests/.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { chartImages } from "@airgap/helm";
import { formatImageList } from "../../lib/commands/images/cli.ts";
import { chartFileImages } from "../../lib/commands/images/images.ts";
import { chartImageOrigin } from "../../lib/plan/fetch_sources.ts";
import { packChart } from "../helpers/helm.ts";
import { withTempDir } from "../helpers/tempdir.ts";

const CHART = "apiVersion: v2\nname: c\nversion: 1.0.0\nappVersion: '1.0'\n";

Deno.test("engine: --release-name, --namespace, --set-json, --set-file and --api-versions reach the templates", async () => {
  await withTempDir(async (dir) => {
    const bytes = await packChart("fleet-agent", {
      "Chart.yaml": CHART.replace("name: c", "name: fleet-agent"),
      "values.yaml": "image:\n  repository: rancher/fleet-agent\n",
      "templates/deploy.yaml": [
        `{{- if ne .Release.Name "fleet-agent" }}{{ fail "release name must be fleet-agent" }}{{ end }}`,
        `containers:`,
        `- image: {{ .Values.image.repository }}:{{ .Values.image.tag }}`,
        `  ns: {{ .Release.Namespace }} {{ .Values.extra.n }} {{ .Values.config | trim }}`,
        `{{- if .Capabilities.APIVersions.Has "acme.io/v1" }}`,
        `- image: {{ .Values.extra.sidecar }}`,
        `{{- end }}`,
        "",
      ].join("\n"),
    });
    const chartPath = join(dir, "fleet-agent.tgz");
    await Deno.writeFile(chartPath, bytes);
    await Deno.writeTextFile(join(dir, "config.txt"), "from-file\n");
    const result = await chartFileImages({
      path: chartPath,
      releaseName: "fleet-agent",
      namespace: "cattle-fleet-system",
      setJson: ['extra={"n": 2, "sidecar": "acme/sidecar:1"}'],
      set: ["image.tag=v0.8.0"],
      setFile: [`config=${join(dir, "config.txt")}`],
      apiVersions: ["acme.io/v1,other.io/v1"],
    });
    assertEquals(result.warnings, []);
    assertEquals(result.images.map((i) => i.entry), ["acme/sidecar:1", "rancher/fleet-agent:v0.8.0"]);
    // The default release name fails the chart's own check: the fallback still finds the image, with a warning.
    const fallback = await chartImages(bytes, { set: ["image.tag=v0.8.0"] });
    assertEquals(fallback.images.map((i) => [i.image, i.origin.fallback?.template]), [
      ["rancher/fleet-agent:v0.8.0", "fleet-agent/templates/deploy.yaml"],
    ]);
  });
});

Deno.test("images: --why says where a fallback or outside-field image came from", () => {
  const fallback = chartImageOrigin("chart demo@0.1.0", {
    image: "acme/server:2.0",
    method: "values-scan",
    origin: {
      chart: "demo",
      valuesPath: "server.image.repository",
      fallback: { template: "demo/templates/deploy.yaml", reason: "deploy.yaml:1: set password" },
    },
  });
  assertEquals(
    fallback,
    "chart demo@0.1.0: from values server.image.repository, template demo/templates/deploy.yaml could not be rendered: " +
      "deploy.yaml:1: set password",
  );
  const outside = chartImageOrigin("chart demo@0.1.0", {
    image: "acme/engine:v1",
    method: "template",
    origin: { chart: "demo", template: "demo/templates/all.yaml", field: "args of container manager" },
  });
  assertEquals(outside, "chart demo@0.1.0: demo/templates/all.yaml: args of container manager");
});

Deno.test("fallback: each image is marked in the list", () => {
  assertEquals(
    formatImageList([{ entry: "acme/app:v1", origins: [], fallback: true }, { entry: "x:1", origins: [] }]),
    "acme/app:v1  # fallback: from values, a template could not be rendered\nx:1",
  );
});
