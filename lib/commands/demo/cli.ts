/**
 * `airgap demo`: the whole job on an embedded default (lib/commands/demo/demo.ts),
 * run through the program's own `main` — given to {@link registerDemo}, so
 * this module does not import the program that registers it.
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { demoCommand } from "./demo.ts";
import { AirgapError } from "../../errors.ts";
import { out } from "../shared/context.ts";

/** Register `airgap demo`; `main` runs each step's command line and returns its exit code. */
export function registerDemo(cli: Command, main: (args: string[]) => Promise<number>): void {
  cli.command("demo")
    .description("the whole job on an embedded default: generated images, embedded registries, plan/save/load/verify")
    .option("--dir <dir>", "work here and keep everything (default: a temporary directory, removed afterwards)")
    .action(async (options: { dir?: string }) => {
      const code = await demoCommand({
        run: (args) => main(args),
        dir: options.dir ? resolve(options.dir) : undefined,
        say: (line) => out(line),
      });
      if (code !== 0) throw new AirgapError("the demo failed");
    });
}
