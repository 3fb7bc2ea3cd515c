/**
 * Issue 5 end to end against real distribution: delta archives and their
 * loads, split volumes, verify/ls/diff, and a save killed mid-way.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk, saveArgs } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { otherFileSystemDir } from "../helpers/tempdir.ts";
import { interopAvailable, skopeo, skopeoDigest, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { serveCommand } from "../../lib/commands/serve/serve.ts";
import { corpusBlobs, type GeneratedImage, singleImage, standardCorpus } from "../../lib/demo/corpus.ts";
import { lockBlobs, parseLock } from "../../lib/lock.ts";
import { openArchive } from "../../lib/store/archive.ts";

const enabled = interopAvailable();

const names = (images: GeneratedImage[]) => images.map((i) => `${i.repository}:${i.tag}`).join("\n") + "\n";

async function catalog(host: string): Promise<string[]> {
  const response = await fetch(`http://${host}/v2/_catalog`);
  return (await response.json()).repositories ?? [];
}

Deno.test({
  name: "a delta carries only new blobs, loads onto its base, and refuses an empty target",
  ignore: !enabled,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "airgap-delta-" });
    const registries: TestRegistry[] = [];
    try {
      const upstream = await startRegistry();
      const site = await startRegistry();
      const empty = await startRegistry();
      registries.push(upstream, site, empty);
      const v1 = standardCorpus(16);
      await pushCorpus(upstream.host, v1);
      const list = join(dir, "images.txt");
      await Deno.writeTextFile(list, names(v1));
      const cache = join(dir, "cache");
      const common = ["-l", list, "-s", upstream.host, "--cache", cache, "--platform", "all", "-q"];
      await airgapOk(["save", ...common, "-o", join(dir, "v1.tar"), "--lock", join(dir, "v1.lock")]);
      await airgapOk(["load", join(dir, "v1.tar"), "--registry", site.host, "-q"]);

      // Upstream moves: two images get new layers on top of the same bases.
      const v2 = standardCorpus(16, ["rancher/rancher", "rancher/shell"]);
      await pushCorpus(upstream.host, v2.filter((i) => ["rancher/rancher", "rancher/shell"].includes(i.repository)));

      let planned: string | undefined;
      await t.step("plan --since shows what the delta carries", async () => {
        const plan = await airgapOk([
          "plan",
          ...common,
          "--since",
          join(dir, "v1.lock"),
          "--lock",
          join(dir, "v1.lock"),
          "--no-write-lock",
        ]);
        assertStringIncludes(plan.stdout, "2 changed");
        // A changed row is marked in the table; a line below it shows the old image ID and the new one.
        const changed = plan.stdout.split("\n").filter((l) => l.startsWith("changed "));
        assertEquals(changed.length, 2, plan.stdout);
        const notes = plan.stdout.split("\n").filter((l) => /: changed, [0-9a-f]{12} → [0-9a-f]{12}$/.test(l));
        assertEquals(notes.length, 2, plan.stdout);
        assertStringIncludes(plan.stdout, `delta against ${join(dir, "v1.lock")}: `);
        planned = plan.stdout.match(/delta against \S+: (\d+ new blobs?, [^;\n]+)/)?.[1];
      });

      const delta = join(dir, "delta.tar");
      await t.step("save --since writes only what the base lacks (within 1% + 64 KiB)", async () => {
        const out = await airgapOk([
          "save",
          ...common,
          "--since",
          join(dir, "v1.lock"),
          "-o",
          delta,
          "--lock",
          join(dir, "v2.lock"),
        ]);
        assertStringIncludes(out.stdout, "delta against");
        const before = lockBlobs(parseLock(await Deno.readTextFile(join(dir, "v1.lock")), "v1"));
        const after = lockBlobs(parseLock(await Deno.readTextFile(join(dir, "v2.lock")), "v2"));
        const newBytes = [...after].filter(([d]) => !before.has(d)).reduce((s, [, size]) => s + size, 0);
        const expectedNew = [...corpusBlobs(v2).values()].filter((b) => !before.has(b.descriptor.digest))
          .reduce((s, b) => s + b.bytes.byteLength, 0);
        assertEquals(newBytes, expectedNew);
        const { size } = await Deno.stat(delta);
        assert(size <= newBytes * 1.01 + 64 * 1024, `delta is ${size} bytes for ${newBytes} bytes of new blobs`);
        const full = (await Deno.stat(join(dir, "v1.tar"))).size;
        assert(size < full / 2, "a delta must be much smaller than a full archive");
        const verify = await airgapOk(["verify", delta]);
        assertStringIncludes(verify.stdout, "blobs from its base");
        const diff = await airgapOk(["diff", join(dir, "v1.lock"), join(dir, "v2.lock")]);
        assertStringIncludes(diff.stdout, "2 changed");
        // One definition, one label: plan --since, save --since and diff give the same numbers.
        const newBlobs = [...after.keys()].filter((d) => !before.has(d)).length;
        const expected = `${newBlobs} new blobs, `;
        assertStringIncludes(diff.stdout, `delta against ${join(dir, "v1.lock")}: ${expected}`);
        assertStringIncludes(out.stdout, `delta against ${join(dir, "v1.lock")}: ${expected}`);
        assertEquals(planned?.startsWith(expected), true, `plan --since said ${planned}`);
        assertStringIncludes(diff.stdout, planned!);
        assertStringIncludes(out.stdout, planned!);
      });

      await t.step("loading the delta onto the first site yields every image with source digests", async () => {
        await airgapOk(["load", delta, "--registry", site.host, "-q"]);
        for (const image of v2) {
          const entry = `${image.repository}:${image.tag}`;
          assertEquals(await skopeoDigest(`${site.host}/${entry}`), image.root.descriptor.digest, entry);
        }
      });

      await t.step("serve serves a delta over its base cache; skopeo copies every image out intact", async () => {
        const served = await serveCommand({ source: delta, baseCache: cache, listen: "127.0.0.1:0" });
        try {
          const host = served.server.url.replace(/^https?:\/\//, "");
          for (const image of v2) {
            const out = join(dir, `served-${image.repository.replaceAll("/", "_")}`);
            await skopeo(
              "copy",
              "--quiet",
              "--all",
              "--preserve-digests",
              "--src-tls-verify=false",
              `docker://${host}/${image.repository}:${image.tag}`,
              `dir:${out}`,
            );
            assertEquals(await skopeoDigest(`${host}/${image.repository}:${image.tag}`), image.root.descriptor.digest);
          }
        } finally {
          await served.close();
        }
      });

      await t.step("loading the delta onto an empty registry fails before any push", async () => {
        const out = await airgap(["load", delta, "--registry", empty.host]);
        assertEquals(out.code, 1);
        assertStringIncludes(out.stderr, "are neither in");
        assertStringIncludes(out.stderr, "Nothing was pushed");
        assertStringIncludes(out.stderr, "sha256:");
        assertEquals(await catalog(empty.host), []);
      });
    } finally {
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a split archive round-trips through load; a corrupted byte is named by part and blob",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-split-" });
    const registries: TestRegistry[] = [];
    try {
      const upstream = await startRegistry();
      const site = await startRegistry();
      registries.push(upstream, site);
      const images = standardCorpus(48);
      await pushCorpus(upstream.host, images);
      const list = join(dir, "images.txt");
      await Deno.writeTextFile(list, names(images));
      const archive = join(dir, "images.tar");
      const out = await airgapOk([
        ...saveArgs(list, upstream.host, archive, join(dir, "cache")),
        "--platform",
        "all",
        "-q",
        "--split",
        "7MiB",
      ]);
      assertStringIncludes(out.stdout, "SHA256SUMS");
      const parts = [1, 2, 3].map((n) => `${archive}.00${n}`);
      for (const p of parts) assert((await Deno.stat(p)).size <= 7 * 1024 * 1024, `${p} exceeds the part size`);
      assert(!(await Deno.stat(archive).then(() => true, () => false)), "no unsplit archive");
      const sums = await new Deno.Command("sha256sum", { args: ["-c", `${archive}.SHA256SUMS`], cwd: dir }).output();
      assert(sums.success, "sha256sum -c accepts the checksum file");

      await airgapOk(["load", ...parts, "--registry", site.host, "-q"]);
      for (const image of images) {
        assertEquals(await skopeoDigest(`${site.host}/${image.repository}:${image.tag}`), image.root.descriptor.digest);
      }
      await airgapOk(["verify", `${archive}.001`]);
      const ls = await airgapOk(["ls", `${archive}.001`, "--json"]);
      assertEquals(JSON.parse(ls.stdout).images.length, images.length);

      // Flip one byte inside a blob stored in part 2.
      const reader = await openArchive(`${archive}.001`);
      const part1 = (await Deno.stat(parts[0])).size;
      const part2 = (await Deno.stat(parts[1])).size;
      const [digest, entry] = [...reader.blobs.entries()].find(([, e]) =>
        e.offset > part1 + 1024 && e.offset + e.size < part1 + part2
      )!;
      await reader.close?.();
      const file = await Deno.open(parts[1], { read: true, write: true });
      const at = entry.offset - part1 + 100;
      const byte = new Uint8Array(1);
      await file.seek(at, Deno.SeekMode.Start);
      await file.read(byte);
      byte[0] ^= 0xff;
      await file.seek(at, Deno.SeekMode.Start);
      await file.write(byte);
      file.close();
      const bad = await airgap(["verify", archive]);
      assertEquals(bad.code, 1);
      assertStringIncludes(bad.stderr, `part 2 (images.tar.002, which fails its SHA256SUMS line) blob ${digest}`);
      assert(
        /images\.tar\.002 \(part 2 of \d+\): does not match its images\.tar\.SHA256SUMS line/.test(bad.stderr),
        bad.stderr,
      );
    } finally {
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a save killed with SIGKILL resumes: valid archive, fewer bytes fetched than a cold run",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-resume-" });
    const registries: TestRegistry[] = [];
    try {
      const upstream = await startRegistry();
      registries.push(upstream);
      const mib = 1024 * 1024;
      const images = [0, 1, 2].map((i) =>
        singleImage(`big/image-${i}`, "v1", {
          format: "oci",
          layers: [{ seed: `big-base`, size: 24 * mib }, { seed: `big-${i}-a`, size: 24 * mib }, {
            seed: `big-${i}-b`,
            size: 16 * mib,
          }],
        })
      );
      await pushCorpus(upstream.host, images);
      const list = join(dir, "images.txt");
      await Deno.writeTextFile(list, names(images));
      const args = (
        cache: string,
        out: string,
      ) => ["save", "-l", list, "-s", upstream.host, "--cache", cache, "-o", out];

      const cold = await airgapOk(args(join(dir, "cold-cache"), join(dir, "cold.tar")));
      const coldBytes = Number(cold.stdout.match(/\((\d+) bytes\)/)![1]);
      const total = (await Deno.stat(join(dir, "cold.tar"))).size;

      // Kill at a random point once a good part of the archive is written.
      const cache = join(dir, "cache");
      const out = join(dir, "resumed.tar");
      const threshold = total * (0.3 + Math.random() * 0.4);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", fileURLToPath(new URL("../../cli.ts", import.meta.url)), ...args(cache, out)],
        stdout: "null",
        stderr: "null",
      }).spawn();
      let killed = false;
      for (let i = 0; i < 3000; i++) {
        const info = await Deno.stat(`${out}.partial`).catch(() => undefined);
        if (info?.blocks && info.blocks * 512 >= threshold) {
          child.kill("SIGKILL");
          killed = true;
          break;
        }
        const done = await Promise.race([
          child.status.then(() => true),
          new Promise((r) => setTimeout(() => r(false), 5)),
        ]);
        if (done) break;
      }
      await child.status;
      assert(killed, "the save finished before it could be killed");
      assert(!(await Deno.stat(out).then(() => true, () => false)), "a killed save presents no archive");

      const before = (await upstream.requests()).length;
      const resumed = await airgapOk(args(cache, out));
      const resumedBytes = Number(resumed.stdout.match(/\((\d+) bytes\)/)?.[1] ?? 0);
      assert(resumedBytes < coldBytes, `resumed run fetched ${resumedBytes} bytes, a cold run ${coldBytes}`);
      await airgapOk(["verify", out]);
      assertEquals(
        await Deno.readFile(out),
        await Deno.readFile(join(dir, "cold.tar")),
        "the same archive as a cold run",
      );
      const requests = (await upstream.requests()).slice(before);
      const partialFetches = requests.filter((r) => r.status === 206).length;
      console.log(
        `killed at ~${Math.round(threshold / mib)} MiB of ${
          Math.round(total / mib)
        } MiB; resumed fetched ${resumedBytes} of ${coldBytes} bytes; ${partialFetches} range request(s)`,
      );
    } finally {
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an archive on another file system than the cache (a USB disk): loose cache copies, same archive",
  ignore: !enabled,
  async fn() {
    // tmpfs and the cache's file system differ on Linux: no hard link is possible between them.
    const usb = await otherFileSystemDir("airgap-usb-");
    if (!usb) return;
    const dir = await Deno.makeTempDir({ prefix: "airgap-otherfs-" });
    let upstream: TestRegistry | undefined;
    try {
      upstream = await startRegistry();
      const images = standardCorpus(8);
      await pushCorpus(upstream.host, images);
      const list = join(dir, "images.txt");
      await Deno.writeTextFile(list, names(images));
      const args = ["save", "-l", list, "-s", upstream.host, "--platform", "all", "--cache", join(dir, "cache")];
      const out = await airgapOk([...args, "-o", join(usb, "images.tar")]);
      assertStringIncludes(out.stderr, "another file system than the cache");
      await airgapOk(["verify", join(usb, "images.tar")]);
      // The cache got every blob as a loose copy: a second save (here, on the cache's own disk) fetches nothing
      // and writes the same bytes.
      const again = await airgapOk([...args, "-o", join(dir, "again.tar")]);
      assertStringIncludes(again.stdout, "fetched nothing");
      assertEquals(await Deno.readFile(join(dir, "again.tar")), await Deno.readFile(join(usb, "images.tar")));
    } finally {
      await upstream?.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(usb, { recursive: true });
    }
  },
});
