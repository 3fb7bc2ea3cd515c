#!/usr/bin/env -S deno run -A --v8-flags=--max-semi-space-size=2,--heap-growing-percent=20
/**
 * The `airgap` command line: argument parsing, exit codes and output.
 * Every command is a short call into lib/commands.
 * @module
 */
import { Argument, Command, CommanderError, Option } from "commander";
import { resolve } from "node:path";
import { formatLoadSummary, loadCommand } from "./lib/transfer/load.ts";
import { mirrorCommand } from "./lib/transfer/mirror.ts";
import { chartFileImages, formatImageList, imagesCommand } from "./lib/plan/images.ts";
import { extractCharts } from "./lib/artifacts/charts.ts";
import { formatPlan, formatSources, planCommand } from "./lib/plan/run.ts";
import { formatSaveSummary, saveCommand, type SaveResult } from "./lib/transfer/save.ts";
import { serveCommand, waitForShutdown } from "./lib/store/server/serve.ts";
import { type Declaration, declarationFromList, displayPath, loadDeclaration } from "./lib/plan/declaration.ts";
import { readImageList } from "./lib/sources/list.ts";
import { AirgapError, errorMessage, usageError } from "./lib/errors.ts";
import { InterruptedError } from "./lib/transport/errors.ts";
import {
  formatBytes,
  formatDuration,
  formatRate,
  formatTable,
  parseSize,
  shortDigest,
  tableWidth,
} from "./lib/format.ts";
import { formatDeltaSize, loadBase } from "./lib/plan/delta.ts";
import { writeSums } from "./lib/store/checksums.ts";
import { lsCommand, verifyCommand } from "./lib/store/inspect.ts";
import { diffLocks } from "./lib/plan/diff.ts";
import { cacheLs, cachePrune, cacheVerify } from "./lib/store/cache_care.ts";
import { demoCommand } from "./lib/demo/demo.ts";
import { readLock, writeLock } from "./lib/plan/lock.ts";
import { ResolveError } from "./lib/plan/plan.ts";
import { checkDeclaration, CheckError, checkListDeclaration } from "./lib/plan/check.ts";
import { initCommand } from "./lib/plan/init.ts";
import {
  failedListPath,
  groupFailures,
  type ImageFailure,
  retryFlags,
  writeFailedList,
} from "./lib/report/failures.ts";
import { createReporter, networkEvents, type Phase, type Reporter } from "./lib/report/progress.ts";
import type { NetworkOptions } from "./lib/store/registry/pool.ts";
import { parseTimeout } from "./lib/transport/http.ts";
import { splitRegistryArgument } from "./lib/ref.ts";
import { defaultCacheDir } from "./lib/store/cache.ts";
import type { RegistrySettings } from "./lib/store/registry/client.ts";
import { configJsonSchema } from "./schemas/config.ts";
import { lockJsonSchema } from "./schemas/lock.ts";
import { OUTPUT_SCHEMAS, outputJsonSchema } from "./schemas/output.ts";
import { FOREIGN_LAYER_POLICIES, parseForeignLayerPolicy } from "./lib/oci/foreign.ts";
import { VERSION } from "./lib/version.ts";
import { exists } from "./lib/fsutil.ts";
import { COMPLETION_SHELLS, completionScript, type Shell } from "./lib/commands/completion.ts";
import { errorEvent, eventReporter, type EventSink, failedImageEvent, stdoutEvents } from "./lib/report/events.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];
/** `--with-signatures` and `--verify-key` as the commands take them. */
const artifactFlags = (o: { withSignatures?: boolean; verifyKey?: string[] }) => ({
  withSignatures: o.withSignatures,
  verifyKeys: o.verifyKey?.map((p) => resolve(p)),
});

interface CommonOptions {
  file?: string;
  platform?: string[];
  cache?: string;
  quiet?: boolean;
  verbose?: boolean;
  debug?: boolean;
}

function reporterFor(options: CommonOptions): Reporter {
  return createReporter({ quiet: options.quiet, verbose: options.verbose, ...progressTestOptions() });
}

/** With `--json` (save, load, mirror): NDJSON events on stdout (lib/events.ts); set for {@link main}'s error event. */
let events: EventSink | undefined;

/** The reporter of a save, load or mirror: with `--json`, one that also emits the events. */
function transferReporter(options: CommonOptions & { json?: boolean }, command: "save" | "load" | "mirror") {
  const reporter = reporterFor(options);
  if (!options.json) return reporter;
  events = stdoutEvents();
  return eventReporter(reporter, events, command);
}

/** Tests shorten the plain-progress interval (AIRGAP_PROGRESS_INTERVAL, ms) instead of waiting 10 s. */
function progressTestOptions(): { interval?: number } {
  const interval = Number(Deno.env.get("AIRGAP_PROGRESS_INTERVAL"));
  return Number.isFinite(interval) && interval >= 0 && Deno.env.has("AIRGAP_PROGRESS_INTERVAL") ? { interval } : {};
}

/** Aborted by SIGINT/SIGTERM (see {@link main}): every network operation of the run listens. */
let interruption = new AbortController();

const TIMEOUT_HELP =
  "seconds (or 30s, 2m) to wait for a registry to answer and between two bytes (default: 30 s for an answer, 60 s between bytes)";

/** The run's network options: `--timeout`, progress notices, Ctrl-C. */
function network(options: { timeout?: string }, reporter: Reporter): NetworkOptions {
  return {
    timeouts: options.timeout ? parseTimeout(options.timeout) : undefined,
    events: networkEvents(reporter),
    signal: interruption.signal,
  };
}

/** A result line on stdout — on stderr with --json events, so stdout carries nothing but the events. */
function out(line = "") {
  if (events) console.error(line);
  else console.log(line);
}

/** Set when a --keep-going run left some images out: the exit code is then 3. */
let partialSuccess = false;

/** The images a --keep-going run left out, grouped by cause, and the list that retries them (errors with --quiet). */
function reportLeftOut(
  failed: ImageFailure[],
  list: string,
  reporter: Reporter,
  declaration?: string,
  quiet?: boolean,
) {
  if (failed.length === 0) return;
  const report = quiet ? (line: string) => console.error(`error: ${line}`) : (line: string) => reporter.warn(line);
  for (const line of groupFailures(failed)) report(line);
  const shown = displayPath(list);
  const flags = retryFlags(shown, declaration && displayPath(declaration));
  report(`${failed.length} image(s) left out, listed in ${shown} (retry them with ${flags})`);
  partialSuccess = true;
}

interface WindowsOptions {
  windowsImageList?: string[];
  windowsVersions?: string[];
  foreignLayers?: string;
}

/** Load the declaration: airgap.yaml, or the seed-compatible image lists — after checking all of it. */
async function declaration(
  options: CommonOptions & WindowsOptions & { imageList?: string; sourceRegistry?: string },
): Promise<Declaration> {
  const overrides = {
    platforms: options.platform,
    sourceRegistry: options.sourceRegistry,
    windowsImageLists: options.windowsImageList?.map((p) => resolve(p)),
    windowsVersions: options.windowsVersions,
    foreignLayers: options.foreignLayers ? parseForeignLayerPolicy(options.foreignLayers) : undefined,
    use: "pull" as const,
  };
  const source = await declarationSource(options);
  if (!source.file) {
    throwProblems(await checkListDeclaration(source.list, overrides), source.list ?? "the command line");
    return await declarationFromList(source.list, overrides);
  }
  throwProblems(await checkDeclaration(source.file, overrides), displayPath(source.file));
  const decl = await loadDeclaration(source.file, overrides);
  // -f and -l together: the declaration, for just the entries of the list (a NAME.failed.txt retry).
  if (source.list) decl.only = (await readImageList(source.list, displayPath(source.list))).map((e) => e.entry);
  return decl;
}

/** The lock a command writes: none when it covers only some entries (-f with -l), unless --lock names one. */
function lockToWrite(decl: Declaration, lockOption: string | undefined, lockPath: string | undefined) {
  return decl.only && !lockOption ? undefined : lockPath;
}

/** Which declaration a command reads: a file (airgap.yaml), or an image list (seed-compatible). */
async function declarationSource(
  options: CommonOptions & WindowsOptions & { imageList?: string },
): Promise<{ file?: string; list?: string }> {
  if (options.imageList && options.file) return { file: resolve(options.file), list: resolve(options.imageList) };
  if (options.imageList || (options.windowsImageList?.length && !options.file)) {
    return { list: options.imageList ? resolve(options.imageList) : undefined };
  }
  // Like rancher-save-images.sh, whose -l defaults to rancher-images.txt: with
  // no airgap.yaml here but that list, use the list.
  if (!options.file && !(await exists(resolve("airgap.yaml"))) && await exists(resolve("rancher-images.txt"))) {
    if (!options.quiet) {
      console.error("no airgap.yaml here: using ./rancher-images.txt (as rancher-save-images.sh does)");
    }
    return { list: resolve("rancher-images.txt") };
  }
  return { file: resolve(options.file ?? "airgap.yaml") };
}

function throwProblems(problems: string[], what: string) {
  if (problems.length > 0) throw new CheckError(problems, what);
}

/** The Windows flags of rancher-load-images.sh, and the foreign-layer policy. */
function addWindowsOptions(command: Command, withPolicy = true): Command {
  command
    .option(
      "--windows-image-list <file>",
      "Windows image list (rancher-windows-images.txt): windows/amd64 images of --windows-versions",
      collect,
    )
    .option(
      "--windows-versions <list>",
      "Windows versions, comma list: 1809, ltsc2019, 1903, 1909, 2004, 20H2 (= 2009), ltsc2022, ltsc2025 or a build such as 10.0.17763 (default: 1809)",
      collect,
    );
  if (withPolicy) {
    command.option(
      "--foreign-layers <policy>",
      `foreign (non-distributable) layers: ${FOREIGN_LAYER_POLICIES.join(", ")} (default: include)`,
    );
  }
  return command;
}

function cacheDir(options: CommonOptions, decl?: Declaration): string {
  return options.cache ? resolve(options.cache) : decl?.cache ?? defaultCacheDir();
}

function addCommonOptions(command: Command, withFile = true): Command {
  if (withFile) command.option("-f, --file <file>", "declaration file (default: airgap.yaml)");
  return command
    .option(
      "--platform <platform>",
      "platforms to keep: os/arch[/variant], comma list or repeated; all keeps every platform (default: linux/amd64)",
      collect,
    )
    .option("--cache <dir>", `cache directory (default: ${displayPath(defaultCacheDir())})`)
    .option("--timeout <duration>", TIMEOUT_HELP)
    .option("-q, --quiet", "only print results and errors")
    .option("--verbose", "also a line per finished image")
    .option("--debug", "print stack traces on errors");
}

/** The command tree (commander), for `main` and for tests that check documented command lines against it. */
export function program(): Command {
  const cli = new Command("airgap")
    .description("Carry container images into air-gapped Kubernetes and Rancher sites.")
    .version(VERSION, "-V, --version")
    .showHelpAfterError("run 'airgap --help' for usage")
    .exitOverride();

  addWindowsOptions(addCommonOptions(
    cli.command("plan")
      .description("resolve the declaration, show what is cached, new or changed, and write airgap.lock"),
  ))
    .option("-l, --image-list <file>", "plan an image list instead of airgap.yaml")
    .option("-s, --source-registry <host>", "pull from this registry (mirror) instead")
    .option("--lock <file>", "lock file (default: airgap.lock next to airgap.yaml)")
    .option("--locked", "use the digests pinned in the lock instead of resolving tags")
    .option("--no-write-lock", "do not write the lock")
    .option("--since <old>", "also show what a delta against OLD (an airgap.lock or archive) would carry")
    .option("--json", "print the plan as JSON")
    .option("--keep-going", "plan every image that resolves; list the others in airgap.failed.txt (exit code 3)")
    .option("--with-signatures", "also plan cosign signatures, attestations, SBOMs and OCI referrers")
    .option(
      "--verify-key <file>",
      "refuse images without a cosign signature verifying with this PEM key (repeatable)",
      collect,
    )
    .action(async (options) => {
      const decl = await declaration(options);
      const base = options.since ? await loadBase(resolve(options.since), options.since) : undefined;
      const lockPath = options.lock ? resolve(options.lock) : decl.lockPath;
      const previousLock = lockPath ? await readLock(lockPath, displayPath(lockPath)) : undefined;
      if (options.locked && !previousLock) throw usageError("--locked needs an existing lock file");
      const failedList = failedListPath(lockPath ?? resolve("airgap.lock"));
      const reporter = reporterFor(options);
      const { plan, lock, sources, failed } = await planCommand({
        declaration: decl,
        cacheDir: cacheDir(options, decl),
        previousLock,
        locked: options.locked,
        base,
        reporter,
        keepGoing: options.keepGoing ?? decl.keepGoing,
        failedList,
        network: network(options, reporter),
        artifacts: artifactFlags(options),
      });
      reportLeftOut(failed, failedList, reporter, decl.configPath, options.quiet);
      if (options.json) {
        out(JSON.stringify(
          {
            images: plan.images.map((p) => ({
              entry: p.image.request.entry,
              source: p.image.name,
              origin: p.image.request.origin,
              digest: p.image.descriptor.digest,
              upstreamDigest: p.image.upstreamDigest,
              ...(p.previousDigest ? { previousDigest: p.previousDigest } : {}),
              platforms: p.image.platforms,
              ...(p.image.assembled ? { assembled: p.image.assembled } : {}),
              ...(p.image.rewritten ? { rewritten: p.image.rewritten } : {}),
              ...(p.image.foreignLayers ? { foreignLayers: p.image.foreignLayers.length } : {}),
              lock: p.lockStatus,
              missingBlobs: p.missing.length,
              missingBytes: p.missing.reduce((s, d) => s + d.size, 0),
            })),
            removed: plan.removed.map((r) => r.entry),
            sources: sources.summaries.map((s) => ({ ...s.locked, status: s.status, images: s.images })),
            totalBytes: plan.totalBytes,
            uniqueBlobs: plan.blobs.size,
            fetchBytes: plan.fetchBytes,
            fetchBlobs: plan.fetchBlobs,
            delta: plan.delta,
          },
          null,
          2,
        ));
      } else {
        if (sources.summaries.length > 0) out(formatSources(sources) + "\n");
        out(formatPlan(plan, tableWidth()));
      }
      const writing = lockToWrite(decl, options.lock, lockPath);
      if (writing && options.writeLock) {
        await writeLock(writing, lock);
        if (!options.json) out(`wrote ${displayPath(writing)}`);
      }
    });

  addWindowsOptions(addCommonOptions(
    cli.command("save")
      .description("fetch the declared images into the cache and write an archive"),
  ))
    .option("-o, --output <file>", "archive to write (default: airgap-images.tar)")
    .option("-l, --image-list <file>", "seed-compatible: save the images of this list (rancher-images.txt)")
    .option("-i, --images <file>", "seed-compatible name of the archive (like -o)")
    .option("-s, --source-registry <host>", "pull from this registry (mirror) instead of the ones the entries name")
    .option("--lock <file>", "lock file to write (default: airgap.lock next to airgap.yaml)")
    .option("--locked", "save exactly the digests pinned in the lock")
    .option("--since <old>", "write a delta: leave out blobs OLD (an airgap.lock or archive) already references")
    .option("--split <size>", "split the archive into parts of SIZE (e.g. 4GiB for FAT32, 4.7GB for a DVD)")
    .option("--checksum", "write NAME.SHA256SUMS for the archive (always written when split)")
    .option("--concurrency <n>", "concurrent downloads per registry", (v) => parseInt(v, 10))
    .option("--keep-going", "save every image that can be saved; list the others in NAME.failed.txt (exit code 3)")
    .option("--json", "print NDJSON events on stdout (airgap schema --of events)")
    .option("--with-signatures", "carry cosign signatures, attestations, SBOMs and OCI referrers with the images")
    .option(
      "--verify-key <file>",
      "refuse images without a cosign signature verifying with this PEM key (repeatable)",
      collect,
    )
    .action(async (options) => {
      const reporter = transferReporter(options, "save");
      if (options.output && options.images) throw usageError("use either -o/--output or -i/--images, not both");
      let partSize: number | undefined;
      if (options.split) {
        try {
          partSize = parseSize(options.split);
        } catch (e) {
          throw usageError(`--split: ${errorMessage(e)}`);
        }
        if (partSize < 1024 * 1024) throw usageError("--split: parts must be at least 1MiB");
      }
      const base = options.since ? await loadBase(resolve(options.since), options.since) : undefined;
      const decl = await declaration(options);
      const output = resolve(
        options.output ?? options.images ?? decl.output ??
          (decl.configPath ? "airgap-images.tar" : "rancher-images.tar"),
      );
      const lockPath = options.lock ? resolve(options.lock) : decl.lockPath;
      const previousLock = lockPath ? await readLock(lockPath, displayPath(lockPath)) : undefined;
      if (options.locked && !previousLock) throw usageError("--locked needs an existing lock file");
      if (/\.(gz|tgz)$/i.test(output)) {
        reporter.warn(
          `${
            displayPath(output)
          } will be a plain tar, not gzip: layers are compressed already and a tar can be read in any order; consider a .tar name`,
        );
      }
      const started = performance.now();
      const result = await saveCommand({
        declaration: decl,
        output,
        cacheDir: cacheDir(options, decl),
        previousLock,
        locked: options.locked,
        lockPath: lockToWrite(decl, options.lock, lockPath),
        reporter,
        concurrency: options.concurrency,
        partSize,
        base,
        keepGoing: options.keepGoing ?? decl.keepGoing,
        failedList: failedListPath(output),
        network: network(options, reporter),
        artifacts: artifactFlags(options),
      });
      reportLeftOut(result.failed, failedListPath(output), reporter, decl.configPath, options.quiet);
      const sums = result.archive.parts.length > 1 || options.checksum
        ? await writeSums(output, result.archive.parts)
        : undefined;
      if (events) {
        const lock = lockToWrite(decl, options.lock, lockPath);
        emitSaveEvents(events, result, performance.now() - started, lock, failedListPath(output));
        return;
      }
      out(
        await formatSaveSummary(result, { elapsedMs: performance.now() - started, base, split: options.split, sums }),
      );
      if (lockToWrite(decl, options.lock, lockPath)) out(`wrote ${displayPath(lockPath!)}`);
    });

  addWindowsOptions(
    cli.command("load")
      .description("push an archive's images into a registry, keeping every digest"),
    false,
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
    .option("--concurrency <n>", "concurrent uploads", (v) => parseInt(v, 10))
    .option("--keep-going", "load every image that can be loaded; list the others in NAME.failed.txt (exit code 3)")
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
    .option("--debug", "print stack traces on errors")
    .action(async (archiveArgs: string[], options) => {
      const reporter = transferReporter(options, "load");
      const archiveArg = archiveArgs.length > 0 ? firstPart(archiveArgs) : undefined;
      if (archiveArg && options.images) throw usageError("give the archive either as an argument or with -i, not both");
      let decl: Declaration | undefined;
      const configPath = options.file ? resolve(options.file) : resolve("airgap.yaml");
      if (options.file || (await exists(configPath) && !options.imageList)) {
        decl = await loadDeclaration(configPath, { use: "push" });
      }
      const archivePath = resolve(
        archiveArg ?? options.images ??
          (options.imageList || options.windowsImageList || !decl
            ? "rancher-images.tar"
            : decl.output ?? "airgap-images.tar"),
      );
      const registryText = options.registry ?? decl?.target?.registry;
      const charts = options.chartsDir || options.pushCharts
        ? {
          dir: options.chartsDir ? resolve(options.chartsDir) : undefined,
          push: options.pushCharts === undefined
            ? undefined
            : options.pushCharts === true
            ? "charts"
            : options.pushCharts,
        }
        : undefined;
      if (!registryText && charts?.dir && !charts.push) {
        for (const chart of await extractCharts(archivePath, charts.dir)) out(`wrote ${displayPath(chart.file!)}`);
        return;
      }
      if (!registryText) {
        throw usageError("no target registry: give --registry HOST[:PORT] (or target.registry in airgap.yaml)");
      }
      const { registry, prefix: argPrefix } = splitRegistryArgument(registryText);
      const prefix = options.prefix ?? (argPrefix || (options.registry ? "" : decl?.target?.prefix ?? ""));
      const registries = new Map<string, RegistrySettings>(decl?.registries ?? []);
      const target = { ...registries.get(registry) };
      if (options.insecure) target.insecure = true;
      if (options.caFile) target.caFile = resolve(options.caFile);
      registries.set(registry, target);
      const listed = options.imageList || options.windowsImageList
        ? (await declarationFromList(options.imageList ? resolve(options.imageList) : undefined, {
          windowsImageLists: options.windowsImageList?.map((p: string) => resolve(p)),
          windowsVersions: options.windowsVersions,
        })).requests
        : undefined;
      const entries = listed?.map((r) => r.entry);
      const started = performance.now();
      const result = await loadCommand({
        archivePath,
        registry,
        prefix,
        registries,
        entries,
        platforms: options.windowsImageList ? new Map(listed!.map((r) => [r.entry, r.platforms])) : undefined,
        reporter,
        concurrency: options.concurrency,
        charts,
        keepGoing: options.keepGoing ?? decl?.keepGoing,
        network: network(options, reporter),
        verifyKeys: artifactFlags(options).verifyKeys,
      });
      // Not NAME.failed.txt: that may be the list of what the save left out, carried with the archive.
      const failedList = failedListPath(archivePath, "load-failed");
      await writeFailedList(
        failedList,
        result.failed,
        `airgap load: ${result.failed.length} images failed; retry them with: airgap load --image-list ${
          displayPath(failedList)
        }`,
      );
      reportLeftOut(result.failed, failedList, reporter, undefined, options.quiet);
      const elapsed = performance.now() - started;
      if (events) {
        for (const image of result.images) events({ event: "image", ...image, outcome: "loaded" });
        for (const failure of result.failed) events(failedImageEvent(failure));
        const s = result.summary;
        events({
          event: "summary",
          command: "load",
          images: s.images,
          failed: result.failed.length,
          ...(result.failed.length ? { failedList: displayPath(failedList) } : {}),
          alreadyPresent: s.alreadyPresent,
          blobs: { pushed: s.blobs.pushed, mounted: s.blobs.mounted, exists: s.blobs.present },
          bytes: s.bytesPushed,
          artifacts: result.artifacts,
          target: prefix ? `${registry}/${prefix}` : registry,
          elapsedMs: Math.round(elapsed),
        });
        return;
      }
      if (!options.quiet) { for (const image of result.images) out(`${image.target}@${image.digest}`); }
      for (const chart of result.charts) {
        if (chart.file) out(`wrote ${displayPath(chart.file)}`);
        if (chart.target) out(`pushed chart ${chart.target}`);
      }
      out(formatLoadSummary(result.summary, prefix ? `${registry}/${prefix}` : registry, elapsed, options.pushCharts));
      if (result.artifacts) out(`pushed ${result.artifacts} signatures/attestations/SBOMs with their images`);
    });

  addWindowsOptions(addCommonOptions(
    cli.command("mirror")
      .description("copy the declared images straight into a registry (no archive), pushing only what it lacks"),
  ))
    .option("-r, --registry <host[:port][/prefix]>", "target registry (default: target.registry in airgap.yaml)")
    .option("--prefix <path>", "path prefix in the target registry, e.g. a Harbor project")
    .option("--insecure", "allow plain HTTP to the target registry")
    .option("--ca-file <file>", "CA certificate(s) to trust for the target registry")
    .option("-l, --image-list <file>", "mirror the images of this list (rancher-images.txt)")
    .option("-s, --source-registry <host>", "pull from this registry (mirror) instead of the ones the entries name")
    .option("--lock <file>", "lock file to write (default: airgap.lock next to airgap.yaml)")
    .option("--locked", "mirror exactly the digests pinned in the lock")
    .option("--since <old>", "blobs OLD (an airgap.lock or archive) references are at the target already: skip them")
    .option("--cache-blobs", "also keep every blob in the cache (default: only manifests)")
    .option("--with-signatures", "also copy cosign signatures, attestations, SBOMs and OCI referrers")
    .option(
      "--verify-key <file>",
      "refuse images without a cosign signature verifying with this PEM key (repeatable)",
      collect,
    )
    .option("--concurrency <n>", "concurrent transfers per registry", (v) => parseInt(v, 10))
    .option(
      "--keep-going",
      "mirror every image that can be mirrored; list the others in NAME.mirror-failed.txt (exit code 3)",
    )
    .option("--json", "print NDJSON events on stdout (airgap schema --of events)")
    .action(async (options) => {
      const reporter = transferReporter(options, "mirror");
      const decl = await declaration(options);
      const registryText = options.registry ?? decl.target?.registry;
      if (!registryText) {
        throw usageError("no target registry: give --registry HOST[:PORT] (or target.registry in airgap.yaml)");
      }
      const { registry, prefix: argPrefix } = splitRegistryArgument(registryText);
      const prefix = options.prefix ?? (argPrefix || (options.registry ? "" : decl.target?.prefix ?? ""));
      const registries = new Map<string, RegistrySettings>(decl.registries);
      registries.set(registry, {
        ...registries.get(registry),
        ...(options.insecure ? { insecure: true } : {}),
        ...(options.caFile ? { caFile: resolve(options.caFile) } : {}),
      });
      const base = options.since ? await loadBase(resolve(options.since), options.since) : undefined;
      const lockPath = options.lock ? resolve(options.lock) : decl.lockPath;
      const previousLock = lockPath ? await readLock(lockPath, displayPath(lockPath)) : undefined;
      if (options.locked && !previousLock) throw usageError("--locked needs an existing lock file");
      const started = performance.now();
      const failedList = failedListPath(lockPath ?? resolve("airgap.lock"), "mirror-failed");
      const result = await mirrorCommand({
        declaration: { ...decl, registries },
        registry,
        prefix,
        cacheDir: cacheDir(options, decl),
        cacheBlobs: options.cacheBlobs,
        previousLock,
        locked: options.locked,
        lockPath: lockToWrite(decl, options.lock, lockPath),
        base,
        reporter,
        network: network(options, reporter),
        concurrency: options.concurrency,
        perOsTags: (options.windowsImageList?.length ?? 0) > 0,
        artifacts: artifactFlags(options),
        keepGoing: options.keepGoing ?? decl.keepGoing,
        failedList,
      });
      reportLeftOut(result.failed, failedList, reporter, decl.configPath, options.quiet);
      const elapsed = performance.now() - started;
      const s = result.stats;
      if (events) {
        for (const image of result.images) events({ event: "image", ...image, outcome: "mirrored" });
        for (const failure of result.failed) events(failedImageEvent(failure));
        events({
          event: "summary",
          command: "mirror",
          images: result.images.length,
          failed: result.failed.length,
          ...(result.failed.length ? { failedList: displayPath(failedList) } : {}),
          blobs: { pushed: s.blobsPushed, mounted: s.blobsMounted, exists: s.blobsSkipped },
          bytes: s.bytesPushed,
          fetchedBlobs: result.fetchedBlobs,
          fetchedBytes: result.fetchedBytes,
          artifacts: result.artifacts,
          target: prefix ? `${registry}/${prefix}` : registry,
          ...(lockToWrite(decl, options.lock, lockPath) ? { lock: displayPath(lockPath!) } : {}),
          elapsedMs: Math.round(elapsed),
        });
        return;
      }
      if (!options.quiet) { for (const image of result.images) out(`${image.target}@${image.digest}`); }
      out(
        `mirrored ${result.images.length} images into ${registry} in ${
          formatDuration(elapsed)
        }: ${s.blobsPushed} blobs pushed (${formatBytes(s.bytesPushed)}, ${
          formatRate(s.bytesPushed, elapsed)
        }), ${s.blobsMounted} mounted, ${s.blobsSkipped} already there, ${s.manifestsPushed} manifests pushed${
          result.artifacts ? `; ${result.artifacts} signatures/attestations/SBOMs` : ""
        }`,
      );
      if (lockToWrite(decl, options.lock, lockPath)) out(`wrote ${displayPath(lockPath!)}`);
    });

  cli.command("images")
    .description(
      "print the final image list (lists, Rancher release, charts), de-duplicated and sorted; --why says where each came from",
    )
    .option(
      "--cache <dir>",
      `cache directory for fetched release lists and charts (default: ${displayPath(defaultCacheDir())})`,
    )
    .option("-q, --quiet", "only print results and errors")
    .option("--debug", "print stack traces on errors")
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
    .option("--why", "show where each image came from (file and line, chart and template, values path)")
    .option("--json", "print the list as JSON")
    .option("--lock <file>", "lock file (default: airgap.lock next to airgap.yaml)")
    .option("--locked", "use the release lists and charts the lock pins")
    .option("--timeout <duration>", TIMEOUT_HELP)
    .action(async (options) => {
      const reporter = reporterFor(options);
      let images;
      if (options.chart) {
        if (options.imageList) throw usageError("use either --chart or -l/--image-list, not both");
        const result = await chartFileImages({
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
        });
        for (const warning of result.warnings) reporter.warn(warning);
        images = result.images;
      } else {
        const chartFlags = ["values", "set", "setString", "setJson", "setFile", "releaseName", "namespace"];
        for (const flag of [...chartFlags, "kubeVersion", "apiVersions"]) {
          if (options[flag] !== undefined) {
            throw usageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --chart`);
          }
        }
        if ((options.file ?? []).length > 1) throw usageError("give one declaration with -f");
        const decl = await declaration({ ...options, file: options.file?.[0] });
        const lockPath = options.lock ? resolve(options.lock) : decl.lockPath;
        const previousLock = lockPath ? await readLock(lockPath, displayPath(lockPath)) : undefined;
        if (options.locked && !previousLock) throw usageError("--locked needs an existing lock file");
        images = (await imagesCommand({
          declaration: decl,
          cacheDir: cacheDir(options, decl),
          previousLock,
          locked: options.locked,
          reporter,
          network: network(options, reporter),
        })).images;
      }
      if (options.json) out(JSON.stringify(images, null, 2));
      else if (images.length > 0) out(formatImageList(images, options.why));
    });

  cli.command("serve")
    .description("serve an archive or a cache directory as a registry (read-only, or --writable into a cache)")
    .argument("<source>", "archive file or cache directory")
    .option("--listen <address>", "HOST:PORT to listen on; :PORT listens on every interface", "127.0.0.1:5000")
    .option(
      "--registry-name <host[:port][/prefix]>",
      "serve the names `airgap load --registry` would create there (default: the images' own names)",
    )
    .option("--writable", "accept pushes into the cache directory")
    .option("--base-cache <dir>", "for a delta archive: a cache directory with its base (blobs the delta leaves out)")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (chain)")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("-q, --quiet", "do not log requests")
    .option("--debug", "print stack traces on errors")
    .action(async (source: string, options) => {
      const reporter = reporterFor(options);
      const handle = await serveCommand({
        source: resolve(source),
        listen: options.listen,
        registryName: options.registryName,
        baseCache: options.baseCache && resolve(options.baseCache),
        writable: options.writable,
        tlsCert: options.tlsCert && resolve(options.tlsCert),
        tlsKey: options.tlsKey && resolve(options.tlsKey),
        onRequest: options.quiet
          ? undefined
          : (r) => reporter.info(`${r.method} ${r.path} ${r.status} ${formatBytes(r.bytes)} ${r.ms}ms`),
      });
      for (const warning of handle.warnings) reporter.warn(warning);
      out(
        `serving ${handle.images} images from ${displayPath(resolve(source))} at ${handle.server.url}${
          options.writable ? " (writable)" : ""
        }`,
      );
      const signal = await waitForShutdown();
      await handle.close();
      reporter.info(`stopped on ${signal}`);
    });

  cli.command("verify")
    .description("re-hash every blob of an archive and check every image is complete (or complete given its base)")
    .argument("<archive...>", "the archive, its first part, or all its parts")
    .option("--base <old>", "for a delta: the airgap.lock (or archive) it was cut against")
    .option("-q, --quiet", "only print problems and the result")
    .option("--json", "print the result as JSON (airgap schema --of verify)")
    .option("--debug", "print stack traces on errors")
    .action(async (archives: string[], options) => {
      const path = resolve(firstPart(archives));
      const base = options.base ? await loadBase(resolve(options.base), options.base) : undefined;
      const reporter = reporterFor(options);
      const started = performance.now();
      let phase: Phase | undefined;
      const result = await verifyCommand(path, {
        base,
        onStart: (bytes) => phase = reporter.phase("verifying", { bytes, source: displayPath(path) }),
        onProgress: (n) => phase?.bytes(n),
      }).finally(() => phase?.end());
      if (options.json) out(JSON.stringify({ ...result, ok: result.problems.length === 0 }, null, 2));
      for (const problem of result.problems) console.error(`error: ${problem.subject}: ${problem.message}`);
      const what = `${result.images} images${
        result.charts ? `, ${result.charts} charts` : ""
      }, ${result.blobs} blobs, ${formatBytes(result.bytes)}${
        result.parts.length > 1 ? ` in ${result.parts.length} parts` : ""
      }${result.fromBase ? `, ${result.fromBase} blobs from its base` : ""}${
        result.artifacts ? `, ${result.artifacts} signatures/attestations/SBOMs` : ""
      }`;
      if (result.problems.length > 0) {
        throw new AirgapError(`${displayPath(path)}: ${result.problems.length} problem(s) in ${what}`);
      }
      if (!options.json) out(`${displayPath(path)}: OK (${what}, ${formatDuration(performance.now() - started)})`);
    });

  cli.command("ls")
    .description("list the images of an archive: platforms, sizes, digests")
    .argument("<archive...>", "the archive, its first part, or all its parts")
    .option("--json", "print JSON")
    .option("--debug", "print stack traces on errors")
    .action(async (archives: string[], options) => {
      const listing = await lsCommand(resolve(firstPart(archives)));
      if (options.json) {
        out(JSON.stringify(listing, null, 2));
        return;
      }
      const rows = listing.images.map((i) => [
        i.kind === "image" ? i.entry : `${i.entry} (${i.kind})`,
        shortDigest(i.digest),
        i.artifacts ? `${i.artifacts}${i.verifiedSignatures ? " (verified)" : ""}` : "-",
        i.platforms.length ? i.platforms.join(",") : "-",
        i.carried === i.size ? formatBytes(i.size) : `${formatBytes(i.carried)} of ${formatBytes(i.size)}`,
      ]);
      const charts = listing.images.filter((i) => i.kind === "chart").length;
      const imageCount = listing.images.length - charts;
      const table = formatTable(["IMAGE", "DIGEST", "ARTIFACTS", "PLATFORMS", "SIZE"], rows, {
        width: tableWidth(),
        shrink: [0, 3],
      });
      for (const line of table) out(line);
      out("");
      out(
        `${imageCount} images${charts ? `, ${charts} charts` : ""}, ${listing.blobs} blobs, ${
          formatBytes(listing.size)
        }${listing.parts.length > 1 ? ` in ${listing.parts.length} parts` : ""}${
          listing.base ? `; a delta against base ${shortDigest(listing.base)}` : ""
        }`,
      );
    });

  cli.command("diff")
    .description("compare two locks: images added, removed, changed, re-tagged, and the bytes that move")
    .argument("<old>", "the older airgap.lock (or an archive)")
    .argument("<new>", "the newer airgap.lock (or an archive)")
    .option("--json", "print JSON")
    .option("--debug", "print stack traces on errors")
    .action(async (oldPath: string, newPath: string, options) => {
      const before = await loadBase(resolve(oldPath), oldPath);
      const after = await loadBase(resolve(newPath), newPath);
      const diff = diffLocks(before.lock, after.lock);
      if (options.json) {
        out(JSON.stringify(diff, null, 2));
        return;
      }
      for (const i of diff.added) out(`+ ${i.entry}  ${shortDigest(i.digest)}`);
      for (const i of diff.removed) out(`- ${i.entry}  ${shortDigest(i.digest)}`);
      for (const c of diff.changed) {
        out(`~ ${c.after.entry}  ${shortDigest(c.before.digest)} -> ${shortDigest(c.after.digest)}`);
      }
      for (const r of diff.retagged) out(`> ${r.before.entry} -> ${r.after.entry}  ${shortDigest(r.after.digest)}`);
      out(
        `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed, ${diff.retagged.length} re-tagged, ${diff.unchanged} unchanged`,
      );
      out(formatDeltaSize(oldPath, { blobs: diff.newBlobs, bytes: diff.newBytes }));
    });

  const cacheCli = cli.command("cache").description("look after the local cache");
  cacheCli.command("ls")
    .description("summarise the cache: loose blobs, packs, unfinished downloads")
    .option("--cache <dir>", "cache directory")
    .option("--json", "print JSON")
    .action(async (options) => {
      const summary = await cacheLs(cacheDir(options));
      if (options.json) {
        out(JSON.stringify(summary, null, 2));
        return;
      }
      out(`cache ${displayPath(summary.dir)}`);
      out(`  loose blobs: ${summary.loose.blobs} (${formatBytes(summary.loose.bytes)})`);
      for (const p of summary.packs) {
        out(
          `  pack ${p.id}: ${p.blobs} blobs (${formatBytes(p.bytes)}), ${formatBytes(p.diskBytes)} on disk${
            p.inUse ? ", in use" : ""
          }`,
        );
      }
      out(`  unfinished downloads: ${summary.partials.files} (${formatBytes(summary.partials.bytes)})`);
      out(`  names: ${summary.tags}`);
    });
  cacheCli.command("verify")
    .description("re-hash every blob in the cache")
    .option("--cache <dir>", "cache directory")
    .option("--repair", "drop blobs that fail (they are fetched again when needed)")
    .action(async (options) => {
      const result = await cacheVerify(cacheDir(options), { repair: options.repair });
      for (const bad of result.bad) console.error(`error: ${bad.where}: ${bad.message}`);
      if (result.bad.length > 0 && !options.repair) {
        throw new AirgapError(
          `${result.bad.length} of ${result.checked} blobs failed verification (run with --repair to drop them)`,
        );
      }
      out(
        `${result.checked} blobs, ${formatBytes(result.bytes)} verified${
          result.repaired ? `; ${result.repaired} bad ones dropped` : ""
        }`,
      );
    });
  cacheCli.command("prune")
    .description("remove what no lock references (never what a running save is writing)")
    .option("--cache <dir>", "cache directory")
    .option("--lock <file>", "a lock whose content to keep (repeatable; default ./airgap.lock)", collect)
    .option("--repack", "also copy kept blobs out of mixed packs and remove those packs")
    .option("--dry-run", "only report")
    .action(async (options) => {
      const lockPaths: string[] = options.lock ??
        (await exists(resolve("airgap.lock")) ? [resolve("airgap.lock")] : []);
      if (lockPaths.length === 0) {
        throw usageError(
          "name the locks whose content to keep with --lock (pruning against no lock would empty the cache)",
        );
      }
      const locks = [];
      for (const path of lockPaths) {
        const lock = await readLock(resolve(path), path);
        if (!lock) throw usageError(`${path} does not exist`);
        locks.push(lock);
      }
      const result = await cachePrune(cacheDir(options), locks, { dryRun: options.dryRun, repack: options.repack });
      out(
        `${
          options.dryRun ? "would remove" : "removed"
        } ${result.removedBlobs} blobs and ${result.removedPacks} packs, ${formatBytes(result.freedBytes)}${
          result.skippedInUse ? `; ${result.skippedInUse} pack(s) in use left alone` : ""
        }${result.runningSaves ? `; kept what ${result.runningSaves} running save(s) use` : ""}`,
      );
      const reclaimable = result.keptPacks.reduce((s, p) => s + p.reclaimable, 0);
      if (reclaimable > 0) {
        out(
          `${result.keptPacks.length} pack(s) still hold kept blobs; --repack would free about ${
            formatBytes(reclaimable)
          }`,
        );
      }
    });

  cli.command("demo")
    .description("the whole job on an embedded default: generated images, embedded registries, plan/save/load/verify")
    .option("--dir <dir>", "work here and keep everything (default: a temporary directory, removed afterwards)")
    .action(async (options) => {
      const code = await demoCommand({
        run: (args) => main(args),
        dir: options.dir ? resolve(options.dir) : undefined,
        say: (line) => out(line),
      });
      if (code !== 0) throw new AirgapError("the demo failed");
    });

  addWindowsOptions(
    cli.command("check")
      .description("check the declaration: every problem in one pass, without the network")
      .option("-f, --file <file>", "declaration file (default: airgap.yaml)")
      .option("-l, --image-list <file>", "check an image list instead of airgap.yaml")
      .option("--platform <platform>", "platforms to keep, as for plan and save", collect)
      .addOption(
        new Option("--for <use>", "whose credentials must be usable: pull (plan, save) or push (load)")
          .choices(["pull", "push"]).default("pull"),
      ),
    false,
  )
    .option("--debug", "print stack traces on errors")
    .action(async (options) => {
      const overrides = {
        platforms: options.platform,
        windowsImageLists: options.windowsImageList?.map((p: string) => resolve(p)),
        windowsVersions: options.windowsVersions,
        use: options.for,
      };
      const source = await declarationSource(options);
      const shown = source.file
        ? displayPath(source.file)
        : source.list
        ? displayPath(source.list)
        : "the command line";
      throwProblems(
        source.file
          ? await checkDeclaration(source.file, overrides)
          : await checkListDeclaration(source.list, overrides),
        shown,
      );
      out(`${shown}: no problems found`);
    });

  cli.command("init")
    .description("write a commented starter airgap.yaml (never over an existing file)")
    .option("-f, --file <file>", "file to write", "airgap.yaml")
    .option("--rancher <version>", "a Rancher release, e.g. v2.8.5: its images, chart and windows list")
    .option("--debug", "print stack traces on errors")
    .action(async (options) => {
      const path = resolve(options.file);
      await initCommand({ path, rancher: options.rancher });
      out(`wrote ${displayPath(path)}: edit it, then run "airgap check" and "airgap plan"`);
    });

  cli.command("completion")
    .description("print a shell completion script (bash, zsh, fish, powershell); e.g. source <(airgap completion bash)")
    .addArgument(new Argument("<shell>", "the shell").choices(COMPLETION_SHELLS))
    .action((shell: Shell) => out(completionScript(shell, cli).trimEnd()));

  cli.command("schema")
    .description("print the JSON Schema of airgap.yaml (or of airgap.lock, or of a command's --json output)")
    .addOption(
      new Option("--of <what>", "which schema").choices(["config", "lock", ...Object.keys(OUTPUT_SCHEMAS)]).default(
        "config",
      ),
    )
    .action((options) => {
      const schema = options.of === "lock"
        ? lockJsonSchema()
        : options.of === "config"
        ? configJsonSchema()
        : outputJsonSchema(options.of);
      out(JSON.stringify(schema, null, 2));
    });

  shortUsageErrors(cli, "airgap");
  return cli;
}

/** The `image` and `summary` events that close a `save --json`. */
function emitSaveEvents(emit: EventSink, result: SaveResult, elapsed: number, lock?: string, failedList?: string) {
  for (const p of result.plan.images) {
    if (p.image.artifact) continue;
    emit({ event: "image", entry: p.image.request.entry, digest: p.image.descriptor.digest, outcome: "saved" });
  }
  for (const failure of result.failed) emit(failedImageEvent(failure));
  const images = result.plan.images.filter((i) => !i.image.artifact).length;
  emit({
    event: "summary",
    command: "save",
    images,
    failed: result.failed.length,
    ...(result.failed.length && failedList ? { failedList: displayPath(failedList) } : {}),
    blobs: { pushed: result.archive.blobs, mounted: 0, exists: 0 },
    bytes: result.archive.blobBytes,
    fetchedBlobs: result.fetchedBlobs,
    fetchedBytes: result.fetchedBytes,
    artifacts: result.plan.images.length - images,
    archive: displayPath(result.archive.path),
    parts: result.archive.parts.map((p) => displayPath(p)),
    archiveBytes: result.archive.size,
    ...(lock ? { lock: displayPath(lock) } : {}),
    elapsedMs: Math.round(elapsed),
  });
}

/** A usage mistake prints the error and its suggestion, then where the help is — not the whole help. */
function shortUsageErrors(command: Command, path: string) {
  for (const sub of command.commands) {
    const name = `${path} ${sub.name()}`;
    sub.showHelpAfterError(`run '${name} --help' for usage`);
    shortUsageErrors(sub, name);
  }
}

/** Several archive arguments must be the parts of one split archive: take the first. */
function firstPart(paths: string[]): string {
  const sorted = [...paths].sort();
  if (sorted.length > 1) {
    const base = sorted[0].replace(/\.001$/, "");
    if (!sorted.every((p, i) => p === `${base}.${String(i + 1).padStart(3, "0")}`)) {
      throw usageError(`give one archive, or all parts of one split archive in order (got ${paths.join(" ")})`);
    }
  }
  return sorted[0];
}

/** Run the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const cli = program();
  const debug = args.includes("--debug");
  partialSuccess = false;
  events = undefined;
  const stopListening = listenForInterrupts(args[0] === "serve");
  try {
    await cli.parseAsync(args, { from: "user" });
    return partialSuccess ? 3 : 0;
  } catch (e) {
    const code = failed(e, debug);
    (events as EventSink | undefined)?.(
      errorEvent(
        e,
        code,
        e instanceof CheckError ? e.problems : e instanceof ResolveError ? e.failures : undefined,
        e instanceof ResolveError ? e.details : undefined,
      ),
    );
    return code;
  } finally {
    stopListening();
  }
}

/** Print a failed run's error lines on stderr; the exit code. */
function failed(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) return 0;
    return 2;
  }
  if (interruption.signal.aborted && !(e instanceof InterruptedError)) {
    console.error("interrupted; run the same command again to resume");
    return 130;
  }
  if (e instanceof CheckError) {
    for (const problem of e.problems) console.error(`error: ${problem}`);
    console.error(`error: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof ResolveError) {
    // A few failures in full (their messages say what to do); many, grouped by cause.
    const lines = e.details.length <= 3 ? e.failures : groupFailures(e.details);
    for (const line of lines) console.error(`error: ${line}`);
    console.error(`error: ${e.message}`);
    return 1;
  }
  if (debug) console.error(e);
  else if (e instanceof InterruptedError) console.error(errorMessage(e));
  else console.error(`error: ${errorMessage(e)}`);
  return e instanceof AirgapError ? e.exitCode : 1;
}

/**
 * Ctrl-C and SIGTERM cancel the run (transfers stop, the command reports
 * what is cached and exits 130); a second one exits at once. `serve` has its
 * own shutdown. Windows has only SIGINT and SIGBREAK.
 */
let listening = false;
function listenForInterrupts(skip: boolean): () => void {
  if (skip || listening) return () => {}; // serve has its own; the demo runs main inside main
  listening = true;
  interruption = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const handler = () => {
    if (interruption.signal.aborted) Deno.exit(130);
    interruption.abort(new InterruptedError());
  };
  const installed = signals.filter((s) => {
    try {
      Deno.addSignalListener(s, handler);
      return true;
    } catch {
      return false; // not available here
    }
  });
  return () => {
    installed.forEach((s) => Deno.removeSignalListener(s, handler));
    listening = false;
  };
}

if (import.meta.main) {
  const code = await main(Deno.args);
  Deno.exit(code);
}
