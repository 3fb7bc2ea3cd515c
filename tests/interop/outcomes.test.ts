/**
 * One vocabulary for outcomes (issue 21, item 6), as a person reads it:
 * each command runs as a subprocess, and its text summary is compared with
 * its `--json` result — the same images, blobs and bytes in the same words
 * (pushed / mounted / already present / failed), plurals that agree ("1
 * image"), `ls` and `verify` sizing the same blobs alike, a second load
 * and a second mirror saying "N already present".
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgapOk } from "../helpers/cli.ts";
import { upstreamAndSite } from "../helpers/corpus.ts";
import { interopAvailable, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { formatBytes } from "../../lib/text.ts";
import { formatBlobOutcomes, formatContents, formatImageOutcomes } from "../../lib/report/outcomes.ts";

const enabled = interopAvailable();

/** The `summary` event of an NDJSON stream. */
function summaryOf(stdout: string) {
  const events = stdout.trim().split("\n").map((l) => JSON.parse(l));
  const summary = events.find((e) => e.event === "summary");
  assert(summary, stdout);
  return summary;
}

Deno.test({
  name: "outcomes: save, load, mirror, ls, verify and plan say in text what their --json says",
  ignore: !enabled,
  async fn(t) {
    await withTempDir(async (dir) => {
      await withRegistries(async (start) => {
        const { upstream, site, corpus, list } = await upstreamAndSite(start, dir, 4);
        const common = ["-l", list, "-s", upstream.host, "--cache", join(dir, "cache")];
        const archive = join(dir, "a.tar");

        await t.step("plan: images, unique blobs and bytes", async () => {
          const json = JSON.parse(
            (await airgapOk(["plan", ...common, "--json", "--lock", join(dir, "p.lock")])).stdout,
          );
          const text = (await airgapOk(["plan", ...common, "--lock", join(dir, "p.lock")])).stdout;
          assertStringIncludes(text, `${json.images.length} images (`);
          assertStringIncludes(text, `${json.uniqueBlobs} unique blobs, ${formatBytes(json.totalBytes)}`);
        });

        await t.step("save: images, blobs and bytes", async () => {
          const json = summaryOf((await airgapOk(["save", ...common, "-o", archive, "--json"])).stdout);
          const text = (await airgapOk(["save", ...common, "-o", archive, "-q"])).stdout;
          assertStringIncludes(text, `saved ${json.images} images`);
          assertStringIncludes(text, `${json.blobs.pushed} blobs, ${formatBytes(json.bytes)}`);
          assertStringIncludes(text, `the archive is ${formatBytes(json.archiveBytes)}`);
        });

        await t.step("ls and verify size the same blobs alike, in text and JSON", async () => {
          const ls = JSON.parse((await airgapOk(["ls", "--json", archive])).stdout);
          const verify = JSON.parse((await airgapOk(["verify", "--json", archive])).stdout);
          assertEquals([ls.blobs, ls.bytes], [verify.blobs, verify.bytes]);
          const contents = formatContents({ images: verify.images, blobs: verify.blobs, bytes: verify.bytes });
          assertStringIncludes((await airgapOk(["ls", archive])).stdout, contents);
          assertStringIncludes((await airgapOk(["verify", archive])).stdout, contents);
        });

        const target = ["--registry", `${site.host}/site`];
        await t.step("load: the second says already present, in text as in JSON", async () => {
          const first = (await airgapOk(["load", archive, ...target, "-q"])).stdout;
          assertStringIncludes(first, `loaded ${corpus.length} images into`);
          const text = (await airgapOk(["load", archive, ...target, "-q"])).stdout;
          const json = summaryOf((await airgapOk(["load", archive, ...target, "--json"])).stdout);
          assertEquals(json.alreadyPresent, corpus.length);
          assertStringIncludes(
            text,
            formatImageOutcomes("loaded", { done: json.images, present: json.alreadyPresent }),
          );
          assertStringIncludes(
            text,
            formatBlobOutcomes({
              pushed: json.blobs.pushed,
              mounted: json.blobs.mounted,
              present: json.blobs.exists,
              bytes: json.bytes,
            }),
          );
          assertStringIncludes(text, `(0 new, ${corpus.length} already present)`);
        });

        const mirrorTo = [...common, "--registry", `${site.host}/mirrored`, "--lock", join(dir, "m.lock")];
        await t.step("mirror: a second mirror says N already present, like load", async () => {
          await airgapOk(["mirror", ...mirrorTo, "-q"]);
          const text = (await airgapOk(["mirror", ...mirrorTo, "-q"])).stdout;
          const json = summaryOf((await airgapOk(["mirror", ...mirrorTo, "--json"])).stdout);
          assertEquals(json.alreadyPresent, corpus.length);
          assertStringIncludes(text, `(0 new, ${corpus.length} already present)`);
          assertStringIncludes(
            text,
            `${json.blobs.pushed} blobs pushed (${
              formatBytes(json.bytes)
            }), ${json.blobs.mounted} mounted, ${json.blobs.exists} already present`,
          );
          assert(!text.includes("already there"), text);
        });
      });
    }, "airgap-outcomes-");
  },
});
