/**
 * Measures the Helm engine on a directory of chart directories against the Go
 * renderer in `../shared/tools/helm-oracle` (Go's text/template + Sprig as Helm
 * ships them). Kept outside the tests because its corpus is not in the
 * repository: charts we had not seen are measured here once, by hand, and the
 * numbers go to docs/charts.md ("Measured on charts we had not seen").
 *
 * For each chart (default values, release `release-name`, namespace `default`):
 * - every template's result here and in the oracle: both rendered and equal
 *   byte for byte, both failed, or a disagreement (one failed; outputs differ);
 * - the `image:` fields of the rendered manifests (the oracle's image set)
 *   against the images found here by rendering (`method: "template"`);
 * - what `images` adds beyond that (fallback, outside `image:` fields), listed.
 *
 * Run: `deno run -A tools/corpus_compare.ts --oracle PATH CORPUS_DIR [CHART…] [--json]`
 * (build the oracle with `bash ../shared/tools/helm-oracle/build.sh OUT`).
 * @module
 */
import { join } from "node:path";
import { imagesOfChart, loadChart, renderChart } from "@airgap/helm";

interface OracleResult {
  images: string[] | null;
  templates: Record<string, { output?: string; error?: string }>;
}

/** One chart's comparison. */
export interface ChartComparison {
  chart: string;
  templates: number;
  bothRendered: number;
  bothFailed: number;
  /** Templates where one side failed and the other rendered, or outputs differ: `name: what`. */
  templateDisagreements: string[];
  oracleImages: string[];
  ourRenderedImages: string[];
  missing: string[];
  /** Rendered by both, not listed here: not a valid reference (a placeholder such as `DEFINED_IN_VALUES_FILE/x:1`), warned. */
  warned: string[];
  invented: string[];
  /** Images `images` lists beyond the rendered `image:` fields, with how it found them. */
  extra: string[];
  exact: boolean;
}

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).slice(0, 400)}`);
  return new TextDecoder().decode(out.stdout);
}

async function oracleRender(oracle: string, dir: string): Promise<OracleResult> {
  const tmp = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const stdout = JSON.parse(await run(oracle, [dir, "--templates-out", tmp]));
    const { templates } = JSON.parse(await Deno.readTextFile(tmp));
    return { images: stdout.images, templates };
  } finally {
    await Deno.remove(tmp);
  }
}

/** The chart directory as the .tgz `images --chart` takes (the directory's name as the archive's top folder). */
async function archive(corpus: string, name: string): Promise<Uint8Array> {
  const tmp = await Deno.makeTempFile({ suffix: ".tgz" });
  try {
    await run("tar", ["-czf", tmp, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", name], corpus);
    return await Deno.readFile(tmp);
  } finally {
    await Deno.remove(tmp);
  }
}

/** Compare one chart directory `corpus/name`. */
export async function compareChart(oracle: string, corpus: string, name: string): Promise<ChartComparison> {
  const theirs = await oracleRender(oracle, join(corpus, name));
  const chart = await loadChart(await archive(corpus, name), `${name}.tgz`);
  const ours = renderChart(chart, {});
  const disagreements: string[] = [];
  let bothRendered = 0, bothFailed = 0;
  const names = new Set([...Object.keys(theirs.templates), ...ours.templates.map((t) => t.template)]);
  for (const template of [...names].sort()) {
    if (template.endsWith("NOTES.txt")) continue;
    const mine = ours.templates.find((t) => t.template === template);
    const go = theirs.templates[template];
    if (!mine || !go) disagreements.push(`${template}: rendered only ${mine ? "here" : "by the oracle"}`);
    else if (mine.error && go.error !== undefined) bothFailed++;
    else if (mine.error) disagreements.push(`${template}: fails here (${mine.error.message}), renders in Go`);
    else if (go.error !== undefined) disagreements.push(`${template}: renders here, fails in Go (${go.error})`);
    else if (mine.output !== go.output) disagreements.push(`${template}: output differs`);
    else bothRendered++;
  }
  const found = imagesOfChart(chart, {});
  const rendered = new Set(
    found.images.filter((i) => i.method === "template" && !i.origin.field).map((i) => i.image),
  );
  const goImages = new Set(theirs.images ?? []);
  const invalid = (i: string) =>
    found.warnings.some((w) =>
      w.message.includes(`renders image ${JSON.stringify(i)}, which is not a valid reference`)
    );
  const warned = [...goImages].filter((i) => !rendered.has(i) && invalid(i)).sort();
  const missing = [...goImages].filter((i) => !rendered.has(i) && !invalid(i)).sort();
  const invented = [...rendered].filter((i) => !goImages.has(i)).sort();
  const extra = found.images.filter((i) => !(i.method === "template" && !i.origin.field))
    .map((i) => `${i.image} (${i.method}${i.origin.field ? `, ${i.origin.field}` : ""})`).sort();
  return {
    chart: name,
    templates: bothRendered + bothFailed + disagreements.length,
    bothRendered,
    bothFailed,
    templateDisagreements: disagreements,
    oracleImages: [...goImages].sort(),
    ourRenderedImages: [...rendered].sort(),
    missing,
    warned,
    invented,
    extra,
    exact: disagreements.length === 0 && missing.length === 0 && invented.length === 0,
  };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const json = args.includes("--json");
  const at = args.indexOf("--oracle");
  if (at < 0 || args.length < at + 3) {
    console.error("usage: corpus_compare.ts --oracle PATH CORPUS_DIR [CHART…] [--json]");
    Deno.exit(2);
  }
  const oracle = args.splice(at, 2)[1];
  const [corpus, ...only] = args.filter((a) => a !== "--json");
  const charts = only.length > 0 ? only : [...Deno.readDirSync(corpus)].filter((e) => e.isDirectory).map((e) => e.name)
    .sort();
  const results: ChartComparison[] = [];
  for (const name of charts) results.push(await compareChart(oracle, corpus, name));
  if (json) console.log(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      console.log(
        `${
          r.exact ? "exact" : "DIFF "
        } ${r.chart}: ${r.templates} templates (${r.bothRendered} equal, ${r.bothFailed} both fail), ` +
          `images ${r.oracleImages.length} in Go, ${r.ourRenderedImages.length} here`,
      );
      for (const d of r.templateDisagreements) console.log(`    template ${d}`);
      for (const i of r.missing) console.log(`    missing ${i}`);
      for (const i of r.warned) console.log(`    warned (not a valid reference) ${i}`);
      for (const i of r.invented) console.log(`    invented ${i}`);
      for (const i of r.extra) console.log(`    extra ${i}`);
    }
    const exact = results.filter((r) => r.exact).length;
    console.log(`${results.length} charts, ${exact} exact, ${results.length - exact} with a disagreement`);
  }
}
