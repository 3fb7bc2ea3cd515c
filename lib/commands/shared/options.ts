/**
 * The options several commands share, declared once: the common options of
 * the commands that read a declaration, the Windows flags of the Rancher
 * scripts, `--debug` (which every command accepts). What they mean is
 * decided in ./resolve_options.ts.
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { displayPath } from "../../plan/declaration.ts";
import { defaultCacheDir } from "../../store/cache.ts";
import { FOREIGN_LAYER_POLICIES } from "../../oci/foreign.ts";

/** A count such as `--concurrency 8`: a whole number from 1 (commander names the flag when it is not). */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError("expected a whole number, 1 or more.");
  }
  return n;
}

/** A repeatable option's values, in order. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The options of {@link addCommonOptions}. */
export interface CommonOptions {
  file?: string;
  platform?: string[];
  cache?: string;
  timeout?: string;
  quiet?: boolean;
  verbose?: boolean;
}

/** The options of {@link addWindowsOptions}. */
export interface WindowsOptions {
  windowsImageList?: string[];
  windowsVersions?: string[];
  foreignLayers?: string;
}

/** What a command that reads a declaration may be given. */
export type DeclarationOptions = CommonOptions & WindowsOptions & { imageList?: string; sourceRegistry?: string };

/** The help of `--timeout`. */
export const TIMEOUT_HELP =
  "seconds (or 30s, 2m) to wait for a registry to answer and between two bytes (default: 30 s for an answer, 60 s between bytes)";

/** The options of the commands that read a declaration and fetch: plan, save, mirror. */
export function addCommonOptions(command: Command, withFile = true): Command {
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
    .addOption(debugOption());
}

/** The Windows flags of rancher-load-images.sh, and the foreign-layer policy. */
export function addWindowsOptions(command: Command, withPolicy = true): Command {
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

/** `--debug`, declared here once; {@link acceptDebug} gives it to every command that does not list it earlier. */
export function debugOption(): Option {
  return new Option("--debug", "print stack traces on errors");
}

/**
 * Every command that runs something accepts `--debug` (commands that only
 * group sub-commands, like `cache`, pass it on to them): added last where a
 * command has not placed it among its options.
 */
export function acceptDebug(command: Command): void {
  for (const sub of command.commands) {
    if (sub.commands.length === 0 && !sub.options.some((o) => o.long === "--debug")) sub.addOption(debugOption());
    acceptDebug(sub);
  }
}

/** The target options of load and mirror. */
export interface TargetOptions {
  registry?: string;
  prefix?: string;
  insecure?: boolean;
  caFile?: string;
}
