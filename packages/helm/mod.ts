/**
 * Helm charts as a source of image names: the images a chart deploys, found
 * by rendering it as `helm template` would (a built-in Go template + Sprig
 * evaluator, no helm binary), plus the chart's `helm.sh/images` annotation,
 * with a marked fallback (a lenient re-render, then a narrow values scan)
 * for templates that cannot be rendered.
 *
 * @example
 * ```ts
 * import { chartImages } from "./mod.ts";
 *
 * const bytes = await Deno.readFile("rancher-2.7.9.tgz");
 * const { images, warnings } = await chartImages(bytes, { set: ["auditLog.level=1"] });
 * for (const { image, method, origin } of images) console.log(image, method, origin.template ?? origin.valuesPath);
 * for (const w of warnings) console.error(`warning: ${w.message}`);
 * ```
 * @module
 */

/** Images of a chart: the main entry point. */
export {
  type ChartImage,
  chartImages,
  type ChartImagesOptions,
  type ChartImagesResult,
  type ChartImagesWarning,
  type ImageMethod,
  imagesOfChart,
  scanValues,
  userValues,
} from "./src/images.ts";
/** Chart archives. */
export { type Chart, type ChartDependency, loadChart } from "./src/chart.ts";
/** Rendering a chart's manifests. */
export { computeValues, renderChart, type RenderedTemplate, type RenderResult, type ScopedChart } from "./src/render.ts";
/** The release and cluster a render imagines. */
export { DEFAULT_KUBE_VERSION, type ReleaseOptions } from "./src/objects.ts";
/** Values: files, `--set`, merging. */
export { applySet, mergeValues, parseSet, parseValues } from "./src/values.ts";
/** The template engine itself. */
export { createEngine, type Engine, parseTemplates, type TemplateSource } from "./src/template.ts";
/** Why a template did not render. */
export { TemplateError, type TemplateErrorKind } from "./src/errors.ts";
