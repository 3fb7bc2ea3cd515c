/**
 * Charts on disk (lib/sources/local_charts.ts): a chart directory packs to
 * the same bytes every time (so the lock can pin it), reads back as the chart
 * it is, and a directory of charts is searched by each Chart.yaml.
 */
import { join } from "node:path";
import { assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { loadChart } from "../../lib/sources/helm/chart.ts";
import { findInDirectory, packChartDirectory, readLocalChart } from "../../lib/sources/local_charts.ts";
import { digestOf } from "../../lib/oci/digest.ts";

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
