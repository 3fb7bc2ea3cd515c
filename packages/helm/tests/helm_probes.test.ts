/**
 * The seven constructs where our rendering and Helm's differed on real charts (shared `charts/probes/`,
 * issue 20), each as a chart of one template: the image Helm renders is the one expected. Beside each, the
 * rule it stands for, tested more widely (the YAML forms sigs.k8s.io/yaml reads as strings, Go's `eq`, the
 * key kinds Sprig's certificate functions take).
 */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { loadChart } from "../src/chart.ts";
import { goYaml } from "../src/goyaml.ts";
import { imagesOfChart } from "../src/images.ts";
import { valuesEqual } from "../src/gotypes.ts";
import { packChart } from "../../../tests/helpers/helm.ts";
import { render } from "./helpers/render.ts";

const POD = (image: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: ${image}}]}\n`;

async function imagesOf(name: string, files: Record<string, string>): Promise<string[]> {
  const chart = await loadChart(
    await packChart(name, { "Chart.yaml": `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n`, ...files }),
  );
  const result = imagesOfChart(chart);
  assertEquals(result.warnings.filter((w) => w.template), [], `${name}: no template failed`);
  return result.images.map((i) => `${i.image} ${i.method}`);
}

Deno.test('probe p-dotvalue: a bare `.` in values is the string "." (CoreDNS `zone: .`), not NaN', async () => {
  const images = await imagesOf("p-dotvalue", {
    "values.yaml": "img: busybox:1.36\nzones:\n- zone: .\n",
    "templates/pod.yaml": `# {{ (index .Values.zones 0).zone | quote }}\n${POD("{{ .Values.img }}")}`,
  });
  assertEquals(images, ["busybox:1.36 template"]);
});

Deno.test("values: the YAML 1.1 forms as yaml.v2 resolves them (then JSON: every number a float64)", () => {
  const doc = goYaml([
    "dot: .",
    "dots: ..",
    "half: .5",
    "octal: 0o17",
    "cOctal: 017",
    "notOctal: 09",
    "hex: 0x1F",
    "bin: 0b101",
    "exp: 1e3",
    "under: 1_000",
    "sexagesimal: 1:20",
    "stamp: 2001-12-14",
    "yes: yes",
    "y: y",
    "on: on",
    "off: Off",
    "tilde: ~",
    "nul: null",
    "empty:",
    "inf: .inf",
    "huge: 1e400",
    "plus: +5",
    "ver: 1.10",
    "quoted: '5'",
    "lit: |\n  a\n  b",
  ].join("\n")) as Record<string, unknown>;
  assertEquals(doc.dot, ".");
  assertEquals(doc.dots, "..");
  assertEquals(doc.half, 0.5);
  assertEquals(doc.octal, 15);
  assertEquals(doc.cOctal, 15);
  assertEquals(doc.notOctal, 9);
  assertEquals(doc.hex, 31);
  assertEquals(doc.bin, 5);
  assertEquals(doc.exp, 1000);
  assertEquals(doc.under, 1000);
  assertEquals(doc.sexagesimal, "1:20");
  assertEquals(doc.stamp, "2001-12-14");
  // Keys resolve too: `yes:`, `y:` and `on:` are all the key "true" (the last wins), `off:` is "false".
  assertEquals([doc.true, doc.false, doc.y, doc.on], [true, false, undefined, undefined]);
  assertEquals([doc.tilde, doc.nul, doc.empty], [null, null, null]);
  assertEquals(doc.inf, Infinity);
  assertEquals(doc.huge, "1e400");
  assertEquals(doc.plus, 5);
  assertEquals(doc.ver, 1.1);
  assertEquals(doc.quoted, "5");
  assertEquals(doc.lit, "a\nb", "a literal block ending the input has no final line break (libyaml)");
});

Deno.test("values: merge keys apply in document order as yaml.v2 does; anchors are copied", () => {
  const doc = goYaml([
    "base: &b {a: 1, b: 2}",
    "other: &o {b: 3, c: 4}",
    "after: {<<: *b, a: 9}",
    "before: {a: 9, <<: *b}",
    "list: {<<: [*b, *o]}",
  ].join("\n")) as Record<string, Record<string, unknown>>;
  assertEquals(doc.after, { a: 9, b: 2 });
  assertEquals(doc.before, { a: 1, b: 2 }, "a merge overwrites keys written before it");
  assertEquals(doc.list, { a: 1, b: 2, c: 4 }, "earlier maps of a merge list win");
});

Deno.test("probe p-mergeroot: a merge of the root keeps .Files' methods", async () => {
  const images = await imagesOf("p-mergeroot", {
    "values.yaml": "img: busybox:1.36\n",
    "files/c.yaml": "image: {{ .Values.img }}\n",
    "templates/pod.yaml": [
      '{{- $c := merge (dict "x" 1) $ }}',
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}",
      'spec: {containers: [{name: c, {{ tpl ($c.Files.Get "files/c.yaml") $c }} }]}',
    ].join("\n"),
  });
  assertEquals(images, ["busybox:1.36 template"]);
  const data = { Files: { x: 1 }, Capabilities: {} };
  assertEquals(render("{{ (deepCopy $).Files.x }}", data), "1");
});

Deno.test('probe p-setroot: `set $ "Values"` in a template that runs first is seen by later ones', async () => {
  const images = await imagesOf("p-setroot", {
    "values.yaml": "defaults: {img: busybox:1.36}\n",
    "templates/pod.yaml": POD("{{ .Values.img }}"),
    "templates/zz_profile.yaml": '{{- $_ := set $ "Values" (mustMergeOverwrite (deepCopy .Values.defaults) .Values) }}',
  });
  assertEquals(images, ["busybox:1.36 template"]);
});

Deno.test('probe p-setrootkey: `set $ "extra"` is one root per chart, shared by its templates', async () => {
  const images = await imagesOf("p-setrootkey", {
    "templates/pod.yaml": POD('{{ $.extra | default "none:0" }}'),
    "templates/zz_profile.yaml": '{{- $_ := set $ "extra" "alpine:3.20" }}',
  });
  assertEquals(images, ["alpine:3.20 template"]);
});

Deno.test("probe p-timecmp: eq/ne compare times (structs) by value", async () => {
  const images = await imagesOf("p-timecmp", {
    "values.yaml": "img: busybox:1.36\n",
    "templates/pod.yaml": `{{- $now := now }}\n{{- if ne $now ($now | dateModify "1h") }}\n${
      POD("{{ .Values.img }}")
    }{{- end }}`,
  });
  assertEquals(images, ["busybox:1.36 template"]);
  assertEquals(render('{{ $n := now }}{{ eq $n $n }} {{ eq $n ($n | dateModify "0s") }}'), "true true");
});

Deno.test("eq/ne: Go's rules — basic kinds by value, nil with anything, maps and slices an error", () => {
  assertEquals(valuesEqual("a", "a"), true);
  assertEquals(valuesEqual(null, "a"), false);
  assertEquals(valuesEqual(undefined, null), true);
  assertEquals(valuesEqual(null, { a: 1 }), false);
  assertThrows(() => valuesEqual(1n, 1), /incompatible types/);
  assertThrows(() => valuesEqual("a", { a: 1 }), /incompatible types/);
  assertThrows(() => valuesEqual({ a: 1 }, { a: 1 }), /non-comparable type/);
  assertThrows(() => valuesEqual([1], [1]), /non-comparable type/);
  assertThrows(() => valuesEqual([1], { a: 1 }), /non-comparable types/);
  assertEquals(render('{{ eq "a" "b" "a" }} {{ ne .x "a" }}', { x: null }), "true true");
});

Deno.test("probe p-ecdsa: genCAWithKey and friends take ECDSA and Ed25519 keys as well as RSA", async () => {
  const images = await imagesOf("p-ecdsa", {
    "values.yaml": "img: busybox:1.36\n",
    "templates/pod.yaml": [
      '{{- $ca := genCAWithKey "ca" 365 (genPrivateKey "ecdsa") }}',
      "apiVersion: v1\nkind: Pod",
      "metadata: {name: p, annotations: {ca: {{ $ca.Cert | b64enc | trunc 8 | quote }}}}",
      "spec: {containers: [{name: c, image: {{ .Values.img }}}]}",
    ].join("\n"),
  });
  assertEquals(images, ["busybox:1.36 template"]);
  for (const kind of ["ecdsa", "ed25519"]) { // RSA: helm_engine_items (a 4096-bit key takes seconds)
    const out = render([
      `{{- $ca := genCAWithKey "ca-${kind}" 30 (genPrivateKey "${kind}") }}`,
      `{{- $leaf := genSignedCertWithKey "leaf" (list "10.0.0.1") (list "a.example") 3 $ca (genPrivateKey "ed25519") }}`,
      `{{- $self := genSelfSignedCertWithKey "self" nil nil 3 (genPrivateKey "${kind}") }}`,
      "{{ $ca.Cert | b64enc }} {{ $leaf.Cert | b64enc }} {{ $self.Cert | b64enc }} {{ $ca.Key | b64enc }}",
    ].join("\n"));
    const [ca, leaf, self, key] = out.split(" ").map((b64) => atob(b64));
    const caCert = new X509Certificate(ca), leafCert = new X509Certificate(leaf), selfCert = new X509Certificate(self);
    assert(caCert.ca && caCert.verify(caCert.publicKey), `${kind}: CA self-signed`);
    assert(leafCert.checkIssued(caCert) && leafCert.verify(caCert.publicKey), `${kind}: leaf signed by the CA`);
    assert(selfCert.verify(selfCert.publicKey), `${kind}: self-signed`);
    assertEquals(leafCert.subjectAltName, "DNS:a.example, IP Address:10.0.0.1");
    const header = { ecdsa: "EC PRIVATE KEY", ed25519: "PRIVATE KEY", rsa: "RSA PRIVATE KEY" }[kind];
    assert(key.startsWith(`-----BEGIN ${header}-----`), `${kind}: key in Go's PEM form`);
  }
  assertThrows(() => render('{{ (genCAWithKey "x" 1 "not a key").Cert }}'), /error parsing private key/);
});

Deno.test("probe p-depversion: a vendored subchart outside its dependency's version range renders as itself", async () => {
  const images = await imagesOf("p-depversion", {
    "Chart.yaml": [
      "apiVersion: v2\nname: p-depversion\nversion: 0.1.0\ndependencies:",
      "- {name: sub, alias: sub_alias, version: 0.2.0, condition: sub_alias.enabled}",
    ].join("\n"),
    "values.yaml": "sub_alias: {enabled: false}\n",
    "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    "charts/sub/templates/pod.yaml": POD("busybox:1.36"),
  });
  assertEquals(images, ["busybox:1.36 template"]);
  // In range, the alias's condition decides; disabling by the vendored chart's own name removes it too.
  const inRange = await imagesOf("p-inrange", {
    "Chart.yaml": [
      "apiVersion: v2\nname: p-inrange\nversion: 0.1.0\ndependencies:",
      "- {name: sub, alias: sub_alias, version: 0.1.x, condition: sub_alias.enabled}",
    ].join("\n"),
    "values.yaml": "sub_alias: {enabled: false}\n",
    "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    "charts/sub/templates/pod.yaml": POD("busybox:1.36"),
  });
  assertEquals(inRange, []);
});
