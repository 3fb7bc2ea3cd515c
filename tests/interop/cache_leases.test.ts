/**
 * Issue 19, item 3 against real distribution and real clients: `cache prune`
 * (and `--repack`) while a mirror, a plan and `serve --writable` pushes are
 * running removes nothing they wrote or use — each command holds a lease —
 * and `serve` of a cache under 200 parallel pulls with 64 open files at most
 * may answer errors, but loses no blob (`cache verify` afterwards).
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgapOk, startServe } from "../helpers/cli.ts";
import { pushCorpus, writeImageList } from "../helpers/corpus.ts";
import { gate } from "../helpers/gate.ts";
import { interopAvailable, skopeoDigest, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import { isManifestType } from "../../lib/oci/media.ts";
import { lockBlobs, readLock, writeLock } from "../../lib/lock.ts";
import { openCache } from "../../lib/store/cache.ts";
import { cachePrune, cacheVerify } from "../../lib/commands/cache/cache_care.ts";

const enabled = interopAvailable();
const EMPTY = { lockVersion: 1 as const, images: [] };

/** The blobs under the cache's `blobs/` now. */
async function looseDigests(cacheDir: string): Promise<Set<string>> {
  const out = new Set<string>();
  try {
    for await (const e of Deno.readDir(join(cacheDir, "blobs", "sha256"))) out.add(`sha256:${e.name}`);
  } catch { /* none yet */ }
  return out;
}

/** Wait (by polling, no deadline assertion) until the cache holds at least one blob. */
async function someBlobs(cacheDir: string): Promise<void> {
  for (let i = 0; i < 200 && (await looseDigests(cacheDir)).size === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Prune against an empty lock, plain and `--repack`, as a user would (separate processes). */
async function pruneTwice(dir: string, cacheDir: string): Promise<void> {
  const empty = join(dir, "empty.lock");
  await writeLock(empty, EMPTY);
  for (const repack of [false, true]) {
    const out = await airgapOk([
      "cache",
      "prune",
      "--lock",
      empty,
      "--cache",
      cacheDir,
      ...(repack ? ["--repack"] : []),
    ]);
    assertStringIncludes(out.stdout, "running save");
  }
}

/** Hold `run` half way behind a gate, prune twice, let it finish: nothing it had in the cache went. */
async function pruneWhileFrozen(
  dir: string,
  cacheDir: string,
  proxy: ReturnType<typeof gate>,
  run: Promise<unknown>,
): Promise<void> {
  const stuck = await Promise.race([proxy.closed.then(() => true), run.then(() => false)]);
  assert(stuck, "the command should have been held half way");
  await someBlobs(cacheDir);
  const before = await looseDigests(cacheDir);
  assert(before.size > 0, "the command wrote to the cache before it was held");
  await pruneTwice(dir, cacheDir);
  const after = await looseDigests(cacheDir);
  for (const d of before) assert(after.has(d), `prune removed ${d}, which the running command had written`);
  proxy.open();
  await run;
}

const manifestsOf = (images: GeneratedImage[]) =>
  images.flatMap((i) => [i.root, ...i.blobs]).filter((b) => isManifestType(b.descriptor.mediaType));

cacheTest(
  "cache prune and --repack during a mirror (--cache-blobs) remove nothing it wrote: the lock is whole offline",
  !enabled,
  (cacheDir, dir) =>
    withRegistries(async (start) => {
      const [upstream, site] = [await start(), await start()];
      const images = standardCorpus(4);
      await pushCorpus(upstream.host, images);
      const list = await writeImageList(dir, images);
      const proxy = gate(upstream.host, 400_000);
      try {
        const lockPath = join(dir, "m.lock");
        const args = ["mirror", "-l", list, "-s", proxy.host, "-r", site.host, "--platform", "all"];
        const run = airgapOk([
          ...args,
          "--cache",
          cacheDir,
          "--cache-blobs",
          "--lock",
          lockPath,
          "-q",
          "--concurrency",
          "2",
        ]);
        await pruneWhileFrozen(dir, cacheDir, proxy, run);
      } finally {
        proxy.stop();
      }
      await upstream.stop();
      // Offline: every digest the mirror's lock pins is still in the cache.
      const lock = (await readLock(join(dir, "m.lock")))!;
      const cache = await openCache(cacheDir);
      for (const digest of lockBlobs(lock).keys()) assert(await cache.has(digest), `${digest} is still cached`);
      for (const image of images) {
        assertEquals(
          await skopeoDigest(`${site.host}/${image.repository}:${image.tag}`),
          image.root.descriptor.digest,
        );
      }
    }),
);

cacheTest(
  "cache prune and --repack during a plan remove none of the manifests it keeps in the cache",
  !enabled,
  (cacheDir, dir) =>
    withRegistries(async (start) => {
      const upstream = await start();
      const images = standardCorpus(1);
      await pushCorpus(upstream.host, images);
      const list = await writeImageList(dir, images);
      const bytes = manifestsOf(images).reduce((s, b) => s + b.bytes.byteLength, 0);
      const proxy = gate(upstream.host, Math.floor(bytes / 2));
      try {
        const args = ["plan", "-l", list, "-s", proxy.host, "--platform", "all", "--cache", cacheDir];
        const run = airgapOk([...args, "--lock", join(dir, "p.lock"), "-q"]);
        await pruneWhileFrozen(dir, cacheDir, proxy, run);
      } finally {
        proxy.stop();
      }
      const cached = await looseDigests(cacheDir);
      for (const m of manifestsOf(images)) assert(cached.has(m.descriptor.digest), `${m.descriptor.digest} stays`);
    }),
);

/** A test of a cache in a temporary directory (`DIR/cache`), servers and prunes running beside it. */
function cacheTest(name: string, ignore: boolean, fn: (cacheDir: string, dir: string) => Promise<void>): void {
  Deno.test({
    name,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => withTempDir((dir) => fn(join(dir, "cache"), dir), "airgap-leases-"),
  });
}

/** `airgap serve CACHE --writable` on a port of its own. */
const writableServe = (cacheDir: string) => startServe([cacheDir, "--writable", "--listen", "127.0.0.1:0", "-q"]);

cacheTest(
  "serve --writable: skopeo pushes while prune and --repack run again and again; every pushed image stays whole",
  !enabled,
  async (cacheDir) => {
    const images = standardCorpus(2);
    const server = await writableServe(cacheDir);
    let prunes = 0;
    try {
      let pushing = true;
      const pruning = (async () => {
        while (pushing || prunes < 3) await cachePrune(cacheDir, [EMPTY], { repack: prunes++ % 2 === 1 });
      })();
      await pushCorpus(server.host, images).finally(() => pushing = false);
      await pruning;
      for (const image of images) {
        const name = `${server.host}/${image.repository}:${image.tag}`;
        assertEquals(await skopeoDigest(name), image.root.descriptor.digest, name);
      }
    } finally {
      await server.stop();
    }
    console.log(`serve --writable: ${prunes} prunes during ${images.length} pushes`);
    const cached = await looseDigests(cacheDir);
    for (const image of images) {
      for (const b of [image.root, ...image.blobs]) assert(cached.has(b.descriptor.digest), b.descriptor.digest);
    }
    assertEquals((await cacheVerify(cacheDir)).bad, []);
  },
);

cacheTest(
  "serve of a cache under 200 parallel pulls with `ulimit -n 64`: errors allowed, no blob lost",
  !enabled || Deno.build.os === "windows",
  async (cacheDir) => {
    const images = standardCorpus(1);
    const filler = await writableServe(cacheDir);
    try {
      await pushCorpus(filler.host, images);
    } finally {
      await filler.stop();
    }
    const before = await looseDigests(cacheDir);
    const server = await startServe([cacheDir, "--listen", "127.0.0.1:0", "-q"], { shell: "ulimit -n 64" });
    const outcomes = { ok: 0, failed: 0 };
    try {
      const pulls = images.flatMap((i) =>
        i.blobs.map((b) => ({ repository: i.repository, digest: b.descriptor.digest }))
      );
      await Promise.all(Array.from({ length: 200 }, async (_, n) => {
        const { repository, digest } = pulls[n % pulls.length];
        try {
          // A bound on each client (not an assertion): a server out of files may never answer some.
          const signal = AbortSignal.timeout(5_000);
          const response = await fetch(`${server.url}/v2/${repository}/blobs/${digest}`, { signal });
          await response.arrayBuffer();
          outcomes[response.ok ? "ok" : "failed"]++;
        } catch {
          outcomes.failed++;
        }
      }));
    } finally {
      await server.stop();
    }
    // Errors are allowed — Deno 2.9.6 itself may panic once it is out of files (stacker's assertion on
    // EMFILE) — but the cache must come out whole.
    console.log(`serve under ulimit -n 64: ${outcomes.ok} of 200 pulls answered, ${outcomes.failed} failed`);
    assertEquals(outcomes.ok + outcomes.failed, 200);
    assertEquals(await looseDigests(cacheDir), before, "no blob lost");
    const verified = await cacheVerify(cacheDir);
    assertEquals(verified.bad, []);
    assertEquals(verified.checked, before.size);
  },
);
