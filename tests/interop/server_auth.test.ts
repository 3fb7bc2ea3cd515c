/**
 * `serve --htpasswd` with real clients: `podman login` and `skopeo login`
 * against the embedded registry over TLS (a private CA made by openssl, the
 * server run as a user runs it on every interface) and on loopback over
 * plain HTTP; a wrong password refused; anonymous pushes refused; `skopeo
 * copy --dest-creds` pushing; anonymous pulls allowed, or refused with
 * `--auth-pulls`. The htpasswd file is made by Apache's `htpasswd -B`, as an
 * operator makes it. Also the exposures `serve` refuses to start with.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, startServe } from "../helpers/cli.ts";
import { writeDirImage } from "../helpers/corpus.ts";
import { interopAvailable, SKOPEO_BIN } from "../helpers/registry.ts";
import { makeServerCertificate } from "../helpers/tokenserver.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { serveOptions } from "../../lib/commands/serve/cli.ts";
import { AirgapError } from "../../lib/errors.ts";
import { openCache } from "../../lib/store/cache.ts";
import { serveCommand } from "../../lib/commands/serve/serve.ts";
import { cacheImages, createCatalog, readHtpasswd, type RunningServer, startServer } from "../../lib/server/server.ts";

const PODMAN = "/usr/bin/podman";
const HTPASSWD = "/usr/bin/htpasswd";
const enabled = interopAvailable("/usr/bin/openssl", SKOPEO_BIN, PODMAN, HTPASSWD);
const PASSWORD = "c0rrect-h0rse";

interface Run {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function run(bin: string, args: string[]): Promise<Run> {
  const out = await new Deno.Command(bin, { args, stdout: "piped", stderr: "piped" }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { ok: out.success, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** The world of one test: a temp dir, an htpasswd file made by `htpasswd -B`, one image in skopeo's dir: format. */
async function world() {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-auth-" });
  const htpasswd = join(dir, "users.htpasswd");
  const made = await run(HTPASSWD, ["-B", "-b", "-c", htpasswd, "alice", PASSWORD]);
  assert(made.ok, made.stderr);
  const image = standardCorpus(0.1).find((i) => i.repository === "library/busybox")!;
  const source = join(dir, "image");
  await writeDirImage(source, image);
  return { dir, htpasswd, image, source };
}

/** The TLS options of a client: a cert dir holding the CA, or plain HTTP. */
function tlsArgs(flag: "" | "dest-" | "src-", certDir: string | undefined): string[] {
  return certDir ? [`--${flag}cert-dir`, certDir] : [`--${flag}tls-verify=false`];
}

/** podman and skopeo log in (wrong password refused) and push; anonymous pushes refused; anonymous pulls served. */
async function loginsAndPushes(
  w: Awaited<ReturnType<typeof world>>,
  host: string,
  certDir: string | undefined,
  tagged: () => Promise<Map<string, { digest: string }>>,
) {
  const authfile = (name: string) => join(w.dir, `${name}-${host.replace(/[^0-9a-z]/gi, "_")}.json`);
  const login = (bin: string, file: string, password: string) =>
    run(bin, ["login", "--authfile", file, ...tlsArgs("", certDir), "-u", "alice", "-p", password, host]);
  for (const bin of [PODMAN, SKOPEO_BIN]) {
    const wrong = await login(bin, authfile("wrong"), "h0rse-c0rrect");
    assertEquals(wrong.ok, false, `${bin} login with a wrong password must fail`);
    assertStringIncludes(wrong.stderr, "invalid username/password");
    const right = await login(bin, authfile(bin.includes("podman") ? "podman" : "skopeo"), PASSWORD);
    assertEquals(right.ok, true, right.stderr);
  }
  const copy = (target: string, ...creds: string[]) =>
    run(SKOPEO_BIN, [
      "copy",
      "--quiet",
      "--all",
      "--preserve-digests",
      ...tlsArgs("dest-", certDir),
      ...creds,
      `dir:${w.source}`,
      `docker://${host}/${target}`,
    ]);
  const anonymous = await copy("anon/busybox:1", "--dest-authfile", join(w.dir, "nobody.json"));
  assertEquals(anonymous.ok, false, "an anonymous push is refused");
  assertStringIncludes(anonymous.stderr, "unauthorized");
  const wrong = await copy("wrong/busybox:1", "--dest-creds", "alice:h0rse-c0rrect");
  assertEquals(wrong.ok, false, "a push with a wrong password is refused");
  const mallory = await copy("wrong/busybox:1", "--dest-creds", `mallory:${PASSWORD}`);
  assertEquals(mallory.ok, false, "a push as an unknown user is refused");
  assertEquals([...(await tagged()).keys()].filter((n) => /anon|wrong/.test(n)), [], "nothing was recorded");

  const pushed = await copy("creds/busybox:1", "--dest-creds", `alice:${PASSWORD}`);
  assertEquals(pushed.ok, true, pushed.stderr);
  const fromLogin = await copy("login/busybox:1", "--dest-authfile", authfile("podman"));
  assertEquals(fromLogin.ok, true, `with podman login's auth file: ${fromLogin.stderr}`);

  const pulled = await run(SKOPEO_BIN, [
    "inspect",
    "--raw",
    ...tlsArgs("", certDir),
    "--authfile",
    join(w.dir, "nobody.json"),
    `docker://${host}/creds/busybox:1`,
  ]);
  assertEquals(pulled.ok, true, `an anonymous pull is served: ${pulled.stderr}`);
  assertEquals(digestOf(new TextEncoder().encode(pulled.stdout)), w.image.root.descriptor.digest);
}

Deno.test({
  name: "serve --htpasswd over TLS on every interface (the CLI): podman and skopeo log in, push with creds only",
  ignore: !enabled,
  async fn() {
    const w = await world();
    const { ca, server: certificate } = await makeServerCertificate(w.dir);
    const certDir = join(w.dir, "certs");
    await Deno.mkdir(certDir);
    await Deno.copyFile(ca.certPath, join(certDir, "ca.crt"));
    const cacheDir = join(w.dir, "cache");
    const server = await startServe([
      cacheDir,
      "--writable",
      "--listen",
      "0.0.0.0:0",
      "--htpasswd",
      w.htpasswd,
      "--tls-cert",
      certificate.certPath,
      "--tls-key",
      certificate.keyPath,
      "-q",
    ]);
    try {
      assertStringIncludes(server.line, "(writable), pushes need a user");
      const host = `127.0.0.1:${new URL(server.url).port}`;
      await loginsAndPushes(w, host, certDir, async () => await (await openCache(cacheDir)).tags());
    } finally {
      assertEquals((await server.stop()).code, 0);
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});

async function writableServer(cacheDir: string, htpasswd: string, pulls: boolean): Promise<RunningServer> {
  const cache = await openCache(cacheDir);
  return await startServer({
    store: cache,
    catalog: createCatalog(cache, await cacheImages(cache)),
    writable: true,
    auth: { users: await readHtpasswd(htpasswd), pulls },
  });
}

Deno.test({
  name:
    "serve --htpasswd on loopback (plain HTTP): logins, pushes; anonymous pulls allowed, or refused by --auth-pulls",
  ignore: !enabled,
  async fn(t) {
    const w = await world();
    const cacheDir = join(w.dir, "cache");
    try {
      await t.step("anonymous pulls allowed", async () => {
        const server = await writableServer(cacheDir, w.htpasswd, false);
        try {
          await loginsAndPushes(w, server.host, undefined, async () => await (await openCache(cacheDir)).tags());
        } finally {
          await server.close();
        }
      });
      await t.step("--auth-pulls: anonymous and wrong-password pulls refused, a user's served", async () => {
        const server = await writableServer(cacheDir, w.htpasswd, true);
        const inspect = (...creds: string[]) =>
          run(SKOPEO_BIN, [
            "inspect",
            "--raw",
            "--tls-verify=false",
            ...creds,
            `docker://${server.host}/creds/busybox:1`,
          ]);
        try {
          const anonymous = await inspect("--authfile", join(w.dir, "nobody.json"));
          assertEquals(anonymous.ok, false, "an anonymous pull is refused");
          assertStringIncludes(anonymous.stderr, "unauthorized");
          const wrong = await inspect("--creds", "alice:h0rse-c0rrect");
          assertEquals(wrong.ok, false, "a pull with a wrong password is refused");
          const user = await inspect("--creds", `alice:${PASSWORD}`);
          assertEquals(user.ok, true, user.stderr);
          assertEquals(digestOf(new TextEncoder().encode(user.stdout)), w.image.root.descriptor.digest);
          const catalog = await fetch(`${server.url}/v2/_catalog`);
          assertEquals(catalog.status, 401);
          assertEquals(catalog.headers.get("www-authenticate"), 'Basic realm="airgap"');
          assertEquals(await catalog.json(), {
            errors: [{ code: "UNAUTHORIZED", message: "authentication required" }],
          });
        } finally {
          await server.close();
        }
      });
    } finally {
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "serve refuses to start exposed: --writable off loopback without auth, --htpasswd off loopback without TLS",
  ignore: !enabled,
  async fn() {
    const w = await world();
    const cacheDir = join(w.dir, "cache");
    const bad = join(w.dir, "plain.htpasswd");
    await Deno.writeTextFile(bad, `# users\nalice:${PASSWORD}\n`);
    try {
      // As a user runs it: the process exits 2 with one line.
      for (
        const [args, message] of [
          [["--writable", "--listen", "0.0.0.0:0"], "--writable on 0.0.0.0 lets anyone who can reach it push"],
          [["--writable", "--htpasswd", bad], `${bad}:2: not a bcrypt entry`],
        ] as const
      ) {
        const result = await airgap(["serve", cacheDir, ...args]);
        assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
        assertStringIncludes(result.stderr, message);
        assertEquals(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
        assert(!result.stderr.includes(PASSWORD), "the htpasswd line is not echoed");
      }
      // The same decisions in process (the CLI's options as it builds them).
      const reporter = { info() {} };
      for (
        const [flags, message] of [
          [{ writable: true, listen: ":0" }, "--allow-anonymous-push"],
          [{ writable: true, listen: "0.0.0.0:0", htpasswd: w.htpasswd }, "needs --tls-cert and --tls-key"],
          [{ listen: "0.0.0.0:0", htpasswd: w.htpasswd }, "Basic credentials go over TLS only"],
          [{ writable: true, listen: "0", authPulls: true }, "--auth-pulls needs --htpasswd"],
          [{ writable: true, listen: "0", maxUploads: "0" }, "--max-uploads"],
          [{ writable: true, listen: "0", maxUploadSize: "lots" }, "--max-upload-size"],
          [{ writable: true, listen: "0", uploadIdleTimeout: "soon" }, "--upload-idle-timeout"],
        ] as const
      ) {
        const error = await assertRejects(
          async () => await serveCommand(serveOptions(cacheDir, flags, reporter)),
          AirgapError,
          message,
        );
        assertEquals((error as AirgapError).exitCode, 2, message);
      }
      assertEquals(await Deno.stat(cacheDir).then(() => true, () => false), false, "nothing was created");
      const allowed = await startServe([
        cacheDir,
        "--writable",
        "--listen",
        "0.0.0.0:0",
        "--allow-anonymous-push",
        "-q",
      ]);
      assertStringIncludes(allowed.line, "(writable)");
      assertEquals((await allowed.stop()).code, 0);
    } finally {
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});
