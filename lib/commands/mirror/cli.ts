/**
 * `airgap mirror`: its options (the target as for load, the declaration as
 * for save) and its output — the pushed references and the closing summary,
 * or the events. The copy itself is `mirrorCommand` (lib/commands/mirror/mirror.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { addCredentialOptions, type CredentialOptions } from "../shared/credentials.ts";
import { withTargetCredential } from "../load/cli.ts";
import { mirrorCommand, type MirrorResult } from "./mirror.ts";
import { loadBase } from "../../plan/delta.ts";
import { displayPath } from "../../plan/declaration.ts";
import { formatDuration, plural } from "../../text.ts";
import { formatBlobOutcomes, formatFailed, formatImageOutcomes } from "../../report/outcomes.ts";
import { failedImageEvent } from "../../report/events.ts";
import { failedListPath, keepGoingHelp } from "../../report/failures.ts";
import { network, out, reportLeftOut, run, transferReporter } from "../shared/context.ts";
import {
  addCommonOptions,
  addWindowsOptions,
  collect,
  type DeclarationOptions,
  positiveInteger,
  type TargetOptions,
} from "../shared/options.ts";
import {
  artifactFlags,
  cacheDir,
  declaration,
  lockToWrite,
  namingPathOptions,
  preflightLock,
  previousLockOf,
  type Target,
  targetName,
  targetOf,
} from "../shared/resolve_options.ts";

/** The options of `airgap mirror`. */
export interface MirrorCliOptions extends DeclarationOptions, TargetOptions, CredentialOptions {
  lock?: string;
  locked?: boolean;
  since?: string;
  cacheBlobs?: boolean;
  withSignatures?: boolean;
  verifyKey?: string[];
  concurrency?: number;
  keepGoing?: boolean;
  json?: boolean;
}

/** Register `airgap mirror`. */
export function registerMirror(cli: Command): void {
  addCredentialOptions(
    addWindowsOptions(addCommonOptions(
      cli.command("mirror")
        .description("copy the declared images straight into a registry (no archive), pushing only what it lacks"),
    )),
    "the target registry",
  )
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
    .option("--concurrency <n>", "concurrent transfers per registry", positiveInteger)
    .option("--keep-going", keepGoingHelp("mirror", "airgap"))
    .option("--json", "print NDJSON events on stdout (airgap schema --of events)")
    .action(mirror);
}

async function mirror(options: MirrorCliOptions): Promise<void> {
  const reporter = transferReporter(options, "mirror");
  const decl = await declaration(options, true);
  const target = await withTargetCredential(targetOf(options, decl), options);
  const base = options.since ? await loadBase(resolve(options.since), options.since) : undefined;
  const { lockPath, previousLock } = await previousLockOf(options, decl);
  const started = performance.now();
  const failedList = failedListPath(lockPath ?? resolve("airgap.lock"), "mirror");
  const lock = lockToWrite(decl, options.lock, lockPath);
  await preflightLock(lock);
  const result = await mirrorCommand({
    declaration: { ...decl, registries: target.registries },
    registry: target.registry,
    prefix: target.prefix,
    cacheDir: cacheDir(options, decl),
    cacheBlobs: options.cacheBlobs,
    previousLock,
    locked: options.locked,
    lockPath: lock,
    base,
    reporter,
    network: network(options, reporter),
    concurrency: options.concurrency,
    perOsTags: (options.windowsImageList?.length ?? 0) > 0,
    artifacts: artifactFlags(options),
    keepGoing: options.keepGoing ?? decl.keepGoing,
    failedList,
  }).catch(namingPathOptions({ lock }));
  reportLeftOut(result.failed, failedList, reporter, decl.configPath, options.quiet);
  const elapsed = performance.now() - started;
  if (run.events) {
    for (const image of result.images) run.events({ event: "image", ...image, outcome: "mirrored" });
    for (const failure of result.failed) run.events(failedImageEvent(failure));
    run.events(mirrorSummaryEvent(result, target, elapsed, failedList, lock));
    return;
  }
  if (!options.quiet) { for (const image of result.images) out(`${image.target}@${image.digest}`); }
  out(formatMirrorSummary(result, target.registry, elapsed));
  if (lock) out(`wrote ${displayPath(lock)}`);
}

/** The `summary` event that closes a `mirror --json`. */
export function mirrorSummaryEvent(
  result: MirrorResult,
  target: Target,
  elapsed: number,
  failedList: string,
  lock: string | undefined,
) {
  const s = result.stats;
  return {
    event: "summary" as const,
    command: "mirror" as const,
    images: result.images.length,
    failed: result.failed.length,
    alreadyPresent: result.alreadyPresent,
    ...(result.failed.length ? { failedList: displayPath(failedList) } : {}),
    blobs: { pushed: s.blobsPushed, mounted: s.blobsMounted, exists: s.blobsSkipped },
    bytes: s.bytesPushed,
    fetchedBlobs: result.fetchedBlobs,
    fetchedBytes: result.fetchedBytes,
    artifacts: result.artifacts,
    target: targetName(target),
    ...(lock ? { lock: displayPath(lock) } : {}),
    elapsedMs: Math.round(elapsed),
  };
}

/** The closing line of a mirror: images, blobs pushed, mounted and already there, manifests, artifacts. */
export function formatMirrorSummary(result: MirrorResult, registry: string, elapsed: number): string {
  const s = result.stats;
  const images = formatImageOutcomes("mirrored", {
    done: result.images.length,
    present: result.alreadyPresent,
  });
  const blobs = formatBlobOutcomes(
    { pushed: s.blobsPushed, mounted: s.blobsMounted, present: s.blobsSkipped, bytes: s.bytesPushed },
    elapsed,
  );
  return `${images} into ${registry} in ${formatDuration(elapsed)}: ${blobs}, ${
    plural(s.manifestsPushed, "manifest")
  } pushed${
    result.artifacts
      ? `; ${plural(result.artifacts, "signature/attestation/SBOM", "signatures/attestations/SBOMs")}`
      : ""
  }${formatFailed(result.failed.length)}`;
}
