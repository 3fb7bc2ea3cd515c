/**
 * Issue 11, `--json` for the long-running commands: save, load and mirror
 * print NDJSON on stdout — every line an event valid against `airgap schema
 * --of events` (checked with Ajv) — against real distribution registries.
 * A run that succeeds ends with `summary` (exit 0, or 3 when --keep-going
 * left images out, each such image an `image` event with its cause); a run
 * that fails ends with one `error` event and no summary. Also `mirror
 * --keep-going`: the others mirrored, the lock and NAME.mirror-failed.txt.
 */
import { join } from "node:path";
// deno-lint-ignore no-import-prefix -- test-only (an independent JSON Schema validator): kept out of deno.json
import Ajv2020 from "npm:ajv@8.17.1/dist/2020.js";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { interopAvailable, REGISTRY_BIN, seedStorage, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { type GeneratedImage, singleImage } from "../../lib/demo/corpus.ts";
import { parseLock } from "../../lib/lock.ts";
import { parseImageList } from "../../lib/sources/list.ts";

const enabled = interopAvailable(REGISTRY_BIN);

function image(name: string): GeneratedImage {
  return singleImage(`rancher/${name}`, "v1", {
    format: "oci",
    layers: [{ seed: `events layer ${name}`, size: 4096 }],
    label: name,
  });
}

interface Event {
  event: string;
  [key: string]: unknown;
}

/** Every stdout line parsed and validated; the events in order. */
async function eventsOf(stdout: string): Promise<Event[]> {
  const schema = JSON.parse((await airgapOk(["schema", "--of", "events"])).stdout);
  const validate = new Ajv2020.default({ allErrors: true, strict: false }).compile(schema);
  const lines = stdout.split("\n").filter((l) => l !== "");
  assert(lines.length > 0, "some events");
  return lines.map((line) => {
    const event: Event = JSON.parse(line);
    assert(validate(event), `${line}: ${JSON.stringify(validate.errors)}`);
    return event;
  });
}

const ofKind = (events: Event[], kind: string) => events.filter((e) => e.event === kind);

Deno.test({
  name: "save, load and mirror --json: NDJSON events valid against the schema; summary or error last",
  ignore: !enabled,
  async fn(t) {
    await withTempDir(async (dir) => {
      await withRegistries(async (start) => {
        const upstream = await start();
        const images = ["a", "b", "c"].map(image);
        await seedStorage(upstream, images);
        // b's manifest resolves, but the registry has lost its layer.
        const layer = images[1].blobs.find((b) => b.descriptor.mediaType.includes("layer"))!;
        const hex = layer.descriptor.digest.slice("sha256:".length);
        await Deno.remove(join(upstream.dir, "data/docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex), {
          recursive: true,
        });
        await Deno.writeTextFile(join(dir, "list.txt"), "rancher/a:v1\nrancher/b:v1\nrancher/c:v1\n");
        await Deno.writeTextFile(join(dir, "airgap.yaml"), `sourceRegistry: ${upstream.host}\nlists: [list.txt]\n`);
        const cache = ["--cache", join(dir, "cache")];

        await t.step(
          "save --json --keep-going: exit 3, two saved, one failed with its cause, summary last",
          async () => {
            const run = await airgap(["save", ...cache, "-o", "images.tar", "--keep-going", "--json"], { cwd: dir });
            assertEquals(run.code, 3, run.stderr);
            const events = await eventsOf(run.stdout);
            assertEquals(events[0].event, "start");
            assertEquals(events.at(-1)!.event, "summary");
            const summary = events.at(-1)!;
            assertEquals([summary.command, summary.images, summary.failed], ["save", 2, 1]);
            assertEquals(summary.failedList, "images.save-failed.txt");
            assertEquals(ofKind(events, "image").filter((e) => e.outcome === "saved").length, 2);
            const failed = ofKind(events, "image").filter((e) => e.outcome === "failed");
            assertEquals(failed.map((e) => e.entry), ["rancher/b:v1"]);
            assertStringIncludes(String(failed[0].cause), "not found");
            assertEquals(failed[0].registry, upstream.host);
            const blobs = ofKind(events, "blob");
            assertEquals(new Set(blobs.map((b) => b.digest)).size, blobs.length, "each blob once");
            assert(blobs.length >= 4, "two images' config, layer and manifest");
            assert(ofKind(events, "warning").some((w) => String(w.message).includes("left out")), "warnings too");
          },
        );

        await t.step("save --json without --keep-going: exit 1, the last line an error, no summary", async () => {
          const run = await airgap(["save", ...cache, "-o", "no.tar", "--json"], { cwd: dir });
          assertEquals(run.code, 1, run.stderr);
          const events = await eventsOf(run.stdout);
          const last = events.at(-1)!;
          assertEquals([last.event, last.exitCode], ["error", 1]);
          assertEquals(ofKind(events, "error").length, 1);
          assertEquals(ofKind(events, "summary").length, 0);
          assertStringIncludes(String(last.cause), "not found");
          assertEquals(last.registry, upstream.host);
        });

        const target = await start();
        await t.step("load --json: exit 0, an image event per image, summary last", async () => {
          const run = await airgap(["load", "images.tar", "-r", target.host, "--json"], { cwd: dir });
          assertEquals(run.code, 0, run.stderr);
          const events = await eventsOf(run.stdout);
          assertEquals(events[0].event, "start");
          const summary = events.at(-1)!;
          assertEquals([summary.event, summary.command, summary.images, summary.failed], ["summary", "load", 2, 0]);
          assertEquals(summary.target, target.host);
          assertEquals(
            ofKind(events, "image").map((e) => e.target).sort(),
            [`${target.host}/rancher/a:v1`, `${target.host}/rancher/c:v1`],
          );
          const pushed = ofKind(events, "blob").filter((b) => b.kind === "blob" && b.outcome === "pushed").length;
          assertEquals(pushed, (summary.blobs as { pushed: number }).pushed);
        });

        await t.step("a load --json that fails: the error event names the problem, exit 1", async () => {
          const run = await airgap(["load", "missing.tar", "-r", target.host, "--json"], { cwd: dir });
          assertEquals(run.code, 1, run.stderr);
          const events = await eventsOf(run.stdout);
          assertEquals(events.length, 1);
          assertEquals(events[0].event, "error");
          assertStringIncludes(String(events[0].message), "missing.tar");
        });

        const mirrored = await start();
        await t.step("mirror --json --keep-going: the others mirrored, the list and the lock, exit 3", async () => {
          const run = await airgap(
            ["mirror", ...cache, "-r", mirrored.host, "--keep-going", "--json", "--lock", "mirror.lock"],
            { cwd: dir },
          );
          assertEquals(run.code, 3, run.stderr);
          const events = await eventsOf(run.stdout);
          const summary = events.at(-1)!;
          assertEquals([summary.event, summary.command, summary.images, summary.failed], ["summary", "mirror", 2, 1]);
          assertEquals(summary.failedList, "mirror.mirror-failed.txt");
          assertEquals(
            ofKind(events, "image").filter((e) => e.outcome === "failed").map((e) => e.entry),
            ["rancher/b:v1"],
          );
          const lock = parseLock(await Deno.readTextFile(join(dir, "mirror.lock")), "mirror.lock");
          assertEquals(lock.images.map((i) => i.entry).sort(), ["rancher/a:v1", "rancher/c:v1"]);
          const list = parseImageList(await Deno.readTextFile(join(dir, "mirror.mirror-failed.txt")), "f");
          assertEquals(list.map((e) => e.entry), ["rancher/b:v1"]);
        });

        await t.step("mirror without --keep-going: the last line an error, nothing else claimed", async () => {
          const failing = await airgap(["mirror", ...cache, "-r", mirrored.host, "--json", "--lock", "m2.lock"], {
            cwd: dir,
          });
          assertEquals(failing.code, 1, failing.stderr);
          const events = await eventsOf(failing.stdout);
          assertEquals(events.at(-1)!.event, "error");
          assertEquals(ofKind(events, "summary").length, 0);
        });
      });
    });
  },
});

Deno.test({
  name: "mirror --keep-going (text): the others mirrored, NAME.mirror-failed.txt retries the rest, exit 3",
  ignore: !enabled,
  async fn() {
    await withTempDir(async (dir) => {
      await withRegistries(async (start) => {
        const upstream = await start();
        const target = await start();
        const images = ["a", "b", "c"].map(image);
        await seedStorage(upstream, images);
        const layer = images[2].blobs.find((b) => b.descriptor.mediaType.includes("layer"))!;
        const hex = layer.descriptor.digest.slice("sha256:".length);
        await Deno.remove(join(upstream.dir, "data/docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex), {
          recursive: true,
        });
        await Deno.writeTextFile(join(dir, "list.txt"), "rancher/a:v1\nrancher/b:v1\nrancher/c:v1\n");
        await Deno.writeTextFile(
          join(dir, "airgap.yaml"),
          `sourceRegistry: ${upstream.host}\nlists: [list.txt]\ntarget: {registry: "${target.host}"}\nkeepGoing: true\n`,
        );
        const cache = ["--cache", join(dir, "cache")];
        const run = await airgap(["mirror", ...cache], { cwd: dir });
        assertEquals(run.code, 3, run.stderr);
        assertStringIncludes(run.stdout, `mirrored 2 images into ${target.host}`);
        assertStringIncludes(run.stderr, "1 image(s) left out, listed in airgap.mirror-failed.txt");
        const listed = parseImageList(await Deno.readTextFile(join(dir, "airgap.mirror-failed.txt")), "f");
        assertEquals(listed.map((e) => e.entry), ["rancher/c:v1"]);
        const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        assertEquals(lock.images.map((i) => i.entry).sort(), ["rancher/a:v1", "rancher/b:v1"]);

        // --quiet: only results and errors — what was left out is an error, nothing else on stderr.
        const quiet = await airgap(["mirror", ...cache, "-q"], { cwd: dir });
        assertEquals(quiet.code, 3, quiet.stderr);
        const lines = quiet.stderr.trim().split("\n");
        assert(lines.every((l) => l.startsWith("error: ")), quiet.stderr);
        assertStringIncludes(quiet.stderr, "1 image(s) left out");
        assertStringIncludes(quiet.stdout, "mirrored 2 images");

        // The layer is back: the retry mirrors just c, and the list is gone.
        await seedStorage(upstream, [images[2]]);
        const retry = await airgap(["mirror", ...cache, "-f", "airgap.yaml", "-l", "airgap.mirror-failed.txt"], {
          cwd: dir,
        });
        assertEquals(retry.code, 0, retry.stderr);
        assertStringIncludes(retry.stdout, `mirrored 1 image into ${target.host}`);
        await Deno.stat(join(dir, "airgap.mirror-failed.txt")).then(
          () => assert(false, "the list is removed once nothing failed"),
          () => {},
        );
      });
    });
  },
});
