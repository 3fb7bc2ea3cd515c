/**
 * Fuzz: the chart unpacker (issue 19, item 4) — `loadChart`, which gunzips
 * a `.tgz` under the 100 MiB budget, walks its tar with the archive's own
 * reader and reads Chart.yaml, values.yaml, requirements.yaml and packaged
 * or plain subcharts. Cases mutate a real chart (its tar before gzip, or the
 * gzip bytes themselves, or a packaged subchart inside it) and build charts
 * from a grammar of files and YAML. Each case must end in a chart or an
 * `AirgapError` (one line), never another throw or a hang, with bounded
 * memory.
 *
 * Seeded and fixed in CI; prints its case counts. A longer run:
 * `AIRGAP_FUZZ_CASES=20 AIRGAP_FUZZ_SEED=7 deno test -A packages/helm/tests/fuzz_chart.test.ts`
 * (the count is multiplied, the seed replaces 1). A failure names the seed
 * and case; each one found is kept below as a plain regression test.
 */
import { assertEquals, assertRejects } from "../../../tests/helpers/assert.ts";
import {
  concatBytes,
  fuzzRun,
  mutate,
  mutateText,
  oneCase,
  type Rand,
  rand,
  YAML_SYNTAX,
} from "../../../tests/helpers/fuzz.ts";
import { AirgapError } from "../../../lib/errors.ts";
import { loadChart } from "../src/chart.ts";
import { encodeHeader, padding, TAR_END } from "../../../lib/format/tar.ts";

const encoder = new TextEncoder();

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = ReadableStream.from([bytes as Uint8Array<ArrayBuffer>]).pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function tar(files: [string, Uint8Array | string][]): Uint8Array {
  return concatBytes([
    ...files.flatMap(([name, data]) => {
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      return [encodeHeader({ name, size: bytes.byteLength }), bytes, padding(bytes.byteLength)];
    }),
    TAR_END,
  ]);
}

const CHART_YAML =
  "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: v9\ndependencies:\n  - name: sub\n    condition: sub.enabled\n";
const VALUES = "image:\n  repository: rancher/app\n  tag: v9\nsub:\n  enabled: true\nlist: &l [a, b]\nagain: *l\n";
const TEMPLATE =
  "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n";

async function realChart(): Promise<{ inner: Uint8Array; sub: Uint8Array }> {
  const sub = await gzip(
    tar([["sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"], ["sub/values.yaml", "enabled: true\n"]]),
  );
  const inner = tar([
    ["app/Chart.yaml", CHART_YAML],
    ["app/values.yaml", VALUES],
    ["app/templates/deploy.yaml", TEMPLATE],
    ["app/charts/sub-0.1.0.tgz", sub],
    ["app/charts/plain/Chart.yaml", "apiVersion: v2\nname: plain\nversion: 2.0.0\n"],
    ["app/README.md", "# app\n"],
  ]);
  return { inner, sub };
}

const YAML_TOKENS = [...YAML_SYNTAX, "!!binary ", "---\n", "~", "1e999", ".nan"];

/** A chart from a grammar: random names, paths (some escaping the chart), YAML that is right or not. */
async function grammarChart(r: Rand): Promise<Uint8Array> {
  const top = r.pick(["app", "", ".", "..", "a/b", "x".repeat(120)]);
  const files: [string, Uint8Array | string][] = r.chance(0.7) ? [[`${top}/Chart.yaml`, CHART_YAML]] : [];
  for (let i = 0; i < 1 + r.int(6); i++) {
    const name = r.pick([
      "Chart.yaml",
      "values.yaml",
      "requirements.yaml",
      "templates/t.yaml",
      "charts/s.tgz",
      "charts/d/Chart.yaml",
      "../evil",
      "/abs",
      "values.schema.json",
    ]);
    let body = r.pick([
      CHART_YAML,
      VALUES,
      TEMPLATE,
      "",
      "name: 7\n",
      "dependencies: 5\n",
      "[1, 2",
      "a: &a [*a]\n",
      "name: [x]\n",
      "version: {a: 1}\n",
    ]);
    if (r.chance(0.5)) body = mutateText(r, body, YAML_TOKENS);
    files.push([
      `${top}/${name}`,
      name.endsWith(".tgz") ? r.pick([await gzip(encoder.encode(body)), encoder.encode(body)]) : body,
    ]);
  }
  const bytes = tar(files);
  return r.chance(0.7) ? await gzip(bytes) : bytes;
}

Deno.test("fuzz chart: mutated and grammar-made charts load or fail with an AirgapError", async () => {
  const { inner, sub } = await realChart();
  const outer = await gzip(inner);
  assertEquals((await loadChart(outer, "app.tgz")).subcharts.map((s) => s.name), ["sub", "plain"]);
  const { seed, cases } = fuzzRun(1200);
  const r = rand(seed);
  const kinds = new Map<string, { loaded: number; refused: number }>();
  for (let n = 0; n < cases; n++) {
    const kind = r.pick(["tar", "gzip", "subchart", "grammar"]);
    let bytes: Uint8Array;
    if (kind === "tar") bytes = await gzip(mutate(r, inner));
    else if (kind === "gzip") bytes = mutate(r, outer);
    else if (kind === "subchart") {
      bytes = await gzip(tar([["app/Chart.yaml", CHART_YAML], ["app/charts/sub-0.1.0.tgz", mutate(r, sub)]]));
    } else bytes = await grammarChart(r);
    const result = await oneCase(`fuzz chart (${kind}, seed ${seed}, case ${n})`, () => loadChart(bytes, "app.tgz"));
    const count = kinds.get(kind) ?? { loaded: 0, refused: 0 };
    count[result.ok ? "loaded" : "refused"]++;
    kinds.set(kind, count);
  }
  console.log(`fuzz chart: ${cases} cases, seed ${seed}: ${JSON.stringify(Object.fromEntries(kinds))}`);
});

// Regressions the fuzzer found (each a plain test).

Deno.test("chart regression: a requirements.yaml that is not YAML is an AirgapError naming the chart", async () => {
  // Found reading the unpacker for the fuzzer: its parse error escaped untyped.
  const bytes = await gzip(
    tar([["app/Chart.yaml", "apiVersion: v1\nname: app\nversion: 1.0.0\n"], ["app/requirements.yaml", "a: [1, 2\n"]]),
  );
  await assertRejects(() => loadChart(bytes, "app.tgz"), AirgapError, "chart app.tgz: requirements.yaml:");
});

Deno.test("chart regression: values.yaml whose alias is inside its own anchor is refused, not recursed forever", async () => {
  // Found by fuzz chart (grammar, seed 1, case 971): `a: &a [*a]` made a cyclic value, and the
  // check for non-finite numbers recursed until `RangeError: Maximum call stack size exceeded`. yaml.v2 refuses it
  // ("anchor value contains itself"), and so does our reading of values as yaml.v2 does (packages/helm/src/goyaml.ts).
  const bytes = await gzip(
    tar([["app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"], ["app/values.yaml", "a: &a [*a]\n"]]),
  );
  await assertRejects(
    () => loadChart(bytes, "app.tgz"),
    AirgapError,
    "anchor value contains itself",
  );
});
