/**
 * Images outside `image:` fields without inventions (free text is no deployment), the values fallback's
 * registry conventions and marks, and images injected at run time (issue 20, items 3–5). How the list marks a fallback
 * image is the application's: tests/unit/chart_images_app.test.ts.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { loadChart } from "../src/chart.ts";
import { imagesOfChart } from "../src/images.ts";
import { packChart } from "../../../tests/helpers/helm.ts";

async function chartOf(files: Record<string, string>) {
  return await loadChart(await packChart("c", { "Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n", ...files }));
}

Deno.test("outside image: fields: args and CR fields stay, with where; CRD text, descriptions and annotations do not", async () => {
  const chart = await chartOf({
    "values.yaml": "engine: {repository: acme/engine, tag: v1}\npolicy: {module: ghcr.io/acme/policy}\n",
    "templates/pod.yaml": [
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p",
      "  annotations: {note: 'upgrade from acme/engine:v0 first'}",
      "spec:\n  containers:\n  - name: manager\n    image: acme/manager:v1",
      "    args: [--engine-image=acme/engine:v1]",
    ].join("\n"),
    "templates/crd.yaml": [
      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.acme.io}",
      "spec:\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:",
      "        description: 'Image to run, e.g. acme/engine:latest'",
    ].join("\n"),
    "templates/cr.yaml": [
      "apiVersion: acme.io/v1\nkind: Engine\nmetadata: {name: e}",
      "spec:\n  description: 'defaults to acme/engine:v9'\n  engine: {repository: acme/engine, tag: v2}",
      "---\napiVersion: policies.kubewarden.io/v1\nkind: ClusterAdmissionPolicy\nmetadata: {name: p}",
      "spec: {module: 'registry://ghcr.io/acme/policy:v1.0.0'}",
    ].join("\n"),
  });
  const found = imagesOfChart(chart).images.map((i) => [i.image, i.origin.field ?? ""]);
  assertEquals(found.sort(), [
    ["acme/engine:v1", "args of container manager"],
    ["acme/engine:v2", "Engine.spec.engine"],
    ["acme/manager:v1", ""],
    ["ghcr.io/acme/policy:v1.0.0", "ClusterAdmissionPolicy.spec.module"],
  ]);
});

Deno.test("fallback: the chart's registry convention applies, nothing incomplete is emitted, each image is marked", async () => {
  for (
    const [global, expected] of [
      ["global: {imageRegistry: reg.example}", "reg.example/acme/app:v1"],
      ["global: {image: {registry: reg.example}}", "reg.example/acme/app:v1"],
      ["global: {systemDefaultRegistry: reg.example}", "reg.example/acme/app:v1"],
      ["global: {cattle: {systemDefaultRegistry: reg.example}}", "reg.example/acme/app:v1"],
      ["global: {}", "acme/app:v1"],
    ]
  ) {
    const chart = await chartOf({
      "values.yaml":
        `${global}\napp: {image: {repository: acme/app, tag: v1}}\nsidecar: {image: {repository: acme/side}}\n`,
      "templates/a.yaml":
        '{{ include "nope" . }}{{ .Values.app.image.repository }}{{ .Values.sidecar.image.repository }}',
    });
    const result = imagesOfChart(chart);
    assertEquals(result.images.map((i) => [i.image, i.method]), [[expected, "values-scan"]], global);
    assertEquals(result.images[0].origin.fallback?.template, "c/templates/a.yaml");
  }
});

Deno.test("injected: istiod's sidecar (global.proxy.image under global.hub, global.tag), with an opt-out", async () => {
  const chart = await chartOf({
    "values.yaml": [
      "global: {hub: docker.io/istio, tag: 1.22.0, proxy: {image: proxyv2}}",
      "pilot: {image: pilot}",
      "sidecarInjectorWebhook: {enabled: true}",
    ].join("\n"),
    "templates/d.yaml": [
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod}",
      "spec: {template: {spec: {containers: [{name: discovery, image: '{{ .Values.global.hub }}/{{ .Values.pilot.image }}:{{ .Values.global.tag }}'}]}}}",
    ].join("\n"),
  });
  const found = imagesOfChart(chart).images.map((i) => [i.image, i.method, i.origin.valuesPath ?? ""]);
  assertEquals(found.map(([image, method]) => [image, method]), [
    ["docker.io/istio/pilot:1.22.0", "template"],
    ["docker.io/istio/proxyv2:1.22.0", "injected"],
  ]);
  assertEquals(found[1][2], "global.proxy.image");
  assertEquals(imagesOfChart(chart, { injected: false }).images.map((i) => i.image), ["docker.io/istio/pilot:1.22.0"]);
});
