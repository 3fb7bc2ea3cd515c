/**
 * Files stream, never held in memory (issue 22 follow-up): a 200 MiB file
 * served over HTTP (generated on the fly, with its sha256 declared) and a
 * 300 MiB sparse file declared by `path:` go through `plan`, `save` and
 * `files extract`, each a CLI process whose peak RSS (Linux: VmHWM) stays
 * under 150 MiB — the project's memory rule at any size. The memory bound
 * is asserted, not the time. A wrong sha256 on the large file is refused
 * and the cache keeps nothing of it.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { measuredMain } from "../helpers/cli.ts";

const MiB = 1024 * 1024;
const SIZE = 200 * MiB; // more than the bound itself: a file held in memory could not pass
const LIMIT_KIB = 150 * 1024;

const BASE = (() => {
  const out = new Uint8Array(MiB);
  let x = 1;
  for (let j = 0; j < MiB; j++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[j] = x >>> 24;
  }
  return out;
})();

/** Block `i` of the served file: 1 MiB, different in every block (its number in its first bytes). */
function block(i: number): Uint8Array {
  const out = BASE.slice();
  new DataView(out.buffer).setUint32(0, i);
  return out;
}

function generated(): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i * MiB >= SIZE) return controller.close();
      controller.enqueue(block(i++));
    },
  }, { highWaterMark: 0 });
}

async function sha256Of(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest("hex");
}

Deno.test({
  name: "files stream: 200 MiB over HTTP and from path: through plan, save and files extract under 150 MiB RSS",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-filestream-" });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      if (new URL(request.url).pathname !== "/big.iso") return new Response("not found", { status: 404 });
      return new Response(generated(), { headers: { "content-length": String(SIZE) } });
    });
    const url = `http://127.0.0.1:${server.addr.port}/big.iso`;
    try {
      const served = await sha256Of(generated());
      const sparse = join(dir, "disk.img");
      const file = await Deno.open(sparse, { write: true, create: true });
      await file.truncate(SIZE);
      await file.seek(SIZE / 2, Deno.SeekMode.Start);
      await file.write(new TextEncoder().encode("not only zeros"));
      file.close();
      const local = await sha256Of((await Deno.open(sparse)).readable);
      const yaml = (sha: string) =>
        ["files:", `  - url: ${url}`, `    sha256: "${sha}"`, "  - path: disk.img", ""].join("\n");
      await Deno.writeTextFile(join(dir, "airgap.yaml"), yaml(served));
      const cache = join(dir, "cache");
      const peaks: string[] = [];
      const run = async (what: string, args: string[]) => {
        const result = await measuredMain(dir, args, { cwd: dir });
        assertEquals(result.code, 0, `${what}: ${result.stderr}`);
        peaks.push(`${what} ${result.peak ?? "unknown"} KiB`);
        if (result.peak !== undefined) assert(result.peak < LIMIT_KIB, `${what}: peak RSS ${result.peak} KiB`);
      };
      await run("plan", ["plan", "--cache", cache]);
      await run("save", ["save", "--cache", cache, "-o", join(dir, "kit.tar")]);
      await Deno.remove(cache, { recursive: true }); // the archive alone: extract must not lean on the cache
      await run("extract", ["files", "extract", join(dir, "kit.tar"), "-d", join(dir, "out")]);
      console.log(`files stream: 2 × ${SIZE / MiB} MiB, peak RSS ${peaks.join(", ")}`);
      assertEquals(await sha256Of((await Deno.open(join(dir, "out", "big.iso"))).readable), served);
      assertEquals(await sha256Of((await Deno.open(join(dir, "out", "disk.img"))).readable), local);

      // A wrong sha256: refused, one line naming the entry, and nothing of it kept in the cache.
      await Deno.writeTextFile(join(dir, "airgap.yaml"), yaml("0".repeat(64)));
      const cache2 = join(dir, "cache2");
      const bad = await measuredMain(dir, ["plan", "--cache", cache2], { cwd: dir });
      assert(bad.code !== 0, bad.stderr);
      assertStringIncludes(bad.stderr, "airgap.yaml:2:5: file big.iso: sha256 mismatch");
      assertStringIncludes(bad.stderr, `has sha256:${served}`);
      const kept: string[] = [];
      for await (const e of Deno.readDir(join(cache2, "blobs", "sha256"))) kept.push(e.name);
      assertEquals(kept.includes(served), false);
      for await (const e of Deno.readDir(join(cache2, "tmp"))) assert(!e.name.endsWith(".partial"), e.name);
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
