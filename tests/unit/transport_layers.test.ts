/**
 * The pure parts of the transport's layers and session: which bound a request
 * waits under (metadata apart from blob downloads and uploads), that a slot of
 * one class never waits on another's, that a programming error (`TypeError`
 * of a locked body, `RangeError`) is never a transient network error while
 * fetch's network TypeErrors still are, a locked body refused before sending,
 * the `416` rules of a resumed body, and one session handing every host the
 * run's flags over its declared settings, sharing transports.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { breakingBody } from "../helpers/fixtures.ts";
import { AirgapError } from "../../lib/errors.ts";
import { classifyFetchError, isProgrammingError, isTemporary, NetworkError } from "../../lib/error_kinds.ts";
import {
  DEFAULT_METADATA_CONCURRENCY,
  hostSlots,
  requestClass,
  SMALL_BODY_MAX,
  smallBody,
} from "../../lib/transport/bounds.ts";
import { createTransport } from "../../lib/transport/http.ts";
import { resumableBody } from "../../lib/transport/resume.ts";
import { createSession } from "../../lib/transport/session.ts";
import { withRetries } from "../../lib/transport/retry.ts";

Deno.test("request classes: blob GETs are downloads, blob PUT/PATCH bodies uploads, the rest metadata", () => {
  assertEquals(requestClass("GET", "/v2/a/blobs/sha256:ab", false), "download");
  assertEquals(requestClass("GET", "http://h/v2/a/blobs/uploads/x", false), "metadata");
  assertEquals(requestClass("HEAD", "/v2/a/blobs/sha256:ab", false), "metadata");
  assertEquals(requestClass("GET", "/v2/a/manifests/v1", false), "metadata");
  assertEquals(requestClass("PUT", "/v2/a/manifests/v1", true), "metadata");
  assertEquals(requestClass("PUT", "https://cdn.example/upload/x?digest=sha256:ab", true), "upload");
  assertEquals(requestClass("PATCH", "/v2/a/blobs/uploads/x", true), "upload");
  assertEquals(requestClass("PUT", "/v2/a/blobs/uploads/x?digest=sha256:ab", false), "metadata");
  assertEquals(requestClass("POST", "/v2/a/blobs/uploads/", false), "metadata");
  assertEquals(requestClass("GET", "/v2/a/tags/list", false), "metadata");
  assertEquals(DEFAULT_METADATA_CONCURRENCY, 32);
});

Deno.test("request classes: a small blob download (at most 1 MiB, size known) is metadata; uploads stay uploads", () => {
  assertEquals(SMALL_BODY_MAX, 1024 * 1024);
  assertEquals(requestClass("GET", "/v2/a/blobs/sha256:ab", false, 4096), "metadata");
  assertEquals(requestClass("GET", "/v2/a/blobs/sha256:ab", false, SMALL_BODY_MAX), "metadata");
  assertEquals(requestClass("GET", "/v2/a/blobs/sha256:ab", false, SMALL_BODY_MAX + 1), "download");
  assertEquals(requestClass("GET", "/v2/a/blobs/sha256:ab", false, undefined), "download");
  assertEquals(requestClass("PATCH", "/v2/a/blobs/uploads/x", true, 10), "upload");
  assertEquals(requestClass("PUT", "/v2/a/blobs/uploads/x?digest=sha256:ab", true, 10), "upload");
  assertEquals([smallBody(0), smallBody(-1), smallBody(undefined)], [true, false, false]);
});

Deno.test("bounds: uploads holding every upload slot never keep a download (a resume) from starting", async () => {
  const slots = hostSlots({ metadata: 4, bodies: 2 });
  let release!: () => void;
  const downloadDone = new Promise<void>((r) => (release = r));
  // Two uploads whose bodies wait for a download that needs a slot: with one shared bound of 2 this deadlocks.
  const uploads = [1, 2].map(() => slots.run("upload", () => downloadDone));
  const downloads = [1, 2, 3].map(() => slots.run("download", () => Promise.resolve("bytes")));
  assertEquals(await Promise.all(downloads), ["bytes", "bytes", "bytes"]);
  const metadata = await Promise.all(
    Array.from({ length: 10 }, (_, i) => slots.run("metadata", () => Promise.resolve(i))),
  );
  assertEquals(metadata.length, 10);
  release();
  await Promise.all(uploads);
});

Deno.test("bounds: each class holds its own limit", async () => {
  const slots = hostSlots({ metadata: 3, bodies: 1 });
  const peak = { metadata: 0, download: 0, upload: 0 };
  const now = { metadata: 0, download: 0, upload: 0 };
  const run = (kind: "metadata" | "download" | "upload") =>
    slots.run(kind, async () => {
      peak[kind] = Math.max(peak[kind], ++now[kind]);
      await new Promise((r) => setTimeout(r, 1));
      now[kind]--;
    });
  await Promise.all([
    ...Array.from({ length: 9 }, () => run("metadata")),
    ...Array.from({ length: 4 }, () => run("download")),
    ...Array.from({ length: 4 }, () => run("upload")),
  ]);
  assertEquals(peak, { metadata: 3, download: 1, upload: 1 });
});

Deno.test("a programming error is never a transient network error; fetch's network TypeErrors still are", () => {
  for (const bug of [new TypeError("ReadableStream is locked"), new RangeError("Array buffer allocation failed")]) {
    assert(isProgrammingError(bug), bug.message);
    const classified = classifyFetchError(bug, "upload blob x");
    assert(!(classified instanceof NetworkError), `${bug.message}: not a NetworkError`);
    assert(!isTemporary(classified), `${bug.message}: not temporary`);
  }
  for (
    const network of [
      "error sending request for url (http://127.0.0.1:1/v2/): client error (Connect): tcp connect error: Connection refused (os error 111)",
      "connection closed before message completed",
      "request or response body error: error reading a body from connection: Connection reset by peer (os error 104)",
    ]
  ) {
    assert(!isProgrammingError(new TypeError(network)), network);
    assert(isTemporary(classifyFetchError(new TypeError(network), "x")), network);
  }
});

Deno.test("a locked body is refused before sending, as an internal error that is not retried", async () => {
  const transport = createTransport();
  const body = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  body.getReader(); // locked, as a stream already handed to an earlier try is
  let tries = 0;
  const e = await assertRejects(
    () =>
      withRetries(() => {
        tries++;
        return transport.send("http://127.0.0.1:9/v2/x/blobs/uploads/y", {
          method: "PUT",
          body,
          what: "upload blob x",
        });
      }, { policy: { attempts: 3, baseMs: 1, maxMs: 1 } }),
    AirgapError,
    "ReadableStream is locked",
  );
  assert(!isTemporary(e));
  assertEquals(tries, 1);
  transport.close();
});

const policy = { attempts: 3, baseMs: 1, maxMs: 1 };

Deno.test("a resume answered 416 once every byte arrived ends the body (the digest check decides)", async () => {
  const data = crypto.getRandomValues(new Uint8Array(5000));
  const asked: number[] = [];
  const body = resumableBody(breakingBody(data, 5000), 5000, (offset) => {
    asked.push(offset);
    return Promise.resolve(new Response(null, { status: 416, headers: { "content-range": "bytes */5000" } }));
  }, { policy, what: "blob" });
  assertEquals(new Uint8Array(await new Response(body).arrayBuffer()), data);
  assertEquals(asked, [5000]);
});

Deno.test("a resume answered 416 short of the size starts over from byte 0, skipping what was passed on", async () => {
  const data = crypto.getRandomValues(new Uint8Array(5000));
  const asked: number[] = [];
  const body = resumableBody(breakingBody(data, 1200), 5000, (offset) => {
    asked.push(offset);
    if (offset !== 0) return Promise.resolve(new Response(null, { status: 416 }));
    return Promise.resolve(new Response(data, { status: 206, headers: { "content-range": "bytes 0-4999/5000" } }));
  }, { policy, what: "blob" });
  assertEquals(new Uint8Array(await new Response(body).arrayBuffer()), data);
  assertEquals(asked, [1200, 0]);
});

Deno.test("one session: the run's flags over every host's declared settings; transports shared by CA and timeouts", () => {
  const signal = new AbortController().signal;
  const events = {};
  const session = createSession({
    hosts: new Map([
      ["a.example:5000", { insecure: true, timeouts: { headersMs: 5 } }],
      ["b.example", { metadataConcurrency: 64 }],
    ]),
    timeouts: { headersMs: 1000, idleMs: 2000 },
    events,
    signal,
  });
  const a = session.settings("a.example:5000");
  assertEquals([a.insecure, a.timeouts, a.signal === signal, a.events === events], [
    true,
    { headersMs: 1000, idleMs: 2000 },
    true,
    true,
  ]);
  assertEquals(session.settings("b.example").metadataConcurrency, 64);
  assertEquals(session.settings("a.example").insecure, undefined, "credentials and insecure are per exact host:port");
  assert(session.insecure("a.example:5000") && !session.insecure("b.example"));
  assert(session.transport("a.example:5000") === session.transport("b.example"), "same CA and timeouts: one transport");
  assertEquals(session.transport("c.example").timeouts, { headersMs: 1000, idleMs: 2000 });
  session.close();
});
