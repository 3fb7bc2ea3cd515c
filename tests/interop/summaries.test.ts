/**
 * Issue 11, summaries that add up, against real distribution: loads count
 * images (not tags) and unique blobs, name the full target with its prefix;
 * split archives name their real files; a failed plan says what it did not do.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { upstreamAndSite } from "../helpers/corpus.ts";
import { interopAvailable, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { isManifestType } from "../../lib/oci/media.ts";

const enabled = interopAvailable();

/** `N blobs pushed (…), M mounted, K already present` → [N, M, K]. */
function blobCounts(text: string): number[] {
  const m = text.match(/(\d+) blobs? pushed \([^)]*\), (\d+) mounted, (\d+) already present/);
  assert(m, `no blob counts in: ${text}`);
  return m.slice(1).map(Number);
}

Deno.test({
  name: "summaries: loads add up, name the prefix; split parts are real files; a failed plan writes no lock",
  ignore: !enabled,
  async fn(t) {
    await withTempDir(async (dir) => {
      await withRegistries(async (start) => {
        const { upstream, site, corpus, list } = await upstreamAndSite(start, dir);
        const common = ["-l", list, "-s", upstream.host, "--platform", "all", "--cache", join(dir, "cache")];
        const archive = join(dir, "a.tar");

        await t.step("--split larger than the archive: one file, named as it is", async () => {
          const out = await airgapOk(["save", ...common, "-o", archive, "--split", "4GB", "-q"]);
          assertStringIncludes(out.stdout, `archive smaller than the split size (4GB): one file ${archive}`);
          assert(!out.stdout.includes(".001"), out.stdout);
          assertEquals((await Deno.stat(archive)).isFile, true);
        });

        await t.step("--split smaller than the archive: every part with its size", async () => {
          const out = await airgapOk(["save", ...common, "-o", join(dir, "s.tar"), "--split", "1MiB", "-q"]);
          const parts = out.stdout.match(/split into (\d+) parts: (.*)/);
          assert(parts, out.stdout);
          const named = [...parts[2].matchAll(/(s\.tar\.\d{3}) \(([^)]+)\)/g)];
          assertEquals(named.length, Number(parts[1]));
          for (const [, name] of named) assert((await Deno.stat(join(dir, name))).isFile, name);
          assertStringIncludes(out.stdout, "checksums in ");
        });

        // Configs and layers, each once (manifests are not counted as blobs here).
        await t.step(
          "ls: single-platform images show their platform; a narrow terminal cuts names in the middle",
          async () => {
            const wide = await airgapOk(["ls", archive]);
            const busybox = wide.stdout.split("\n").find((l) => l.startsWith("library/busybox:1.36 "));
            assertStringIncludes(busybox ?? wide.stdout, " linux/amd64 ");
            const narrow = await airgapOk(["ls", archive], { env: { COLUMNS: "60" } });
            const rows = narrow.stdout.split("\n").filter((l) => l && !l.includes(" images, "));
            for (const row of rows) assert(row.length <= 60, `wider than 60: ${row}`);
            assert(rows.some((r) => /^\S+…\S+ /.test(r)), narrow.stdout);
          },
        );

        const unique = new Set(
          corpus.flatMap((i) => i.blobs.filter((b) => !isManifestType(b.descriptor.mediaType)))
            .map((b) => b.descriptor.digest),
        ).size;
        await t.step("a first load: unique blobs add up, the target keeps its prefix", async () => {
          const out = await airgapOk(["load", archive, "--registry", `${site.host}/harbor-proj`, "-q"]);
          assertStringIncludes(out.stdout, `loaded ${corpus.length} images into ${site.host}/harbor-proj in `);
          const [pushed, mounted, there] = blobCounts(out.stdout);
          assert(pushed > 0, out.stdout);
          assertStringIncludes(out.stdout, "of these blobs into other repositories"); // shared base layers
          assertEquals(pushed + mounted + there, unique, out.stdout);
        });

        await t.step("a second load: everything already present, and it says so", async () => {
          const out = await airgapOk(["load", archive, "--registry", `${site.host}/harbor-proj`, "-q"]);
          assertStringIncludes(out.stdout, `(0 new, ${corpus.length} already present)`);
          const [pushed, mounted, there] = blobCounts(out.stdout);
          assertEquals([pushed, mounted], [0, 0]);
          assert(there > 0, out.stdout);
        });

        await t.step("a plan that cannot resolve says the lock was not written, not 'nothing was saved'", async () => {
          const bad = join(dir, "bad.txt");
          await Deno.writeTextFile(bad, "rancher/absent:v1\nrancher/missing:v2\n");
          const lock = join(dir, "bad.lock");
          const out = await airgap([
            "plan",
            "-l",
            bad,
            "-s",
            upstream.host,
            "--lock",
            lock,
            "--cache",
            join(dir, "c2"),
          ]);
          assertEquals(out.code, 1, out.stderr);
          assertStringIncludes(out.stderr, "2 of 2 images could not be resolved; no lock was written");
          assert(!out.stderr.includes("nothing was saved"), out.stderr);
          assert(!(await Deno.stat(lock).catch(() => undefined)), "no lock");
        });
      });
    }, "airgap-summaries-");
  },
});
