/**
 * Authentication and TLS against real distribution: Basic (htpasswd),
 * Bearer tokens with scopes (including cross-repository mounts), HTTPS with
 * a private CA. Secrets never show up in output, locks or archives.
 */
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk, saveArgs } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import {
  interopAvailable,
  privateHome,
  pushImages,
  skopeoDigest,
  startRegistry,
  type TestRegistry,
  writeDockerAuths,
} from "../helpers/registry.ts";
import { makeCertificate, makeServerCertificate, startTokenServer } from "../helpers/tokenserver.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";

const enabled = interopAvailable();
const SECRET = "s3cret-Pa55-do-not-print";

Deno.test({
  name: "Basic auth from docker config.json; a clear error without credentials",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-auth-" });
    let registry: TestRegistry | undefined;
    try {
      registry = await startRegistry({ htpasswd: `alice:${bcrypt.hashSync(SECRET, 5)}\n` });
      const images = standardCorpus(1).slice(2, 4);
      // Seed it with our own client (authenticated), then judge with skopeo below.
      const credential = { username: "alice", password: SECRET, origin: "test" };
      await pushImages(registryStore(createRegistryClient(registry.host, { credential })), images);
      const list = join(dir, "list.txt");
      await Deno.writeTextFile(list, images.map((i) => `${i.repository}:${i.tag}`).join("\n"));
      const env = await privateHome(dir);
      const save = (
        output: string,
        cache: string,
      ) => ["save", "-l", list, "-s", registry!.host, "-o", join(dir, output), "--cache", join(dir, cache)];

      const denied = await airgap(save("a.tar", "c"), { env });
      assertEquals(denied.code, 1);
      assertStringIncludes(denied.stderr, "HTTP 401");
      assertStringIncludes(denied.stderr, `no credentials found for ${registry.host}`);

      await writeDockerAuths(env, { [registry.host]: btoa(`alice:${SECRET}`) });
      const ok = await airgapOk([...save("a.tar", "c"), "--lock", join(dir, "airgap.lock")], { env });
      for (const text of [ok.stdout, ok.stderr, await Deno.readTextFile(join(dir, "airgap.lock"))]) {
        assert(!text.includes(SECRET) && !text.includes(btoa(`alice:${SECRET}`)), "secret leaked");
      }
      const archive = new TextDecoder().decode(await Deno.readFile(join(dir, "a.tar")));
      assert(!archive.includes(SECRET), "secret in archive");

      await writeDockerAuths(env, { [registry.host]: btoa("alice:wrong") });
      const wrong = await airgap(save("b.tar", "c2"), { env });
      assertEquals(wrong.code, 1);
      assertStringIncludes(wrong.stderr, "credentials from");
      assert(!wrong.stderr.includes("wrong"), "the password must not be printed");
    } finally {
      await registry?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "Bearer token auth with scopes and cross-repository mounts, over HTTPS with a private CA",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-token-" });
    const registries: TestRegistry[] = [];
    const tokenCert = await makeCertificate(dir, "token-signer");
    const { ca, server: tlsCert } = await makeServerCertificate(dir);
    const tokens = startTokenServer(tokenCert, "bob", SECRET);
    try {
      const upstream = await startRegistry();
      registries.push(upstream);
      const secure = await startRegistry({
        extraConfig: tokens.registryConfig,
        tls: { certificate: tlsCert.certPath, key: tlsCert.keyPath },
      });
      registries.push(secure);

      const images = standardCorpus(1);
      await pushCorpus(upstream.host, images);
      const list = join(dir, "list.txt");
      await Deno.writeTextFile(list, images.map((i) => `${i.repository}:${i.tag}`).join("\n"));
      const archive = join(dir, "a.tar");
      await airgapOk([
        ...saveArgs(list, upstream.host, archive, join(dir, "c")),
        "--platform",
        "all",
      ]);

      // Without the CA, HTTPS verification fails with a clear message.
      const untrusted = await airgap(["load", archive, "--registry", secure.host], { env: { HOME: dir } });
      assertEquals(untrusted.code, 1);
      assertStringIncludes(untrusted.stderr, `cannot reach registry ${secure.host}`);
      assertStringIncludes(untrusted.stderr, "to trust a private CA");

      const yaml = join(dir, "airgap.yaml");
      await Deno.writeTextFile(
        yaml,
        `target:\n  registry: ${secure.host}\n  prefix: mirror\nregistries:\n  ${secure.host}:\n    ca: ${ca.certPath}\n    username: bob\n    passwordEnv: AIRGAP_TEST_PASSWORD\n`,
      );
      const out = await airgapOk(["load", archive, "-f", yaml], { env: { HOME: dir, AIRGAP_TEST_PASSWORD: SECRET } });
      assert(!out.stdout.includes(SECRET) && !out.stderr.includes(SECRET), "secret leaked");
      const mounted = Number(out.stdout.match(/(\d+) further mounts? of these blobs into other repositories/)?.[1]);
      assert(mounted > 0, `shared base layers are mounted across repositories: ${out.stdout}`);
      assert(
        tokens.requests.some((r) =>
          r.scopes.some((s) => s.endsWith(":pull,push")) && r.scopes.some((s) => /:pull$/.test(s))
        ),
        "a mount asks for push on the target and pull on the source repository",
      );
      // Judge with skopeo over TLS with the CA.
      const certDir = join(dir, "certs");
      await Deno.mkdir(certDir);
      await Deno.copyFile(ca.certPath, join(certDir, "ca.crt"));
      for (const image of images) {
        const raw = await new Deno.Command("skopeo", {
          args: [
            "inspect",
            "--raw",
            "--cert-dir",
            certDir,
            "--creds",
            `bob:${SECRET}`,
            `docker://${secure.host}/mirror/${image.repository}:${image.tag}`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert(raw.success, new TextDecoder().decode(raw.stderr));
        const digest = `sha256:${
          Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", raw.stdout)), (b) =>
            b.toString(16).padStart(2, "0")).join("")
        }`;
        assertEquals(digest, image.root.descriptor.digest, image.repository);
      }
      assertEquals(await skopeoDigest(`${upstream.host}/rancher/shell:v0.1.21`), images[1].root.descriptor.digest);
    } finally {
      await tokens.close();
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
