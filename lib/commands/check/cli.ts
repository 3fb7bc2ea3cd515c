/**
 * `airgap check`: the declaration (or image list) checked in one pass,
 * without the network, for the use given by `--for` (pull or push
 * credentials). The checks are lib/commands/check/check.ts.
 * @module
 */
import { type Command, Option } from "commander";
import { resolve } from "node:path";
import { checkDeclaration, checkListDeclaration } from "./check.ts";
import { displayPath } from "../../plan/declaration.ts";
import { out } from "../shared/context.ts";
import { addWindowsOptions, collect, type WindowsOptions } from "../shared/options.ts";
import { declarationSource, throwProblems } from "../shared/resolve_options.ts";

/** The options of `airgap check`. */
export interface CheckCliOptions extends WindowsOptions {
  file?: string;
  imageList?: string;
  platform?: string[];
  for: "pull" | "push";
}

/** Register `airgap check`. */
export function registerCheck(cli: Command): void {
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
    .action(check);
}

async function check(options: CheckCliOptions): Promise<void> {
  const overrides = {
    platforms: options.platform,
    windowsImageLists: options.windowsImageList?.map((p: string) => resolve(p)),
    windowsVersions: options.windowsVersions,
    use: options.for,
  };
  const source = await declarationSource(options);
  const shown = source.file ? displayPath(source.file) : source.list ? displayPath(source.list) : "the command line";
  throwProblems(
    source.file ? await checkDeclaration(source.file, overrides) : await checkListDeclaration(source.list, overrides),
    shown,
  );
  out(`${shown}: no problems found`);
}
