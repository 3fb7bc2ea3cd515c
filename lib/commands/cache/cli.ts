/**
 * `airgap cache ls|verify|prune`: their options — prune keeps what the
 * locks it is given reference, ./airgap.lock by default, and refuses to run
 * against none — and their output. The work is lib/commands/cache/cache_care.ts.
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { cacheLs, cachePrune, cacheVerify } from "./cache_care.ts";
import type { CacheSummary, CacheVerifyResult, PruneResult } from "./cache_care.ts";
import type { Lock } from "../../../schemas/lock.ts";
import { displayPath } from "../../plan/declaration.ts";
import { readLock } from "../../lock.ts";
import { AirgapError, usageError } from "../../errors.ts";
import { formatBytes } from "../../text.ts";
import { exists } from "../../fsutil.ts";
import { out } from "../shared/context.ts";
import { collect } from "../shared/options.ts";
import { cacheDir } from "../shared/resolve_options.ts";

/** Register `airgap cache` and its sub-commands. */
export function registerCache(cli: Command): void {
  const cacheCli = cli.command("cache").description("look after the local cache");
  cacheCli.command("ls")
    .description("summarise the cache: loose blobs, packs, unfinished downloads")
    .option("--cache <dir>", "cache directory")
    .option("--json", "print JSON")
    .action(async (options: { cache?: string; json?: boolean }) => {
      const summary = await cacheLs(cacheDir(options));
      if (options.json) out(JSON.stringify(summary, null, 2));
      else for (const line of formatCacheSummary(summary)) out(line);
    });
  cacheCli.command("verify")
    .description("re-hash every blob in the cache")
    .option("--cache <dir>", "cache directory")
    .option("--repair", "drop blobs that fail (they are fetched again when needed)")
    .action(async (options: { cache?: string; repair?: boolean }) => {
      const result = await cacheVerify(cacheDir(options), { repair: options.repair });
      for (const bad of result.bad) console.error(`error: ${bad.where}: ${bad.message}`);
      out(cacheVerifyLine(result, options.repair));
    });
  cacheCli.command("prune")
    .description("remove what no lock references (never what a running save is writing)")
    .option("--cache <dir>", "cache directory")
    .option("--lock <file>", "a lock whose content to keep (repeatable; default ./airgap.lock)", collect)
    .option("--repack", "also copy kept blobs out of mixed packs and remove those packs")
    .option("--dry-run", "only report")
    .action(async (options: { cache?: string; lock?: string[]; repack?: boolean; dryRun?: boolean }) => {
      const locks = await keptLocks(options.lock);
      const result = await cachePrune(cacheDir(options), locks, { dryRun: options.dryRun, repack: options.repack });
      for (const line of formatPrune(result, options.dryRun)) out(line);
    });
}

/** `cache ls`: the directory, loose blobs, each pack, unfinished downloads, names. */
export function formatCacheSummary(summary: CacheSummary): string[] {
  return [
    `cache ${displayPath(summary.dir)}`,
    `  loose blobs: ${summary.loose.blobs} (${formatBytes(summary.loose.bytes)})`,
    ...summary.packs.map((p) =>
      `  pack ${p.id}: ${p.blobs} blobs (${formatBytes(p.bytes)}), ${formatBytes(p.diskBytes)} on disk${
        p.inUse ? ", in use" : ""
      }`
    ),
    `  unfinished downloads: ${summary.partials.files} (${formatBytes(summary.partials.bytes)})`,
    `  names: ${summary.tags}`,
  ];
}

/** `cache verify`'s result line; bad blobs without `--repair` fail the run. */
export function cacheVerifyLine(result: CacheVerifyResult, repair?: boolean): string {
  if (result.bad.length > 0 && !repair) {
    throw new AirgapError(
      `${result.bad.length} of ${result.checked} blobs failed verification (run with --repair to drop them)`,
    );
  }
  const unreadable = result.bad.filter((b) => b.unreadable);
  if (unreadable.length > 0) {
    // Never dropped: only a proven mismatch removes a blob.
    throw new AirgapError(
      `${unreadable.length} of ${result.checked} blobs could not be read (${unreadable[0].message})`,
    );
  }
  return `${result.checked} blobs, ${formatBytes(result.bytes)} verified${
    result.repaired ? `; ${result.repaired} bad ones dropped` : ""
  }`;
}

/** The locks `cache prune` keeps: `--lock` (repeatable), else ./airgap.lock; none is a usage error. */
export async function keptLocks(lockOption: string[] | undefined): Promise<Lock[]> {
  const lockPaths = lockOption ?? (await exists(resolve("airgap.lock")) ? [resolve("airgap.lock")] : []);
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
  return locks;
}

/** What prune removed (or would), what it left alone, and what `--repack` would free. */
export function formatPrune(result: PruneResult, dryRun?: boolean): string[] {
  const lines = [
    `${dryRun ? "would remove" : "removed"} ${result.removedBlobs} blobs and ${result.removedPacks} packs, ${
      formatBytes(result.freedBytes)
    }${result.skippedInUse ? `; ${result.skippedInUse} pack(s) in use left alone` : ""}${
      result.runningSaves ? `; kept what ${result.runningSaves} running save(s) use` : ""
    }`,
  ];
  const reclaimable = result.keptPacks.reduce((s, p) => s + p.reclaimable, 0);
  if (reclaimable > 0) {
    lines.push(
      `${result.keptPacks.length} pack(s) still hold kept blobs; --repack would free about ${formatBytes(reclaimable)}`,
    );
  }
  return lines;
}
