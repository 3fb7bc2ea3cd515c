import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import { loadChart } from "../src/chart.ts";
import { renderChart } from "../src/render.ts";
import { packChart } from "../../../tests/helpers/helm.ts";

const encoder = new TextEncoder();

async function parentChart(): Promise<Uint8Array> {
  const sub = await packChart("sub", {
    "Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.2.0\nappVersion: '2.0'\n",
    "values.yaml": "image:\n  repository: example/sub\nglobal:\n  registry: sub-default\n  subOnly: s\n",
    "templates/_helpers.tpl":
      `{{- define "sub.image" -}}{{ .Values.global.registry }}/{{ .Values.image.repository }}:{{ .Chart.AppVersion }}{{- end -}}`,
    "templates/pod.yaml":
      'image: {{ include "sub.image" . }}\nname: {{ .Chart.Name }}\nsubOnly: {{ .Values.global.subOnly }}\n',
  });
  return packChart("parent", {
    "Chart.yaml": [
      "apiVersion: v2",
      "name: parent",
      "version: 1.0.0",
      "appVersion: v1",
      "dependencies:",
      "- name: sub",
      "  version: 0.2.0",
      "  condition: sub.enabled",
      "- name: sub",
      "  alias: second",
      "  version: 0.2.0",
      "  condition: second.enabled,nothing.here",
      "- name: local",
      "  version: 0.1.0",
      "  tags: [extras]",
      "",
    ].join("\n"),
    "values.yaml": "global:\n  registry: parent.example\nsub:\n  enabled: true\nsecond:\n  enabled: false\n",
    "templates/NOTES.txt": '{{ fail "notes are not manifests" }}',
    "templates/_ignored.tpl": '{{ fail "partials are not manifests" }}',
    "templates/cm.yaml": 'sub: {{ include "sub.image" (dict "Values" .Values.sub "Chart" (dict "AppVersion" "x")) }}\n',
    "files/config.txt": "hello",
    "charts/sub-0.2.0.tgz": sub,
    "charts/local/Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.1.0\n",
    "charts/local/templates/x.yaml": 'kind: X\nfile: {{ .Files.Get "data.txt" }}\n',
    "charts/local/data.txt": "from-local",
  });
}

Deno.test("chart: a .tgz loads with the top directory stripped, files, and both kinds of subchart", async () => {
  const chart = await loadChart(await parentChart(), "parent.tgz");
  assertEquals(chart.name, "parent");
  assertEquals(chart.version, "1.0.0");
  assertEquals(chart.appVersion, "v1");
  assertEquals([...chart.templates.keys()].sort(), [
    "templates/NOTES.txt",
    "templates/_ignored.tpl",
    "templates/cm.yaml",
  ]);
  assertEquals([...chart.files.keys()], ["files/config.txt"]);
  assertEquals(chart.subcharts.map((c) => c.name), ["sub", "local"]);
  assertEquals(new TextDecoder().decode(chart.subcharts[1].files.get("data.txt")), "from-local");
  assertEquals(chart.dependencies.map((d) => d.alias ?? d.name), ["sub", "second", "local"]);
});

Deno.test("chart: broken archives are errors that name the chart", async () => {
  await assertRejects(() => loadChart(encoder.encode("not a chart"), "junk.tgz"), /chart junk\.tgz/);
  const noChartYaml = await packChart("x", { "values.yaml": "a: 1\n" });
  await assertRejects(() => loadChart(noChartYaml, "x.tgz"), /chart x\.tgz: Chart\.yaml is missing/);
});

Deno.test("render: subcharts see their own values section, parent globals, and their own .Chart", async () => {
  const chart = await loadChart(await parentChart());
  const result = renderChart(chart, {});
  const byName = new Map(result.templates.map((t) => [t.template, t]));
  // NOTES.txt and partials are never rendered as manifests.
  assertEquals([...byName.keys()].sort(), [
    "parent/charts/local/templates/x.yaml",
    "parent/charts/sub/templates/pod.yaml",
    "parent/templates/cm.yaml",
  ]);
  assertEquals(
    byName.get("parent/charts/sub/templates/pod.yaml")!.output,
    "image: parent.example/example/sub:2.0\nname: sub\nsubOnly: s\n",
  );
  // A subchart's define is visible to the parent, and the parent's section for it holds the merged values.
  assertEquals(byName.get("parent/templates/cm.yaml")!.output, "sub: parent.example/example/sub:x\n");
  assertEquals(byName.get("parent/charts/local/templates/x.yaml")!.output, "kind: X\nfile: from-local\n");
  const sub = result.charts.find((c) => c.name === "sub")!;
  assertEquals(sub.valuesPath, ["sub"]);
  assertEquals(sub.values.image, { repository: "example/sub" });
});

Deno.test("render: conditions, aliases and tags decide which subcharts render", async () => {
  const chart = await loadChart(await parentChart());
  const names = (values: Record<string, unknown>) => renderChart(chart, values).charts.map((c) => `${c.path}`).sort();
  assertEquals(names({}), ["parent", "parent/charts/local", "parent/charts/sub"]);
  assertEquals(names({ sub: { enabled: false }, second: { enabled: true }, tags: { extras: false } }), [
    "parent",
    "parent/charts/second",
  ]);
  const second = renderChart(chart, { second: { enabled: true } }).templates.find((t) =>
    t.template === "parent/charts/second/templates/pod.yaml"
  )!;
  assertEquals(second.output, "image: parent.example/example/sub:2.0\nname: second\nsubOnly: s\n");
});

Deno.test("render: a failing template is recorded with its error; the others still render", async () => {
  const bytes = await packChart("c", {
    "Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    "templates/a.yaml": "a: {{ .Values.x.y }}\n",
    "templates/b.yaml": "b: ok\n",
    "templates/c.yaml": "{{ if }}\n",
  });
  const result = renderChart(await loadChart(bytes), {});
  // Helm's order: same depth, names in reverse.
  assertEquals(result.templates.map((t) => t.template), [
    "c/templates/c.yaml",
    "c/templates/b.yaml",
    "c/templates/a.yaml",
  ]);
  const [c, b, a] = result.templates;
  assertEquals(a.error?.kind, "exec");
  assert(a.error?.message.includes("c/templates/a.yaml:1"), a.error?.message);
  assertEquals(b.output, "b: ok\n");
  assertEquals(c.error?.kind, "syntax");
});

Deno.test("render: release, capabilities and Go struct names on .Chart", async () => {
  const bytes = await packChart("c", {
    "Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.2.3\nappVersion: '4.5'\nkubeVersion: '>=1.20.0-0'\n",
    "templates/a.yaml": [
      "r: {{ .Release.Name }}/{{ .Release.Namespace }}/{{ .Release.Service }}/{{ .Release.Revision }}",
      "c: {{ .Chart.Name }}-{{ .Chart.Version }}-{{ .Chart.AppVersion }}-{{ .Chart.APIVersion }}",
      "k: {{ .Capabilities.KubeVersion.Version }} {{ .Capabilities.KubeVersion.Minor }} {{ .Capabilities.KubeVersion }}",
      `api: {{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "custom.io/v1" }}`,
      `ok: {{ semverCompare ">=1.21-0" .Capabilities.KubeVersion.GitVersion }}`,
      "t: {{ .Template.Name }}",
      "",
    ].join("\n"),
  });
  const chart = await loadChart(bytes);
  const opts = { releaseName: "rel", namespace: "ns", kubeVersion: "v1.26.3", apiVersions: ["custom.io/v1"] };
  assertEquals(
    renderChart(chart, {}, opts).templates[0].output,
    [
      "r: rel/ns/Helm/1",
      "c: c-1.2.3-4.5-v2",
      "k: v1.26.3 26 v1.26.3",
      "api: true true",
      "ok: true",
      "t: c/templates/a.yaml",
      "",
    ].join("\n"),
  );
  assert(renderChart(chart, {}).templates[0].output!.includes("r: release-name/default/Helm/1"));
});

Deno.test("render: a library subchart lends its defines but renders no manifests", async () => {
  const common = await packChart("common", {
    "Chart.yaml": "apiVersion: v2\nname: common\nversion: 1.0.0\ntype: library\n",
    "templates/_images.tpl": `{{- define "common.image" -}}{{ .registry }}/{{ .repository }}:{{ .tag }}{{- end -}}`,
    "templates/stray.yaml": "kind: ShouldNotRender\n",
  });
  const bytes = await packChart("app", {
    "Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: common\n  version: 1.x\n",
    "values.yaml": "image: {registry: docker.io, repository: acme/app, tag: '1'}\n",
    "templates/pod.yaml": `image: {{ include "common.image" .Values.image }}\n`,
    "charts/common-1.0.0.tgz": common,
  });
  const result = renderChart(await loadChart(bytes), {});
  assertEquals(result.templates.map((t) => [t.template, t.output]), [[
    "app/templates/pod.yaml",
    "image: docker.io/acme/app:1\n",
  ]]);
});

Deno.test("render: templates run in Helm's order (deepest first, names reversed) sharing .Values", async () => {
  const bytes = await packChart("c", {
    "Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    "values.yaml": "seen: none\n",
    // b runs before a (reverse order), and a subchart's templates (deeper) before both.
    "templates/a.yaml": "a: {{ .Values.seen }}\n",
    "templates/b.yaml": `{{ $_ := set .Values "seen" "b" }}b: set\n`,
    "templates/z/deep.yaml": `{{ $_ := set .Values "seen" "deep" }}deep: {{ .Values.seen }}\n`,
  });
  const result = renderChart(await loadChart(bytes), {});
  assertEquals(result.templates.map((t) => [t.template, t.output]), [
    ["c/templates/z/deep.yaml", "deep: deep\n"],
    ["c/templates/b.yaml", "b: set\n"],
    ["c/templates/a.yaml", "a: b\n"],
  ]);
});

Deno.test("render: .Files.Glob of no files is empty and false; default API versions are Helm's", async () => {
  const bytes = await packChart("c", {
    "Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    "files/a.conf": "x",
    "templates/a.yaml": [
      `none: {{ if .Files.Glob "nothing/*" }}true{{ else }}false{{ end }} {{ len (.Files.Glob "nothing/*") }}`,
      `some: {{ if .Files.Glob "files/*" }}true{{ else }}false{{ end }}`,
      `psp: {{ .Capabilities.APIVersions.Has "policy/v1beta1" }} {{ .Capabilities.APIVersions.Has "acme.io/v1" }}`,
      "",
    ].join("\n"),
  });
  const chart = await loadChart(bytes);
  assertEquals(renderChart(chart, {}).templates[0].output, "none: false 0\nsome: true\npsp: true false\n");
  const extra = renderChart(chart, {}, { apiVersions: ["acme.io/v1"] }).templates[0].output!;
  assert(extra.endsWith("psp: true true\n"), extra);
});
