import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import { chartImages, type ChartImagesResult } from "../src/images.ts";
import { hasSharedChart, packChart, readSharedChart } from "../../../tests/helpers/helm.ts";

function imageList(result: ChartImagesResult): string[] {
  return result.images.map((i) => i.image).sort();
}

Deno.test({
  name: "images: cert-manager v1.12.3 with default values, all from its templates",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz"),
}, async () => {
  const bytes = await readSharedChart("cert-manager-v1.12.3.tgz");
  const result = await chartImages(bytes, {});
  assertEquals(result.warnings, []);
  assertEquals(imageList(result), [
    "quay.io/jetstack/cert-manager-acmesolver:v1.12.3",
    "quay.io/jetstack/cert-manager-cainjector:v1.12.3",
    "quay.io/jetstack/cert-manager-controller:v1.12.3",
    "quay.io/jetstack/cert-manager-ctl:v1.12.3",
    "quay.io/jetstack/cert-manager-webhook:v1.12.3",
  ]);
  assert(result.images.every((i) => i.method === "template"));
  // The ACME solver image is passed in the controller's args, not an image: field.
  const solver = result.images.find((i) => i.image.includes("acmesolver"))!;
  assertEquals(solver.origin.field, "args of container cert-manager-controller");
  const ctl = result.images.find((i) => i.image.endsWith("cert-manager-ctl:v1.12.3"))!;
  assertEquals(ctl.origin, {
    chart: "cert-manager",
    template: "cert-manager/templates/startupapicheck-job.yaml",
    valuesPath: "startupapicheck.image.repository",
  });
  assertEquals(result.chart, { name: "cert-manager", version: "v1.12.3", appVersion: "v1.12.3" });
});

Deno.test({
  name: "images: cert-manager follows values: registry, digest, disabled startupapicheck",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz"),
}, async () => {
  const bytes = await readSharedChart("cert-manager-v1.12.3.tgz");
  const digest = `sha256:${"a".repeat(64)}`;
  const result = await chartImages(bytes, {
    values: { image: { registry: "mirror.example:5000", repository: "jetstack/cert-manager-controller" } },
    set: ["startupapicheck.enabled=false", `webhook.image.digest=${digest}`, "cainjector.image.tag=v9"],
  });
  assertEquals(result.warnings, []);
  assertEquals(imageList(result), [
    "mirror.example:5000/jetstack/cert-manager-controller:v1.12.3",
    "quay.io/jetstack/cert-manager-acmesolver:v1.12.3",
    "quay.io/jetstack/cert-manager-cainjector:v9",
    `quay.io/jetstack/cert-manager-webhook@${digest}`,
  ]);
});

Deno.test(
  { name: "images: rancher 2.7.9 with default values", ignore: !hasSharedChart("rancher-2.7.9.tgz") },
  async () => {
    const bytes = await readSharedChart("rancher-2.7.9.tgz");
    const result = await chartImages(bytes, {});
    assertEquals(result.warnings, []);
    assertEquals(imageList(result), ["rancher/rancher:v2.7.9", "rancher/shell:v0.1.21"]);
    assert(result.images.every((i) => i.method === "template"));
    assertEquals(result.images.find((i) => i.image === "rancher/rancher:v2.7.9")!.origin.valuesPath, "rancherImage");
  },
);

Deno.test({
  name: "images: rancher 2.7.9 with audit logging adds the audit sidecar image",
  ignore: !hasSharedChart("rancher-2.7.9.tgz"),
}, async () => {
  const bytes = await readSharedChart("rancher-2.7.9.tgz");
  const expected = ["rancher/mirrored-bci-micro:15.4.14.3", "rancher/rancher:v2.7.9", "rancher/shell:v0.1.21"];
  const viaSet = await chartImages(bytes, { set: ["auditLog.level=1"] });
  assertEquals(viaSet.warnings, []);
  assertEquals(imageList(viaSet), expected);
  const viaValues = await chartImages(bytes, { values: { auditLog: { level: 1 } } });
  assertEquals(imageList(viaValues), expected);
  const sidecar = viaValues.images.find((i) => i.image.startsWith("rancher/mirrored-bci-micro"))!;
  assertEquals(sidecar.method, "template");
  assertEquals(sidecar.origin.valuesPath, "auditLog.image.repository");
  // systemDefaultRegistry is prefixed by the chart's own helper; tags follow values.
  const mirrored = await chartImages(bytes, { set: ["systemDefaultRegistry=reg.local", "rancherImageTag=v2.7.10"] });
  assertEquals(imageList(mirrored), ["rancher/rancher:v2.7.10", "reg.local/rancher/shell:v0.1.21"]);
});

const CHART_YAML = "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: 1.4.2\n";

Deno.test("images: a template that fails is rendered again without fail/required; its images are marked", async () => {
  const bytes = await packChart("demo", {
    "Chart.yaml": CHART_YAML,
    "values.yaml": "global:\n  imageRegistry: reg.local\nimage:\n  repository: acme/server\n  tag: '2.0'\n",
    "templates/_helpers.tpl":
      `{{ define "demo.image" }}{{ with .Values.global.imageRegistry }}{{ . }}/{{ end }}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{ end }}`,
    "templates/deploy.yaml": [
      `{{ if not .Values.password }}{{ fail "set password" }}{{ end }}`,
      `containers:\n- image: {{ include "demo.image" . }}\n`,
    ].join("\n"),
  });
  const result = await chartImages(bytes);
  assertEquals(result.images, [{
    image: "reg.local/acme/server:2.0",
    origin: {
      chart: "demo",
      template: "demo/templates/deploy.yaml",
      valuesPath: "image.repository",
      fallback: { template: "demo/templates/deploy.yaml", reason: "demo/templates/deploy.yaml:1: set password" },
    },
    method: "values-scan",
  }]);
  assert(result.warnings.some((w) => w.message.includes("1 template could not be rendered")), "per-chart warning");
});

Deno.test("images: a template that cannot render at all gives only the enabled, tagged blocks it names", async () => {
  const bytes = await packChart("demo", {
    "Chart.yaml": CHART_YAML,
    "values.yaml": [
      "server:\n  image:\n    repository: acme/server\n    tag: '2.0'",
      "exporter:\n  enabled: false\n  image:\n    repository: acme/exporter\n    tag: '1'",
      "untagged:\n  image:\n    repository: acme/untagged",
      "other:\n  image:\n    repository: acme/other\n    tag: '3'",
      "",
    ].join("\n"),
    "templates/deploy.yaml": [
      `{{ $ip := getHostByName "db.example" }}`,
      `- image: {{ .Values.server.image.repository }}:{{ .Values.server.image.tag }}`,
      `- image: {{ .Values.exporter.image.repository }}`,
      `- image: {{ .Values.untagged.image.repository }}`,
    ].join("\n"),
  });
  const result = await chartImages(bytes);
  // Not the disabled exporter, not the untagged block (no appVersion is borrowed), not a block it never names.
  assertEquals(result.images.map((i) => [i.image, i.method, i.origin.valuesPath]), [
    ["acme/server:2.0", "values-scan", "server.image.repository"],
  ]);
  assert(result.images[0].origin.fallback!.reason.includes("getHostByName"));
});

Deno.test("images: a required value that is missing gives no image rather than an invented tag", async () => {
  const bytes = await packChart("demo", {
    "Chart.yaml": CHART_YAML,
    "values.yaml": "image:\n  repository: acme/app\n",
    "templates/deploy.yaml":
      `containers:\n- image: {{ .Values.image.repository }}:{{ required "image.tag is required" .Values.image.tag }}\n`,
  });
  const fallback = await chartImages(bytes);
  assertEquals(fallback.images, []);
  assert(
    fallback.warnings.some((w) =>
      w.template === "demo/templates/deploy.yaml" && w.message.endsWith("image.tag is required")
    ),
  );
  const rendered = await chartImages(bytes, { set: ["image.tag=3.1"] });
  assertEquals(rendered.warnings, []);
  assertEquals(rendered.images.map((i) => [i.image, i.method]), [["acme/app:3.1", "template"]]);
});

Deno.test("images: references outside image: fields count when the chart's values name their repository", async () => {
  const bytes = await packChart("demo", {
    "Chart.yaml": CHART_YAML,
    "values.yaml": "engine:\n  repository: acme/engine\n  tag: v1\nreloader:\n  repository: acme/reload\n  tag: v2\n",
    "templates/all.yaml": [
      "kind: Deployment",
      "spec:\n  template:\n    spec:\n      containers:",
      "      - name: manager\n        image: acme/manager:1",
      '        args: ["--engine-image", "acme/engine:v1", "--x=acme/unknown:9"]',
      "---",
      "kind: Logging\nspec:\n  fluentd:\n    reloaderImage:\n      repository: acme/reload\n      tag: v2",
      "",
    ].join("\n"),
  });
  const result = await chartImages(bytes);
  assertEquals(result.images.map((i) => [i.image, i.origin.field]), [
    ["acme/manager:1", undefined],
    ["acme/engine:v1", "args of container manager"],
    ["acme/reload:v2", "Logging.spec.fluentd.reloaderImage"],
  ]);
});

Deno.test("images: empty, comment-only, multi-document and List manifests; only image: keys count", async () => {
  const bytes = await packChart("demo", {
    "Chart.yaml": CHART_YAML,
    "values.yaml": "enabled: false\n",
    "templates/empty.yaml": "{{- if .Values.enabled }}\nkind: Never\n{{- end }}\n",
    "templates/comments.yaml": "# just a comment\n---\n# another\n",
    "templates/multi.yaml": [
      "---",
      "kind: Pod",
      "spec:",
      "  initContainers:",
      "  - image: acme/init:1",
      "  containers:",
      "  - image: acme/main:1",
      "    env:",
      "    - name: OTHER_IMAGE",
      "      value: acme/not-collected:1",
      '    args: ["--image=acme/not-collected:2"]',
      "  ephemeralContainers:",
      "  - image: acme/debug:1",
      "---",
      "apiVersion: v1",
      "kind: List",
      "items:",
      "- kind: Pod",
      "  spec:",
      "    containers:",
      "    - image: acme/in-list:1",
      "- kind: Deployment",
      "  spec:",
      "    template:",
      "      spec:",
      "        containers:",
      '        - image: "acme/main:1"',
      "",
    ].join("\n"),
    "templates/NOTES.txt": "Image: acme/notes:1\n",
  });
  const result = await chartImages(bytes);
  assertEquals(result.warnings, []);
  assertEquals(imageList(result), ["acme/debug:1", "acme/in-list:1", "acme/init:1", "acme/main:1"]);
  assertEquals(result.images.find((i) => i.image === "acme/main:1")!.origin.template, "demo/templates/multi.yaml");
});

Deno.test("images: helm.sh/images annotations, subcharts and invalid rendered references", async () => {
  const sub = await packChart("db", {
    "Chart.yaml": "apiVersion: v2\nname: db\nversion: 1.0.0\nappVersion: '15'\n",
    "values.yaml": "image:\n  repository: acme/db\n",
    "templates/sts.yaml": "containers:\n- image: {{ .Values.image.repository }}:{{ .Chart.AppVersion }}\n",
  });
  const bytes = await packChart("demo", {
    "Chart.yaml": [
      CHART_YAML.trimEnd(),
      "annotations:",
      "  helm.sh/images: |",
      "    - name: operator-managed",
      "      image: acme/managed:5",
      "dependencies:",
      "- name: db",
      "  version: 1.0.0",
      "  condition: db.enabled",
      "",
    ].join("\n"),
    "values.yaml": "db:\n  enabled: true\n  image:\n    repository: mirror/db\nbroken: 'Bad Ref:x'\n",
    "templates/bad.yaml": "containers:\n- image: {{ .Values.broken }}\n",
    "charts/db-1.0.0.tgz": sub,
  });
  const result = await chartImages(bytes);
  const byImage = new Map(result.images.map((i) => [i.image, i]));
  assertEquals(byImage.get("acme/managed:5")!.method, "annotation");
  assertEquals(byImage.get("mirror/db:15")!.origin, {
    chart: "db",
    template: "demo/charts/db/templates/sts.yaml",
    valuesPath: "db.image.repository",
  });
  assertEquals(result.images.length, 2);
  assert(
    result.warnings.some((w) =>
      w.template === "demo/templates/bad.yaml" && w.message.includes("not a valid reference")
    ),
  );
  const withoutDb = await chartImages(bytes, { set: ["db.enabled=false"] });
  assertEquals(imageList(withoutDb), ["acme/managed:5"]);
});

Deno.test("images: helm test pods count unless skipTests is set, as with helm template --skip-tests", async () => {
  const bytes = await packChart("demo", {
    "Chart.yaml": CHART_YAML,
    "templates/pod.yaml": "kind: Pod\nspec:\n  containers:\n  - image: acme/app:1\n",
    "templates/tests/test-connection.yaml": [
      "kind: Pod",
      "metadata:",
      "  annotations:",
      "    helm.sh/hook: test",
      "spec:",
      "  containers:",
      "  - image: busybox:1.36",
      "",
    ].join("\n"),
  });
  assertEquals(imageList(await chartImages(bytes)), ["acme/app:1", "busybox:1.36"]);
  assertEquals(imageList(await chartImages(bytes, { skipTests: true })), ["acme/app:1"]);
});

Deno.test("images: an unreadable archive is an error naming it", async () => {
  await assertRejects(
    () => chartImages(new TextEncoder().encode("nope"), { where: "charts/broken.tgz" }),
    /chart charts\/broken\.tgz: /,
  );
});
