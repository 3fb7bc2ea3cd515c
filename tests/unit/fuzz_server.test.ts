/**
 * Fuzz: the embedded registry's request handling (issue 19, item 4) —
 * random methods, paths (real repositories and junk: encodings, dot
 * segments, long names), query strings, headers (ranges, content types,
 * accept lists, junk authorization) and bodies (real and mutated manifests,
 * random bytes) against `serve` of an archive and against a writable cache,
 * in-process. Every request must be answered (never a cut connection),
 * never with a 500 (an untyped failure inside a handler), with an error
 * body of bounded size that does not echo a long input whole; and the
 * server must still serve the archive's images, unchanged, afterwards.
 *
 * Seeded and fixed in CI; prints its case counts. A longer run:
 * `AIRGAP_FUZZ_CASES=20 AIRGAP_FUZZ_SEED=7 deno test -A tests/unit/fuzz_server.test.ts`
 * (the count is multiplied, the seed replaces 1). A failure names the seed
 * and case; each one found is kept below as a plain regression test.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { blobsOf, fuzzRun, mutate, type Rand, rand, writeImagesArchive } from "../helpers/fuzz.ts";
import { singleImage } from "../../lib/demo/corpus.ts";
import { serveCommand } from "../../lib/commands/serve/serve.ts";

const images = [
  singleImage("rancher/a", "v1", { format: "oci", layers: [{ seed: "sa", size: 900 }] }),
  singleImage("library/b", "v2", { format: "docker", layers: [{ seed: "sb", size: 400 }] }),
];
const blobs = blobsOf(images);
const writeArchive = (path: string) => writeImagesArchive(path, images);

const digests = [...blobs.keys()];
const hex = (r: Rand, n: number) => Array.from({ length: n }, () => "0123456789abcdef"[r.int(16)]).join("");

function name(r: Rand): string {
  return r.pick([
    () => r.pick(images).repository,
    () => "rancher/a",
    () => "nope/x",
    () => "%2e%2e/%2e%2e/etc",
    () => "../../etc",
    () => "a//b",
    () => "UPPER/case",
    () => "a".repeat(r.pick([10, 256, 5000])),
    () => "ünï/cøde",
    () => "a/b/c/d/e/f/g",
    () => "%00",
    () => "",
  ])();
}

function reference(r: Rand): string {
  return r.pick([
    () => r.pick(images).tag,
    () => r.pick(digests),
    () => `sha256:${hex(r, 64)}`,
    () => `sha256:${hex(r, 63)}`,
    () => `sha512:${hex(r, 128)}`,
    () => "sha256:",
    () => "latest",
    () => "x".repeat(r.pick([129, 5000])),
    () => "%2F",
    () => "",
  ])();
}

function path(r: Rand): string {
  const n = name(r);
  const base = r.pick([
    () => "/v2/",
    () => "/v2",
    () => "/v2/_catalog",
    () => `/v2/${n}/tags/list`,
    () => `/v2/${n}/manifests/${reference(r)}`,
    () => `/v2/${n}/blobs/${reference(r)}`,
    () => `/v2/${n}/blobs/uploads/`,
    () => `/v2/${n}/blobs/uploads/${r.pick([hex(r, 32), "x", "..", "%00"])}`,
    () => `/v2/${n}/referrers/${reference(r)}`,
    () => `/${n}`,
    () => "/",
    () => "/v3/",
  ])();
  const query = r.pick([
    "",
    "",
    `?n=${r.pick(["1", "0", "-1", "x", "99999999999999999999", "1.5"])}`,
    `?last=${name(r)}`,
    `?digest=${reference(r)}`,
    `?mount=${reference(r)}&from=${name(r)}`,
    `?artifactType=${r.pick(["application/x", "", "%ff"])}`,
    "?%",
  ]);
  return base + query;
}

function headers(r: Rand): Record<string, string> {
  const out: Record<string, string> = {};
  if (r.chance(0.4)) {
    out.range = r.pick([
      "bytes=0-",
      "bytes=0-0",
      "bytes=-5",
      "bytes=5-1",
      "bytes=99999999999999999999-",
      "items=1",
      "bytes=",
      "bytes=0-1,3-4",
      "bytes=x-y",
    ]);
  }
  if (r.chance(0.4)) {
    out["content-type"] = r.pick([
      "application/vnd.oci.image.manifest.v1+json",
      "application/vnd.docker.distribution.manifest.v2+json",
      "application/octet-stream",
      "text/plain",
      "x".repeat(3000),
    ]);
  }
  if (r.chance(0.3)) out.accept = r.pick(["*/*", "application/vnd.oci.image.index.v1+json", "", "a,b,c"]);
  if (r.chance(0.2)) out["content-range"] = r.pick(["0-10", "bytes 0-10/11", "5-1", "x"]);
  if (r.chance(0.2)) out.authorization = r.pick(["Basic eDp5", "Bearer x", "Basic " + "A".repeat(2000), "junk"]);
  return out;
}

function body(r: Rand): Uint8Array | undefined {
  const manifest = r.pick(images).root.bytes;
  return r.pick([
    () => undefined,
    () => manifest,
    () => mutate(r, manifest),
    () =>
      new TextEncoder().encode(
        r.pick([
          "{}",
          "[]",
          "null",
          '{"schemaVersion":2}',
          '{"schemaVersion":2,"layers":{}}',
          '{"manifests":[{"digest":1}]}',
        ]),
      ),
    () => blobs.get(r.pick(digests))!.bytes,
    () => new Uint8Array(r.int(4096)).map(() => r.int(256)),
  ])();
}

const METHODS = ["GET", "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "FOO"];

async function fuzzServer(url: string, r: Rand, cases: number, label: string): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  for (let n = 0; n < cases; n++) {
    const method = r.pick(METHODS);
    const target = path(r);
    const sent = method === "GET" || method === "HEAD" ? undefined : body(r);
    const what = `${label} case ${n}: ${method} ${target.slice(0, 120)}`;
    let response: Response;
    try {
      response = await fetch(url + target, {
        method,
        headers: headers(r),
        body: sent as Uint8Array<ArrayBuffer> | undefined,
        redirect: "manual",
        signal: AbortSignal.timeout(20_000),
      });
    } catch (e) {
      throw new Error(`${what}: no answer (${e})`);
    }
    const text = await response.text().catch((e) => {
      throw new Error(`${what}: the answer was cut (${e})`);
    });
    assert(response.status !== 500, `${what}: 500 ${text.slice(0, 300)}`);
    if (response.status >= 400) assert(text.length < 4096, `${what}: an error body of ${text.length} bytes`);
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  }
  return statuses;
}

/** The archive's images are still served, byte for byte. */
async function stillServes(url: string): Promise<void> {
  assertEquals((await (await fetch(`${url}/v2/`)).text()).length >= 0, true);
  for (const image of images) {
    const response = await fetch(`${url}/v2/${image.repository}/manifests/${image.tag}`, {
      headers: { accept: image.root.descriptor.mediaType },
    });
    assertEquals(response.status, 200, `${image.repository}:${image.tag}`);
    assertEquals(new Uint8Array(await response.arrayBuffer()), image.root.bytes);
  }
}

Deno.test("fuzz server: random requests to serve (an archive, a writable cache) are answered, never 500, never cut", async () => {
  await withTempDir(async (dir) => {
    const archive = join(dir, "a.tar");
    await writeArchive(archive);
    const { seed, cases } = fuzzRun(1000);
    for (const writable of [false, true]) {
      const source = writable ? join(dir, "cache") : archive;
      const handle = await serveCommand({ source, listen: "127.0.0.1:0", writable });
      try {
        const url = handle.server.url;
        if (writable) {
          // Give the writable cache the archive's images first, by the API, so reads find something.
          for (const image of images) {
            for (const b of [...image.blobs]) {
              const start = await fetch(`${url}/v2/${image.repository}/blobs/uploads/`, { method: "POST" });
              await start.body?.cancel();
              const location = new URL(start.headers.get("location")!, url);
              location.searchParams.set("digest", b.descriptor.digest);
              const put = await fetch(location, { method: "PUT", body: b.bytes as Uint8Array<ArrayBuffer> });
              assertEquals(put.status, 201, await put.text());
            }
            const put = await fetch(`${url}/v2/${image.repository}/manifests/${image.tag}`, {
              method: "PUT",
              headers: { "content-type": image.root.descriptor.mediaType },
              body: image.root.bytes as Uint8Array<ArrayBuffer>,
            });
            assertEquals(put.status, 201, await put.text());
          }
        }
        const label = writable ? "writable cache" : "archive";
        const statuses = await fuzzServer(
          url,
          rand(seed + (writable ? 1 : 0)),
          writable ? Math.round(cases / 2) : cases,
          `fuzz server (${label}, seed ${seed})`,
        );
        if (!writable) await stillServes(url);
        console.log(
          `fuzz server (${label}): ${writable ? Math.round(cases / 2) : cases} requests, seed ${seed}: statuses ${
            JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))
          }`,
        );
      } finally {
        await handle.close();
      }
    }
  });
});

// Regressions the fuzzer found (each a plain test).

Deno.test("server regression: an error's detail does not echo a 5,000-character name whole", async () => {
  // Found by fuzz server (seed 1, case 794): GET /v2/aaaa…(5,000)/tags/list answered 5,093 bytes, the name whole.
  await withTempDir(async (dir) => {
    const archive = join(dir, "a.tar");
    await writeArchive(archive);
    const handle = await serveCommand({ source: archive, listen: "127.0.0.1:0" });
    try {
      for (const name of ["a".repeat(5000), "A".repeat(5000)]) {
        const response = await fetch(`${handle.server.url}/v2/${name}/tags/list`);
        const text = await response.text();
        assert(response.status === 404 || response.status === 400, `${response.status}`);
        assert(text.length < 1000 && text.includes("(5000 characters)"), text.slice(0, 300));
      }
    } finally {
      await handle.close();
    }
  });
});
