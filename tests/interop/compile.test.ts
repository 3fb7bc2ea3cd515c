/**
 * `deno task compile` builds the three release files and SHA256SUMS. Here
 * Deno's download host is unreachable, so each target's runtime is a
 * same-version full Deno of that target (tests/helpers/denort.ts): the build
 * completes — module graph, npm packages, embedding, stitching onto the
 * target's executable format — and the files' headers must name the right
 * format and machine. (What runs inside a binary is tested by
 * compiled_mode.test.ts, which runs cli.ts exactly as a binary runs it.)
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import { denoForTarget } from "../helpers/denort.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { denortVariable, executableKind, fileHead, TARGETS } from "../../tools/compile.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

Deno.test({
  name: "deno task compile: Linux x86-64, Linux aarch64 and Windows x86-64 executables with SHA256SUMS",
  ignore: Deno.build.os === "windows",
  async fn() {
    const env: Record<string, string> = { NO_COLOR: "1" };
    for (const t of TARGETS) env[denortVariable(t.target)] = await denoForTarget(t.target);
    await withTempDir(async (dir) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", "--quiet", "compile", "--out", dir],
        cwd: root,
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert(out.success, `deno task compile failed:\n${text}`);
      for (const t of TARGETS) {
        const path = join(dir, t.file);
        assertEquals(executableKind(await fileHead(path)), t.kind, path);
        assert((await Deno.stat(path)).size > 50 * 1024 * 1024, `${path} holds a runtime`);
      }
      const sums = await Deno.readTextFile(join(dir, "SHA256SUMS"));
      assertEquals(sums.trim().split("\n").map((l) => l.split("  ")[1]), TARGETS.map((t) => t.file));
      const check = await new Deno.Command("sha256sum", { args: ["-c", "SHA256SUMS"], cwd: dir, stdout: "piped" })
        .output();
      assert(check.success, new TextDecoder().decode(check.stdout));
    }, "airgap-compile-");
  },
});
