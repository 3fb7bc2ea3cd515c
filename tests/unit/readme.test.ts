/**
 * Issue 11 item 10 and issue 21 item 9: the README and the docs stay true.
 * Every `airgap …` line of the ```sh blocks of README.md and docs/*.md is
 * checked against the program's own command tree (the command exists, every
 * flag exists for it, no extra arguments), and the lines that need no
 * registry — init, check, schema, completion, --help — are run, in order, in
 * an empty directory. The README starts with the job and keeps exactly two
 * set-up commands; its links to docs/ resolve (the pages other branches
 * write, {@link LATER_PAGES}, may be absent here).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { assert, assertEquals } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { program } from "../../cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The pages whose command lines are checked: the README, then every docs/*.md. */
function pages(): string[] {
  const docs = [...Deno.readDirSync(join(ROOT, "docs"))].filter((e) => e.isFile && e.name.endsWith(".md"));
  return ["README.md", ...docs.map((e) => `docs/${e.name}`).sort()];
}

/** The `airgap` command lines of the pages' sh blocks, as argument lists (`[optional]` brackets dropped). */
async function readmeCommands(files = pages()): Promise<{ line: string; args: string[] }[]> {
  const out: { line: string; args: string[] }[] = [];
  for (const file of files) out.push(...commandsOf(await Deno.readTextFile(join(ROOT, file))));
  return out;
}

/** The `airgap` command lines of one page's sh blocks. */
function commandsOf(text: string): { line: string; args: string[] }[] {
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

Deno.test("README and docs: every airgap command line names a command and options that exist", async () => {
  const commands = await readmeCommands();
  assert(commands.length >= 40, `found ${commands.length} command lines`);
  const problems = commands.flatMap(({ line, args }) => problemsOf(args).map((p) => `${line}: ${p}`));
  assertEquals(problems, []);
  // The check can fail: a misspelt flag, an unknown command, an extra argument.
  assertEquals(problemsOf(["load", "a.tar", "--registri", "r"]), ["load: unknown option --registri"]);
  assertEquals(problemsOf(["sav", "-o", "x.tar"]), ['unknown command "sav"']);
  assertEquals(problemsOf(["plan", "extra"]), ["plan: unexpected arguments extra"]);
  assertEquals(problemsOf(["cache", "prune", "--dry-run"]), []);
});

Deno.test({
  name:
    "README and docs: the command lines that need no registry run as written (init, check, schema, completion, --help)",
  async fn() {
    const cheap = new Set(["init", "check", "schema", "completion", "--help"]);
    const extra = [
      { line: "airgap --help", args: ["--help"] },
      { line: "airgap schema", args: ["schema"] },
      { line: "airgap schema --of events", args: ["schema", "--of", "events"] },
      { line: "airgap completion bash", args: ["completion", "bash"] },
    ];
    const readme = (await readmeCommands(["README.md"])).filter(({ args }) => cheap.has(args[0]));
    assert(readme.some(({ args }) => args[0] === "init") && readme.some(({ args }) => args[0] === "check"));
    // Each page in its own empty directory (each may begin with `airgap init`), in the page's order.
    for (const [i, page] of pages().entries()) {
      const runs = [...(await readmeCommands([page])).filter(({ args }) => cheap.has(args[0])), ...(i ? [] : extra)];
      await withTempDir(async (dir) => {
        for (const { line, args } of runs) {
          const result = await airgap(args, { cwd: dir, env: { HOME: dir, XDG_CACHE_HOME: join(dir, "cache") } });
          assertEquals(result.code, 0, `${page}: ${line}\n${result.stdout}\n${result.stderr}`);
          assert(result.stdout.length > 0, `${page}: ${line}: prints something`);
        }
      });
    }
  },
});

/** docs/ pages that other branches write: the README links them before they are merged here. */
const LATER_PAGES = new Set([
  "docs/transport.md",
  "docs/cache.md",
  "docs/limits.md",
  "docs/serve.md",
  "docs/charts.md",
  "docs/cluster.md",
  "docs/SECURITY.md",
]);

Deno.test("README: starts with the job, two set-up commands, the quick start in order, links that resolve", async () => {
  const text = await Deno.readTextFile(join(ROOT, "README.md"));
  const headings = [...text.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  assertEquals(headings.slice(0, 3), ["Install", "Quick start", "Workflows"]);
  // The set-up section's one sh block: exactly two commands, the demo and the tests.
  const setup = text.slice(text.indexOf("## Set-up and the two commands"));
  const block = setup.match(/```sh\n([\s\S]*?)```/)![1].trim().split("\n");
  assertEquals(block.map((l) => l.split("#")[0].trim()), [
    "npx -y deno@2.9.6 task demo",
    "npx -y deno@2.9.6 task test",
  ]);
  // The quick start: init → check → plan → save, then verify, ls, load.
  const quick = commandsOf(text.slice(text.indexOf("## Quick start"), text.indexOf("## Workflows")));
  assertEquals(quick.map(({ args }) => args[0]), ["init", "check", "plan", "save", "verify", "ls", "load"]);
  // Each workflow the issue names has its paragraph.
  for (const workflow of ["Rancher's image lists", "Helm charts", "Windows", "Deltas and media", "Mirror", "Serve"]) {
    assert(text.includes(workflow), `the README's workflows name ${workflow}`);
  }
  // Relative links resolve (in every page), except the pages other branches bring.
  const missing: string[] = [];
  for (const page of pages()) {
    const body = await Deno.readTextFile(join(ROOT, page));
    for (const [, target] of body.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const path = join(ROOT, page, "..", target);
      const name = path.slice(ROOT.length).replaceAll("\\", "/");
      if (LATER_PAGES.has(name)) continue;
      try {
        Deno.statSync(path);
      } catch {
        missing.push(`${page}: ${target}`);
      }
    }
  }
  assertEquals(missing, []);
  for (const later of LATER_PAGES) assert(text.includes(`](${later})`), `the README links ${later}`);
  // Reference material lives in docs/, not here.
  assert(text.split("\n").length < 200, `README is ${text.split("\n").length} lines`);
  for (const moved of ["| permission", "| scenario", "fault suite (`tests", "### Exit codes"]) {
    assert(!text.includes(moved), `README still holds "${moved}"`);
  }
});
