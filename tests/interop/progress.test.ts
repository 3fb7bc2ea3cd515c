/**
 * Issue 11, progress: save and load against real distribution, rendered to a
 * pipe (plain lines; the interval shortened by AIRGAP_PROGRESS_INTERVAL) and
 * to a pseudo-terminal (`script`), with images whose layers are shared
 * across repositories — the case that once showed `221/167 blobs`.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgapOk, V8_FLAGS } from "../helpers/cli.ts";
import { upstreamAndSite } from "../helpers/corpus.ts";
import { interopAvailable, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";

const enabled = interopAvailable() && interopAvailable("/usr/bin/script");
const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

/** Every `done/total KIND` counter in the output, checked; returns the last of each kind. */
function checkCounters(text: string): Map<string, [number, number]> {
  const last = new Map<string, [number, number]>();
  for (const [match, done, total, kind] of text.matchAll(/(\d+)\/(\d+) (images|blobs)/g)) {
    assert(Number(done) <= Number(total), `counter passes its total: ${match}`);
    last.set(kind, [Number(done), Number(total)]);
  }
  return last;
}

/** Run the CLI on a pseudo-terminal; returns what the terminal showed. */
async function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  // NO_COLOR (CI sets it) would rightly turn the escapes off: only the cases that ask for it get it.
  const color = "NO_COLOR" in env ? [`NO_COLOR=${env.NO_COLOR}`] : ["-u", "NO_COLOR"];
  const command = ["env", ...color, Deno.execPath(), "run", "-A", "--quiet", V8_FLAGS, CLI, ...args].map(quote)
    .join(" ");
  const output = await new Deno.Command("/usr/bin/script", {
    args: ["-qec", command, "/dev/null"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, text + new TextDecoder().decode(output.stderr));
  return text;
}

Deno.test({
  name: "progress: counters never pass their totals, on a pipe and on a terminal",
  ignore: !enabled,
  async fn(t) {
    await withTempDir(async (dir) => {
      await withRegistries(async (start) => {
        const { upstream, site, corpus, list } = await upstreamAndSite(start, dir);
        const common = ["-l", list, "-s", upstream.host, "--platform", "all", "--lock", join(dir, "lock")];
        const images = corpus.length;

        await t.step("save to a pipe: plain lines, one per finished image with --verbose", async () => {
          const save = await airgapOk(
            ["save", ...common, "--cache", join(dir, "cache"), "-o", join(dir, "a.tar"), "--verbose"],
            { env: { AIRGAP_PROGRESS_INTERVAL: "0" } },
          );
          assert(!save.stderr.includes("\r") && !save.stderr.includes("\x1b"), save.stderr);
          const last = checkCounters(save.stderr);
          assertEquals(last.get("images"), [images, images]);
          const [done, total] = last.get("blobs")!;
          assertEquals(done, total);
          assertEquals(save.stderr.split("\n").filter((l) => /^saved \S+ \(\d+\/\d+\)$/.test(l)).length, images);
          assertStringIncludes(save.stderr, "saving: ");
        });

        await t.step("load to a pipe: the shared layers count once", async () => {
          const load = await airgapOk(["load", join(dir, "a.tar"), "--registry", site.host], {
            env: { AIRGAP_PROGRESS_INTERVAL: "0" },
          });
          const last = checkCounters(load.stderr);
          assertEquals(last.get("images"), [images, images]);
          assertEquals(last.get("blobs")![0], last.get("blobs")![1]);
        });

        await t.step("--quiet: no progress at all", async () => {
          const load = await airgapOk(["load", join(dir, "a.tar"), "--registry", site.host, "-q"], {
            env: { AIRGAP_PROGRESS_INTERVAL: "0" },
          });
          assertEquals(load.stderr, "");
        });

        await t.step("save on a terminal: a live line cut to COLUMNS, with ANSI", async () => {
          const screen = await onTerminal(
            ["save", ...common, "--cache", join(dir, "cache2"), "-o", join(dir, "b.tar")],
            { COLUMNS: "72" },
          );
          assertStringIncludes(screen, "\r\x1b[K");
          checkCounters(screen);
          const frames = screen.replaceAll("\x1b[K", "").split(/[\r\n]+/).filter((f) => f.startsWith("saving: "));
          assert(frames.length > 0, JSON.stringify(screen));
          for (const frame of frames) assert(frame.length <= 71, `wider than the terminal: ${frame}`);
        });

        await t.step("load on a terminal with NO_COLOR: no escape sequences", async () => {
          const screen = await onTerminal(["load", join(dir, "b.tar"), "--registry", site.host], {
            COLUMNS: "72",
            NO_COLOR: "1",
          });
          assert(!screen.includes("\x1b"), JSON.stringify(screen));
          checkCounters(screen);
          assertStringIncludes(screen, "loaded ");
        });
      });
    }, "airgap-progress-");
  },
});
