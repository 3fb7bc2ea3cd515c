/**
 * Credentials and CAs on both sides, against real distribution with
 * htpasswd over HTTPS with a private CA: `save -l` with `--ca-file` and
 * `--username`/`--password-stdin`, or with the `registries:` of an
 * airgap.yaml next to the list (the list not filtered down to the declared
 * images); `load` and `mirror` with `--username`/`--password-stdin`; a 401
 * names podman, skopeo and docker login; an option not needed is not
 * resolved (`load -r OTHER` with a target password variable unset says the
 * archive does not exist). The password never shows in any output.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, type CliResult, V8_FLAGS } from "../helpers/cli.ts";
import {
  interopAvailable,
  privateHome,
  pushImages,
  skopeo,
  startRegistry,
  type TestRegistry,
} from "../helpers/registry.ts";
import { makeServerCertificate } from "../helpers/tokenserver.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";

const enabled = interopAvailable();
const SECRET = "cr3d-Pa55-never-printed";
const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

/** `airgap ARGS…` with `stdin` written to its standard input (as `--password-stdin` reads it). */
async function airgapWithStdin(args: string[], stdin: string, env: Record<string, string>, cwd?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", V8_FLAGS, CLI, ...args],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin + "\n"));
  await writer.close();
  const output = await child.output();
  const result: CliResult = {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
  assert(!result.stdout.includes(SECRET) && !result.stderr.includes(SECRET), "the password leaked");
  return result;
}

function ok(result: CliResult, what: string): CliResult {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

Deno.test({
  name: "credentials and a private CA on both sides: save -l, load and mirror with --username/--password-stdin",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-cred-" });
    let registry: TestRegistry | undefined;
    let plain: TestRegistry | undefined;
    try {
      const { ca, server } = await makeServerCertificate(dir);
      registry = await startRegistry({
        htpasswd: `alice:${bcrypt.hashSync(SECRET, 5)}\n`,
        tls: { certificate: server.certPath, key: server.keyPath },
      });
      const host = registry.host;
      const images = standardCorpus(1).slice(2, 4);
      const credential = { username: "alice", password: SECRET, origin: "test" };
      await pushImages(
        registryStore(createRegistryClient(host, { caFile: ca.certPath, credential, noAuthFiles: true })),
        images,
      );
      const list = join(dir, "list.txt");
      await Deno.writeTextFile(list, images.map((i) => `${i.repository}:${i.tag}`).join("\n") + "\n");
      const env = await privateHome(dir);
      const archive = join(dir, "a.tar");
      const cache = ["--cache", join(dir, "c")];
      /** --ca-file and alice's password from stdin. */
      const asAlice = ["--ca-file", ca.certPath, "--username", "alice", "--password-stdin"];

      // A 401 names every login command, not only Docker's.
      const denied = await airgap(["save", "-l", list, "-s", host, "-o", archive, ...cache, "--ca-file", ca.certPath], {
        env,
      });
      assertEquals(denied.code, 1, denied.stderr);
      for (const login of ["podman login", "skopeo login", "docker login", "--password-stdin"]) {
        assertStringIncludes(denied.stderr, login);
      }

      // save -l: --ca-file and the credential for the one registry the list names.
      ok(
        await airgapWithStdin(
          ["save", "-l", list, "-s", host, "-o", archive, ...cache, ...asAlice],
          SECRET,
          env,
        ),
        "save --username",
      );

      // save -l in a directory with an airgap.yaml: its registries: reach the registry, its images do not filter.
      const work = join(dir, "work");
      await Deno.mkdir(work);
      await Deno.writeTextFile(join(work, "pw.txt"), SECRET + "\n");
      await Deno.writeTextFile(
        join(work, "airgap.yaml"),
        `images:\n  - not/in-the-list:1\ntarget:\n  registry: elsewhere.example:5000\nregistries:\n  ${host}:\n    ca: ${ca.certPath}\n    username: alice\n    passwordFile: pw.txt\n  elsewhere.example:5000:\n    username: bob\n    passwordEnv: AIRGAP_UNSET_PASSWORD\n`,
      );
      const fromYaml = ok(
        await airgap([
          "save",
          "-l",
          list,
          "-s",
          host,
          "-o",
          join(dir, "b.tar"),
          ...cache,
          "--lock",
          join(dir, "b.lock"),
        ], {
          env,
          cwd: work,
        }),
        "save -l with airgap.yaml's registries",
      );
      assertStringIncludes(fromYaml.stdout, "saved 2 images");
      // -f with -l: the list's images, none filtered out although the declaration does not name them.
      const both = ok(
        await airgap(["save", "-f", "airgap.yaml", "-l", list, "-s", host, "-o", join(dir, "c.tar"), ...cache], {
          env,
          cwd: work,
        }),
        "save -f -l",
      );
      assertStringIncludes(both.stdout, "saved 2 images");

      // load with --username/--password-stdin; without, the 401 names the login commands.
      const target = ["--registry", `${host}/loaded`, "--ca-file", ca.certPath];
      const refused = await airgap(["load", archive, ...target], { env });
      assertEquals(refused.code, 1);
      assertStringIncludes(refused.stderr, "podman login");
      ok(
        await airgapWithStdin(["load", archive, ...target, "--username", "alice", "--password-stdin"], SECRET, env),
        "load",
      );
      // Judged by skopeo, an independent client.
      const image = images[0];
      const raw = await skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        `alice:${SECRET}`,
        `docker://${host}/loaded/${image.repository}:${image.tag}`,
      );
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(raw)));
      assertEquals(
        `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`,
        image.root.descriptor.digest,
      );

      // mirror: the same credential for the target (here also the source).
      const mirrored = ok(
        await airgapWithStdin(
          ["mirror", "-l", list, "-s", host, ...cache, "--registry", `${host}/mirrored`, ...asAlice],
          SECRET,
          env,
        ),
        "mirror",
      );
      assertStringIncludes(mirrored.stdout, "mirrored 2 images");

      // mirror -f: the target's credentials from registries: are used (a mirror pushes as well as pulls).
      plain = await startRegistry();
      await pushCorpus(plain.host, images);
      const site = join(dir, "site");
      await Deno.mkdir(site);
      await Deno.writeTextFile(join(site, "pw.txt"), SECRET + "\n");
      await Deno.writeTextFile(
        join(site, "airgap.yaml"),
        `sourceRegistry: ${plain.host}\nimages:\n${
          images.map((i) => `  - ${i.repository}:${i.tag}\n`).join("")
        }target:\n  registry: ${host}\n  prefix: fromyaml\nregistries:\n  ${host}:\n    ca: ${ca.certPath}\n    username: alice\n    passwordFile: pw.txt\n`,
      );
      const declared = ok(await airgap(["mirror", ...cache], { env, cwd: site }), "mirror with the declared target");
      assertStringIncludes(declared.stdout, "mirrored 2 images");

      // An option not needed is not resolved: load -r OTHER ignores target:'s unset passwordEnv.
      const missing = await airgap(["load", "-r", "other.example:5000", "nothere.tar"], { env, cwd: work });
      assert(missing.code !== 0);
      assertStringIncludes(missing.stderr, "does not exist");
      assert(!missing.stderr.includes("AIRGAP_UNSET_PASSWORD"), missing.stderr);

      // Half a credential is a usage error before anything is fetched.
      const half = await airgap(["load", archive, ...target, "--username", "alice"], { env });
      assertEquals(half.code, 2);
      assertStringIncludes(half.stderr, "--password-stdin");
    } finally {
      await registry?.stop();
      await plain?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
