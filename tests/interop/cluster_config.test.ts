/**
 * Issue 22 item 2, proven with containerd itself: a private registry with
 * TLS (a private CA) and htpasswd auth is filled by `airgap load` (Rancher's
 * naming, under a Harbor-style prefix); `airgap cluster-config` writes the
 * containerd `certs.d` tree from the archive and airgap.yaml; then
 * `ctr images pull --hosts-dir` of the upstream names kubelet would ask for
 * (`docker.io/rancher/…`, `quay.io/jetstack/…`) gets them from the private
 * registry, at the digests the lock pins, and one of them runs. Secrets stay
 * out of every output and file unless handed over on purpose.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import bcrypt from "bcryptjs";
import { parse as parseYaml } from "yaml";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgapOk, saveArgs } from "../helpers/cli.ts";
import { containerdAvailable, HELLO, imageNames, preloadUpstream, withContainerd } from "../helpers/containerd.ts";
import { interopAvailable, withRegistries } from "../helpers/registry.ts";
import { makeServerCertificate } from "../helpers/tokenserver.ts";
import { parseLock } from "../../lib/lock.ts";

const enabled = interopAvailable() && containerdAvailable();
const SECRET = "cluster-Pa55-do-not-print";
const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

Deno.test({
  name: "ctr pulls docker.io/rancher/… and quay.io/jetstack/… through the generated hosts.toml, over TLS with auth",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-cluster-" });
    try {
      await withRegistries(async (start) => {
        const { upstream, list } = await preloadUpstream(start, dir);
        const { ca, server } = await makeServerCertificate(dir);
        const site = await start({
          tls: { certificate: server.certPath, key: server.keyPath },
          htpasswd: `alice:${bcrypt.hashSync(SECRET, 5)}\n`,
        });
        const archive = join(dir, "a.tar");
        const lockPath = join(dir, "saved.lock");
        await airgapOk([
          ...saveArgs(list, upstream.host, archive, join(dir, "c")),
          "--lock",
          lockPath,
          "-q",
        ]);
        const yaml = join(dir, "airgap.yaml");
        await Deno.writeTextFile(
          yaml,
          `target:\n  registry: ${site.host}\n  prefix: mirror\nregistries:\n  ${site.host}:\n    ca: ${ca.certPath}\n    username: alice\n    passwordEnv: AIRGAP_TEST_PASSWORD\n`,
        );
        const env = { HOME: dir, AIRGAP_TEST_PASSWORD: SECRET };
        await airgapOk(["load", archive, "-f", yaml, "-q"], { env });

        const out = join(dir, "out");
        // cluster-config talks to no registry: the password's variable need not be set.
        const written = await airgapOk(["cluster-config", archive, "-f", yaml, "-o", out], { env: { HOME: dir } });
        assertStringIncludes(written.stdout, "6 images from");
        assertStringIncludes(written.stdout, "mirrored to " + `${site.host}/mirror`);
        // busybox went to mirror/rancher/busybox: containerd has no rewrite for that, and says so.
        assertStringIncludes(written.stderr, "docker.io/library/busybox");
        const registries = await Deno.readTextFile(join(out, "registries.yaml"));
        assert(!registries.includes(SECRET) && !written.stdout.includes(SECRET), "no password unless handed over");
        assertEquals(parseYaml(registries).configs[site.host].auth, { username: "alice" });
        assertEquals(
          await Deno.readTextFile(join(out, "certs.d", "docker.io", "ca.crt")),
          await Deno.readTextFile(ca.certPath),
        );

        const pinned = new Map(
          parseLock(await Deno.readTextFile(lockPath), "lock").images.map((i) => [i.entry, i.digest]),
        );
        await withContainerd(async (containerd) => {
          const hosts = join(out, "certs.d");
          const pull = (name: string) =>
            containerd.ctr("-n", "k8s.io", "images", "pull", "--hosts-dir", hosts, "--user", `alice:${SECRET}`, name);
          for (
            const [entry, name] of [
              ["rancher/shell:v0.1.21", "docker.io/rancher/shell:v0.1.21"],
              ["quay.io/jetstack/cert-manager-controller:v1.12.3", "quay.io/jetstack/cert-manager-controller:v1.12.3"],
              ["rancher/airgap-hello:v1", "docker.io/rancher/airgap-hello:v1"],
            ]
          ) {
            await pull(name);
            const line = (await containerd.ctr("-n", "k8s.io", "images", "ls")).split("\n").find((l) =>
              l.startsWith(`${name} `)
            );
            assert(line?.includes(pinned.get(entry)!), `${name} at the pinned digest ${pinned.get(entry)}: ${line}`);
          }
          assertEquals(imageNames(await containerd.ctr("-n", "k8s.io", "images", "ls", "-q")), [
            "docker.io/rancher/airgap-hello:v1",
            "docker.io/rancher/shell:v0.1.21",
            "quay.io/jetstack/cert-manager-controller:v1.12.3",
          ]);
          const ran = await containerd.ctr("-n", "k8s.io", "run", "--rm", "docker.io/rancher/airgap-hello:v1", "hello");
          assertEquals(ran.trim(), HELLO);
          // Without the credentials the private registry refuses: the pull really went there.
          const anonymous = await containerd.ctrResult(
            "-n",
            "other",
            "images",
            "pull",
            "--hosts-dir",
            hosts,
            "docker.io/rancher/mirrored-pause:3.6",
          );
          assert(anonymous.code !== 0, "an anonymous pull must fail");
          assertStringIncludes(anonymous.stderr, "401");
        });

        // A password is written only when handed over, and then only into registries.yaml, owner-readable.
        const secretOut = join(dir, "secret");
        const handed = await airgapOk(
          ["cluster-config", archive, "-f", yaml, "-o", secretOut, "--password-env", "AIRGAP_TEST_PASSWORD"],
          { env },
        );
        assert(!handed.stdout.includes(SECRET) && !handed.stderr.includes(SECRET), "the password is never printed");
        assertEquals(parseYaml(await Deno.readTextFile(join(secretOut, "registries.yaml"))).configs[site.host].auth, {
          username: "alice",
          password: SECRET,
        });
        assertEquals((await Deno.stat(join(secretOut, "registries.yaml"))).mode! & 0o777, 0o600);
        // From the lock and flags alone (no airgap.yaml): the same files.
        const flagsOut = join(dir, "flags");
        await airgapOk([
          "cluster-config",
          "--lock",
          lockPath,
          "-r",
          `${site.host}/mirror`,
          "--ca-file",
          ca.certPath,
          "--username",
          "alice",
          "-o",
          flagsOut,
          "-q",
        ], { env: { HOME: dir } });
        for (const file of ["registries.yaml", "rancher-values.yaml", "cert-manager-values.yaml"]) {
          assertEquals(await Deno.readTextFile(join(flagsOut, file)), await Deno.readTextFile(join(out, file)), file);
        }
        for (const host of ["docker.io", "quay.io", site.host]) {
          const file = join("certs.d", host, "hosts.toml");
          assertEquals(await Deno.readTextFile(join(flagsOut, file)), await Deno.readTextFile(join(out, file)), file);
        }
        // --password-stdin: the password from a pipe, never echoed.
        const piped = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--quiet",
            CLI,
            "cluster-config",
            archive,
            "-f",
            yaml,
            "-o",
            join(dir, "stdin"),
            "--password-stdin",
          ],
          env: { HOME: dir, NO_COLOR: "1" },
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const writer = piped.stdin.getWriter();
        await writer.write(new TextEncoder().encode(`${SECRET}\n`));
        await writer.close();
        const result = await piped.output();
        const printed = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
        assert(result.success, printed);
        assert(!printed.includes(SECRET), "the password is never printed");
        assertEquals(
          parseYaml(await Deno.readTextFile(join(dir, "stdin", "registries.yaml"))).configs[site.host].auth.password,
          SECRET,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
