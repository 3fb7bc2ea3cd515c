/**
 * Run the airgap CLI as a user would: a separate `deno run` process.
 */
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
import { V8_FLAGS } from "../../tools/compile.ts";
/** The V8 settings the product runs with (deno.json tasks, compiled binaries): a small young generation keeps RSS low. */
export { V8_FLAGS };

/** Result of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `airgap ARGS…` in `cwd`. */
export async function airgap(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", V8_FLAGS, CLI, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Run and insist on success, showing the output otherwise. */
export async function airgapOk(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const result = await airgap(args, options);
  if (result.code !== 0) {
    throw new Error(`airgap ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}
