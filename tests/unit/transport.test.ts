/**
 * The transport's pure rules: the retry policy (backoff bounds, Retry-After,
 * what is retried), error classification, the redirect/credential origin
 * rules, Basic auth for any UTF-8 password, timeouts as written, and the
 * resumable body (a broken body continued with Range, hashing across parts).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { breakingBody } from "../helpers/fixtures.ts";
import { join } from "node:path";
import { withTempDir } from "../helpers/tempdir.ts";
import { loadDeclaration } from "../../lib/plan/declaration.ts";
import { AirgapError, withContext } from "../../lib/errors.ts";
import {
  classifyFetchError,
  DigestMismatchError,
  InterruptedError,
  isTemporary,
  NetworkError,
  NotFoundError,
  TimeoutError,
  TlsError,
  TransientError,
  UnauthorizedError,
} from "../../lib/error_kinds.ts";
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryDelay,
  type RetryPolicy,
  withRetries,
} from "../../lib/transport/retry.ts";
import { isLoopbackHost, originOf, redirectHop, refuseUrl, sendsCredentials } from "../../lib/transport/origin.ts";
import { parseTimeout } from "../../lib/transport/http.ts";
import { resumableBody } from "../../lib/transport/resume.ts";
import { basicAuthorization, lookupCredential } from "../../lib/store/registry/auth.ts";
import { DOCKER_HUB, formatReference, normaliseRegistryHost, parseReference, registryEndpoint } from "../../lib/ref.ts";
import { statusError } from "../../lib/store/registry/client.ts";

const policy: RetryPolicy = { attempts: 6, baseMs: 500, maxMs: 30_000 };

Deno.test("backoff: full jitter within [0, min(max, base·2^n)], capped at maxMs", () => {
  for (let n = 0; n < 12; n++) {
    const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** n);
    assertEquals(backoffDelay(n, policy, () => 0), 0);
    const top = backoffDelay(n, policy, () => 0.999999);
    assert(top <= ceiling && top >= ceiling - 1, `retry ${n}: ${top} vs ${ceiling}`);
  }
  assertEquals(backoffDelay(3, policy, () => 0.5), 2000);
  assertEquals(backoffDelay(40, policy, () => 0.5), 15_000);
  assertEquals(DEFAULT_RETRY_POLICY.attempts, 6);
});

Deno.test("Retry-After: delay-seconds and HTTP-date; garbage and absence are undefined", () => {
  assertEquals(parseRetryAfter("120"), 120_000);
  assertEquals(parseRetryAfter(" 0 "), 0);
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30_000);
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
  assertEquals(parseRetryAfter("soon"), undefined);
  assertEquals(parseRetryAfter(null), undefined);
  assertEquals(parseRetryAfter("-5"), undefined);
});

Deno.test("retry delay: a server's Retry-After wins over a shorter backoff, capped at maxMs", () => {
  const asked = new TransientError("429", {}, { retryAfterMs: 10_000 });
  assertEquals(retryDelay(0, asked, policy, () => 0), 10_000);
  assertEquals(retryDelay(0, new TransientError("429", {}, { retryAfterMs: 3_600_000 }), policy, () => 0), 30_000);
  assertEquals(retryDelay(0, new TransientError("503"), policy, () => 0.5), 250);
});

Deno.test("what is retried: transient, timeouts, resets; never not-found, auth, digest mismatch, DNS", () => {
  assert(isTemporary(new TransientError("503")));
  assert(isTemporary(new TimeoutError("stalled")));
  assert(isTemporary(new NetworkError("reset", {}, { temporary: true })));
  assert(!isTemporary(new NetworkError("dns", {}, { temporary: false })));
  assert(!isTemporary(new NotFoundError("404")));
  assert(!isTemporary(new UnauthorizedError("401")));
  assert(!isTemporary(new DigestMismatchError("bad")));
  assert(!isTemporary(new TlsError("cert")));
  assert(!isTemporary(new AirgapError("400")));
  assert(!isTemporary(new Error("plain")));
});

Deno.test("withRetries: retries temporary failures up to the attempts, stops at once on the others", async () => {
  const fast: RetryPolicy = { attempts: 4, baseMs: 1, maxMs: 2 };
  let tries = 0;
  const value = await withRetries(() => {
    tries++;
    if (tries < 3) throw new TransientError("503");
    return Promise.resolve("ok");
  }, { policy: fast });
  assertEquals([value, tries], ["ok", 3]);
  tries = 0;
  await assertRejects(() => withRetries(() => (tries++, Promise.reject(new TransientError("503"))), { policy: fast }));
  assertEquals(tries, 4);
  tries = 0;
  await assertRejects(() => withRetries(() => (tries++, Promise.reject(new NotFoundError("404"))), { policy: fast }));
  assertEquals(tries, 1);
  const controller = new AbortController();
  controller.abort();
  await assertRejects(() => withRetries(() => Promise.resolve(1), { signal: controller.signal }), InterruptedError);
});

Deno.test("registry answers become typed errors: 404/…_UNKNOWN, 401/403, 5xx/408/429, a 5xx with a final code", async () => {
  const answer = (status: number, body = "", headers: Record<string, string> = {}) =>
    statusError(new Response(body || null, { status, headers }), "fetch x", "r.example", {});
  assert(await answer(404) instanceof NotFoundError);
  assert(await answer(400, JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN" }] })) instanceof NotFoundError);
  assert(await answer(401) instanceof UnauthorizedError);
  assert(await answer(403) instanceof UnauthorizedError);
  assert(await answer(503) instanceof TransientError);
  assert(await answer(408) instanceof TransientError);
  const limited = await answer(429, "", {
    "retry-after": "7",
    "ratelimit-limit": "100;w=21600",
    "ratelimit-remaining": "0;w=21600",
  }) as TransientError;
  assert(limited instanceof TransientError);
  assertEquals(limited.retryAfterMs, 7000);
  assertStringIncludes(limited.message, "rate limit: 0 of 100 pulls left per 6 h");
  const invalid = await answer(500, JSON.stringify({ errors: [{ code: "MANIFEST_INVALID", message: "urls" }] }));
  assert(!isTemporary(invalid), "a 500 naming MANIFEST_INVALID is final");
  assert(isTemporary(await answer(500, JSON.stringify({ errors: [{ code: "UNKNOWN" }] }))));
  const html = await answer(501, "<!DOCTYPE html><html><body>nope</body></html>", { "content-type": "text/html" });
  assert(!html.message.includes("DOCTYPE"), html.message);
});

Deno.test("fetch failures are classified once: plain HTTP behind TLS, certificates, DNS, resets", () => {
  const plain = classifyFetchError(
    new TypeError("error sending request: client error (Connect): received corrupt message of type InvalidContentType"),
    "x",
  );
  assert(plain instanceof TlsError && plain.plainHttp);
  const cert = classifyFetchError(new TypeError("invalid peer certificate: UnknownIssuer"), "x");
  assert(cert instanceof TlsError && !cert.plainHttp);
  const dns = classifyFetchError(new TypeError("dns error: failed to lookup address information"), "x");
  assert(dns instanceof NetworkError && !dns.temporary && !(dns instanceof TlsError));
  const refused = classifyFetchError(new TypeError("tcp connect error: Connection refused (os error 111)"), "x");
  assert(refused instanceof NetworkError && refused.temporary);
});

Deno.test("wrapping keeps the kind of an error", () => {
  const wrapped = withContext(new NotFoundError("gone", { status: 404 }), "plan");
  assert(wrapped instanceof NotFoundError);
  assertEquals(wrapped.message, "plan: gone");
  assertEquals(wrapped.context.status, 404);
  const temporary = withContext(new NetworkError("reset", {}, { temporary: false }), "x");
  assert(temporary instanceof NetworkError && !temporary.temporary);
});

Deno.test("origins: credentials only to the exact scheme, host and port", () => {
  assertEquals(originOf("https://Registry.example"), "https://registry.example:443");
  assert(sendsCredentials("https://r.example/v2/x", "https://r.example:443"));
  assert(!sendsCredentials("http://r.example/v2/x", "https://r.example"));
  assert(!sendsCredentials("https://r.example:5000/v2/x", "https://r.example"));
  assert(!sendsCredentials("https://cdn.example/blob?sig=1", "https://r.example"));
  assert(!sendsCredentials("https://r.example/v2/x", undefined));
});

Deno.test("redirects: never HTTPS to plain HTTP but for loopback or declared-insecure hosts", () => {
  const none = () => false;
  const https = new URL("https://r.example/v2/a/blobs/sha256:1");
  assert(!redirectHop(https, new URL("http://cdn.example/b"), none).allow);
  assert(
    !redirectHop(https, new URL("http://vm:5000/b"), none).allow,
    "vm resolves to 127.0.0.1 but is no loopback name",
  );
  assert(redirectHop(https, new URL("http://127.0.0.1:5000/b"), none).allow);
  assert(redirectHop(https, new URL("http://cdn.example/b"), (h) => h === "cdn.example").allow);
  assert(redirectHop(https, new URL("https://cdn.example/b"), none).allow);
  assert(redirectHop(new URL("http://127.0.0.1/"), new URL("https://cdn.example/b"), none).allow);
  assert(!redirectHop(https, new URL("file:///etc/passwd"), none).allow);
  assertStringIncludes(refuseUrl(new URL("http://mirror.example/x"), none)!, "plain HTTP to mirror.example");
  assertEquals(refuseUrl(new URL("http://localhost:8080/x"), none), undefined);
  assert(isLoopbackHost("[::1]:5000") && isLoopbackHost("127.1.2.3") && !isLoopbackHost("vm:5000"));
});

Deno.test("Basic auth encodes any UTF-8 password (btoa alone throws on it)", () => {
  const password = "pässwörd€—密码🔑";
  assertThrows(() => btoa(`user:${password}`));
  const header = basicAuthorization("user", password);
  assert(header.startsWith("Basic "));
  const bytes = Uint8Array.from(atob(header.slice(6)), (c) => c.charCodeAt(0));
  assertEquals(new TextDecoder().decode(bytes), `user:${password}`);
});

Deno.test("Docker Hub as it is: one registry under three names, library/ for official images", async () => {
  for (const name of ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"]) {
    assertEquals(normaliseRegistryHost(name), DOCKER_HUB);
  }
  assertEquals(registryEndpoint(DOCKER_HUB), "registry-1.docker.io");
  assertEquals(formatReference(parseReference("registry-1.docker.io/alpine:3")), "docker.io/library/alpine:3");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ auths: { "registry-1.docker.io": { auth: btoa("hub:pw") } } }),
    );
    const found = await lookupCredential(
      DOCKER_HUB,
      (n) => (n === "DOCKER_CONFIG" ? dir : n === "HOME" ? dir : undefined),
    );
    assertEquals([found?.username, found?.password], ["hub", "pw"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("timeouts as written: seconds or a duration; both limits set", () => {
  assertEquals(parseTimeout("30"), { headersMs: 30_000, idleMs: 30_000 });
  assertEquals(parseTimeout(90), { headersMs: 90_000, idleMs: 90_000 });
  assertEquals(parseTimeout("2m").idleMs, 120_000);
  assertEquals(parseTimeout("1m30s").idleMs, 90_000);
  assertEquals(parseTimeout("500ms").headersMs, 500);
  for (const bad of ["", "0", "soon", "5x", "-3", "1m 30s"]) assertThrows(() => parseTimeout(bad), AirgapError);
});

const bytes = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 3) & 0xff);

async function readAllBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("a broken body resumes with Range from the last byte passed on (206)", async () => {
  const data = bytes(10_000);
  const asked: number[] = [];
  const body = resumableBody(breakingBody(data, 4000), data.byteLength, (offset) => {
    asked.push(offset);
    const rest = offset === 4000 ? breakingBody(data.slice(offset), 3000) : new Response(data.slice(offset)).body!;
    return Promise.resolve(
      new Response(rest, { status: 206, headers: { "content-range": `bytes ${offset}-9999/10000` } }),
    );
  }, { policy: { attempts: 3, baseMs: 1, maxMs: 1 }, what: "blob" });
  assertEquals(await readAllBytes(body), data);
  assertEquals(asked, [4000, 7000]);
});

Deno.test("a server that ignores Range (200) is read from the start, the part already passed on skipped", async () => {
  const data = bytes(5000, 13);
  const body = resumableBody(breakingBody(data, 1234), data.byteLength, () => Promise.resolve(new Response(data)), {
    policy: { attempts: 3, baseMs: 1, maxMs: 1 },
    what: "blob",
  });
  assertEquals(await readAllBytes(body), data);
});

Deno.test("resuming gives up after the attempts without progress, and never on a final error", async () => {
  const data = bytes(100);
  let reopened = 0;
  const stuck = resumableBody(breakingBody(data, 10), 100, () => {
    reopened++;
    return Promise.resolve(
      new Response(breakingBody(data.slice(10), 0), { status: 206, headers: { "content-range": "bytes 10-99/100" } }),
    );
  }, { policy: { attempts: 3, baseMs: 1, maxMs: 1 }, what: "blob" });
  await assertRejects(() => readAllBytes(stuck), NetworkError);
  assertEquals(reopened, 2);
  const final = resumableBody(
    new ReadableStream({ start: (c) => c.error(new NotFoundError("gone")) }),
    100,
    () => Promise.reject(new Error("must not resume")),
    { policy: { attempts: 3, baseMs: 1, maxMs: 1 }, what: "blob" },
  );
  await assertRejects(() => readAllBytes(final), NotFoundError);
});

Deno.test("a resumed part resumes again in whole-content offsets", async () => {
  const data = bytes(6000, 5);
  const asked: number[] = [];
  const body = resumableBody(breakingBody(data.slice(1000), 2000), 5000, (offset) => {
    asked.push(offset);
    return Promise.resolve(
      new Response(data.slice(offset), { status: 206, headers: { "content-range": `bytes ${offset}-5999/6000` } }),
    );
  }, { policy: { attempts: 3, baseMs: 1, maxMs: 1 }, what: "blob", startsAt: 1000 });
  assertEquals(await readAllBytes(body), data.slice(1000));
  assertEquals(asked, [3000]);
});

Deno.test("registries.HOST.timeout in airgap.yaml: seconds or a duration; a bad one names the file", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "airgap.yaml");
    await Deno.writeTextFile(
      path,
      "images: [busybox:1.36]\nregistries:\n  slow.example:\n    timeout: 2m\n  fast.example:\n    timeout: 15\n",
    );
    const decl = await loadDeclaration(path);
    assertEquals(decl.registries.get("slow.example")?.timeouts, { headersMs: 120_000, idleMs: 120_000 });
    assertEquals(decl.registries.get("fast.example")?.timeouts?.idleMs, 15_000);
    await Deno.writeTextFile(path, "images: [busybox:1.36]\nregistries:\n  slow.example:\n    timeout: soon\n");
    const error = await assertRejects(() => loadDeclaration(path), AirgapError, "registries.slow.example.timeout");
    assertEquals((error as AirgapError).exitCode, 2);
  }));
