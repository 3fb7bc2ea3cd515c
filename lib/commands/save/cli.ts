/**
 * `airgap save`: its options — the archive's name (`-o`, or the seed's `-i`),
 * `--split`, the lock it writes — and its output: the closing summary, or
 * with `--json` the `image` and `summary` events. The save itself is
 * `saveCommand` (lib/commands/save/save.ts).
 * @module
 */
import type { Command } from "commander";
import { basename, resolve } from "node:path";
import { saveCommand, type SaveResult } from "./save.ts";
import { type Base, deltaSize, formatDeltaSize, loadBase } from "../../plan/delta.ts";
import { displayPath } from "../../plan/declaration.ts";
import { lockBlobs } from "../../lock.ts";
import { errorMessage, usageError } from "../../errors.ts";
import { formatBytes, formatDuration, formatRate, parseSize, plural } from "../../text.ts";
import { failedListPath, keepGoingHelp } from "../../report/failures.ts";
import { type EventSink, failedImageEvent } from "../../report/events.ts";
import { writeSums } from "../../format/checksums.ts";
import { registryNaming } from "../../cluster/names.ts";
import { network, out, reportLeftOut, run, transferReporter } from "../shared/context.ts";
import { addCommonOptions, addWindowsOptions, collect, type DeclarationOptions } from "../shared/options.ts";
import { positiveInteger } from "../shared/options.ts";
import { addCredentialOptions, type CredentialOptions, withSourceAccess } from "../shared/credentials.ts";
import { artifactFlags, declaration, defaultArchive, lockToWrite, previousLockOf } from "../shared/resolve_options.ts";
import { DEFAULT_ARCHIVE_HELP, namingPathOptions, preflightLock, writableCacheDir } from "../shared/resolve_options.ts";
import { checkOutputDirectory } from "../../format/volumes.ts";

/** The options of `airgap save`. */
export interface SaveCliOptions extends DeclarationOptions, CredentialOptions {
  caFile?: string;
  insecure?: boolean;
  output?: string;
  images?: string;
  lock?: string;
  locked?: boolean;
  since?: string;
  split?: string;
  checksum?: boolean;
  concurrency?: number;
  keepGoing?: boolean;
  json?: boolean;
  withSignatures?: boolean;
  verifyKey?: string[];
  registryName?: string;
}

/** Register `airgap save`. */
export function registerSave(cli: Command): void {
  const command = addWindowsOptions(addCommonOptions(
    cli.command("save")
      .description("fetch the declared images into the cache and write an archive"),
  ))
    .option("-o, --output <file>", `archive to write (${DEFAULT_ARCHIVE_HELP})`)
    .option("-l, --image-list <file>", "seed-compatible: save the images of this list (rancher-images.txt)")
    .option("-i, --images <file>", "seed-compatible name of the archive (like -o)")
    .option("-s, --source-registry <host>", "pull from this registry (mirror) instead of the ones the entries name")
    .option("--ca-file <file>", "CA certificate(s) to trust for the source registries (-s, or those the entries name)")
    .option("--insecure", "allow plain HTTP to the source registries (-s, or those the entries name)")
    .option("--lock <file>", "lock file to write (default: airgap.lock next to airgap.yaml)")
    .option("--locked", "save exactly the digests pinned in the lock")
    .option("--since <old>", "write a delta: leave out blobs OLD (an airgap.lock or archive) already references")
    .option("--split <size>", "split the archive into parts of SIZE (e.g. 4GiB for FAT32, 4.7GB for a DVD)")
    .option("--checksum", "write NAME.SHA256SUMS for the archive (always written when split)")
    .option("--concurrency <n>", "concurrent downloads per registry", positiveInteger)
    .option("--keep-going", keepGoingHelp("save", "NAME"))
    .option("--json", "print NDJSON events on stdout (airgap schema --of events)")
    .option("--with-signatures", "carry cosign signatures, attestations, SBOMs and OCI referrers with the images")
    .option(
      "--verify-key <file>",
      "refuse images without a cosign signature verifying with this PEM key (repeatable)",
      collect,
    )
    .option(
      "--registry-name <host[:port][/prefix]>",
      "name the images for containerd (preload tarball) as load would push them to this registry",
    );
  addCredentialOptions(command, "the source registry (-s, or the one the entries name)");
  command.action(save);
}

/** `-o` and `-i` name the same thing: at most one of them. */
export function checkOutputOptions(options: Pick<SaveCliOptions, "output" | "images">): void {
  if (options.output && options.images) throw usageError("use either -o/--output or -i/--images, not both");
}

/** `--split SIZE` in bytes (at least 1 MiB); undefined without it. */
export function partSizeOf(split: string | undefined): number | undefined {
  if (!split) return undefined;
  let partSize: number;
  try {
    partSize = parseSize(split);
  } catch (e) {
    throw usageError(`--split: ${errorMessage(e)}`);
  }
  if (partSize < 1024 * 1024) throw usageError("--split: parts must be at least 1MiB");
  return partSize;
}

/** The archive to write: `-o`, `-i`, or {@link defaultArchive}. */
export function saveOutput(
  options: Pick<SaveCliOptions, "output" | "images">,
  decl: Parameters<typeof defaultArchive>[0],
): string {
  return resolve(options.output ?? options.images ?? defaultArchive(decl));
}

/** The warning for an archive named like a gzip file (it is a plain tar); undefined for other names. */
export function gzipNameWarning(output: string): string | undefined {
  if (!/\.(gz|tgz)$/i.test(output)) return undefined;
  return `${
    displayPath(output)
  } will be a plain tar, not gzip: layers are compressed already and a tar can be read in any order; consider a .tar name`;
}

async function save(options: SaveCliOptions): Promise<void> {
  const reporter = transferReporter(options, "save");
  checkOutputOptions(options);
  const partSize = partSizeOf(options.split);
  const base = options.since ? await loadBase(resolve(options.since), options.since) : undefined;
  const decl = await withSourceAccess(await declaration(options), options);
  const output = saveOutput(options, decl);
  await checkOutputDirectory(output);
  const { lockPath, previousLock } = await previousLockOf(options, decl);
  const warning = gzipNameWarning(output);
  if (warning) reporter.warn(warning);
  const started = performance.now();
  const lock = lockToWrite(decl, options.lock, lockPath);
  await preflightLock(lock);
  const cache = await writableCacheDir(options, decl);
  const result = await saveCommand({
    declaration: decl,
    output,
    cacheDir: cache,
    previousLock,
    locked: options.locked,
    lockPath: lock,
    reporter,
    concurrency: options.concurrency,
    partSize,
    base,
    keepGoing: options.keepGoing ?? decl.keepGoing,
    failedList: failedListPath(output, "save"),
    network: network(options, reporter),
    artifacts: artifactFlags(options),
    registryName: options.registryName ? registryNaming(options.registryName) : undefined,
  }).catch(namingPathOptions({ cache, lock }));
  reportLeftOut(result.failed, failedListPath(output, "save"), reporter, decl.configPath, options.quiet);
  const sums = result.archive.parts.length > 1 || options.checksum
    ? await writeSums(output, result.archive.parts)
    : undefined;
  if (run.events) {
    emitSaveEvents(run.events, result, performance.now() - started, lock, failedListPath(output, "save"));
    return;
  }
  out(await formatSaveSummary(result, { elapsedMs: performance.now() - started, base, split: options.split, sums }));
  if (lock) out(`wrote ${displayPath(lock)}`);
}

/** The `image` and `summary` events that close a `save --json`. */
export function emitSaveEvents(
  emit: EventSink,
  result: SaveResult,
  elapsed: number,
  lock?: string,
  failedList?: string,
): void {
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

/** The closing lines of a save: images and charts, the archive (its parts and their sizes), the delta, the download. */
export async function formatSaveSummary(
  result: SaveResult,
  options: { elapsedMs: number; base?: Base; split?: string; sums?: string },
): Promise<string> {
  const { archive, plan } = result;
  const images = plan.images.filter((i) => !i.image.artifact);
  const artifacts = plan.images.length - images.length;
  const cached = images.filter((i) => i.missing.length === 0).length;
  const charts = result.sources.charts.length;
  const lines = [
    `saved ${plural(images.length, "image")}${cached > 0 ? ` (${cached} entirely from the cache)` : ""}${
      artifacts ? ` with ${plural(artifacts, "signature/attestation/SBOM", "signatures/attestations/SBOMs")}` : ""
    }${charts ? ` and ${plural(charts, "chart")}` : ""} to ${displayPath(archive.path)} in ${
      formatDuration(options.elapsedMs)
    }: ${plural(archive.blobs, "blob")}, ${formatBytes(archive.blobBytes)}; the archive is ${
      formatBytes(archive.size)
    }`,
  ];
  if (archive.parts.length > 1) {
    const sizes = await Promise.all(archive.parts.map(async (p) => (await Deno.stat(p)).size));
    lines.push(
      `split into ${archive.parts.length} parts: ${
        archive.parts.map((p, i) => `${basename(p)} (${formatBytes(sizes[i])})`).join(", ")
      }`,
    );
  } else if (options.split) {
    lines.push(`archive smaller than the split size (${options.split}): one file ${displayPath(archive.path)}`);
  }
  if (options.sums) lines.push(`checksums in ${displayPath(options.sums)}`);
  if (options.base) {
    lines.push(formatDeltaSize(options.base.source, deltaSize(lockBlobs(result.lock), options.base.blobs)));
  }
  lines.push(
    result.fetchedBlobs === 0
      ? "fetched nothing: everything came from the cache"
      : `fetched ${plural(result.fetchedBlobs, "blob")}, ${
        formatBytes(result.fetchedBytes)
      } (${result.fetchedBytes} bytes) at ${formatRate(result.fetchedBytes, options.elapsedMs)}`,
  );
  return lines.join("\n");
}
