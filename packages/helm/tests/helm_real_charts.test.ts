/**
 * Acceptance over real charts: for every chart and value set in the shared
 * `expected-images.json` (measured with Helm's rendering), `images --chart`
 * finds exactly the images of `image:` fields, none invented, and with
 * default values also the images the chart deploys outside `image:` fields.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { formatReference, parseReference } from "../../../lib/ref.ts";
import { loadChart } from "../src/chart.ts";
import { imagesOfChart } from "../src/images.ts";
import { hasSharedChart, readSharedChart, SHARED_CHARTS } from "../../../tests/helpers/helm.ts";

interface Run {
  values: string;
  args: string[];
  rendered_images: string[];
}
interface Expected {
  deployed_outside_image_fields: string[];
  runs: Run[];
}

/**
 * Listed as deployed outside `image:` fields, but with default values Helm renders them nowhere: the fluent-bit
 * debug image is chosen only when `debug: true`; kube-prometheus-stack's kubectl is the `image:` of the CRD
 * upgrade job, off by default (and its tag would default to the Kubernetes version). Finding them would be inventing.
 */
const NOT_RENDERED_BY_DEFAULT = new Set([
  "docker.io/rancher/mirrored-fluent-fluent-bit:1.9.5-debug",
  "registry.k8s.io/kubectl:v0.86.1",
]);

const normal = (image: string) => formatReference(parseReference(image));

async function expectations(): Promise<Record<string, Expected> | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(SHARED_CHARTS, "expected-images.json")));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    if (Deno.env.get("CI") === "true") throw new Error(`${SHARED_CHARTS}/expected-images.json is missing`);
    console.log("skipping: expected-images.json is not present");
    return undefined;
  }
}

const expected = await expectations().catch((e) => e as Error);

for (const [file, spec] of Object.entries(expected instanceof Error || !expected ? {} : expected)) {
  Deno.test({ name: `real charts: ${file}: every value set exact`, ignore: !hasSharedChart(file) }, async () => {
    const bytes = await readSharedChart(file);
    const chart = await loadChart(bytes, file);
    for (const run of spec.runs) {
      const set: string[] = [];
      for (let i = 0; i < run.args.length; i += 2) {
        if (run.args[i] === "--set") set.push(run.args[i + 1]);
      }
      if (set.length * 2 !== run.args.length) {
        // The values file this run names (valuesfiles/…) is not shipped with the shared data.
        console.log(`skipping run "${run.values}": needs ${run.args.join(" ")}`);
        continue;
      }
      const result = imagesOfChart(chart, { set });
      const inFields = new Set(result.images.filter((i) => !i.origin.field).map((i) => normal(i.image)));
      assertEquals([...inFields].sort(), run.rendered_images.map(normal).sort(), `${file} ${run.values}`);
      if (run.values !== "default") continue;
      const outside = new Set(result.images.filter((i) => i.origin.field).map((i) => normal(i.image)));
      const wanted = spec.deployed_outside_image_fields.map(normal).filter((i) => !NOT_RENDERED_BY_DEFAULT.has(i));
      assertEquals([...outside].sort(), wanted.sort(), `${file} outside image: fields`);
    }
  });
}

Deno.test("real charts: the expectations file is present (or CI fails)", () => {
  if (expected instanceof Error) throw expected;
});
