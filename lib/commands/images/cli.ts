/**
 * `airgap images`: its options — a declaration, or with `--chart` one chart
 * file and helm-template-like values flags, which make sense only with it —
 * and its output: the list, with `--why` the origins, or JSON. The listing
 * itself is `imagesCommand` and `chartFileImages` (lib/commands/images/images.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { chartFileImages, type ChartFileOptions, imagesCommand, type ListedImage } from "./images.ts";
import { displayPath } from "../../plan/declaration.ts";
import { usageError } from "../../errors.ts";
import { defaultCacheDir } from "../../store/cache.ts";
import type { Reporter } from "../../report/progress.ts";
import { network, out, reporterFor } from "../shared/context.ts";
import { collect, debugOption, TIMEOUT_HELP } from "../shared/options.ts";
import { cacheDir, declaration, namingPathOptions, previousLockOf } from "../shared/resolve_options.ts";

/** The options of `airgap images`. */
export interface ImagesCliOptions {
  cache?: string;
  quiet?: boolean;
  file?: string[];
  imageList?: string;
  chart?: string;
  values?: string[];
  set?: string[];
  setString?: string[];
  setJson?: string[];
  setFile?: string[];
  releaseName?: string;
  namespace?: string;
  kubeVersion?: string;
  apiVersions?: string[];
  why?: boolean;
  json?: boolean;
  injected?: boolean;
  lock?: string;
  locked?: boolean;
  timeout?: string;
}

/** Register `airgap images`. */
export function registerImages(cli: Command): void {
  cli.command("images")
    .description(
      "print the final image list (lists, Rancher release, charts), de-duplicated and sorted; --why says where each came from",
    )
    .option(
      "--cache <dir>",
      `cache directory for fetched release lists and charts (default: ${displayPath(defaultCacheDir())})`,
    )
    .option("-q, --quiet", "only print results and errors")
    .addOption(debugOption())
    .option(
      "-f, --file <file>",
      "declaration (default: airgap.yaml); with --chart: a values file (repeatable)",
      collect,
    )
    .option("-l, --image-list <file>", "list the images of this list instead of airgap.yaml")
    .option("--chart <file>", "the images of this chart file (.tgz), as helm template renders them")
    .option("--values <file>", "with --chart: a values file (repeatable)", collect)
    .option("--set <key=value>", "with --chart: set a value (repeatable)", collect)
    .option("--set-string <key=value>", "with --chart: set a string value (repeatable)", collect)
    .option("--set-json <key=json>", "with --chart: set a value from JSON (repeatable)", collect)
    .option("--set-file <key=path>", "with --chart: set a value to a file's contents (repeatable)", collect)
    .option("--release-name <name>", "with --chart: .Release.Name (default: release-name)")
    .option("--namespace <name>", "with --chart: .Release.Namespace")
    .option("--kube-version <version>", "with --chart: .Capabilities.KubeVersion")
    .option(
      "--api-versions <list>",
      "with --chart: extra .Capabilities.APIVersions (comma-separated, repeatable)",
      collect,
    )
    .option("--no-injected", "with --chart: leave out images injected at run time (Istio's sidecar)")
    .option("--why", "show where each image came from (file and line, chart and template, values path)")
    .option("--json", "print the list as JSON")
    .option("--lock <file>", "lock file (default: airgap.lock next to airgap.yaml)")
    .option("--locked", "use the release lists and charts the lock pins")
    .option("--timeout <duration>", TIMEOUT_HELP)
    .action(images);
}

/** The options that only mean something with `--chart`. */
const CHART_FLAGS = [
  "values",
  "set",
  "setString",
  "setJson",
  "setFile",
  "releaseName",
  "namespace",
  "kubeVersion",
  "apiVersions",
] as const;

/** `--chart FILE` and its values flags as {@link chartFileImages} takes them (`-f` files are values files first). */
export function chartFileOptions(options: ImagesCliOptions & { chart: string }): ChartFileOptions {
  if (options.imageList) throw usageError("use either --chart or -l/--image-list, not both");
  return {
    path: resolve(options.chart),
    valuesFiles: [...(options.file ?? []), ...(options.values ?? [])].map((f: string) => resolve(f)),
    set: options.set,
    setString: options.setString,
    setJson: options.setJson,
    setFile: options.setFile,
    releaseName: options.releaseName,
    namespace: options.namespace,
    kubeVersion: options.kubeVersion,
    apiVersions: options.apiVersions,
    injected: options.injected,
  };
}

/** Without `--chart`: no chart flags, and at most one declaration. */
export function checkDeclarationFlags(options: ImagesCliOptions): void {
  for (const flag of CHART_FLAGS) {
    if (options[flag] !== undefined) {
      throw usageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --chart`);
    }
  }
  if ((options.file ?? []).length > 1) throw usageError("give one declaration with -f");
}

async function images(options: ImagesCliOptions): Promise<void> {
  const reporter = reporterFor(options);
  const images = options.chart
    ? await chartImages({ ...options, chart: options.chart }, reporter)
    : await declaredImages(options, reporter);
  if (options.json) out(JSON.stringify(images, null, 2));
  else if (images.length > 0) out(formatImageList(images, options.why));
}

/** The images of `--chart FILE`; the render's warnings go to the reporter. */
async function chartImages(options: ImagesCliOptions & { chart: string }, reporter: Reporter) {
  const result = await chartFileImages(chartFileOptions(options));
  for (const warning of result.warnings) reporter.warn(warning);
  return result.images;
}

/** The images of the declaration (or `-l` list), its sources fetched. */
async function declaredImages(options: ImagesCliOptions, reporter: Reporter): Promise<ListedImage[]> {
  checkDeclarationFlags(options);
  const decl = await declaration({ ...options, file: options.file?.[0] });
  const { previousLock } = await previousLockOf(options, decl);
  return (await imagesCommand({
    declaration: decl,
    cacheDir: cacheDir(options, decl),
    previousLock,
    locked: options.locked,
    reporter,
    network: network(options, reporter),
  }).catch(namingPathOptions({ cache: cacheDir(options, decl) }))).images;
}

/**
 * The list as text: one entry per line (a chart image from the values fallback, or injected at run time,
 * marked by a `#` comment, which lists accept); with `why`, each origin indented below its entry.
 */
export function formatImageList(images: ListedImage[], why = false): string {
  const lines: string[] = [];
  for (const image of images) {
    const mark = image.fallback
      ? "  # fallback: from values, a template could not be rendered"
      : image.injected
      ? "  # injected at run time, named by no manifest"
      : "";
    lines.push(image.entry + mark);
    if (why) { for (const origin of image.origins) lines.push(`  ${origin}`); }
  }
  return lines.join("\n");
}
