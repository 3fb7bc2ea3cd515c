import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { TarFormatError } from "../../lib/errors.ts";
import { openVolumes } from "../../lib/format/volumes.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { concatBytes as concat } from "../helpers/fuzz.ts";
import { join } from "node:path";
import { BLOCK, encodeHeader, padding, type RandomAccess, scanTar, TAR_END } from "../../lib/format/tar.ts";

function memory(bytes: Uint8Array): RandomAccess {
  return { size: bytes.byteLength, read: (o, l) => Promise.resolve(bytes.slice(o, o + l)) };
}

async function entries(bytes: Uint8Array) {
  const out = [];
  for await (const e of scanTar(memory(bytes))) out.push(e);
  return out;
}

Deno.test("tar headers round-trip through the scanner, with offsets", async () => {
  const a = new TextEncoder().encode("hello");
  const tar = concat([
    encodeHeader({ name: "a.txt", size: 5 }),
    a,
    padding(5),
    encodeHeader({ name: "d/", size: 0, type: "directory" }),
    TAR_END,
  ]);
  const found = await entries(tar);
  assertEquals(found.map((e) => [e.name, e.type, e.size, e.offset]), [["a.txt", "0", 5, BLOCK], [
    "d/",
    "5",
    0,
    3 * BLOCK,
  ]]);
});

Deno.test("sizes over 8 GiB and long names use PAX records", async () => {
  const big = 9 * 1024 * 1024 * 1024;
  const header = encodeHeader({ name: "blobs/sha256/" + "f".repeat(120), size: big });
  assert(header.byteLength > BLOCK, "expected a PAX header");
  // Scan only the headers: the data is not there, so pretend the archive is large.
  const access: RandomAccess = {
    size: header.byteLength + big + BLOCK * 2,
    read: (o, l) => Promise.resolve(o < header.byteLength ? header.slice(o, o + l) : new Uint8Array(l)),
  };
  const [entry] = await (async () => {
    const out = [];
    for await (const e of scanTar(access)) out.push(e);
    return out;
  })();
  assertEquals(entry.name, "blobs/sha256/" + "f".repeat(120));
  assertEquals(entry.size, big);
  assertEquals(entry.offset, header.byteLength);
});

Deno.test({
  name: "GNU tar can read what we write",
  // Under Windows (or Wine) there is no GNU tar to ask.
  ignore: Deno.build.os === "windows",
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const body = new TextEncoder().encode("x".repeat(1000));
    const tar = concat([
      encodeHeader({ name: "blobs/", size: 0, type: "directory" }),
      encodeHeader({ name: "blobs/file", size: 1000 }),
      body,
      padding(1000),
      TAR_END,
    ]);
    await Deno.writeFile(`${dir}/t.tar`, tar);
    const out = await new Deno.Command("tar", { args: ["-tvf", `${dir}/t.tar`], stdout: "piped" }).output();
    assert(out.success);
    assert(new TextDecoder().decode(out.stdout).includes("blobs/file"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("corrupt headers and truncated archives are reported with the offset", async () => {
  const tar = concat([encodeHeader({ name: "a", size: 600 }), new Uint8Array(600), padding(600), TAR_END]);
  const corrupt = tar.slice();
  corrupt[10] ^= 1;
  let message = "";
  try {
    await entries(corrupt);
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("corrupt tar header at offset 0"), message);
  try {
    await entries(tar.slice(0, 700));
    message = "";
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("truncated archive"), message);
});

/** A header whose field bytes are patched by hand (size, type, name…), checksum recomputed. */
function patched(patch: (block: Uint8Array) => void, size = 0): Uint8Array {
  const block = encodeHeader({ name: "a", size }).slice(0, BLOCK);
  patch(block);
  block.fill(32, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return block;
}

/** A source that records the largest read, to prove nothing is read (allocated) before its range is checked. */
function watched(bytes: Uint8Array): RandomAccess & { largest: number } {
  const source = {
    size: bytes.byteLength,
    largest: 0,
    read(o: number, l: number) {
      source.largest = Math.max(source.largest, l);
      return Promise.resolve(bytes.slice(o, o + l));
    },
  };
  return source;
}

async function scanError(bytes: Uint8Array, includes: string): Promise<{ message: string; largest: number }> {
  const source = watched(bytes);
  const e = await assertRejects(
    async () => {
      for await (const _ of scanTar(source)) { /* walk */ }
    },
    TarFormatError,
    includes,
  );
  return { message: e.message, largest: source.largest };
}

Deno.test("a base-256 size is bounded: a huge or negative one is a TarFormatError naming the offset, nothing allocated", async () => {
  // Regression (issue 19): a crafted base-256 size gave `RangeError: Array buffer allocation failed`.
  const lead = concat([encodeHeader({ name: "first", size: 1 }), padding(0), new Uint8Array(BLOCK)]);
  for (
    const [what, field] of [
      ["over 2^53", [0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
      ["negative", [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0]],
    ] as const
  ) {
    const bad = patched((b) => {
      b.set(field, 124);
      b[156] = "x".charCodeAt(0);
    });
    const { message, largest } = await scanError(concat([lead, bad, TAR_END]), `offset ${lead.byteLength}`);
    assert(/base-256/.test(message), `${what}: ${message}`);
    assertEquals(largest, BLOCK, `${what}: only header blocks were read`);
  }
  // A positive base-256 size within the archive is read as the number it is.
  const big = patched((b) => b.set([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00], 124));
  const found = await entries(concat([big, new Uint8Array(512), TAR_END]));
  assertEquals(found.map((e) => e.size), [512]);
});

Deno.test("a non-octal size is a TarFormatError naming the offset (it stopped silently)", async () => {
  const bad = patched((b) => b.set(new TextEncoder().encode("00000000x12\0"), 124));
  const { message } = await scanError(concat([encodeHeader({ name: "ok", size: 0 }), bad, TAR_END]), "offset 512");
  assert(message.includes("size field is not an octal number"), message);
  // Spaces and NULs around the digits are what other writers emit, and fine.
  const spaced = patched((b) => b.set(new TextEncoder().encode("      1000 \0"), 124), 0);
  assertEquals((await entries(concat([spaced, new Uint8Array(512), TAR_END])))[0].size, 0o1000);
});

Deno.test("PAX headers and long names over 1 MiB are refused before they are read", async () => {
  const size = 2 * 1024 * 1024;
  for (const type of ["x", "L"]) {
    const bad = patched((b) => {
      b.set(new TextEncoder().encode(size.toString(8).padStart(11, "0") + "\0"), 124);
      b[156] = type.charCodeAt(0);
    });
    const { message, largest } = await scanError(concat([bad, new Uint8Array(size), TAR_END]), "offset 0");
    assert(message.includes("over the limit of 1048576"), message);
    assertEquals(largest, BLOCK, `${type}: only the header was read`);
  }
  // One that claims more than the archive holds is truncation, said before reading.
  const short = patched((b) => b[156] = "x".charCodeAt(0), 1000);
  const { message } = await scanError(concat([short, new Uint8Array(BLOCK)]), "truncated archive");
  assert(message.includes("PAX header at offset 0 needs 1000 bytes"), message);
});

Deno.test("malformed PAX records and sizes are TarFormatErrors", async () => {
  const pax = (text: string) => {
    const data = new TextEncoder().encode(text);
    return concat([
      patched((b) => b[156] = "x".charCodeAt(0), data.byteLength),
      data,
      padding(data.byteLength),
      encodeHeader({ name: "f", size: 0 }),
      TAR_END,
    ]);
  };
  await scanError(pax("99 path=x\n"), "malformed PAX record");
  await scanError(pax("11 path=ab?"), "does not end with a newline");
  await scanError(pax("7 =abc\n"), "has no key");
  await scanError(pax("x path=a\n"), "malformed PAX record");
  await scanError(pax("12 size=-12\n"), 'PAX size "-12" is not a number');
  await scanError(pax("29 size=99999999999999999999\n"), "is not a number");
  // Well-formed: applied.
  const ok = await entries(pax("12 path=abc\n"));
  assertEquals(ok.map((e) => e.name), ["abc"]);
});

Deno.test("split volumes: a read past the end is refused before anything is allocated", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.tar");
    await Deno.writeFile(path, new Uint8Array(1024));
    const volumes = await openVolumes(path);
    try {
      await assertRejects(() => volumes.read(512, 2 ** 40), TarFormatError, "past the end");
      await assertRejects(() => volumes.read(-1, 10), TarFormatError, "past the end");
      assertEquals((await volumes.read(512, 512)).byteLength, 512);
    } finally {
      volumes.close();
    }
  });
});
