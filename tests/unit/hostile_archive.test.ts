/**
 * Hostile archives, built byte by byte: every member that is not part of
 * the OCI layout, a tampered index.json or embedded lock, blobs referenced
 * but absent. `ls`, `load` and `serve` refuse with one line naming the
 * member and offset; `verify` reports.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { corpusBlobs, type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import { lsCommand, verifyCommand } from "../../lib/commands/verify/inspect.ts";
import { createArchive, openArchive } from "../../lib/store/archive.ts";
import { formatLock } from "../../lib/lock.ts";
import { BLOCK, encodeHeader, padding, TAR_END } from "../../lib/format/tar.ts";
import type { Lock } from "../../schemas/lock.ts";
import type { Descriptor } from "../../lib/oci/manifest.ts";

const images = standardCorpus(0.1).filter((i) => !i.foreign?.length).slice(0, 3);
const entryOf = (i: GeneratedImage) => `${i.repository}:${i.tag}`;

function lockOf(list: GeneratedImage[]): Lock {
  return {
    lockVersion: 1,
    images: list.map((i) => ({
      entry: entryOf(i),
      source: `docker.io/${entryOf(i)}`,
      digest: i.root.descriptor.digest,
      mediaType: i.root.descriptor.mediaType,
      size: i.root.descriptor.size,
      platforms: [],
      blobs: Object.fromEntries(i.blobs.map((b) => [b.descriptor.digest, b.descriptor.size])),
    })),
  };
}

/** A sound archive of `images`; `tamper` changes what goes in before it is written. */
async function writeArchive(
  path: string,
  tamper: { lock?: Lock; leaveOut?: string } = {},
): Promise<{ layout: Map<string, { offset: number; descriptor: Descriptor }> }> {
  const blobs = [...corpusBlobs(images).values()].filter((b) => b.descriptor.digest !== tamper.leaveOut);
  const archive = await createArchive(path, {
    images: images.map((i) => ({ descriptor: i.root.descriptor, name: `docker.io/${entryOf(i)}`, entry: entryOf(i) })),
    blobs: blobs.map((b) => b.descriptor),
    lock: formatLock(tamper.lock ?? lockOf(images)),
  });
  for (const b of blobs) await archive.push("", b.descriptor, b.bytes);
  await archive.finish();
  return { layout: archive.layout.blobs };
}

/** A header of any type, by hand: ustar fields as encodeHeader writes them, then the typeflag and checksum patched. */
function header(name: string, size: number, type: string, linkname = ""): Uint8Array {
  const block = encodeHeader({ name, size: type === "0" ? size : 0 }).slice(0, BLOCK);
  block[156] = type.charCodeAt(0);
  block.set(new TextEncoder().encode(linkname).subarray(0, 100), 157);
  block.fill(32, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return block;
}

/** The archive with one more member before its end marker; returns the member's header offset. */
async function appendMember(path: string, member: Uint8Array, data: Uint8Array = new Uint8Array()): Promise<number> {
  const bytes = await Deno.readFile(path);
  const body = bytes.subarray(0, bytes.byteLength - TAR_END.byteLength);
  const out = new Uint8Array(
    body.byteLength + member.byteLength + data.byteLength + padding(data.byteLength).byteLength + TAR_END.byteLength,
  );
  out.set(body, 0);
  out.set(member, body.byteLength);
  out.set(data, body.byteLength + member.byteLength);
  await Deno.writeFile(path, out);
  return body.byteLength;
}

const firstLayer = [...corpusBlobs(images).values()].find((b) => b.descriptor.mediaType.includes("layer"))!;
const hexOf = (digest: string) => digest.split(":")[1];

const memberCases: { name: string; build: () => { header: Uint8Array; data?: Uint8Array }; expect: string }[] = [
  {
    name: "a ../ path",
    build: () => ({ header: header("../evil", 4, "0"), data: new TextEncoder().encode("evil") }),
    expect: "a path outside the archive",
  },
  {
    name: "an absolute name",
    build: () => ({ header: header("/etc/cron.d/evil", 4, "0"), data: new TextEncoder().encode("evil") }),
    expect: "an absolute path",
  },
  {
    name: "a symbolic link",
    build: () => ({ header: header("blobs/sha256/" + "a".repeat(64), 0, "2", "/etc/shadow") }),
    expect: "a symbolic link",
  },
  {
    name: "a hard link",
    build: () => ({ header: header("blobs/sha256/" + "b".repeat(64), 0, "1", "index.json") }),
    expect: "a hard link",
  },
  { name: "a character device", build: () => ({ header: header("blobs/null", 0, "3") }), expect: "a character device" },
  { name: "a FIFO", build: () => ({ header: header("blobs/fifo", 0, "6") }), expect: "a FIFO" },
  {
    name: "a second copy of a blob (other bytes)",
    build: () => ({
      header: header(`blobs/sha256/${hexOf(firstLayer.descriptor.digest)}`, firstLayer.bytes.byteLength, "0"),
      data: new Uint8Array(firstLayer.bytes.byteLength),
    }),
    expect: "a second copy of a name",
  },
  {
    name: "an unexpected name",
    build: () => ({ header: header("install.sh", 4, "0"), data: new TextEncoder().encode("evil") }),
    expect: "not part of an OCI layout",
  },
];

for (const c of memberCases) {
  Deno.test(`hostile archive: ${c.name} — ls refuses naming the member and offset, verify reports it`, () =>
    withTempDir(async (dir) => {
      const path = join(dir, "a.tar");
      await writeArchive(path);
      await lsCommand(path); // sound before
      const { header: h, data } = c.build();
      const offset = await appendMember(path, h, data);
      const error = await assertRejects(() => lsCommand(path));
      const message = (error as Error).message;
      assertStringIncludes(message, `at offset ${offset}: ${c.expect}`);
      assert(!message.includes("\n"), "one line");
      const verified = await verifyCommand(path);
      assert(
        verified.problems.some((p) => p.subject.includes(`at offset ${offset}`) && p.message.startsWith(c.expect)),
        JSON.stringify(verified.problems),
      );
    }));
}

Deno.test("hostile archive: a manifest whose bytes do not hash to its digest is refused", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    const { layout } = await writeArchive(path);
    const root = images[1].root.descriptor;
    const bytes = await Deno.readFile(path);
    bytes[layout.get(root.digest)!.offset + 10] ^= 0x20;
    await Deno.writeFile(path, bytes);
    const error = await assertRejects(() => openArchive(path));
    assertStringIncludes((error as Error).message, root.digest);
    assert((await verifyCommand(path)).problems.length > 0);
  }));

Deno.test("hostile archive: a blob referenced but absent is refused", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    await writeArchive(path, { leaveOut: firstLayer.descriptor.digest });
    const error = await assertRejects(() => openArchive(path));
    assertStringIncludes((error as Error).message, `blob ${firstLayer.descriptor.digest} is missing`);
    const { problems } = await verifyCommand(path);
    assert(problems.some((p) => p.message.includes(`${firstLayer.descriptor.digest} is missing`)));
  }));

Deno.test("hostile archive: an embedded lock that pins an image index.json does not carry", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    const extra = standardCorpus(0.1).filter((i) => !images.includes(i)).find((i) => !i.foreign?.length)!;
    const lock = lockOf([...images, { ...extra, repository: "evil/extra" }]);
    await writeArchive(path, { lock });
    const error = await assertRejects(() => openArchive(path));
    assertStringIncludes((error as Error).message, "airgap.lock: pins evil/extra");
    assertStringIncludes((error as Error).message, "which index.json does not carry");
  }));

Deno.test("hostile archive: an embedded lock that leaves out an image index.json carries", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    await writeArchive(path, { lock: lockOf(images.slice(1)) });
    const error = await assertRejects(() => openArchive(path));
    assertStringIncludes(
      (error as Error).message,
      `index.json carries ${entryOf(images[0])}, which airgap.lock does not pin`,
    );
  }));

Deno.test("hostile archive: an embedded lock at another digest, or pinning blobs the image does not have", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    const moved = lockOf(images);
    moved.images[0].digest = images[1].root.descriptor.digest;
    await writeArchive(path, { lock: moved });
    assertStringIncludes((await assertRejects(() => openArchive(path)) as Error).message, "airgap.lock says");
    const padded = lockOf(images);
    padded.images[0].blobs[`sha256:${"c".repeat(64)}`] = 1234;
    await writeArchive(path, { lock: padded });
    assertStringIncludes(
      (await assertRejects(() => openArchive(path)) as Error).message,
      `airgap.lock pins blob sha256:${"c".repeat(64)} (1234 bytes), which its manifests do not reference`,
    );
    const { problems } = await verifyCommand(path);
    assertEquals(problems.length, 1, JSON.stringify(problems));
  }));

Deno.test("hostile archive: load and serve refuse with one line and no stack trace, before touching a registry", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    await writeArchive(path);
    const offset = await appendMember(path, header("../../etc/evil", 0, "0"));
    const expected = `member "../../etc/evil" at offset ${offset}: a path outside the archive`;
    // Port 9 (discard) on loopback: nothing listens; the archive is refused before any connection.
    const load = await airgap(["load", path, "--registry", "127.0.0.1:9", "-q"]);
    const serve = await airgap(["serve", path, "--listen", "127.0.0.1:0"]);
    for (const run of [load, serve]) {
      assert(run.code !== 0, run.stderr);
      assertStringIncludes(run.stderr, expected);
      assertEquals(run.stderr.trim().split("\n").length, 1, run.stderr);
      assert(!run.stderr.includes("    at "), run.stderr);
    }
  }));

/** A header whose size field is `field` (12 bytes as written), checksum recomputed. */
function sizedHeader(name: string, field: number[], type = "0"): Uint8Array {
  const block = header(name, 0, type);
  block.set(field, 124);
  block.fill(32, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return block;
}

Deno.test("hostile archive: crafted sizes (base-256 over 2^53, not octal, a 2 MiB PAX header) — ls refuses in one line naming the offset", () =>
  withTempDir(async (dir) => {
    // Regression (issue 19): a crafted base-256 size gave `RangeError: Array buffer allocation failed`,
    // a non-octal size stopped the scan silently (the members after it were never seen).
    const cases: [string, Uint8Array, string][] = [
      [
        "base-256",
        sizedHeader("x", [0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "x"),
        "size field is a base-256 number over 2^53",
      ],
      [
        "non-octal",
        sizedHeader("blobs/sha256/zz", [...new TextEncoder().encode("0000000009z\0")]),
        "size field is not an octal number",
      ],
      [
        "PAX 2 MiB",
        sizedHeader("x", [...new TextEncoder().encode("00010000000\0")], "x"),
        "PAX header of 2097152 bytes, over the limit",
      ],
    ];
    for (const [what, member, expected] of cases) {
      const path = join(dir, `${what}.tar`);
      await writeArchive(path);
      const offset = await appendMember(
        path,
        member,
        what === "PAX 2 MiB" ? new Uint8Array(2 * 1024 * 1024) : undefined,
      );
      const ls = await airgap(["ls", path]);
      assertEquals(ls.code, 1, `${what}: ${ls.stderr}`);
      assertEquals(ls.stderr.trim().split("\n").length, 1, ls.stderr);
      assertStringIncludes(ls.stderr, `corrupt tar header at offset ${offset} (${expected}`);
      assert(!ls.stderr.includes("    at "), ls.stderr);
    }
  }));
