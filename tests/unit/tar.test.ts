import { assert, assertEquals } from "../helpers/assert.ts";
import { BLOCK, encodeHeader, padding, type RandomAccess, scanTar, TAR_END } from "../../lib/store/tar.ts";

function memory(bytes: Uint8Array): RandomAccess {
  return { size: bytes.byteLength, read: (o, l) => Promise.resolve(bytes.slice(o, o + l)) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
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
