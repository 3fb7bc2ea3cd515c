/**
 * The CLI run exactly as its compiled binary runs it: the release
 * permissions (tools/compile.ts, never -A), no prompts, `--cached-only` (no
 * module may be fetched at run time), from a directory outside the
 * repository, with HOME and XDG_CACHE_HOME elsewhere and nothing else from
 * the environment. A file read from the repository, a dynamic import the
 * compiler cannot see or a permission the binary lacks fails here. (The
 * binaries themselves cannot run here: their runtime is a stand-in, see
 * compile.test.ts.)
 */
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { interopAvailable, skopeoDigest, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { PERMISSIONS, V8_FLAGS } from "../../tools/compile.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const enabled = Deno.build.os !== "windows" && interopAvailable();

/** Deno's cache of this checkout's modules (HOME moves, so it is named). */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" }).output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir: string }).denoDir;
}

function compiledArgs(args: string[]): string[] {
  return [
    "run",
    ...PERMISSIONS.map((p) => p.flag),
    V8_FLAGS,
    "--no-prompt",
    "--cached-only",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    join(ROOT, "cli.ts"),
    ...args,
  ];
}

Deno.test({
  name: "compiled mode: --help, plan, save, load and serve with the binary's permissions, outside the repository",
  ignore: !enabled,
  async fn(t) {
    const registries: TestRegistry[] = [];
    const cacheOfModules = await denoDir();
    await withTempDir(async (tmp) => {
      const work = join(tmp, "site");
      const home = join(tmp, "home");
      const xdg = join(tmp, "xdg-cache");
      for (const d of [work, home, xdg]) await Deno.mkdir(d);
      const env = { HOME: home, XDG_CACHE_HOME: xdg, DENO_DIR: cacheOfModules, NO_COLOR: "1", PATH: "/usr/bin:/bin" };
      const run = async (args: string[], without?: string, code = 0) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: compiledArgs(args),
          cwd: work,
          env: Object.fromEntries(Object.entries(env).filter(([k]) => k !== without)),
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stdout = new TextDecoder().decode(out.stdout);
        const stderr = new TextDecoder().decode(out.stderr);
        assertEquals(out.code, code, `airgap ${args.join(" ")}:\n${stdout}\n${stderr}`);
        return { stdout, stderr };
      };
      try {
        const upstream = await startRegistry();
        const target = await startRegistry();
        registries.push(upstream, target);
        const images = standardCorpus(0.1).filter((i) =>
          ["rancher/rancher", "rancher/mirrored-pause"].includes(i.repository)
        );
        await pushCorpus(upstream.host, images);
        await Deno.writeTextFile(
          join(work, "rancher-images.txt"),
          images.map((i) => `${i.repository}:${i.tag}\n`).join(""),
        );
        const common = ["-s", upstream.host, "--platform", "all"];

        await t.step("--help", async () => {
          const { stdout } = await run(["--help"]);
          for (const command of ["plan", "save", "load", "serve"]) assertStringIncludes(stdout, command);
        });

        await t.step("init writes the embedded example; check reads it and the list offline", async () => {
          await Deno.mkdir(join(work, "init"));
          const written = await run(["init", "-f", join("init", "airgap.yaml")]);
          assertStringIncludes(written.stdout + written.stderr, "airgap.yaml");
          const checked = await run(["check", "-f", join("init", "airgap.yaml")]);
          assertStringIncludes(checked.stdout + checked.stderr, "no problems found");
          await run(["check", "-l", "rancher-images.txt"]);
        });

        await t.step("plan, with ./rancher-images.txt as the seed's scripts use it", async () => {
          const { stdout } = await run(["plan", ...common]);
          assertStringIncludes(stdout, "rancher/mirrored-pause");
        });

        await t.step("without HOME (a systemd unit) the auth files are still found: --allow-sys=homedir", async () => {
          const locked = await startRegistry({ htpasswd: `alice:${bcrypt.hashSync("secret", 5)}\n` });
          registries.push(locked);
          const out = await run(["plan", "-s", locked.host, "--cache", join(tmp, "other-cache")], "HOME", 1);
          assert(!/sys access|NotCapable/.test(out.stderr), out.stderr);
          assertStringIncludes(out.stderr, locked.host);
        });

        await t.step("save into the default cache under XDG_CACHE_HOME", async () => {
          const { stdout } = await run(["save", ...common, "-q"]);
          assertStringIncludes(stdout, `saved ${images.length} images`);
          assert((await Deno.stat(join(work, "rancher-images.tar"))).isFile);
          assert((await Deno.stat(join(xdg, "airgap", "index.json"))).isFile, "the cache is under XDG_CACHE_HOME");
        });

        await t.step("load into a real registry: the same digests", async () => {
          await run(["load", "--registry", target.host, "-q"]);
          for (const image of images) {
            assertEquals(
              await skopeoDigest(`${target.host}/${image.repository}:${image.tag}`),
              image.root.descriptor.digest,
            );
          }
        });

        await t.step("serve the archive until SIGTERM", async () => {
          const child = new Deno.Command(Deno.execPath(), {
            args: compiledArgs(["serve", "rancher-images.tar", "--listen", "127.0.0.1:0"]),
            cwd: work,
            env,
            clearEnv: true,
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let text = "";
          while (!/ at (https?:\/\/\S+)/.test(text)) {
            const { done, value } = await stdout.read();
            if (done) {
              throw new Error(`serve exited: ${text}${new TextDecoder().decode((await child.output()).stderr)}`);
            }
            text += value;
          }
          const url = text.match(/ at (https?:\/\/\S+)/)![1];
          const catalog = await (await fetch(`${url}/v2/_catalog`)).json() as { repositories: string[] };
          assertEquals(catalog.repositories, images.map((i) => i.repository).sort());
          child.kill("SIGTERM");
          await stdout.cancel();
          const stderr = await new Response(child.stderr).text();
          assertEquals((await child.status).code, 0, stderr);
        });
      } finally {
        for (const r of registries) await r.stop();
      }
      const homeFiles = [...Deno.readDirSync(home)].map((e) => e.name);
      assertEquals(homeFiles, [], "nothing written to HOME when XDG_CACHE_HOME is set");
    }, "airgap-compiled-");
  },
});
