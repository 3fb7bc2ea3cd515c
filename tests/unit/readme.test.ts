/**
 * Issue 11 item 10: the README stays true. Every `airgap …` line of its
 * ```sh blocks is checked against the program's own command tree (the
 * command exists, every flag exists for it, no extra arguments), and the
 * lines that need no registry — init, check, schema, completion, --help —
 * are run, in README order, in an empty directory.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { assert, assertEquals } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { program } from "../../cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The `airgap` command lines of README.md's sh blocks, as argument lists (`[optional]` brackets dropped). */
async function readmeCommands(): Promise<{ line: string; args: string[] }[]> {
  const text = await Deno.readTextFile(join(ROOT, "README.md"));
  const out: { line: string; args: string[] }[] = [];
  for (const [, block] of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of block.replaceAll("\\\n", " ").split("\n")) {
      const line = raw.replace(/(^|\s)#.*$/, "").trim();
      const words = line.split(/\s+/);
      if (words[0] !== "airgap" && words[0] !== "./airgap") continue;
      const args = words.slice(1).map((w) => w.replace(/^\[|\]$/g, "")).filter((w) => w !== "" && w !== "…");
      out.push({ line, args });
    }
  }
  return out;
}

/** What is wrong with `airgap ARGS` by the command tree: unknown command, flag, or too many arguments. */
function problemsOf(args: string[]): string[] {
  let command: Command = program();
  let i = 0;
  while (i < args.length && !args[i].startsWith("-")) {
    const sub = command.commands.find((c) => c.name() === args[i] || c.aliases().includes(args[i]));
    if (!sub) break;
    command = sub;
    i++;
  }
  const problems: string[] = [];
  if (command.commands.length > 0 && i < args.length && !args[i].startsWith("-")) {
    problems.push(`unknown command "${args[i]}"`);
    return problems;
  }
  const positional: string[] = [];
  for (; i < args.length; i++) {
    const word = args[i];
    if (!word.startsWith("-") || word === "-") {
      positional.push(word);
      continue;
    }
    const flag = word.split("=")[0];
    if (flag === "--help" || flag === "-h" || (command.parent === null && (flag === "-V" || flag === "--version"))) {
      continue;
    }
    const option = command.options.find((o) => o.long === flag || o.short === flag);
    if (!option) problems.push(`${command.name()}: unknown option ${flag}`);
    else if (option.required && !word.includes("=")) i++; // its value
  }
  const declared = command.registeredArguments;
  const variadic = declared.at(-1)?.variadic ?? false;
  if (!variadic && positional.length > declared.length) {
    problems.push(`${command.name()}: unexpected arguments ${positional.slice(declared.length).join(" ")}`);
  }
  return problems;
}

Deno.test("README: every airgap command line names a command and options that exist", async () => {
  const commands = await readmeCommands();
  assert(commands.length >= 20, `found ${commands.length} command lines`);
  const problems = commands.flatMap(({ line, args }) => problemsOf(args).map((p) => `${line}: ${p}`));
  assertEquals(problems, []);
  // The check can fail: a misspelt flag, an unknown command, an extra argument.
  assertEquals(problemsOf(["load", "a.tar", "--registri", "r"]), ["load: unknown option --registri"]);
  assertEquals(problemsOf(["sav", "-o", "x.tar"]), ['unknown command "sav"']);
  assertEquals(problemsOf(["plan", "extra"]), ["plan: unexpected arguments extra"]);
  assertEquals(problemsOf(["cache", "prune", "--dry-run"]), []);
});

Deno.test({
  name: "README: the command lines that need no registry run as written (init, check, schema, completion, --help)",
  async fn() {
    const cheap = new Set(["init", "check", "schema", "completion", "--help"]);
    const commands = (await readmeCommands()).filter(({ args }) => cheap.has(args[0]));
    const runs = [
      ...commands,
      { line: "airgap --help", args: ["--help"] },
      { line: "airgap schema", args: ["schema"] },
      { line: "airgap schema --of events", args: ["schema", "--of", "events"] },
      { line: "airgap completion bash", args: ["completion", "bash"] },
    ];
    assert(commands.some(({ args }) => args[0] === "init") && commands.some(({ args }) => args[0] === "check"));
    await withTempDir(async (dir) => {
      for (const { line, args } of runs) {
        const result = await airgap(args, { cwd: dir, env: { HOME: dir, XDG_CACHE_HOME: join(dir, "cache") } });
        assertEquals(result.code, 0, `${line}\n${result.stdout}\n${result.stderr}`);
        assert(result.stdout.length > 0, `${line}: prints something`);
      }
    });
  },
});
