/**
 * `deno task compile` builds the three release files and SHA256SUMS. Here
 * Deno's download host is unreachable, so each target's runtime is a
 * same-version full Deno of that target (tests/helpers/denort.ts): for the
 * targets this machine cannot run the build completes — module graph, npm
 * packages, embedding, stitching onto the target's executable format — the
 * files' headers must name the right format and machine, and the output says
 * they were not run; for this machine's target the smoke test runs the file,
 * finds Deno instead of airgap, and fails the build naming the cause. (What runs inside a binary is tested by
 * compiled_mode.test.ts, which runs cli.ts exactly as a binary runs it.)
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { denoForTarget } from "../helpers/denort.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { denortVariable, executableKind, fileHead, TARGETS } from "../../tools/compile.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Run `deno task compile ARGS` with each target's stand-in runtime. */
async function compile(args: string[]): Promise<{ success: boolean; text: string }> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const t of TARGETS) env[denortVariable(t.target)] = await denoForTarget(t.target);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile", ...args],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { success: out.success, text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr) };
}

const host = TARGETS.find((t) => t.target === Deno.build.target);
const others = TARGETS.filter((t) => t !== host);

Deno.test({
  name: "deno task compile: the targets this machine cannot run are built, header-checked, summed and said so",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withTempDir(async (dir) => {
      const { success, text } = await compile(["--out", dir, ...others.flatMap((t) => ["--target", t.target])]);
      assert(success, `deno task compile failed:\n${text}`);
      for (const t of others) {
        const path = join(dir, t.file);
        assertEquals(executableKind(await fileHead(path)), t.kind, path);
        assert((await Deno.stat(path)).size > 50 * 1024 * 1024, `${path} holds a runtime`);
        assertStringIncludes(text, `not run: ${t.file} is for ${t.target}, this machine is ${Deno.build.target}`);
      }
      const sums = await Deno.readTextFile(join(dir, "SHA256SUMS"));
      assertEquals(sums.trim().split("\n").map((l) => l.split("  ")[1]), others.map((t) => t.file));
      const check = await new Deno.Command("sha256sum", { args: ["-c", "SHA256SUMS"], cwd: dir, stdout: "piped" })
        .output();
      assert(check.success, new TextDecoder().decode(check.stdout));
    }, "airgap-compile-");
  },
});

Deno.test({
  name:
    "deno task compile: a full Deno stitched in for this machine fails the build, naming denort, and leaves nothing",
  ignore: Deno.build.os === "windows" || host === undefined,
  async fn() {
    await withTempDir(async (dir) => {
      const { success, text } = await compile(["--out", dir]);
      assert(!success, `a build on a full Deno passed:\n${text}`);
      assertStringIncludes(text, `${join(dir, host!.file)} runs as Deno, not airgap (--version printed "deno `);
      assertStringIncludes(text, "is a full Deno, not Deno's denort");
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [], "no binary and no SHA256SUMS left");
    }, "airgap-compile-");
  },
});
