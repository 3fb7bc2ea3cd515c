/**
 * `airgap init`: a commented starter airgap.yaml, never over an existing
 * file. The template is lib/commands/init/init.ts.
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { initCommand } from "./init.ts";
import { displayPath } from "../../plan/declaration.ts";
import { out } from "../shared/context.ts";

/** Register `airgap init`. */
export function registerInit(cli: Command): void {
  cli.command("init")
    .description("write a commented starter airgap.yaml (never over an existing file)")
    .option("-f, --file <file>", "file to write", "airgap.yaml")
    .option("--rancher <version>", "a Rancher release, e.g. v2.8.5: its images, chart and windows list")
    .action(async (options: { file: string; rancher?: string }) => {
      const path = resolve(options.file);
      await initCommand({ path, rancher: options.rancher });
      out(`wrote ${displayPath(path)}: edit it, then run "airgap check" and "airgap plan"`);
    });
}
