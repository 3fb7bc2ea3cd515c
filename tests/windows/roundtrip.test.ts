/**
 * Under the Windows Deno (run by tests/windows/run.ts through
 * ../shared/tools/wine-deno): the CLI as airgap.exe runs it — the release
 * permissions, no prompts — saves from a real registry on 127.0.0.1 into a
 * split archive named with a drive-letter backslash path, from a CRLF list,
 * with the cache in %LOCALAPPDATA%\airgap; saves again while a reader holds
 * the archive open; loads into a second real registry, which must then serve
 * every image under its exact digest, as must `airgap serve` of the parts.
 * No terminal escapes in any output.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { PERMISSIONS, V8_FLAGS } from "../../tools/compile.ts";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const cliArgs = (
  args: string[],
) => ["run", ...PERMISSIONS.map((p) => p.flag), V8_FLAGS, "--no-prompt", "--quiet", CLI, ...args];

/** What run.ts hands over: registries and the images in the upstream one. */
interface Fixture {
  upstream: string;
  target: string;
  images: { name: string; digest: string }[];
}

function fixture(): Fixture | undefined {
  const text = Deno.env.get("AIRGAP_WINDOWS_FIXTURE");
  if (text) return JSON.parse(text) as Fixture;
  if (Deno.env.get("CI") === "true") {
    throw new Error("CI=true but AIRGAP_WINDOWS_FIXTURE is not set (run tests/windows/run.ts)");
  }
  console.warn("\n!!! SKIPPING the Windows round trip: run it with tests/windows/run.ts !!!\n");
  return undefined;
}

const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

async function digestAt(host: string, name: string): Promise<string | null> {
  const colon = name.lastIndexOf(":");
  const response = await fetch(`http://${host}/v2/${name.slice(0, colon)}/manifests/${name.slice(colon + 1)}`, {
    method: "HEAD",
    headers: { accept: MANIFEST_TYPES },
  });
  await response.body?.cancel();
  assertEquals(response.status, 200, `${host}/${name}`);
  return response.headers.get("docker-content-digest");
}

Deno.test({
  name: "Windows: save (split, CRLF list, %LOCALAPPDATA% cache), load through real registries on 127.0.0.1, serve",
  ignore: Deno.build.os !== "windows",
  sanitizeResources: false,
  async fn() {
    const fx = fixture();
    if (!fx) return;
    await withTempDir(async (dir) => {
      const work = join(dir, "site");
      const local = join(dir, "Local");
      const profile = join(dir, "profile");
      for (const d of [work, local, profile]) await Deno.mkdir(d);
      const run = async (args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: cliArgs(args),
          cwd: work,
          env: { LOCALAPPDATA: local, USERPROFILE: profile },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assertEquals(out.code, 0, `airgap ${args.join(" ")}:\n${text}`);
        assert(!text.includes("\x1b"), `no terminal escapes off a console: ${JSON.stringify(text)}`);
        return text;
      };
      await Deno.writeTextFile(join(work, "rancher-images.txt"), fx.images.map((i) => `${i.name}\r\n`).join(""));
      await Deno.mkdir(join(work, "media")); // airgap never creates an output directory (a mistyped mount path)
      const archive = `${work}\\media\\rancher-images.tar`;
      const save = ["save", "-s", fx.upstream, "--platform", "all", "-i", archive, "--split", "1MiB"];
      assertStringIncludes(await run(save), `saved ${fx.images.length} images`);
      assert((await Deno.stat(join(local, "airgap", "index.json"))).isFile, "the cache is %LOCALAPPDATA%\\airgap");
      assert((await Deno.stat(`${archive}.002`)).isFile, "split into parts");

      const reader = await Deno.open(`${archive}.001`);
      try {
        await run(save); // the same archive again, while a reader holds its first part open
      } finally {
        reader.close();
      }

      await run(["load", `${archive}.001`, "--registry", fx.target, "-q"]);
      for (const image of fx.images) assertEquals(await digestAt(fx.target, image.name), image.digest, image.name);

      // the same parts served as a registry
      const server = new Deno.Command(Deno.execPath(), {
        args: [...cliArgs(["serve", `${archive}.001`, "--listen", "127.0.0.1:0"])],
        cwd: work,
        env: { LOCALAPPDATA: local, USERPROFILE: profile },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        const stdout = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        while (!/ at http:\/\/(\S+)/.test(text)) {
          const { done, value } = await stdout.read();
          if (done) throw new Error(`airgap serve exited: ${text}`);
          text += value;
        }
        const host = text.match(/ at http:\/\/(\S+)/)![1];
        for (const image of fx.images) {
          assertEquals(await digestAt(host, image.name), image.digest, `served ${image.name}`);
        }
        await stdout.cancel();
      } finally {
        server.kill();
        await server.stderr.cancel();
        await server.status;
      }
    }, "airgap-windows-");
  },
});
