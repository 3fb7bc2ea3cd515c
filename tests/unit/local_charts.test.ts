/**
 * Charts on disk (lib/sources/local_charts.ts): a chart directory packs to
 * the same bytes every time (so the lock can pin it), reads back as the chart
 * it is, and a directory of charts is searched by each Chart.yaml.
 */
import { join } from "node:path";
import { assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { loadChart } from "@airgap/helm";
import { findInDirectory, packChartDirectory, readLocalChart } from "../../lib/sources/local_charts.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { checkDeclaration } from "../../lib/commands/check/check.ts";

async function writeChart(dir: string, name: string, version: string): Promise<string> {
  const root = join(dir, name);
  await Deno.mkdir(join(root, "templates"), { recursive: true });
  await Deno.writeTextFile(join(root, "Chart.yaml"), `apiVersion: v2\nname: ${name}\nversion: ${version}\n`);
  await Deno.writeTextFile(join(root, "values.yaml"), "image: nginx:1.25\n");
  await Deno.writeTextFile(join(root, "templates", "pod.yaml"), "image: {{ .Values.image }}\n");
  return root;
}

Deno.test("a chart directory packs reproducibly and reads back as its chart", async () => {
  await withTempDir(async (dir) => {
    const root = await writeChart(dir, "demo", "0.1.0");
    const a = await packChartDirectory(root, "demo");
    await Deno.utime(join(root, "values.yaml"), 1, 1); // times are not packed
    const b = await packChartDirectory(root, "demo");
    assertEquals(digestOf(a), digestOf(b));
    const chart = await loadChart(a, "demo");
    assertEquals([chart.name, chart.version, [...chart.templates.keys()]], ["demo", "0.1.0", ["templates/pod.yaml"]]);
    const read = await readLocalChart(root);
    assertEquals([read.name, read.version, read.digest], ["demo", "0.1.0", digestOf(a)]);
  });
});

Deno.test("a directory of charts is searched by Chart.yaml; the error lists what it holds", async () => {
  await withTempDir(async (dir) => {
    await writeChart(dir, "one", "1.0.0");
    await writeChart(dir, "two", "v2.0.0");
    assertEquals((await findInDirectory(dir, "two", "2.0.0")).name, "two");
    const e = await assertRejects(() => findInDirectory(dir, "three", "1.0.0"));
    assertStringIncludes(
      (e as Error).message,
      "has no index.yaml and no chart three@1.0.0 (it holds one@1.0.0, two@v2.0.0)",
    );
    await assertRejects(() => readLocalChart(join(dir, "nothing")), Error, "does not exist");
    await Deno.mkdir(join(dir, "empty"));
    await assertRejects(() => readLocalChart(join(dir, "empty")), Error, "not a chart directory (no Chart.yaml)");
  });
});

Deno.test("check reads what plan reads: a local index without the version, a path whose Chart.yaml disagrees", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "indexed"));
    await Deno.writeTextFile(
      join(dir, "indexed", "index.yaml"),
      "apiVersion: v1\nentries:\n  demo:\n    - name: demo\n      version: 0.1.0\n      urls: [demo-0.1.0.tgz]\n",
    );
    await writeChart(dir, "app", "1.0.0");
    const yaml = join(dir, "airgap.yaml");
    await Deno.writeTextFile(
      yaml,
      "charts:\n  - name: demo\n    repo: ./indexed\n    version: 0.2.0\n  - path: ./app\n    version: 1.0.1\n",
    );
    const problems = await checkDeclaration(yaml);
    assertEquals(problems.length, 2, problems.join("\n"));
    assertStringIncludes(problems[0], ":3:11: repo: ");
    assertStringIncludes(problems[0], "index.yaml has no version 0.2.0 of demo (it lists 0.1.0)");
    assertStringIncludes(problems[1], ':6:14: version: "1.0.1", but ./app is app@1.0.0');
  });
});
