import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgapOk } from "../helpers/cli.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { join } from "node:path";

const BASH = "/bin/bash";
const COMMANDS = ["plan", "save", "load", "images", "serve", "verify", "ls", "diff", "cache", "schema", "completion"];

/** Source the script in bash, complete the words, return COMPREPLY. */
async function complete(script: string, words: string[]): Promise<string[]> {
  const program = `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${
    words.length - 1
  }; _airgap_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = await new Deno.Command(BASH, { args: ["-c", program, "bash", script], stdout: "piped" }).output();
  assert(out.success, "bash ran the completion");
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l);
}

Deno.test({
  name: "completion: bash parses the generated script, which completes commands, sub-commands and options",
  // bash is not a Windows program; the PowerShell script is what Windows users load.
  ignore: Deno.build.os === "windows",
  fn: () =>
    withTempDir(async (dir) => {
      const { stdout } = await airgapOk(["completion", "bash"]);
      const script = join(dir, "airgap.bash");
      await Deno.writeTextFile(script, stdout);
      const parsed = await new Deno.Command(BASH, { args: ["-n", script], stderr: "piped" }).output();
      assertEquals(parsed.code, 0, new TextDecoder().decode(parsed.stderr));
      const top = await complete(script, ["airgap", ""]);
      for (const command of COMMANDS) assert(top.includes(command), `${command} in ${top}`);
      assertEquals(await complete(script, ["airgap", "ca"]), ["cache"]);
      assertEquals(await complete(script, ["airgap", "cache", "pr"]), ["prune"]);
      assertEquals(await complete(script, ["airgap", "save", "-q", "--spl"]), ["--split"]);
      assertEquals(await complete(script, ["airgap", "load", "--push-ch"]), ["--push-charts"]);
    }),
});

Deno.test("completion: zsh, fish and PowerShell scripts list every command and come from the same program", async () => {
  for (const shell of ["zsh", "fish", "powershell"]) {
    const { stdout } = await airgapOk(["completion", shell]);
    for (const command of COMMANDS) assertStringIncludes(stdout, `'${command}'`);
    assertStringIncludes(stdout, "--source-registry".slice(shell === "fish" ? 2 : 0));
  }
  const zsh = (await airgapOk(["completion", "zsh"])).stdout;
  assert(zsh.startsWith("#compdef airgap"), zsh.slice(0, 40));
});
