/**
 * `airgap serve` as a user runs it: a separate process that prints its URL,
 * serves, and stops cleanly on SIGTERM/SIGINT; usage errors exit 2.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, startServe } from "../helpers/cli.ts";
import { cachePrune } from "../../lib/commands/cache/cache_care.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { writeCorpusArchive } from "./server_fixture.ts";

Deno.test({
  name: "airgap serve: prints the URL, serves, stops on SIGTERM; --writable creates a cache; usage errors",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-server-cli-" });
    const images = standardCorpus(0.1);
    const archivePath = join(dir, "images.tar");
    (await writeCorpusArchive(archivePath, images)).close?.();
    try {
      const readOnly = await startServe([
        archivePath,
        "--listen",
        "127.0.0.1:0",
        "--registry-name",
        "registry.local/mirror",
      ]);
      assertStringIncludes(readOnly.line, `serving ${images.length} images from`);
      const catalog = await (await fetch(`${readOnly.url}/v2/_catalog`)).json() as { repositories: string[] };
      assertEquals(catalog.repositories, images.map((i) => `mirror/${i.repository}`).sort());
      const refused = await fetch(`${readOnly.url}/v2/mirror/x/blobs/uploads/`, { method: "POST" });
      await refused.body?.cancel();
      assertEquals(refused.status, 405);
      const stopped = await readOnly.stop("SIGTERM");
      assertEquals(stopped.code, 0, stopped.stderr);
      assertStringIncludes(stopped.stderr, "GET /v2/_catalog 200");
      assertStringIncludes(stopped.stderr, "stopped on SIGTERM");

      const cacheDir = join(dir, "new-cache");
      const writable = await startServe([cacheDir, "--writable", "--listen", "127.0.0.1:0", "-q"]);
      assertStringIncludes(writable.line, "(writable)");
      const bytes = new TextEncoder().encode("pushed through the CLI");
      const digest = digestOf(bytes);
      const push = await fetch(`${writable.url}/v2/x/y/blobs/uploads/?digest=${digest}`, {
        method: "POST",
        body: bytes,
      });
      await push.body?.cancel();
      assertEquals(push.status, 201);
      const done = await writable.stop("SIGINT");
      assertEquals(done.code, 0, done.stderr);
      assert(!done.stderr.includes("POST"), "-q keeps the request log quiet");
      assertEquals(await Deno.readFile(join(cacheDir, "blobs", "sha256", digest.slice(7))), bytes);

      for (
        const [args, message] of [
          [[archivePath, "--writable"], "--writable needs a cache directory"],
          [[join(dir, "missing")], "does not exist"],
          [[dir], "is not a cache directory"],
          [[archivePath, "--tls-cert", archivePath], "--tls-cert and --tls-key go together"],
          [[archivePath, "--listen", "127.0.0.1:http"], "invalid --listen"],
        ] as const
      ) {
        const result = await airgap(["serve", ...args]);
        assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
        assertStringIncludes(result.stderr, message);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "airgap serve --writable killed mid-upload: its files go at the next start (a running server's stay) and on prune",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-server-kill-" });
    const cacheDir = join(dir, "cache");
    const tmp = join(cacheDir, "tmp");
    const uploads = async () =>
      (await Array.fromAsync(Deno.readDir(tmp))).map((e) => e.name).filter((n) => /^upload-/.test(n));
    const startUpload = async (url: string) => {
      const started = await fetch(`${url}/v2/x/y/blobs/uploads/`, { method: "POST" });
      await started.body?.cancel();
      const patched = await fetch(`${url}${started.headers.get("location")}`, {
        method: "PATCH",
        body: new TextEncoder().encode("half an upload"),
      });
      await patched.body?.cancel();
      assertEquals(patched.status, 202);
    };
    try {
      const killed = await startServe([cacheDir, "--writable", "--listen", "127.0.0.1:0", "-q"]);
      await startUpload(killed.url);
      await killed.stop("SIGKILL");
      const left = await uploads();
      assertEquals(left.length, 1, "a killed server leaves its upload behind");

      const running = await startServe([cacheDir, "--writable", "--listen", "127.0.0.1:0", "-q"]);
      assertEquals(await uploads(), [], "removed when the next server starts");
      await startUpload(running.url);
      const live = await uploads();
      // A second server on the same cache leaves the running one's upload alone; so does prune.
      const second = await startServe([cacheDir, "--writable", "--listen", "127.0.0.1:0", "-q"]);
      assertEquals(await uploads(), live);
      await second.stop("SIGTERM");
      await cachePrune(cacheDir, []);
      assertEquals(await uploads(), live, "prune leaves a running server's upload alone");
      await running.stop("SIGKILL");
      assert((await cachePrune(cacheDir, [])).freedBytes > 0);
      assertEquals(await uploads(), [], "prune removes a killed server's upload");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
