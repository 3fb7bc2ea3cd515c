import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { TemplateError } from "../src/errors.ts";
import { createEngine, parseTemplates } from "../src/template.ts";
import { render } from "./helpers/render.ts";

function templateError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TemplateError) return e;
    throw e;
  }
  throw new Error("expected a TemplateError");
}

Deno.test("template: text passes through and actions print values", () => {
  assertEquals(render("name: {{ .name }}, n: {{ .n }}", { name: "x", n: 3 }), "name: x, n: 3");
  assertEquals(render("{{ .a.b.c }}", { a: { b: { c: "deep" } } }), "deep");
  assertEquals(render(`{{ "lit" }} {{ 42 }} {{ true }} {{ 1.5 }}`), "lit 42 true 1.5");
});

Deno.test("template: {{- -}} trims surrounding whitespace and newlines", () => {
  assertEquals(render("a  \n\t {{- `b` -}} \n  c"), "abc");
  assertEquals(render("a {{- `b` }} c"), "ab c");
  assertEquals(render("x:\n{{- if true }}\n  y: 1\n{{- end }}\nz: 2"), "x:\n  y: 1\nz: 2");
  // "-" needs a space to be a trim marker; without one it is a negative number.
  assertEquals(render("a {{-3}} b"), "a -3 b");
});

Deno.test("template: comments vanish, with or without trim markers", () => {
  assertEquals(render("a {{/* note */}} b"), "a  b");
  assertEquals(render("a {{- /* multi\nline */ -}} b"), "ab");
});

Deno.test("template: if / else if / else", () => {
  const t = `{{ if eq .x "a" }}A{{ else if eq .x "b" }}B{{ else }}other{{ end }}`;
  assertEquals(render(t, { x: "a" }), "A");
  assertEquals(render(t, { x: "b" }), "B");
  assertEquals(render(t, { x: "c" }), "other");
  // Go truth: empty string, 0, empty list/map and nil are false.
  for (const falsy of ["", 0, [], {}, null, false]) {
    assertEquals(render("{{ if .v }}T{{ else }}F{{ end }}", { v: falsy }), "F");
  }
  assertEquals(render("{{ if .missing }}T{{ else }}F{{ end }}", {}), "F");
});

Deno.test("template: with rebinds dot and has an else", () => {
  const t = "{{ with .image }}{{ .repository }}:{{ .tag }}{{ else }}none{{ end }}";
  assertEquals(render(t, { image: { repository: "r", tag: "t" } }), "r:t");
  assertEquals(render(t, { image: {} }), "none");
  assertEquals(render("{{ with .a }}{{ $.top }}{{ end }}", { a: 1, top: "T" }), "T");
  assertEquals(render("{{ with .a }}A{{ else with .b }}{{ . }}{{ end }}", { b: "B" }), "B");
});

Deno.test("template: range over lists, maps (sorted keys) and ints, with else, break and continue", () => {
  assertEquals(render("{{ range .l }}[{{ . }}]{{ end }}", { l: ["a", "b"] }), "[a][b]");
  assertEquals(render("{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}", { l: ["a", "b"] }), "0=a;1=b;");
  assertEquals(render("{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}", { m: { z: 1, a: 2 } }), "a=2;z=1;");
  assertEquals(render("{{ range .l }}x{{ else }}empty{{ end }}", { l: [] }), "empty");
  assertEquals(render("{{ range .missing }}x{{ else }}empty{{ end }}", {}), "empty");
  assertEquals(render("{{ range 3 }}{{ . }}{{ end }}"), "012");
  assertEquals(
    render("{{ range .l }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}", {
      l: [1n, 2n, 3n, 4n, 5n],
    }),
    "13",
  );
});

Deno.test("template: define, template, include and block", () => {
  const helpers = {
    "_helpers.tpl": `{{- define "chart.name" -}}{{ .Values.name | default "dflt" }}{{- end -}}
{{- define "chart.labels" -}}
app: {{ include "chart.name" . }}
tier: web
{{- end -}}`,
  };
  assertEquals(render(`{{ template "chart.name" . }}`, { Values: { name: "n" } }, helpers), "n");
  assertEquals(
    render(`labels:{{ include "chart.labels" . | nindent 2 }}`, { Values: {} }, helpers),
    "labels:\n  app: dflt\n  tier: web",
  );
  assertEquals(
    render(`{{ include "chart.labels" . | indent 4 }}`, { Values: {} }, helpers),
    "    app: dflt\n    tier: web",
  );
  // A template called without data sees no value: fields are empty, not errors.
  assertEquals(render(`{{- define "x" }}[{{ .Values.name }}]{{ end }}{{ template "x" }}`), "[<no value>]");
  assertEquals(render(`{{ block "b" . }}default {{ .v }}{{ end }}`, { v: 1 }), "default 1");
});

Deno.test("template: variables declare, assign across scopes, and end with their block", () => {
  assertEquals(render(`{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ end }}{{ $x }}`), "b");
  assertEquals(render(`{{ $x := 1 }}{{ with .v }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}`, { v: 1 }), "21");
  assertEquals(render(`{{ $ }}`, "root"), "root");
  const e = templateError(() => render(`{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}`));
  assert(e.message.includes("undefined variable: $y"), e.message);
});

Deno.test("template: pipelines pass the value as the last argument; parentheses group calls", () => {
  assertEquals(render(`{{ "abc" | upper | printf "%s-%s" "x" }}`), "x-ABC");
  assertEquals(render(`{{ printf "%s:%s" (lower "A") (upper "b") }}`), "a:B");
  assertEquals(render(`{{ (dict "a" (dict "b" "deep")).a.b }}`), "deep");
  assertEquals(render(`{{ (index .m "k-1").x }}`, { m: { "k-1": { x: "y" } } }), "y");
});

Deno.test("template: and/or return an operand and stop early", () => {
  assertEquals(render(`{{ and 1 "x" }} {{ or "" 0 "z" }}`), "x z");
  assertEquals(render(`{{ if and false (fail "never") }}t{{ else }}f{{ end }}`), "f");
  assertEquals(render(`{{ or .a (fail "never") }}`, { a: "set" }), "set");
});

Deno.test("template: comparisons", () => {
  assertEquals(
    render(`{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ ge 2 2 }} {{ gt "b" "a" }}`),
    "true true true true true true",
  );
  // YAML numbers are floats, int gives ints; Go's eq/gt refuse to mix them (Helm fails such a template).
  assertEquals(render(`{{ eq (int .n) 3 }} {{ gt .n 2.0 }} {{ eq .n 3.0 }}`, { n: 3 }), "true true true");
  for (const mixed of [`{{ gt .n 2 }}`, `{{ eq .n 3 }}`, `{{ lt 1 1.5 }}`]) {
    assert(templateError(() => render(mixed, { n: 3 })).message.includes("incompatible types for comparison"), mixed);
  }
  assertEquals(render(`{{ eq .missing "x" }}`, {}), "false");
});

Deno.test("template: default, empty, coalesce, ternary, quote, printf, string helpers", () => {
  assertEquals(render(`{{ .tag | default "v1" }} {{ default "v1" .set }}`, { tag: "", set: "v2" }), "v1 v2");
  assertEquals(render(`{{ empty .a }} {{ empty .b }} {{ coalesce .a .b "c" }}`, { a: "", b: "B" }), "true false B");
  assertEquals(render(`{{ ternary "y" "n" true }} {{ true | ternary "y" "n" }}`), "y y");
  assertEquals(
    render(`{{ quote "a\\"b" 3 }} {{ squote "x" }} {{ .v | quote }}`, { v: "line\n" }),
    `"a\\"b" "3" 'x' "line\\n"`,
  );
  assertEquals(
    render(`{{ printf "%s|%d|%v|%q|%05d|%-4s|%.2f|%%" "s" 7 true "q" 42 "ab" 3.14159 }}`),
    `s|7|true|"q"|00042|ab  |3.14|%`,
  );
  // What Go prints when the verb does not fit: Helm users see exactly this.
  assertEquals(render(`{{ printf "%d" .n }} {{ printf "%s" }}`, { n: 3 }), "%!d(float64=3) %!s(MISSING)");
  assertEquals(
    render(
      `{{ "name-" | trimSuffix "-" }} {{ trimPrefix "v" "v1.2" }} {{ hasSuffix "/" "reg/" }} {{ hasPrefix "x" "y" }}`,
    ),
    "name 1.2 true false",
  );
  assertEquals(
    render(
      `{{ contains "ell" "hello" }} {{ replace "+" "_" "1+2+3" }} {{ lower "AB" }} {{ upper "ab" }} {{ trim "  x  " }}`,
    ),
    "true 1_2_3 ab AB x",
  );
  assertEquals(
    render(`{{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ toString 5 }} {{ print "a" 1 2 "b" }}`),
    "abc ef 5 a1 2b",
  );
  assertEquals(
    render(`{{ splitList "," "a,b" | join "-" }} {{ (split "." "1.22")._1 }} {{ len "héllo" }} {{ len (list 1 2) }}`),
    "a-b 22 6 2",
  );
});

Deno.test("template: numbers print like Go: floats from YAML, ints from int/len/add", () => {
  assertEquals(
    render(`{{ .f }} {{ .big }} {{ int .big }} {{ add 1 2 }} {{ .small }}`, { f: 2.5, big: 1000000, small: 0.00001 }),
    "2.5 1e+06 1000000 3 1e-05",
  );
});

Deno.test("template: lists, dicts, index, hasKey, get, toYaml, b64enc, sha256sum", () => {
  assertEquals(
    render(`{{ index .l 1 }} {{ index .m "a" "b" }} {{ get .m "zz" }}`, { l: ["x", "y"], m: { a: { b: "c" } } }),
    "y c ",
  );
  assertEquals(
    render(`{{ hasKey .m "a" }} {{ hasKey .m "b" }} {{ keys .m | sortAlpha | join "," }}`, { m: { a: 1, c: 2 } }),
    "true false a,c",
  );
  assertEquals(render(`{{ $d := dict "k" "v" }}{{ $_ := set $d "num" 1 }}{{ toYaml $d }}`), "k: v\nnum: 1");
  assertEquals(render(`{{ toYaml .l }}`, { l: [{ a: 1 }, "b"] }), "- a: 1\n- b");
  assertEquals(render(`{{ list 1 2 | toJson }} {{ "hi" | b64enc }} {{ "aGk=" | b64dec }}`), `[1,2] aGk= hi`);
  assertEquals(render(`{{ sha256sum "abc" }}`), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assertEquals(render(`{{ len (lookup "v1" "Secret" "ns" "name") }}`), "0");
});

Deno.test("template: semverCompare with Kubernetes-style constraints", () => {
  const t = (constraint: string, version: string) => render(`{{ semverCompare .c .v }}`, { c: constraint, v: version });
  assertEquals(t(">=1.19-0", "v1.29.0"), "true");
  assertEquals(t(">=1.19-0", "v1.18.3"), "false");
  assertEquals(t(">=1.21-0", "v1.27.4-gke.900"), "true");
  // Without "-0", a prerelease (as most managed clusters report) does not match.
  assertEquals(t(">=1.21", "v1.27.4-gke.900"), "false");
  assertEquals(t("<1.25.0-0", "v1.24.9"), "true");
  assertEquals(t(">= 1.20, < 1.30", "1.29.0"), "true");
  assertEquals(t("^1.2.3", "1.9.0"), "true");
  assertEquals(t("~1.2", "1.3.0"), "false");
  assertEquals(t("1.2.x || >=3", "3.1.0"), "true");
});

Deno.test("template: methods on built-in objects and tpl", () => {
  const caps = { APIVersions: Object.defineProperty(["apps/v1"], "Has", { value: (v: string) => v === "apps/v1" }) };
  assertEquals(
    render(`{{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "x/v1" }}`, {
      Capabilities: caps,
    }),
    "true false",
  );
  assertEquals(render(`{{ tpl .t . }}`, { t: "{{ .name }}-x", name: "n" }), "n-x");
  assertEquals(render(`{{ tpl "{{ define \\"in\\" }}I{{ end }}{{ include \\"in\\" . }}" . }}`, {}), "I");
});

Deno.test("template: field of nil is Go's nil-pointer error; a nil pipeline result is just empty", () => {
  const e = templateError(() => render("line1\n{{ .Values.missing.field }}", { Values: {} }));
  assertEquals(e.kind, "exec");
  assertEquals(e.template, "test.yaml");
  assertEquals(e.line, 2);
  assert(e.message.includes("nil pointer evaluating interface {}.field"), e.message);
  // cert-manager relies on this: `$config := default .Values.webhook.config ""` then `$config.securePort`.
  assertEquals(render(`{{ $c := default .Values.c "" }}[{{ $c.port }}]`, { Values: { c: null } }), "[<no value>]");
});

Deno.test("template: unknown functions raise an unsupported error naming the function and line", () => {
  const e = templateError(() => render(`ok\n{{ noSuchFunction "x" 365 }}`));
  assertEquals(e.kind, "unsupported");
  assertEquals(e.line, 2);
  assert(e.message.includes(`function "noSuchFunction" not defined`), e.message);
  // Only when executed: an unknown function in a branch not taken is fine, so helpers files still work.
  assertEquals(render(`{{ if false }}{{ noSuchFunction "x" 365 }}{{ end }}ok`), "ok");
});

Deno.test("template: fail and required stop rendering with the chart's message", () => {
  const e = templateError(() => render(`{{ required "image.tag is required" .tag }}`, {}));
  assertEquals(e.kind, "fail");
  assert(e.message.endsWith("image.tag is required"), e.message);
  assertEquals(render(`{{ required "x" .tag }}`, { tag: "v1" }), "v1");
  assertEquals(templateError(() => render(`{{ fail "no way" }}`)).kind, "fail");
});

Deno.test("template: syntax errors are reported per file with the line", () => {
  for (
    const text of ["{{ if .a }}never closed", "{{ end }}", "{{ .a ", `{{ "unterminated }}`, "{{ $x := }}", "{{ else }}"]
  ) {
    const { errors } = parseTemplates([{ name: "bad.yaml", text }]);
    assertEquals(errors.length, 1, text);
    assertEquals(errors[0].kind, "syntax", text);
    assertEquals(errors[0].template, "bad.yaml", text);
  }
  const { templates, errors } = parseTemplates([{ name: "bad.yaml", text: "{{ .a " }, {
    name: "good.yaml",
    text: "ok",
  }]);
  assertEquals(errors.length, 1);
  assertEquals(createEngine(templates).render("good.yaml", {}), "ok");
});

Deno.test("template: errors inside an included helper name both files", () => {
  const e = templateError(() =>
    render(`a\nb\n{{ include "h" . }}`, { Values: {} }, { "_h.tpl": `{{ define "h" }}\n{{ .Values.x.y }}{{ end }}` })
  );
  assertEquals(e.template, "test.yaml");
  assertEquals(e.line, 3);
  assert(e.message.includes("_h.tpl:2"), e.message);
  assertThrows(() => render(`{{ include "nope" . }}`), /no template "nope"/);
});

Deno.test("template: runaway recursion stops with an error", () => {
  const e = templateError(() =>
    render(`{{ include "loop" . }}`, {}, { "_l.tpl": `{{ define "loop" }}{{ include "loop" . }}{{ end }}` })
  );
  assert(e.message.includes("nested reference"), e.message);
});

Deno.test("template: time functions format with Go's reference layout", () => {
  // 1700000000 is 2023-11-14T22:13:20Z, a Tuesday.
  assertEquals(
    render(`{{ date "2006-01-02T15:04:05Z07:00 Mon Jan _2 3PM" 1700000000 }}`),
    "2023-11-14T22:13:20Z Tue Nov 14 10PM",
  );
  assertEquals(
    render(`{{ dateInZone "2006-01-02 15:04 -07:00" 1700000000 "Europe/Berlin" }}`),
    "2023-11-14 23:13 +01:00",
  );
  assertEquals(
    render(
      `{{ htmlDate 0 }} {{ $t := now }}{{ sub (unixEpoch (dateModify "+1h30m" $t) | atoi) (unixEpoch $t | atoi) }}`,
    ),
    "1970-01-01 5400",
  );
  // dateModify takes a time.Time, as in Go: Unix seconds are refused.
  assertThrows(() => render(`{{ dateModify "+1h" 1700000000 }}`), /expected time.Time/);
  const year = Number(render(`{{ now | date "2006" }}`));
  assert(year >= 2024, String(year));
});

Deno.test("template: path functions, and nil maps in dict functions", () => {
  assertEquals(
    render(`{{ base "a/b.yaml" }} {{ dir "a/b.yaml" }} {{ clean "a//b/../c/" }} {{ ext "x.tar.gz" }} {{ isAbs "/x" }}`),
    "b.yaml a a/c .gz true",
  );
  // A nil map from a pipeline is a nil map to Go; read by a field chain it is a nil interface{}, which Go refuses.
  assertEquals(
    render(`{{ hasKey (.nope) "a" }} [{{ get (.nope) "a" }}] {{ len (keys (.nope)) }}`, { nope: null }),
    "false [] 0",
  );
  assertThrows(
    () => render(`{{ hasKey .nope "a" }}`, { nope: null }),
    /expected map\[string\]interface \{\}; got interface/,
  );
});
