/**
 * `deno compile` must keep working: no dynamic import the compiler cannot
 * see, no repository file read at run time. Here denort cannot be
 * downloaded, so DENORT_BIN points at a full Deno of the target OS: the
 * build then completes (module graph, npm packages, embedding, stitching)
 * though the result runs as Deno rather than as airgap — everything up to
 * the stitch is checked, which is where our code can break it.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertStringIncludes } from "../helpers/assert.ts";
import { V8_FLAGS } from "../helpers/cli.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

async function compile(target: string | undefined, denort: string, output: string) {
  const args = ["compile", "-A", "--no-check", V8_FLAGS, "--output", output];
  if (target) args.push("--target", target);
  args.push(join(root, "cli.ts"));
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env: { DENORT_BIN: denort, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert(out.success, `deno compile ${target ?? ""} failed:\n${text}`);
  return text;
}

Deno.test({
  name: "deno compile builds the CLI (Linux; Windows when its deno.exe is at hand)",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-compile-" });
    try {
      const text = await compile(undefined, Deno.execPath(), join(dir, "airgap"));
      assertStringIncludes(text, "Compile");
      assert((await Deno.stat(join(dir, "airgap"))).size > 50 * 1024 * 1024);
      // The Windows deno.exe, if wine-deno fetched it (or AIRGAP_DENO_EXE names one).
      const home = Deno.env.get("HOME") ?? "";
      const candidates = [
        Deno.env.get("AIRGAP_DENO_EXE"),
        join(
          Deno.env.get("XDG_CACHE_HOME") ?? join(home, ".cache"),
          "wine-deno",
          "versions",
          Deno.version.deno,
          "deno.exe",
        ),
      ].filter((p): p is string => !!p);
      const exe = candidates.find((p) => {
        try {
          return Deno.statSync(p).isFile;
        } catch {
          return false;
        }
      });
      if (!exe) {
        console.warn(
          "skipping the Windows build: no deno.exe (run ../shared/tools/wine-deno setup, or set AIRGAP_DENO_EXE)",
        );
        return;
      }
      await compile("x86_64-pc-windows-msvc", exe, join(dir, "airgap.exe"));
      const head = new Uint8Array(2);
      const file = await Deno.open(join(dir, "airgap.exe"));
      await file.read(head);
      file.close();
      assert(head[0] === 0x4d && head[1] === 0x5a, "a Windows executable (MZ)");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
