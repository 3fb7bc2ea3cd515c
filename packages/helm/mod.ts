/**
 * `@airgap/helm`: the images a Helm chart deploys, found by rendering it as
 * `helm template` would (a built-in Go template + Sprig evaluator, no helm
 * binary), plus the chart's `helm.sh/images` annotation, with a marked
 * fallback (a lenient re-render, then a narrow values scan) for templates
 * that cannot be rendered.
 *
 * This file is the package's whole public surface: airgap imports the engine
 * only through it, so what is exported here is what the application needs
 * (load a chart, list its images, render it, read values the way Helm does)
 * and the types those signatures name. The template engine's parts
 * (`src/`) stay private so they can change without breaking callers.
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
} from "./src/images.ts";
/** Chart archives. */
export { type Chart, type ChartDependency, loadChart } from "./src/chart.ts";
/** Rendering a chart's manifests as `helm template` does. */
export { renderChart, type RenderedTemplate, type RenderResult, type ScopedChart } from "./src/render.ts";
/** The release and cluster a render imagines. */
export { DEFAULT_KUBE_VERSION, type ReleaseOptions } from "./src/objects.ts";
/** Values: files, `--set`, merging, YAML 1.1 as Helm reads it. */
export { mergeValues, parseSet, parseValues, parseYaml11 } from "./src/values.ts";
/** Go's view of decoded YAML: a map is a plain object. */
export { type GoMap, isMap, type Value } from "./src/gotypes.ts";
/** Why a template did not render. */
export { TemplateError, type TemplateErrorKind } from "./src/errors.ts";
/** The class every failure the engine reports is (airgap's one user-facing error). */
export { AirgapError, type ErrorContext } from "./src/host.ts";
