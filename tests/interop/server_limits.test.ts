/**
 * The writable registry's limits, as a client sees them: an upload over the
 * size limit is answered 413 SIZE_INVALID (declared up front, or found while
 * streaming) and leaves no file, a manifest over 4 MiB 413 MANIFEST_INVALID; one session over the concurrent-upload
 * limit is answered 429 TOOMANYREQUESTS; an unfinished upload idle longer
 * than the idle time is removed while the server runs (a killed server's
 * file too); a full disk is answered 507 with a JSON error (a 1 MiB tmpfs,
 * as root); a refused request's body is read up to 1 MiB, then its
 * connection cut (an anonymous client cannot make the server read gigabytes).
 */
import bcrypt from "bcryptjs";
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { tmpfs } from "../helpers/tempdir.ts";
import { pseudoRandomBytes } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { MAX_MANIFEST_SIZE } from "../../lib/oci/manifest.ts";
import { OCI_MANIFEST } from "../../lib/oci/media.ts";
import { openCache } from "../../lib/store/cache.ts";
import {
  cacheImages,
  createCatalog,
  parseHtpasswd,
  type RunningServer,
  startServer,
  type UploadLimits,
} from "../../lib/server/server.ts";

/** Deterministic bytes, as a fetch body. */
function random(seed: string, size: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(pseudoRandomBytes(seed, size));
}

async function writable(cacheDir: string, limits: Partial<UploadLimits>): Promise<RunningServer> {
  const cache = await openCache(cacheDir);
  return await startServer({
    store: cache,
    catalog: createCatalog(cache, await cacheImages(cache)),
    writable: true,
    limits,
  });
}

async function call(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

/** The upload files in the cache's tmp/. */
async function uploadFiles(cacheDir: string): Promise<string[]> {
  const names = await Array.fromAsync(Deno.readDir(join(cacheDir, "tmp")), (e) => e.name);
  return names.filter((n) => n.startsWith("upload-")).sort();
}

/** A body fetch sends chunked (no Content-Length): the limit is found while streaming. */
function chunked(bytes: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array<ArrayBuffer>> {
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.byteLength; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
      controller.close();
    },
  });
}

Deno.test("serve --writable limits: upload size (413), concurrent uploads (429)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-limits-" });
  const cacheDir = join(dir, "cache");
  const server = await writable(cacheDir, { maxUploadSize: 64 * 1024, maxUploads: 3 });
  const uploads = `${server.url}/v2/app/blobs/uploads/`;
  try {
    await t.step("413 SIZE_INVALID for a monolithic upload declared over the limit; no file left", async () => {
      const body = random("big", 100 * 1024);
      const r = await call(`${uploads}?digest=${digestOf(body)}`, { method: "POST", body });
      assertEquals(r.status, 413);
      assertEquals(r.json().errors[0].code, "SIZE_INVALID");
      assertEquals(r.json().errors[0].detail, { limit: 64 * 1024 });
      assertEquals(await uploadFiles(cacheDir), []);
      const fits = random("fits", 64 * 1024);
      assertEquals((await call(`${uploads}?digest=${digestOf(fits)}`, { method: "POST", body: fits })).status, 201);
    });

    await t.step("413 for chunks that pass the limit together: declared, or found while streaming", async () => {
      for (const send of [(b: Uint8Array<ArrayBuffer>) => b, chunked]) {
        const started = await call(uploads, { method: "POST" });
        assertEquals(started.status, 202);
        const location = `${server.url}${started.headers.get("location")}`;
        const first = await call(location, { method: "PATCH", body: random("a", 40 * 1024) });
        assertEquals(first.status, 202);
        const second = await call(location, { method: "PATCH", body: send(random("b", 40 * 1024)) });
        assertEquals(second.status, 413, second.text);
        assertEquals(second.json().errors[0].code, "SIZE_INVALID");
        assertEquals((await call(location)).status, 404, "the session is dropped");
        assertEquals(await uploadFiles(cacheDir), []);
      }
    });

    await t.step("413 MANIFEST_INVALID for a manifest over 4 MiB", async () => {
      const body = new Uint8Array(MAX_MANIFEST_SIZE + 1).fill(32);
      const r = await call(`${server.url}/v2/app/manifests/big`, {
        method: "PUT",
        body,
        headers: { "content-type": OCI_MANIFEST },
      });
      assertEquals(r.status, 413);
      assertEquals(r.json().errors[0].code, "MANIFEST_INVALID");
    });

    await t.step("429 TOOMANYREQUESTS for a session over the limit; room again once one ends", async () => {
      const open: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await call(uploads, { method: "POST" });
        assertEquals(r.status, 202);
        open.push(`${server.url}${r.headers.get("location")}`);
      }
      const refused = await call(uploads, { method: "POST" });
      assertEquals(refused.status, 429);
      assertEquals(refused.json().errors[0].code, "TOOMANYREQUESTS");
      assertEquals(refused.headers.get("retry-after"), "10");
      const body = random("one go", 1000);
      const monolithic = await call(`${uploads}?digest=${digestOf(body)}`, { method: "POST", body });
      assertEquals(monolithic.status, 429, "a monolithic upload is a session too");
      assertEquals((await call(open.pop()!, { method: "DELETE" })).status, 204);
      assertEquals((await call(`${uploads}?digest=${digestOf(body)}`, { method: "POST", body })).status, 201);
      for (const location of open) await call(location, { method: "DELETE" });
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve --writable: unfinished uploads idle past the idle time are removed while running", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-idle-" });
  const cacheDir = join(dir, "cache");
  const server = await writable(cacheDir, { idleMs: 200 });
  try {
    const started = await call(`${server.url}/v2/app/blobs/uploads/`, { method: "POST" });
    const location = `${server.url}${started.headers.get("location")}`;
    assertEquals((await call(location, { method: "PATCH", body: random("half", 5000) })).status, 202);
    // A killed server's upload (its lock gone) is swept too.
    const orphan = join(cacheDir, "tmp", "upload-0123456789ab-orphan");
    await Deno.writeFile(orphan, new Uint8Array(10));
    assertEquals((await uploadFiles(cacheDir)).length, 2);
    for (let i = 0; i < 600 && (await uploadFiles(cacheDir)).length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assertEquals(await uploadFiles(cacheDir), [], "swept within 30 s");
    const gone = await call(location, { method: "PATCH", body: new Uint8Array(10) });
    assertEquals(gone.status, 404);
    assertEquals(gone.json().errors[0].code, "BLOB_UPLOAD_UNKNOWN");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve --writable on a full disk: 507 with a JSON error, nothing left behind, room again after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-full-" });
  const disk = join(dir, "disk");
  if (!(await tmpfs(disk, "1m"))) return await Deno.remove(dir, { recursive: true });
  const cacheDir = join(disk, "cache");
  let server: RunningServer | undefined;
  try {
    server = await writable(cacheDir, {});
    const uploads = `${server.url}/v2/app/blobs/uploads/`;
    const body = random("too big for the disk", 1536 * 1024);
    const full = await call(`${uploads}?digest=${digestOf(body)}`, { method: "POST", body });
    assertEquals(full.status, 507, full.text);
    assertEquals(full.headers.get("content-type"), "application/json");
    assertEquals(full.json(), { errors: [{ code: "UNKNOWN", message: "no space left on the registry's disk" }] });
    assertEquals(await uploadFiles(cacheDir), []);
    const small = random("fits", 100 * 1024);
    const ok = await call(`${uploads}?digest=${digestOf(small)}`, { method: "POST", body: small });
    assertEquals(ok.status, 201, ok.text);
    assert(await (await openCache(cacheDir)).has(digestOf(small), small.byteLength));
  } finally {
    await server?.close();
    await new Deno.Command("umount", { args: [disk] }).output().catch(() => undefined);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve --htpasswd: a refused upload's body is read up to 1 MiB, then the connection is cut", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-cut-" });
  const cache = await openCache(join(dir, "cache"));
  const server = await startServer({
    store: cache,
    catalog: createCatalog(cache, await cacheImages(cache)),
    writable: true,
    auth: { users: parseHtpasswd(`alice:${bcrypt.hashSync("s3cret", 4)}\n`, "ht") },
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const total = 256 * 1024 * 1024;
    const digest = `sha256:${"0".repeat(64)}`;
    await conn.write(new TextEncoder().encode(
      `POST /v2/app/blobs/uploads/?digest=${digest} HTTP/1.1\r\nHost: registry\r\nContent-Length: ${total}\r\n\r\n`,
    ));
    const reading = (async () => {
      let text = "";
      const buffer = new Uint8Array(4096);
      try {
        for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
          text += new TextDecoder().decode(buffer.subarray(0, n));
        }
      } catch {
        // reset: what was read is the answer
      }
      return text;
    })();
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024);
    try {
      while (sent < total) sent += await conn.write(chunk);
    } catch {
      // cut by the server
    }
    const answer = await reading;
    assert(answer.startsWith("HTTP/1.1 401 "), answer);
    assert(sent < total / 4, `the server stopped reading: ${sent} of ${total} bytes sent`);
  } finally {
    conn.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
