/**
 * Issue 21 item 2, the media named: a split archive whose parts are not what
 * was written — one missing, one short, one extra, two swapped — is refused
 * by `load`, `verify`, `ls` and `serve` with the part's file name and its
 * position (from `NAME.SHA256SUMS`, or from the parts' sizes without one),
 * never as a truncated entry or a corrupt tar header at some offset; `serve
 * NAME.tar` takes the base name of a split archive as the others do; and
 * `save -o` into a directory that does not exist fails at once, naming the
 * part of the path that is missing, and creates nothing. Every case runs the
 * CLI as a person does (a subprocess); no registry is needed — the archive
 * is written directly, and every refusal comes before any network use.
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { openArchive } from "../../lib/store/archive.ts";
import { writeCorpusParts } from "./server_fixture.ts";
import { writeSums } from "../../lib/format/checksums.ts";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const PART = 12 * 1024;

/** Write the corpus as a split archive `dir/images.tar.NNN` with its SHA256SUMS; returns the part paths. */
async function splitArchive(dir: string): Promise<string[]> {
  const images = standardCorpus(0.1);
  const path = join(dir, "images.tar");
  const parts = await writeCorpusParts(path, images, PART);
  await writeSums(path, parts);
  return parts;
}

/** A copy of the archive (parts and sums) in `dir/NAME/`, damaged by `damage`. */
async function variant(dir: string, parts: string[], name: string, damage: (d: string) => Promise<void>) {
  const at = join(dir, name);
  await Deno.mkdir(at);
  for (const file of [...parts, `${join(dir, "images.tar")}.SHA256SUMS`]) {
    await Deno.copyFile(file, join(at, basename(file)));
  }
  await damage(at);
  return join(at, "images.tar");
}

/**
 * The commands on an archive (all four, or the ones named), each refusing it
 * with `expected` in its one error line — before any word of the tar format
 * (which may follow, as the cause found while reading).
 */
async function refused(archive: string, expected: string, only?: string[]): Promise<void> {
  const runs: Record<string, string[]> = {
    ls: ["ls", archive],
    verify: ["verify", archive],
    load: ["load", archive, "--registry", "127.0.0.1:9"],
    serve: ["serve", archive, "--listen", "127.0.0.1:0"],
  };
  for (const [command, args] of Object.entries(runs).filter(([c]) => !only || only.includes(c))) {
    const result = await airgap(args);
    assert(result.code !== 0, `${command} accepted a damaged archive:\n${result.stdout}${result.stderr}`);
    assertStringIncludes(result.stderr, expected, `${command}`);
    const tarWords = result.stderr.search(/corrupt tar header|truncated archive/);
    assert(tarWords < 0 || tarWords > result.stderr.indexOf(expected), `${command}: ${result.stderr}`);
    assertEquals(result.stderr.trim().split("\n").length, 1, `${command}: one line`);
  }
}

const truncate = async (path: string, size: number) => {
  const file = await Deno.open(path, { write: true });
  await file.truncate(size);
  file.close();
};

Deno.test("split media: a missing, short, extra or swapped part is named by file and position in ls, verify, load and serve", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-media-" });
  try {
    const parts = await splitArchive(dir);
    const n = parts.length;
    assert(n >= 4, `${n} parts`);
    const last = `images.tar.${String(n).padStart(3, "0")}`;

    const missing = await variant(dir, parts, "missing", (d) => Deno.remove(join(d, "images.tar.002")));
    await refused(missing, `images.tar.002 (part 2 of ${n}) is missing (images.tar.SHA256SUMS lists it)`);
    // The parts a shell glob gives (images.tar.0*) name the gap too.
    const globbed = [1, ...Array.from({ length: n - 2 }, (_, i) => i + 3)].map((i) =>
      `${missing}.${String(i).padStart(3, "0")}`
    );
    const load = await airgap(["load", ...globbed, "--registry", "127.0.0.1:9"]);
    assertEquals(load.code, 1, load.stderr);
    assertStringIncludes(load.stderr, `images.tar.002 (part 2 of ${n}) is missing`);

    const short = await variant(dir, parts, "short", (d) => truncate(join(d, "images.tar.002"), 1000));
    await refused(short, `images.tar.002 (part 2 of ${n}) is 1000 bytes where the parts before the last are`, [
      "verify",
    ]);

    const extra = await variant(dir, parts, "extra", async (d) => {
      await Deno.copyFile(join(d, last), join(d, `images.tar.${String(n + 1).padStart(3, "0")}`));
    });
    await refused(
      extra,
      `images.tar.${String(n + 1).padStart(3, "0")} is not in images.tar.SHA256SUMS, which lists ${n} parts`,
      ["load"],
    );

    const swapped = await variant(dir, parts, "swapped", async (d) => {
      await Deno.rename(join(d, "images.tar.002"), join(d, "x"));
      await Deno.rename(join(d, "images.tar.003"), join(d, "images.tar.002"));
      await Deno.rename(join(d, "x"), join(d, "images.tar.003"));
    });
    await refused(swapped, `images.tar.002 and images.tar.003 (parts 2 and 3 of ${n}) are swapped`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("split media: without NAME.SHA256SUMS the parts' sizes and numbers say what they can", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-media-" });
  try {
    const parts = await splitArchive(dir);
    const n = parts.length;
    const last = `images.tar.${String(n).padStart(3, "0")}`;
    const noSums = (d: string) => Deno.remove(join(d, "images.tar.SHA256SUMS"));
    const cases: [string, (d: string) => Promise<void>, string][] = [
      ["gap", async (d) => {
        await noSums(d);
        await Deno.remove(join(d, "images.tar.002"));
      }, `images.tar.002 (part 2) is missing: images.tar.003`],
      ["short", async (d) => {
        await noSums(d);
        await truncate(join(d, "images.tar.002"), 1000);
      }, `images.tar.002 (part 2) is 1000 bytes where the parts before the last are ${PART}: short`],
      ["swapped with the last", async (d) => {
        await noSums(d);
        await Deno.rename(join(d, "images.tar.002"), join(d, "x"));
        await Deno.rename(join(d, last), join(d, "images.tar.002"));
        await Deno.rename(join(d, "x"), join(d, last));
      }, `images.tar.002 (part 2) has the size a last part has and ${last} a full part's: the two are swapped`],
      ["short last", async (d) => {
        await noSums(d);
        await truncate(join(d, last), 100);
      }, `${last} (part ${n}), the last, may be short (no images.tar.SHA256SUMS to tell)`],
      [
        "short last, with sums",
        (d) => truncate(join(d, last), 100),
        `${last} (part ${n} of ${n}) does not match its images.tar.SHA256SUMS line: damaged or short`,
      ],
    ];
    for (const [name, damage, expected] of cases) {
      const archive = await variant(dir, parts, name.replaceAll(" ", "-").replaceAll(",", ""), damage);
      const result = await airgap(["ls", archive]);
      assertEquals(result.code, 1, `${name}: ${result.stdout}${result.stderr}`);
      assertStringIncludes(result.stderr, expected, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("split media: serve takes a split archive's base name; verify names the damaged part of a blob", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-media-" });
  try {
    const parts = await splitArchive(dir);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", CLI, "serve", join(dir, "images.tar"), "--listen", "127.0.0.1:0", "-q"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/ at (https?:\/\/\S+)/.test(text)) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    const url = text.match(/ at (https?:\/\/\S+)/)?.[1];
    if (url) {
      const catalog = await (await fetch(`${url}/v2/_catalog`)).json() as { repositories: string[] };
      assert(catalog.repositories.length > 0, JSON.stringify(catalog));
    }
    child.kill("SIGTERM");
    await reader.cancel();
    const stderr = await new Response(child.stderr).text();
    assertEquals((await child.status).code, 0, stderr);
    assert(url, `serve images.tar did not start: ${text}${stderr}`);
    assertStringIncludes(text, `images from ${join(dir, "images.tar")} at `);

    // A flipped byte in part 3, inside a blob that starts in an earlier part: verify names part 3 (the one
    // that fails its SHA256SUMS line), not the part where the blob starts.
    const archive = await openArchive(join(dir, "images.tar"));
    const crossing = [...archive.blobs.values()].find((e) => e.offset < 2 * PART && e.offset + e.size > 2 * PART + 10);
    await archive.close?.();
    assert(crossing, "a blob crosses into part 3");
    const file = await Deno.open(parts[2], { read: true, write: true });
    const byte = new Uint8Array(1);
    await file.seek(5, Deno.SeekMode.Start);
    await file.read(byte);
    byte[0] ^= 0xff;
    await file.seek(5, Deno.SeekMode.Start);
    await file.write(byte);
    file.close();
    const bad = await airgap(["verify", join(dir, "images.tar")]);
    assertEquals(bad.code, 1, bad.stdout);
    assertStringIncludes(
      bad.stderr,
      `images.tar.003 (part 3 of ${parts.length}): does not match its images.tar.SHA256SUMS line`,
    );
    assertStringIncludes(bad.stderr, "part 3 (images.tar.003, which fails its SHA256SUMS line) blob sha256:");
    assert(!/part [12] \(images\.tar\.00[12]\) blob/.test(bad.stderr), bad.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("save -o into a directory that does not exist: one line naming the missing part, nothing created", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-media-" });
  try {
    const list = join(dir, "images.txt");
    await Deno.writeTextFile(list, "rancher/rancher:v2.7.9\n");
    const output = join(dir, "usb0", "site", "images.tar");
    const result = await airgap(["save", "-l", list, "-s", "127.0.0.1:9", "-o", output, "--cache", join(dir, "c")]);
    assertEquals(result.code, 1, result.stdout + result.stderr);
    assertStringIncludes(
      result.stderr,
      `cannot write ${output}: ${join(dir, "usb0", "site")} does not exist (${dir} has no usb0)`,
    );
    assertEquals(await Deno.stat(join(dir, "usb0")).then(() => true, () => false), false, "usb0 was created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
