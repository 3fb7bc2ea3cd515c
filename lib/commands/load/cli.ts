/**
 * `airgap load`: its options and the rules behind them — which declaration
 * it reads (airgap.yaml when present, unless an image list says what to
 * load), the archive it reads when none is named, the target with
 * `--insecure`/`--ca-file` merged into its registry settings, and the
 * charts-only run (`--charts-dir` without a registry: no push at all) — and
 * its output: the pushed references and the closing summary, or the events.
 * The load itself is `loadCommand` (lib/commands/load/load.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { loadCommand, type LoadResult, type LoadSummary } from "./load.ts";
import { type ChartLoadOptions, extractCharts } from "../../artifacts/archived_charts.ts";
import { type Declaration, declarationFromList, displayPath, loadDeclaration } from "../../plan/declaration.ts";
import { usageError } from "../../errors.ts";
import { formatDuration, plural } from "../../text.ts";
import { formatBlobOutcomes, formatFailed, formatImageOutcomes } from "../../report/outcomes.ts";
import { failedImageEvent } from "../../report/events.ts";
import { failedListPath, keepGoingHelp, writeFailedList } from "../../report/failures.ts";
import { exists } from "../../fsutil.ts";
import { network, out, reportLeftOut, run, transferReporter } from "../shared/context.ts";
import {
  addWindowsOptions,
  collect,
  type TargetOptions,
  TIMEOUT_HELP,
  type WindowsOptions,
} from "../shared/options.ts";
import { positiveInteger } from "../shared/options.ts";
import { addCredentialOptions, credentialOf, type CredentialOptions, withSettings } from "../shared/credentials.ts";
import { defaultArchive, firstPart, type Target, targetName, targetOf, targetText } from "../shared/resolve_options.ts";

/** The options of `airgap load`. */
export interface LoadCliOptions extends TargetOptions, WindowsOptions, CredentialOptions {
  images?: string;
  imageList?: string;
  sourceRegistry?: string;
  file?: string;
  concurrency?: number;
  keepGoing?: boolean;
  json?: boolean;
  timeout?: string;
  verifyKey?: string[];
  chartsDir?: string;
  pushCharts?: string | true;
  quiet?: boolean;
  verbose?: boolean;
}

/** Register `airgap load`. */
export function registerLoad(cli: Command): void {
  addCredentialOptions(
    addWindowsOptions(
      cli.command("load")
        .description("push an archive's images into a registry, keeping every digest"),
      false,
    ),
    "the target registry",
  )
    .argument("[archive...]", "archive to load (or its first part, or all its parts)")
    .option("-r, --registry <host[:port][/prefix]>", "target registry (default: target.registry in airgap.yaml)")
    .option("-i, --images <file>", "seed-compatible name of the archive")
    .option("-l, --image-list <file>", "load only the images of this list (seed-compatible)")
    .option("-s, --source-registry <host>", "accepted for compatibility with the Rancher scripts; not needed")
    .option("-f, --file <file>", "declaration with target and registry settings (default: airgap.yaml if present)")
    .option("--prefix <path>", "path prefix in the target registry, e.g. a Harbor project")
    .option("--insecure", "allow plain HTTP to the target registry")
    .option("--ca-file <file>", "CA certificate(s) to trust for the target registry")
    .option("--concurrency <n>", "concurrent uploads", positiveInteger)
    .option("--keep-going", keepGoingHelp("load", "NAME"))
    .option("--json", "print NDJSON events on stdout (airgap schema --of events)")
    .option("--timeout <duration>", TIMEOUT_HELP)
    .option(
      "--verify-key <file>",
      "check each image's carried cosign signature with this PEM key first (repeatable)",
      collect,
    )
    .option("--charts-dir <dir>", "write the archive's charts here as NAME-VERSION.tgz (alone: without --registry)")
    .option(
      "--push-charts [path]",
      "push the archive's charts as OCI charts to REGISTRY[/prefix]/PATH (default: charts)",
    )
    .option("-q, --quiet", "only print results and errors")
    .option("--verbose", "also a line per finished image")
    .action(load);
}

/**
 * The declaration a load reads: `-f`, or ./airgap.yaml when present and no
 * `-l` names what to load. Only the target's credentials are resolved — the
 * one `--registry` names when given, not `target:`'s.
 */
export async function loadDeclarationOf(options: Pick<LoadCliOptions, "file" | "imageList" | "registry">) {
  const configPath = options.file ? resolve(options.file) : resolve("airgap.yaml");
  if (options.file || (await exists(configPath) && !options.imageList)) {
    return await loadDeclaration(configPath, { use: "push", pushTarget: options.registry });
  }
  return undefined;
}

/** The archive named on the command line: the argument (one, or all parts of one), or `-i` — not both. */
export function archiveArgument(archiveArgs: string[], options: Pick<LoadCliOptions, "images">): string | undefined {
  const archiveArg = archiveArgs.length > 0 ? firstPart(archiveArgs) : undefined;
  if (archiveArg && options.images) throw usageError("give the archive either as an argument or with -i, not both");
  return archiveArg ?? options.images;
}

/**
 * The archive to load: the one named, or the one save writes by default
 * ({@link defaultArchive}) — rancher-images.tar when image lists say what to
 * load, as they did what to save.
 */
export function loadArchive(
  named: string | undefined,
  options: Pick<LoadCliOptions, "imageList" | "windowsImageList">,
  decl: Pick<Declaration, "configPath" | "output"> | undefined,
): string {
  const listed = options.imageList || options.windowsImageList;
  return resolve(named ?? defaultArchive(listed ? undefined : decl));
}

/** `--charts-dir` and `--push-charts [path]` as the load takes them; undefined: leave the charts alone. */
export function chartsOption(options: Pick<LoadCliOptions, "chartsDir" | "pushCharts">): ChartLoadOptions | undefined {
  if (!options.chartsDir && !options.pushCharts) return undefined;
  return {
    dir: options.chartsDir ? resolve(options.chartsDir) : undefined,
    push: options.pushCharts === undefined ? undefined : options.pushCharts === true ? "charts" : options.pushCharts,
  };
}

/** Charts written to a directory with no registry to push to: extract them, push nothing. */
export function chartsOnly(registryText: string | undefined, charts: ChartLoadOptions | undefined): boolean {
  return !registryText && !!charts?.dir && !charts.push;
}

/** The entries and platforms of `-l` and `--windows-image-list`: what to load of the archive. */
async function listedRequests(options: LoadCliOptions) {
  if (!options.imageList && !options.windowsImageList) return undefined;
  return (await declarationFromList(options.imageList ? resolve(options.imageList) : undefined, {
    windowsImageLists: options.windowsImageList?.map((p: string) => resolve(p)),
    windowsVersions: options.windowsVersions,
  })).requests;
}

async function load(archiveArgs: string[], options: LoadCliOptions): Promise<void> {
  const reporter = transferReporter(options, "load");
  const named = archiveArgument(archiveArgs, options);
  const decl = await loadDeclarationOf(options);
  const archivePath = loadArchive(named, options, decl);
  const charts = chartsOption(options);
  if (chartsOnly(targetText(options, decl), charts)) {
    for (const chart of await extractCharts(archivePath, charts!.dir!)) out(`wrote ${displayPath(chart.file!)}`);
    return;
  }
  const target = await withTargetCredential(targetOf(options, decl), options);
  const listed = await listedRequests(options);
  const started = performance.now();
  const result = await loadCommand({
    archivePath,
    ...target,
    entries: listed?.map((r) => r.entry),
    platforms: options.windowsImageList ? new Map(listed!.map((r) => [r.entry, r.platforms])) : undefined,
    reporter,
    concurrency: options.concurrency,
    charts,
    keepGoing: options.keepGoing ?? decl?.keepGoing,
    network: network(options, reporter),
    verifyKeys: options.verifyKey?.map((p) => resolve(p)),
  });
  const failedList = failedListPath(archivePath, "load");
  await writeFailedList(
    failedList,
    result.failed,
    `airgap load: ${result.failed.length} images failed; retry them with: airgap load --image-list ${
      displayPath(failedList)
    }`,
  );
  reportLeftOut(result.failed, failedList, reporter, undefined, options.quiet);
  reportLoad(result, target, failedList, performance.now() - started, options);
}

/** The target with `--username`/`--password-stdin` merged into its registry's settings. */
export async function withTargetCredential(
  target: Target,
  options: CredentialOptions,
  read?: () => Promise<string>,
): Promise<Target> {
  const credential = await credentialOf(options, read);
  if (!credential) return target;
  return { ...target, registries: withSettings(target.registries, [target.registry], { credential }) };
}

/** The end of a load: the events, or the pushed references, charts and summary. */
function reportLoad(
  result: LoadResult,
  target: Target,
  failedList: string,
  elapsed: number,
  options: Pick<LoadCliOptions, "quiet" | "pushCharts">,
): void {
  if (run.events) {
    for (const image of result.images) run.events({ event: "image", ...image, outcome: "loaded" });
    for (const failure of result.failed) run.events(failedImageEvent(failure));
    const s = result.summary;
    run.events({
      event: "summary",
      command: "load",
      images: s.images,
      failed: result.failed.length,
      ...(result.failed.length ? { failedList: displayPath(failedList) } : {}),
      alreadyPresent: s.alreadyPresent,
      blobs: { pushed: s.blobs.pushed, mounted: s.blobs.mounted, exists: s.blobs.present },
      bytes: s.bytesPushed,
      artifacts: result.artifacts,
      target: targetName(target),
      elapsedMs: Math.round(elapsed),
    });
    return;
  }
  if (!options.quiet) { for (const image of result.images) out(`${image.target}@${image.digest}`); }
  for (const chart of result.charts) {
    if (chart.file) out(`wrote ${displayPath(chart.file)}`);
    if (chart.target) out(`pushed chart ${chart.target}`);
  }
  out(formatLoadSummary(result.summary, targetName(target), elapsed, options.pushCharts, result.failed.length));
  if (result.artifacts) out(`pushed ${result.artifacts} signatures/attestations/SBOMs with their images`);
}

/** The closing lines of a load: images and blobs that add up, the full target, and the charts left in the archive. */
export function formatLoadSummary(
  s: LoadSummary,
  target: string,
  elapsedMs: number,
  chartsPushed: unknown,
  failed = 0,
): string {
  const images = formatImageOutcomes("loaded", { done: s.images, present: s.alreadyPresent });
  const tags = s.tags > s.images ? `, ${s.tags} tags` : "";
  const more = s.blobs.mountedElsewhere > 0
    ? `; ${plural(s.blobs.mountedElsewhere, "further mount")} of these blobs into other repositories`
    : "";
  const blobs = formatBlobOutcomes({ ...s.blobs, bytes: s.bytesPushed }, elapsedMs);
  const lines = [
    `${images}${tags} into ${target} in ${formatDuration(elapsedMs)}: ${blobs}${more}${formatFailed(failed)}`,
  ];
  if (s.chartsInArchive > 0 && !chartsPushed) {
    lines.push(
      `the archive also carries ${
        plural(s.chartsInArchive, "chart")
      }, not pushed: --push-charts pushes them to ${target}/charts, --charts-dir DIR writes them as files`,
    );
  }
  return lines.join("\n");
}
