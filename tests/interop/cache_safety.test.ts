/**
 * Issue 9, items 10 and 11 against real distribution: a full disk ends in
 * one line and resumes once there is room; an archive overwritten or
 * truncated under the cache (its pack) is dropped and fetched again; three
 * saves sharing a cache fetch each blob about once.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk, type CliResult } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { otherFileSystemDir, tmpfs } from "../helpers/tempdir.ts";
import { interopAvailable, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { corpusBlobs, type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import { gate } from "../helpers/gate.ts";

const enabled = interopAvailable();
const names = (images: GeneratedImage[]) => images.map((i) => `${i.repository}:${i.tag}`).join("\n") + "\n";
const fetched = (out: CliResult) => Number(out.stdout.match(/\((\d+) bytes\)/)?.[1] ?? 0);

async function withRegistry(
  scale: number,
  fn: (dir: string, args: string[], images: GeneratedImage[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "airgap-cachesafety-" });
  let upstream: TestRegistry | undefined;
  try {
    upstream = await startRegistry();
    const images = standardCorpus(scale);
    await pushCorpus(upstream.host, images);
    await Deno.writeTextFile(join(dir, "images.txt"), names(images));
    await fn(dir, ["save", "-l", join(dir, "images.txt"), "-s", upstream.host, "--platform", "all"], images);
  } finally {
    await upstream?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

async function unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output().catch(() => undefined);
}

async function remount(dir: string, size: string): Promise<void> {
  const out = await new Deno.Command("mount", { args: ["-o", `remount,size=${size}`, dir] }).output();
  assert(out.success, "remount");
}

function assertOneLineFailure(run: CliResult, ...parts: string[]) {
  assertEquals(run.code, 1, run.stderr);
  for (const p of parts) assertStringIncludes(run.stderr, p);
  assertEquals(run.stderr.trim().split("\n").filter((l) => l.startsWith("error")).length, 1, run.stderr);
  assert(!/Uncaught| {4}at /.test(run.stderr), run.stderr);
}

async function leftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.startsWith("images.tar")) out.push(e.name);
  return out;
}

Deno.test({
  name: "disk full: one line naming the file and what was left to write, nothing presented as complete, resumes",
  ignore: !enabled,
  async fn(t) {
    await withRegistry(4, async (dir, save) => {
      const bytes = [...corpusBlobs(standardCorpus(4)).values()].reduce((s, b) => s + b.bytes.byteLength, 0);
      assert(bytes > 1.5 * 1024 * 1024, "the corpus must not fit in 1 MiB");
      await t.step("the archive on another file system (a full USB disk)", async () => {
        const usb = join(dir, "usb");
        if (!(await tmpfs(usb, "1m"))) return;
        try {
          const cache = join(dir, "cache-a");
          const out = join(usb, "images.tar");
          const run = await airgap([...save, "--cache", cache, "-o", out]);
          assertOneLineFailure(run, `no space left on ${out}.partial: `, "still to write");
          assertEquals(await leftovers(usb), [], "no archive, no .partial");
          await airgapOk(["cache", "verify", "--cache", cache]);
          await remount(usb, "64m");
          const again = await airgapOk([...save, "--cache", cache, "-o", out]);
          assert(fetched(again) < bytes, `resumed from the cache: ${fetched(again)} of ${bytes} bytes fetched`);
          await airgapOk(["verify", out]);
        } finally {
          await unmount(usb);
        }
      });
      await t.step("the cache on a full file system, the archive elsewhere", async () => {
        const disk = join(dir, "cachedisk");
        if (!(await tmpfs(disk, "1m"))) return;
        try {
          const cache = join(disk, "cache");
          const out = join(dir, "images.tar");
          const run = await airgap([...save, "--cache", cache, "-o", out]);
          assertOneLineFailure(run, `no space left on ${join(cache, "tmp")}`, "still to write");
          assert(!run.stderr.includes("error: 127.0.0.1"), "the whole save's remainder, not one image's blob");
          assertEquals(await leftovers(dir), [], "no archive, no .partial");
          await airgapOk(["cache", "verify", "--cache", cache]);
          await remount(disk, "64m");
          const again = await airgapOk([...save, "--cache", cache, "-o", out]);
          assert(fetched(again) < bytes, `resumed from the cache: ${fetched(again)} of ${bytes} bytes fetched`);
          await airgapOk(["verify", out]);
          await Deno.remove(out);
        } finally {
          await unmount(disk);
        }
      });
      await t.step("archive and cache on one full file system", async () => {
        const disk = join(dir, "disk");
        if (!(await tmpfs(disk, "1m"))) return;
        try {
          const cache = join(disk, "cache");
          const out = join(disk, "images.tar");
          const run = await airgap([...save, "--cache", cache, "-o", out]);
          assertOneLineFailure(run, "no space left on ", "still to write");
          assertEquals(await leftovers(disk), [], "no archive, no .partial");
          await airgapOk(["cache", "verify", "--cache", cache]);
          await remount(disk, "64m");
          const again = await airgapOk([...save, "--cache", cache, "-o", out]);
          assert(fetched(again) < bytes, `resumed from the cache: ${fetched(again)} of ${bytes} bytes fetched`);
          await airgapOk(["verify", out]);
          await airgapOk(["cache", "verify", "--cache", cache]);
        } finally {
          await unmount(disk);
        }
      });
    });
  },
});

Deno.test({
  name: "an archive overwritten in place or truncated under the cache: its pack is dropped, the save fetches again",
  ignore: !enabled,
  async fn(t) {
    await withRegistry(1, async (dir, save) => {
      const cache = join(dir, "cache");
      const first = join(dir, "images.tar");
      const cold = await airgapOk([...save, "--cache", cache, "-o", first]);
      const reference = await Deno.readFile(first);
      await t.step("overwritten in place with other bytes of the same size (cp other.tar images.tar)", async () => {
        const file = await Deno.open(first, { write: true });
        await file.seek(4096, Deno.SeekMode.Start);
        await file.write(new Uint8Array(reference.byteLength - 8192).fill(0x5a));
        file.close();
        const out = join(dir, "again.tar");
        const again = await airgapOk([...save, "--cache", cache, "-o", out]);
        assert(fetched(again) > 0, "what the damaged pack held was fetched again");
        assertEquals(await Deno.readFile(out), reference, "the same archive as the first save");
        await airgapOk(["cache", "verify", "--cache", cache]);
      });
      await t.step("truncated", async () => {
        const out = join(dir, "third.tar");
        await airgapOk([...save, "--cache", join(dir, "cache2"), "-o", out]);
        await Deno.truncate(out, 10_000);
        const again = await airgapOk([...save, "--cache", join(dir, "cache2"), "-o", join(dir, "fourth.tar")]);
        assert(fetched(again) > 0);
        assertEquals(await Deno.readFile(join(dir, "fourth.tar")), reference);
      });
      assert(fetched(cold) > 0);
    });
  },
});

Deno.test({
  name: "three concurrent saves into one cache fetch each blob about once, not three times",
  ignore: !enabled,
  async fn() {
    await withRegistry(4, async (dir, save) => {
      const alone = await airgapOk([...save, "--cache", join(dir, "alone"), "-o", join(dir, "alone.tar")]);
      const shared = join(dir, "shared");
      const runs = await Promise.all(
        [1, 2, 3].map((n) => airgapOk([...save, "--cache", shared, "-o", join(dir, `c${n}.tar`)])),
      );
      const total = runs.reduce((s, r) => s + fetched(r), 0);
      console.log(`one save fetched ${fetched(alone)} bytes; three concurrent saves fetched ${total} bytes`);
      assert(total < 1.2 * fetched(alone), `${total} bytes for three saves vs ${fetched(alone)} for one`);
      const reference = await Deno.readFile(join(dir, "alone.tar"));
      for (const n of [1, 2, 3]) assertEquals(await Deno.readFile(join(dir, `c${n}.tar`)), reference);
      await airgapOk(["cache", "verify", "--cache", shared]);
    });
  },
});

/** Overwrite a blob's bytes in the registry's storage (same size): it then serves content that fails its digest. */
async function corruptInRegistry(registry: TestRegistry, digest: string): Promise<void> {
  const hex = digest.split(":")[1];
  const path = join(registry.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
  const size = (await Deno.stat(path)).size;
  await Deno.writeFile(path, new Uint8Array(size).fill(0x42));
}

Deno.test({
  name: "a blob that fails with the archive on another file system: one line, no stack trace, no NAME.partial",
  ignore: !enabled,
  async fn() {
    // tmpfs and the cache's file system differ on Linux: no hard link is possible between them.
    const usb = await otherFileSystemDir("airgap-usb-");
    if (!usb) return;
    const dir = await Deno.makeTempDir({ prefix: "airgap-cachesafety-" });
    let upstream: TestRegistry | undefined;
    try {
      upstream = await startRegistry();
      const images = standardCorpus(1);
      await pushCorpus(upstream.host, images);
      const layer = [...corpusBlobs(images).values()].filter((b) => b.descriptor.mediaType.includes("layer"))
        .sort((a, b) => b.bytes.byteLength - a.bytes.byteLength)[0];
      await corruptInRegistry(upstream, layer.descriptor.digest);
      await Deno.writeTextFile(join(dir, "images.txt"), names(images));
      const out = join(usb, "images.tar");
      const run = await airgap([
        "save",
        "-l",
        join(dir, "images.txt"),
        "-s",
        upstream.host,
        "--platform",
        "all",
        "--cache",
        join(dir, "cache"),
        "-o",
        out,
      ]);
      assertOneLineFailure(run, layer.descriptor.digest);
      assertEquals(await leftovers(usb), [], "no archive, no .partial");
      await airgapOk(["cache", "verify", "--cache", join(dir, "cache")]);
    } finally {
      await upstream?.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(usb, { recursive: true });
    }
  },
});

async function journaledBlobs(cache: string): Promise<number> {
  let count = 0;
  try {
    for await (const e of Deno.readDir(join(cache, "packs"))) {
      if (!e.name.endsWith(".idx")) continue;
      count += (await Deno.readTextFile(join(cache, "packs", e.name))).split('"d":').length - 1;
    }
  } catch { /* no packs yet */ }
  return count;
}

Deno.test({
  name: "cache prune --lock a.lock while another save is frozen mid-way leaves that save whole: --locked works offline",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-cachesafety-" });
    let upstream: TestRegistry | undefined;
    let proxy: ReturnType<typeof gate> | undefined;
    try {
      upstream = await startRegistry();
      const images = standardCorpus(4);
      await pushCorpus(upstream.host, images);
      const [a, b] = [images.slice(0, 2), images.slice(2)];
      const inA = corpusBlobs(a);
      const bOnly = [...corpusBlobs(b).values()].filter((x) => !inA.has(x.descriptor.digest));
      proxy = gate(upstream.host, Math.floor(bOnly.reduce((s, x) => s + x.bytes.byteLength, 0) / 2));
      await Deno.writeTextFile(join(dir, "a.txt"), names(a));
      await Deno.writeTextFile(join(dir, "b.txt"), names(b));
      const cache = join(dir, "cache");
      const common = ["--platform", "all", "--cache", cache, "-q", "--concurrency", "2"];
      const a1 = ["-l", join(dir, "a.txt"), "-s", upstream.host, ...common];
      await airgapOk(["save", ...a1, "-o", join(dir, "a.tar"), "--lock", join(dir, "a.lock")]);
      const b1 = ["-l", join(dir, "b.txt"), "-s", proxy.host, ...common, "--lock", join(dir, "b.lock")];
      const saving = airgapOk(["save", ...b1, "-o", join(dir, "b.tar")]);
      // b's save gets stuck half way: its manifests and first blobs are in the cache.
      const stuck = await Promise.race([proxy.closed.then(() => true), saving.then(() => false)]);
      assert(stuck, "the save should have been held half way");
      for (let i = 0; i < 100 && (await journaledBlobs(cache)) === 0; i++) await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 3; i++) {
        const pruned = await airgapOk(["cache", "prune", "--lock", join(dir, "a.lock"), "--cache", cache]);
        assertStringIncludes(pruned.stdout, "running save");
      }
      proxy.open();
      await saving;
      proxy.stop();
      proxy = undefined;
      await upstream.stop();
      upstream = undefined;
      // Offline: everything b.lock pins is still in the cache.
      await airgapOk(["save", ...b1, "-o", join(dir, "b2.tar"), "--locked"]);
      assertEquals(await Deno.readFile(join(dir, "b2.tar")), await Deno.readFile(join(dir, "b.tar")));
    } finally {
      proxy?.stop();
      await upstream?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
