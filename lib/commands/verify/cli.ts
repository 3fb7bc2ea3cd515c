/**
 * `airgap verify`: its options and its output — the problems found, then
 * one OK line (or JSON); problems fail the run. The check is `verifyCommand`
 * (lib/commands/verify/inspect.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { verifyCommand, type VerifyResult } from "./inspect.ts";
import { displayPath } from "../../plan/declaration.ts";
import { loadBase } from "../../plan/delta.ts";
import { AirgapError } from "../../errors.ts";
import { formatDuration, plural } from "../../text.ts";
import { formatContents } from "../../report/outcomes.ts";
import type { Phase } from "../../report/progress.ts";
import { out, reporterFor } from "../shared/context.ts";
import { firstPart } from "../shared/resolve_options.ts";

/** The options of `airgap verify`. */
export interface VerifyCliOptions {
  base?: string;
  quiet?: boolean;
  json?: boolean;
}

/** Register `airgap verify`. */
export function registerVerify(cli: Command): void {
  cli.command("verify")
    .description("re-hash every blob of an archive and check every image is complete (or complete given its base)")
    .argument("<archive...>", "the archive, its first part, or all its parts")
    .option("--base <old>", "for a delta: the airgap.lock (or archive) it was cut against")
    .option("-q, --quiet", "only print problems and the result")
    .option("--json", "print the result as JSON (airgap schema --of verify)")
    .action(verify);
}

async function verify(archives: string[], options: VerifyCliOptions): Promise<void> {
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
  const what = verifiedContents(result);
  if (result.problems.length > 0) {
    throw new AirgapError(`${displayPath(path)}: ${result.problems.length} problem(s) in ${what}`);
  }
  if (!options.json) out(`${displayPath(path)}: OK (${what}, ${formatDuration(performance.now() - started)})`);
}

/** What was verified, in a few words: images, charts, blobs and bytes, parts, blobs from the base, artifacts. */
export function verifiedContents(result: VerifyResult): string {
  return `${formatContents(result)}${result.parts.length > 1 ? ` in ${result.parts.length} parts` : ""}${
    result.fromBase ? `, ${plural(result.fromBase, "blob")} from its base` : ""
  }${
    result.artifacts
      ? `, ${plural(result.artifacts, "signature/attestation/SBOM", "signatures/attestations/SBOMs")}`
      : ""
  }`;
}
