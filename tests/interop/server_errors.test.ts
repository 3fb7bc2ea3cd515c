/**
 * The embedded registry answers bad requests with the distribution spec's
 * error codes and statuses. Needs no external binaries: the archive is
 * written straight from the generated corpus.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { encodeJson } from "../../lib/oci/manifest.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from "../../lib/oci/media.ts";
import { openCache } from "../../lib/store/cache.ts";
import { archiveImages, createCatalog, type RunningServer, startServer } from "../../lib/server/server.ts";
import { writeCorpusArchive } from "./server_fixture.ts";

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  codes: string[];
}

async function call(
  server: RunningServer,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: Uint8Array | string } = {},
): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: init.headers,
    body: init.body as BodyInit | undefined,
  });
  const text = method === "HEAD" ? "" : await response.text();
  let codes: string[] = [];
  try {
    codes = (JSON.parse(text) as { errors?: { code: string }[] }).errors?.map((e) => e.code) ?? [];
  } catch {
    // not an error body
  }
  return { status: response.status, headers: response.headers, text, codes };
}

function expectError(answer: Answer, status: number, code: string) {
  assertEquals({ status: answer.status, codes: answer.codes }, { status, codes: [code] }, answer.text);
}

/** What the spec has no code for: the status, and a plain-text body (no made-up code). */
function expectPlain(answer: Answer, status: number) {
  assertEquals({ status: answer.status, codes: answer.codes }, { status, codes: [] }, answer.text);
  assert(answer.headers.get("content-type")?.startsWith("text/plain"), answer.text);
}

const images = standardCorpus();
const rancher = images.find((i) => i.repository === "rancher/rancher")!;
const busybox = images.find((i) => i.repository === "library/busybox")!;
const shell = images.find((i) => i.repository === "rancher/shell")!;
const unknownDigest = `sha256:${"ab".repeat(32)}`;

Deno.test("server errors: a read-only archive answers with the spec's codes", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-errors-" });
  const archive = await writeCorpusArchive(join(dir, "a.tar"), images);
  const server = await startServer({ store: archive, catalog: createCatalog(archive, archiveImages(archive)) });
  try {
    await t.step("ping", async () => {
      const ping = await call(server, "GET", "/v2/");
      assertEquals(ping.status, 200);
      assertEquals(ping.headers.get("docker-distribution-api-version"), "registry/2.0");
    });
    await t.step("unknown repository: NAME_UNKNOWN", async () => {
      expectError(await call(server, "GET", "/v2/nope/manifests/latest"), 404, "NAME_UNKNOWN");
      expectError(await call(server, "GET", "/v2/nope/tags/list"), 404, "NAME_UNKNOWN");
      expectError(await call(server, "GET", `/v2/nope/blobs/${unknownDigest}`), 404, "NAME_UNKNOWN");
    });
    await t.step("invalid repository name: NAME_INVALID", async () => {
      expectError(await call(server, "GET", "/v2/Rancher/Rancher/tags/list"), 400, "NAME_INVALID");
    });
    await t.step("unknown tag or digest, and a syntactically invalid tag: MANIFEST_UNKNOWN", async () => {
      expectError(await call(server, "GET", "/v2/rancher/rancher/manifests/v0"), 404, "MANIFEST_UNKNOWN");
      expectError(await call(server, "GET", "/v2/rancher/rancher/manifests/.INVALID"), 404, "MANIFEST_UNKNOWN");
      assertEquals((await call(server, "HEAD", "/v2/rancher/rancher/manifests/-bad")).status, 404);
      expectError(await call(server, "GET", `/v2/rancher/rancher/manifests/${unknownDigest}`), 404, "MANIFEST_UNKNOWN");
      // A manifest of another repository is unknown here.
      const other = busybox.root.descriptor.digest;
      expectError(await call(server, "GET", `/v2/rancher/rancher/manifests/${other}`), 404, "MANIFEST_UNKNOWN");
    });
    await t.step("bad digest syntax: DIGEST_INVALID", async () => {
      expectError(await call(server, "GET", "/v2/rancher/rancher/blobs/sha256:xyz"), 400, "DIGEST_INVALID");
      expectError(await call(server, "GET", "/v2/rancher/rancher/manifests/sha256:123"), 400, "DIGEST_INVALID");
      expectError(await call(server, "GET", `/v2/rancher/rancher/blobs/md5:${"a".repeat(32)}`), 400, "DIGEST_INVALID");
    });
    await t.step("unknown blob, and a blob of another repository: BLOB_UNKNOWN", async () => {
      expectError(await call(server, "GET", `/v2/rancher/rancher/blobs/${unknownDigest}`), 404, "BLOB_UNKNOWN");
      const shellOnly = shell.blobs.find((b) =>
        !rancher.blobs.some((r) => r.descriptor.digest === b.descriptor.digest)
      )!;
      expectError(
        await call(server, "GET", `/v2/rancher/rancher/blobs/${shellOnly.descriptor.digest}`),
        404,
        "BLOB_UNKNOWN",
      );
      const head = await call(server, "HEAD", `/v2/rancher/rancher/blobs/${unknownDigest}`);
      assertEquals(head.status, 404);
    });
    await t.step("ranges: 206 with Content-Range, 416 when unsatisfiable", async () => {
      const layer = rancher.blobs.find((b) => b.bytes.byteLength > 1000)!;
      const path = `/v2/rancher/rancher/blobs/${layer.descriptor.digest}`;
      const size = layer.bytes.byteLength;
      const part = await fetch(`${server.url}${path}`, { headers: { range: "bytes=100-199" } });
      assertEquals(part.status, 206);
      assertEquals(part.headers.get("content-range"), `bytes 100-199/${size}`);
      assertEquals(new Uint8Array(await part.arrayBuffer()), layer.bytes.subarray(100, 200));
      const suffix = await fetch(`${server.url}${path}`, { headers: { range: "bytes=-10" } });
      assertEquals(suffix.status, 206);
      assertEquals(new Uint8Array(await suffix.arrayBuffer()), layer.bytes.subarray(size - 10));
      const open = await fetch(`${server.url}${path}`, { headers: { range: `bytes=${size - 5}-` } });
      assertEquals(open.status, 206);
      assertEquals(new Uint8Array(await open.arrayBuffer()), layer.bytes.subarray(size - 5));
      for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, "bytes=50-10", "bytes=x-y"]) {
        const bad = await call(server, "GET", path, { headers: { range } });
        expectPlain(bad, 416);
        assertEquals(bad.headers.get("content-range"), `bytes */${size}`);
      }
      // Another unit, or several ranges: ignored, the whole blob.
      const whole = await fetch(`${server.url}${path}`, { headers: { range: "bytes=0-1,5-6" } });
      assertEquals(whole.status, 200);
      assertEquals((await whole.arrayBuffer()).byteLength, size);
    });
    await t.step("Accept negotiation as distribution", async () => {
      const index = `/v2/rancher/shell/manifests/${shell.tag}`;
      expectError(await call(server, "GET", index, { headers: { accept: DOCKER_MANIFEST } }), 404, "MANIFEST_UNKNOWN");
      const ok = await call(server, "GET", index, { headers: { accept: `${DOCKER_MANIFEST}, ${OCI_INDEX}` } });
      assertEquals(ok.status, 200);
      assertEquals(ok.headers.get("content-type"), OCI_INDEX);
      assertEquals(ok.headers.get("docker-content-digest"), shell.root.descriptor.digest);
      assertEquals(ok.headers.get("content-length"), String(shell.root.bytes.byteLength));
      const busyboxPath = `/v2/library/busybox/manifests/${busybox.tag}`;
      // (fetch sends a wildcard Accept unless told otherwise)
      const jsonOnly = { headers: { accept: "application/json" } };
      expectError(await call(server, "GET", busyboxPath, jsonOnly), 404, "MANIFEST_UNKNOWN");
      const oci = await call(server, "HEAD", busyboxPath, { headers: { accept: OCI_MANIFEST } });
      assertEquals([oci.status, oci.headers.get("content-type")], [200, OCI_MANIFEST]);
      // The wildcard is honoured.
      assertEquals((await call(server, "HEAD", busyboxPath, { headers: { accept: "*/*" } })).status, 200);
      // Docker list by digest: always; by tag without asking for lists: the linux/amd64 image.
      const list = rancher.root.descriptor.digest;
      const byDigest = await call(server, "GET", `/v2/rancher/rancher/manifests/${list}`, jsonOnly);
      assertEquals([byDigest.status, byDigest.headers.get("content-type")], [200, DOCKER_MANIFEST_LIST]);
      const old = await call(server, "GET", `/v2/rancher/rancher/manifests/${rancher.tag}`, {
        headers: { accept: DOCKER_MANIFEST },
      });
      assertEquals([old.status, old.headers.get("content-type")], [200, DOCKER_MANIFEST]);
      const amd64 = (JSON.parse(new TextDecoder().decode(rancher.root.bytes)) as {
        manifests: { digest: string; platform: { architecture: string } }[];
      }).manifests.find((m) => m.platform.architecture === "amd64")!;
      assertEquals(old.headers.get("docker-content-digest"), amd64.digest);
      const etag = ok.headers.get("etag")!;
      const cached = await call(server, "GET", index, { headers: { accept: OCI_INDEX, "if-none-match": etag } });
      assertEquals(cached.status, 304);
    });
    await t.step("pagination parameters: 400", async () => {
      expectPlain(await call(server, "GET", "/v2/_catalog?n=x"), 400);
      expectPlain(await call(server, "GET", "/v2/rancher/rancher/tags/list?n=-1"), 400);
    });
    await t.step("referrers of an archive's image: an empty index, not a 404", async () => {
      const answer = await call(server, "GET", `/v2/rancher/rancher/referrers/${rancher.root.descriptor.digest}`);
      assertEquals([answer.status, answer.headers.get("content-type")], [200, OCI_INDEX]);
      assertEquals(JSON.parse(answer.text), { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
      expectError(await call(server, "GET", "/v2/rancher/rancher/referrers/sha256:xyz"), 400, "DIGEST_INVALID");
    });
    await t.step("writes on a read-only server: 405 UNSUPPORTED", async () => {
      expectError(await call(server, "POST", "/v2/rancher/rancher/blobs/uploads/"), 405, "UNSUPPORTED");
      expectError(
        await call(server, "PUT", `/v2/rancher/rancher/manifests/v1`, {
          headers: { "content-type": DOCKER_MANIFEST },
          body: rancher.root.bytes,
        }),
        405,
        "UNSUPPORTED",
      );
      expectError(await call(server, "DELETE", `/v2/rancher/rancher/manifests/${rancher.tag}`), 405, "UNSUPPORTED");
      const list = rancher.root.descriptor.digest;
      expectError(await call(server, "DELETE", `/v2/rancher/rancher/manifests/${list}`), 405, "UNSUPPORTED");
      const layer = rancher.blobs[0].descriptor.digest;
      expectError(await call(server, "DELETE", `/v2/rancher/rancher/blobs/${layer}`), 405, "UNSUPPORTED");
      // Still there.
      assertEquals((await call(server, "HEAD", `/v2/rancher/rancher/blobs/${layer}`)).status, 200);
      expectError(
        await call(server, "PATCH", `/v2/rancher/rancher/blobs/uploads/x`, { body: "abc" }),
        405,
        "UNSUPPORTED",
      );
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server errors: a writable cache refuses what distribution refuses", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-errors-" });
  const cache = await openCache(join(dir, "cache"));
  const server = await startServer({ store: cache, catalog: createCatalog(cache, []), writable: true });
  const bytes = new TextEncoder().encode("some layer content");
  const digest = digestOf(bytes);
  const start = async (repo: string) => {
    const answer = await call(server, "POST", `/v2/${repo}/blobs/uploads/`);
    assertEquals(answer.status, 202, answer.text);
    assertEquals(answer.headers.get("range"), "0-0");
    assert(answer.headers.get("docker-upload-uuid"));
    return answer.headers.get("location")!;
  };
  try {
    await t.step("a digest mismatch on completion: DIGEST_INVALID, and the upload can be retried", async () => {
      const location = await start("x/y");
      const put = await call(server, "PUT", `${location}?digest=${unknownDigest}`, { body: bytes });
      expectError(put, 400, "DIGEST_INVALID");
      assert(!(await cache.has(unknownDigest)));
      // The failed request left nothing behind: the same final PUT, with the right digest, completes.
      const held = await call(server, "GET", location);
      assertEquals([held.status, held.headers.get("range")], [204, "0-0"]);
      const retry = await call(server, "PUT", `${location}?digest=${digest}`, { body: bytes });
      assertEquals(retry.status, 201, retry.text);
      assertEquals(await Deno.readFile(cache.blobPath(digest)), bytes);
      // Chunks sent before a wrong final digest stay.
      const chunked = await start("x/y");
      const patch = await call(server, "PATCH", chunked, { body: bytes });
      assertEquals(patch.status, 202);
      expectError(await call(server, "PUT", `${chunked}?digest=${unknownDigest}`), 400, "DIGEST_INVALID");
      assertEquals((await call(server, "PUT", `${chunked}?digest=${digest}`)).status, 201);
      const monolithic = await call(server, "POST", `/v2/x/y/blobs/uploads/?digest=${unknownDigest}`, { body: bytes });
      expectError(monolithic, 400, "DIGEST_INVALID");
      const malformed = await call(server, "POST", `/v2/x/y/blobs/uploads/?digest=sha256:nothex`, { body: bytes });
      expectError(malformed, 400, "DIGEST_INVALID");
      const entries = await Array.fromAsync(Deno.readDir(join(cache.dir, "tmp")));
      assertEquals(entries.filter((e) => e.name.startsWith("upload-")), [], "no partial upload is left behind");
    });
    await t.step("an out-of-order chunk: 416 BLOB_UPLOAD_INVALID; Content-Range as bytes START-END/*", async () => {
      const location = await start("x/y");
      const first = await call(server, "PATCH", location, {
        headers: { "content-range": `bytes 0-${bytes.byteLength - 1}/*` },
        body: bytes,
      });
      assertEquals(first.status, 202, first.text);
      assertEquals(first.headers.get("range"), `0-${bytes.byteLength - 1}`);
      const gap = await call(server, "PATCH", location, { headers: { "content-range": "100-119" }, body: bytes });
      expectError(gap, 416, "BLOB_UPLOAD_INVALID");
      assertEquals(gap.headers.get("range"), `0-${bytes.byteLength - 1}`);
      const again = await call(server, "PATCH", location, {
        headers: { "content-range": `0-${bytes.byteLength - 1}` },
        body: bytes,
      });
      expectError(again, 416, "BLOB_UPLOAD_INVALID");
      const wrongLength = await call(server, "PATCH", location, {
        headers: { "content-range": `${bytes.byteLength}-${bytes.byteLength + 99}` },
        body: bytes,
      });
      expectError(wrongLength, 416, "BLOB_UPLOAD_INVALID");
      const status = await call(server, "GET", location);
      assertEquals([status.status, status.headers.get("range")], [204, `0-${bytes.byteLength - 1}`]);
      expectError(await call(server, "PUT", `${location}?digest=${digest}`, { body: bytes }), 400, "DIGEST_INVALID");
    });
    await t.step("a chunk cut off half-way leaves a resumable upload", async () => {
      const content = crypto.getRandomValues(new Uint8Array(64 * 1024)).slice();
      const whole = new Uint8Array(4 * content.byteLength);
      for (let i = 0; i < 4; i++) whole.set(content, i * content.byteLength);
      const location = await start("x/y");
      const cut = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(whole.slice(0, 2 * content.byteLength));
          setTimeout(() => controller.error(new Error("cable pulled")), 50);
        },
      });
      await fetch(`${server.url}${location}`, { method: "PATCH", body: cut }).then(
        (r) => r.body?.cancel(),
        () => {},
      );
      // Resume from whatever the server says it holds (once it has noticed the cut).
      let resumed: Answer | undefined;
      for (let attempt = 0; attempt < 100 && resumed?.status !== 202; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 20));
        const held = await call(server, "GET", location);
        const size = Number(held.headers.get("range")!.split("-")[1]) + 1;
        const from = held.headers.get("range") === "0-0" ? 0 : size;
        resumed = await call(server, "PATCH", location, {
          headers: { "content-range": `${from}-${whole.byteLength - 1}` },
          body: whole.slice(from),
        });
      }
      assertEquals(resumed?.status, 202, resumed?.text);
      const done = await call(server, "PUT", `${location}?digest=${digestOf(whole)}`);
      assertEquals(done.status, 201, done.text);
      assertEquals(await Deno.readFile(cache.blobPath(digestOf(whole))), whole);
    });
    await t.step("unknown upload: BLOB_UPLOAD_UNKNOWN; a cancelled one too", async () => {
      expectError(await call(server, "GET", "/v2/x/y/blobs/uploads/nope"), 404, "BLOB_UPLOAD_UNKNOWN");
      const location = await start("x/y");
      // An upload belongs to its repository.
      const elsewhere = location.replace("/v2/x/y/", "/v2/x/z/");
      expectError(await call(server, "GET", elsewhere), 404, "BLOB_UPLOAD_UNKNOWN");
      assertEquals((await call(server, "DELETE", location)).status, 204);
      expectError(await call(server, "PATCH", location, { body: bytes }), 404, "BLOB_UPLOAD_UNKNOWN");
    });
    await t.step("a manifest referencing a missing blob: MANIFEST_BLOB_UNKNOWN", async () => {
      const missing = busybox.root;
      const put = await call(server, "PUT", "/v2/library/busybox/manifests/1.36", {
        headers: { "content-type": OCI_MANIFEST },
        body: missing.bytes,
      });
      assertEquals(put.status, 400, put.text);
      assertEquals(new Set(put.codes), new Set(["MANIFEST_BLOB_UNKNOWN"]));
      assertEquals(put.codes.length, busybox.blobs.length, "every missing blob is named");
      // An index whose child manifests are missing, likewise.
      const index = await call(server, "PUT", "/v2/rancher/shell/manifests/v1", {
        headers: { "content-type": OCI_INDEX },
        body: shell.root.bytes,
      });
      expectError({ ...index, codes: [...new Set(index.codes)] }, 400, "MANIFEST_BLOB_UNKNOWN");
    });
    await t.step("a manifest that is not one, or not the digest it is pushed as", async () => {
      const config = encodeJson({ architecture: "amd64", os: "linux" });
      const junk = await call(server, "PUT", "/v2/x/y/manifests/v1", {
        headers: { "content-type": OCI_MANIFEST },
        body: "{not json",
      });
      expectError(junk, 400, "MANIFEST_INVALID");
      const schema1 = await call(server, "PUT", "/v2/x/y/manifests/v1", {
        headers: { "content-type": "application/vnd.docker.distribution.manifest.v1+json" },
        body: JSON.stringify({ schemaVersion: 1, name: "x/y", tag: "v1", fsLayers: [] }),
      });
      expectError(schema1, 400, "MANIFEST_INVALID");
      const pinned = await call(server, "PUT", `/v2/x/y/manifests/${unknownDigest}`, {
        headers: { "content-type": OCI_MANIFEST },
        body: encodeJson({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: 1 },
          layers: [],
        }),
      });
      expectError(pinned, 400, "DIGEST_INVALID");
      expectError(await call(server, "PUT", "/v2/x/y/manifests/-bad-tag", { body: "{}" }), 400, "MANIFEST_INVALID");
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
