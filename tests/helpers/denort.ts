/**
 * A same-version Deno of each release target, to stand in for `denort` where
 * Deno's download host is unreachable: npm publishes every platform's Deno
 * as `@deno/<platform>`. `deno compile` completes with it (module graph,
 * npm packages, embedding, stitching onto the target's executable format),
 * though the result then runs as Deno rather than as airgap — so only the
 * build is tested with it, never the built program.
 * @module
 */
import { join } from "node:path";

/** npm package of each target's Deno. */
const NPM_PACKAGE: Record<string, { name: string; file: string }> = {
  "x86_64-unknown-linux-gnu": { name: "@deno/linux-x64-glibc", file: "deno" },
  "aarch64-unknown-linux-gnu": { name: "@deno/linux-arm64-glibc", file: "deno" },
  "x86_64-pc-windows-msvc": { name: "@deno/win32-x64", file: "deno.exe" },
};

function cacheRoot(): string {
  const home = Deno.env.get("HOME") ?? "/root";
  return join(Deno.env.get("XDG_CACHE_HOME") || join(home, ".cache"), "airgap-test", "denort", Deno.version.deno);
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * Path of a Deno for `target`, the version of the running Deno: this Deno
 * itself for its own target, else fetched once with `npm pack` into
 * `~/.cache/airgap-test/denort/VERSION/TARGET/`.
 */
export async function denoForTarget(target: string): Promise<string> {
  if (target === Deno.build.target) return Deno.execPath();
  const pkg = NPM_PACKAGE[target];
  if (!pkg) throw new Error(`no npm package known for ${target}`);
  const dir = join(cacheRoot(), target);
  const path = join(dir, pkg.file);
  try {
    if ((await Deno.stat(path)).isFile) return path;
  } catch {
    // not fetched yet
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir, prefix: ".fetch-" });
  try {
    await run("npm", ["pack", `${pkg.name}@${Deno.version.deno}`, "--silent"], tmp);
    const tgz = [...Deno.readDirSync(tmp)].find((e) => e.name.endsWith(".tgz"));
    if (!tgz) throw new Error(`npm pack ${pkg.name}@${Deno.version.deno} left no tarball`);
    await run("tar", ["-xzf", tgz.name, `package/${pkg.file}`], tmp);
    await Deno.rename(join(tmp, "package", pkg.file), path);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  return path;
}
