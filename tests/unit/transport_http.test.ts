/**
 * The transport against small loopback servers (plain HTTP on 127.0.0.1, no
 * registry protocol involved): silence timeouts that tell a stalled body from
 * a slow one, the waiting notice, and credentials stripped on a redirect to
 * another origin but kept on the same one.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { createTransport, type WaitEvent } from "../../lib/transport/http.ts";
import { InterruptedError, isTemporary, NetworkError, TimeoutError } from "../../lib/error_kinds.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";

/** Serve `handler` on 127.0.0.1:0 for the length of `fn`. */
async function withServer(
  handler: (request: Request) => Response | Promise<Response>,
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    controller.abort();
    await server.finished;
  }
}

/** A body that sends `chunks` pieces `everyMs` apart, then `then` ("end" or "stall"). */
function paced(chunks: number, everyMs: number, then: "end" | "stall"): ReadableStream<Uint8Array> {
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream({
    pull(controller) {
      if (sent === chunks) {
        if (then === "end") controller.close();
        return new Promise(() => {}); // stall: never another byte
      }
      return new Promise((resolve) => {
        timer = setTimeout(() => {
          sent++;
          controller.enqueue(new Uint8Array(100).fill(sent));
          resolve();
        }, sent === 0 ? 0 : everyMs);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

Deno.test("a body that stalls fails after the idle timeout; a slower whole transfer that keeps moving does not", async () => {
  await withServer((request) => {
    const slow = new URL(request.url).pathname === "/slow";
    return new Response(slow ? paced(30, 60, "end") : paced(3, 10, "stall"));
  }, async (base) => {
    // An idle limit well above the pace, so a loaded CI machine's scheduling gaps are not silences.
    const transport = createTransport({ timeouts: { headersMs: 2000, idleMs: 1000 } });
    try {
      const stalled = await transport.send(`${base}/stall`, { what: "fetch stalled" });
      const error = await assertRejects(() => stalled.arrayBuffer(), TimeoutError);
      assertStringIncludes((error as Error).message, "no data from 127.0.0.1");
      // 30 chunks 60 ms apart: longer in all than the 1 s idle limit, never silent that long.
      const slow = await transport.send(`${base}/slow`, { what: "fetch slow" });
      assertEquals((await slow.arrayBuffer()).byteLength, 3000);
    } finally {
      transport.close();
    }
  });
});

Deno.test("no response headers within the timeout is a TimeoutError; waiting is reported meanwhile", async () => {
  const release = Promise.withResolvers<void>();
  await withServer(async () => {
    await release.promise;
    return new Response("late");
  }, async (base) => {
    const waits: WaitEvent[] = [];
    const transport = createTransport({
      timeouts: { headersMs: 600, idleMs: 600 },
      waitingAfterMs: 100,
      events: { waiting: (e) => waits.push(e) },
    });
    try {
      await assertRejects(() => transport.send(`${base}/v2/`, { what: "GET /v2/" }), TimeoutError, "no response");
      assert(waits.length > 0, "waiting was reported");
      assertEquals(waits[0].what, "GET /v2/");
      assertStringIncludes(waits[0].host, "127.0.0.1:");
    } finally {
      release.resolve();
      transport.close();
    }
  });
});

Deno.test("an abort signal stops a transfer in flight with an InterruptedError", async () => {
  await withServer(() => new Response(paced(1, 10, "stall")), async (base) => {
    const transport = createTransport({ timeouts: { headersMs: 5000, idleMs: 5000 } });
    const controller = new AbortController();
    try {
      const response = await transport.send(`${base}/x`, { what: "fetch x", signal: controller.signal });
      const reading = response.arrayBuffer();
      setTimeout(() => controller.abort(), 50);
      await assertRejects(() => reading, InterruptedError);
    } finally {
      transport.close();
    }
  });
});

Deno.test("credentials follow a redirect on the same origin and are dropped on another origin", async () => {
  const seen: { path: string; authorization: string | null }[] = [];
  await withServer((request) => {
    seen.push({ path: new URL(request.url).pathname, authorization: request.headers.get("authorization") });
    return new Response("blob bytes");
  }, async (other) => {
    await withServer((request) => {
      const path = new URL(request.url).pathname;
      seen.push({ path, authorization: request.headers.get("authorization") });
      if (path === "/same") return Response.redirect(new URL("/final", request.url), 307);
      if (path === "/cross") return Response.redirect(`${other}/cdn/blob?signature=1`, 307);
      return new Response("here");
    }, async (base) => {
      const transport = createTransport();
      const authorization = { header: "Basic c2VjcmV0", origin: base };
      try {
        await (await transport.send(`${base}/same`, { what: "same", authorization })).text();
        await (await transport.send(`${base}/cross`, { what: "cross", authorization })).text();
      } finally {
        transport.close();
      }
    });
  });
  assertEquals(seen, [
    { path: "/same", authorization: "Basic c2VjcmV0" },
    { path: "/final", authorization: "Basic c2VjcmV0" },
    { path: "/cross", authorization: "Basic c2VjcmV0" },
    { path: "/cdn/blob", authorization: null },
  ]);
});

Deno.test("redirect loops are bounded", async () => {
  await withServer((request) => Response.redirect(request.url, 302), async (base) => {
    const transport = createTransport({ maxRedirects: 3 });
    try {
      await assertRejects(() => transport.send(`${base}/loop`, { what: "loop" }), Error, "more than 3 redirects");
    } finally {
      transport.close();
    }
  });
});

Deno.test("a registry that keeps failing GET /v2/ is tried per the policy, then stays failed for the run", async () => {
  let pings = 0;
  await withServer(() => {
    pings++;
    return new Response("down for maintenance", { status: 503 });
  }, async (base) => {
    const host = new URL(base).host;
    const store = registryStore(
      createRegistryClient(host, { noAuthFiles: true, retry: { attempts: 3, baseMs: 1, maxMs: 2 } }),
    );
    try {
      const first = await assertRejects(() => store.resolve("a/b", "v1"), NetworkError, "503");
      assert(!isTemporary(first), "final after the retries");
      // https first (refused: plain HTTP behind it), then http: one 503 per try.
      assertEquals(pings, 3);
      await assertRejects(() => store.resolve("a/c", "v2"), NetworkError);
      assertEquals(pings, 3, "not asked again");
    } finally {
      await store.close?.();
    }
  });
});
