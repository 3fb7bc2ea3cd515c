/**
 * `airgap schema`: the JSON Schema of airgap.yaml, airgap.lock, or a
 * command's `--json` output (schemas/).
 * @module
 */
import { type Command, Option } from "commander";
import { configJsonSchema } from "../../../schemas/config.ts";
import { lockJsonSchema } from "../../../schemas/lock.ts";
import { OUTPUT_SCHEMAS, outputJsonSchema } from "../../../schemas/output.ts";
import { out } from "../shared/context.ts";

/** Register `airgap schema`. */
export function registerSchema(cli: Command): void {
  cli.command("schema")
    .description("print the JSON Schema of airgap.yaml (or of airgap.lock, or of a command's --json output)")
    .addOption(
      new Option("--of <what>", "which schema").choices(["config", "lock", ...Object.keys(OUTPUT_SCHEMAS)]).default(
        "config",
      ),
    )
    .action((options: { of: string }) => out(JSON.stringify(schemaOf(options.of), null, 2)));
}

/** The schema `--of` names: config, lock, or a command's output. */
export function schemaOf(of: string): unknown {
  return of === "lock"
    ? lockJsonSchema()
    : of === "config"
    ? configJsonSchema()
    : outputJsonSchema(of as keyof typeof OUTPUT_SCHEMAS);
}
