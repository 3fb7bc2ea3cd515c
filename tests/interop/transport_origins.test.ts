/**
 * Whose challenge the registry client follows, against real distribution
 * (htpasswd Basic auth, and token auth with tests/helpers/tokenserver.ts)
 * behind a recording front (tests/helpers/redirector.ts):
 * - a 401 from another origin — a blob redirect target, a rewritten upload
 *   `Location` host (through the store, and through `load`) — is an error
 *   naming that host, and the registry's
 *   credentials never reach the realm that foreign 401 named (regressions:
 *   the client used to adopt any 401's challenge and send the registry's
 *   `Authorization: Basic` to `http://OTHER/token`);
 * - a realm on another origin announced by the registry itself is used over
 *   HTTPS only, unless the registry is plain-HTTP loopback or declared insecure;
 * - a token that expires while an upload body streams restarts the upload
 *   from its source (never re-sends the stream: no "ReadableStream is locked").
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import {
  certificateFor,
  type Front,
  hostResolves,
  serveTls,
  startFront,
  uploadMovedTo,
} from "../helpers/redirector.ts";
import { interopAvailable, startRegistry, type TestRegistry, withBasicAuthRegistry } from "../helpers/registry.ts";
import { randomBlob } from "../helpers/fixtures.ts";
import { makeCertificate, startTokenServer } from "../helpers/tokenserver.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { readAll } from "../../lib/store/types.ts";
import { createRegistryClient, type RegistrySettings } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";
import { UnauthorizedError } from "../../lib/error_kinds.ts";
import { join } from "node:path";
import { seedStorage } from "../helpers/registry.ts";
import { corpusDeclaration, silent } from "./server_fixture.ts";
import { singleImage } from "../../lib/demo/corpus.ts";
import { saveCommand } from "../../lib/commands/save/save.ts";
import { loadCommand } from "../../lib/commands/load/load.ts";
import { createSession } from "../../lib/transport/session.ts";

const enabled = interopAvailable("/usr/bin/docker-registry", "/usr/bin/openssl");
const SECRET = "origin-s3cret";
const credential = { username: "alice", password: SECRET, origin: "test" };
const fast: RegistrySettings["retry"] = { baseMs: 2, maxMs: 5 };

const blob = (seed: string, size = 8 * 1024) => randomBlob(seed, size);

/** Another origin that answers everything 401 with a Bearer realm on itself, and records what it received. */
function hostileOrigin() {
  const seen: { path: string; authorization: string | null }[] = [];
  const controller = new AbortController();
  let self = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} }, (req) => {
    const url = new URL(req.url);
    seen.push({ path: url.pathname, authorization: req.headers.get("authorization") });
    if (url.pathname === "/token") return Response.json({ token: "stolen-token" });
    return new Response("no", {
      status: 401,
      headers: { "www-authenticate": `Bearer realm="${self}/token",service="other"` },
    });
  });
  self = `http://127.0.0.1:${server.addr.port}`;
  return {
    host: `127.0.0.1:${server.addr.port}`,
    url: self,
    seen,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

/** A front for `registry` that answers every upload POST with a Location on `other`'s origin (same path and query). */
function uploadsRedirectedTo(registry: TestRegistry, other: { url: string }): Front {
  const front = startFront({
    upstream: `http://${registry.host}`,
    route: (request, forward) => uploadMovedTo(request, forward, front, other),
  });
  return front;
}

const withBasicRegistry = (fn: (registry: TestRegistry) => Promise<void>) => withBasicAuthRegistry(SECRET, fn);

Deno.test({
  name:
    "a blob redirect to another origin that answers 401 with its own realm: an error naming it, no credentials sent",
  ignore: !enabled,
  async fn() {
    await withBasicRegistry(async (registry) => {
      const other = hostileOrigin();
      const b = blob("redirect-401");
      const front = startFront({
        upstream: `http://${registry.host}`,
        route(request) {
          const url = new URL(request.url);
          if (request.method === "GET" && url.pathname.includes("/blobs/sha256:")) {
            return Response.redirect(`${other.url}${url.pathname}`, 307);
          }
        },
      });
      try {
        const store = registryStore(createRegistryClient(front.host, { credential, noAuthFiles: true, retry: fast }));
        assertEquals(await store.push("team/app", b.descriptor, b.bytes), "pushed");
        const e = await assertRejects(
          async () => await readAll(await store.fetch("team/app", b.descriptor), b.descriptor.size),
          Error,
        );
        assert(other.seen.length > 0, "the redirect was followed");
        assertEquals(other.seen.filter((r) => r.authorization !== null), [], "no credentials reached the other origin");
        assertEquals(other.seen.filter((r) => r.path === "/token"), [], "the foreign realm was never asked");
        assert(e instanceof UnauthorizedError, `an UnauthorizedError, not ${e}`);
        assertStringIncludes(e.message, other.host);
        assertStringIncludes(e.message, "not the registry");
        await store.close?.();
      } finally {
        await front.close();
        await other.close();
      }
    });
  },
});

Deno.test({
  name: "an upload Location rewritten to another origin that answers 401: an error naming it, no credentials sent",
  ignore: !enabled,
  async fn() {
    await withBasicRegistry(async (registry) => {
      const other = hostileOrigin();
      const front = uploadsRedirectedTo(registry, other);
      try {
        const store = registryStore(createRegistryClient(front.host, { credential, noAuthFiles: true, retry: fast }));
        const b = blob("upload-401");
        const e = await assertRejects(() => store.push("team/app", b.descriptor, b.bytes), Error);
        assert(other.seen.some((r) => r.path.includes("/blobs/uploads/")), "the upload went to the Location given");
        assertEquals(other.seen.filter((r) => r.authorization !== null), [], "no credentials reached the other origin");
        assertEquals(other.seen.filter((r) => r.path === "/token"), [], "the foreign realm was never asked");
        assert(e instanceof UnauthorizedError, `an UnauthorizedError, not ${e}`);
        assertStringIncludes(e.message, other.host);
        await store.close?.();
      } finally {
        await front.close();
        await other.close();
      }
    });
  },
});

Deno.test({
  name: "load: an upload Location rewritten to another origin that answers 401 fails naming it; no credentials sent",
  ignore: !enabled,
  async fn() {
    const source = await startRegistry();
    const dir = await Deno.makeTempDir({ prefix: "airgap-load-401-" });
    try {
      const image = singleImage("team/app", "v1", { format: "oci", layers: [{ seed: "load-401", size: 4096 }] });
      await seedStorage(source, [image]);
      const archivePath = join(dir, "a.tar");
      await saveCommand({
        declaration: corpusDeclaration([image], source.host),
        output: archivePath,
        cacheDir: join(dir, "cache"),
        reporter: silent,
      });
      await withBasicRegistry(async (registry) => {
        const other = hostileOrigin();
        const front = uploadsRedirectedTo(registry, other);
        try {
          const e = await assertRejects(() =>
            loadCommand({
              archivePath,
              registry: front.host,
              registries: new Map([[front.host, { credential, noAuthFiles: true, retry: fast }]]),
              reporter: silent,
            })
          );
          assert(other.seen.length > 0, "the upload went to the Location given");
          assertEquals(
            other.seen.filter((r) => r.authorization !== null),
            [],
            "no credentials reached the other origin",
          );
          assertEquals(other.seen.filter((r) => r.path === "/token"), [], "the foreign realm was never asked");
          assertStringIncludes((e as Error).message, other.host);
        } finally {
          await front.close();
          await other.close();
        }
      });
    } finally {
      await source.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a realm on another origin over plain HTTP, announced by an HTTPS registry, is refused; no credentials sent",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-realm-" });
    const realm = hostileOrigin();
    try {
      const port = Number(realm.host.split(":")[1]);
      if (!await hostResolves("vm", port)) return;
      const tls = await certificateFor(dir, ["localhost"]);
      const server = serveTls(tls, () =>
        new Response(null, {
          status: 401,
          headers: { "www-authenticate": `Bearer realm="http://vm:${port}/token",service="x"` },
        }));
      try {
        // The realm's host is declared insecure, so the transport alone would let plain HTTP through:
        // the realm rule is what refuses it, because the registry itself is HTTPS and not insecure.
        const registry = server.host;
        const session = createSession({
          hosts: new Map([[registry, { caFile: tls.caPath }], [`vm:${port}`, { insecure: true }]]),
        });
        const client = createRegistryClient(registry, {
          ...session.settings(registry),
          session,
          credential,
          noAuthFiles: true,
          retry: fast,
        });
        const store = registryStore(client);
        const e = await assertRejects(() => store.resolve("team/app", "v1"), UnauthorizedError);
        assertStringIncludes(e.message, `token realm vm:${port} over plain HTTP`);
        assertEquals(realm.seen, [], "the realm was never asked");
        await store.close?.();
        session.close();
      } finally {
        await server.close();
      }
    } finally {
      await realm.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a token rejected while an upload body streams: the upload restarts from its source, the stream is never re-sent",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-stream-401-" });
    const tokenCert = await makeCertificate(dir, "token-signer");
    const tokens = startTokenServer(tokenCert, "bob", "s3cret");
    const registry = await startRegistry({
      extraConfig: tokens.registryConfig,
    });
    let challenge = "";
    let rejectUpload = 1;
    const front = startFront({
      upstream: `http://${registry.host}`,
      async route(request, forward) {
        const url = new URL(request.url);
        if (url.pathname === "/v2/") {
          const answer = await forward();
          challenge = answer.headers.get("www-authenticate") ?? challenge;
          return answer;
        }
        if (request.method === "PUT" && url.pathname.includes("/blobs/uploads/") && rejectUpload-- > 0) {
          await request.body?.cancel();
          return new Response(null, { status: 401, headers: { "www-authenticate": challenge } });
        }
      },
    });
    try {
      const store = registryStore(createRegistryClient(front.host, {
        credential: { username: "bob", password: "s3cret", origin: "test" },
        noAuthFiles: true,
        retry: fast,
      }));
      const b = blob("stream-401", 300 * 1024);
      let opened = 0;
      const content = () => {
        opened++;
        return Promise.resolve(new Blob([b.bytes as Uint8Array<ArrayBuffer>]).stream());
      };
      assertEquals(await store.push("team/app", b.descriptor, content), "pushed");
      assertEquals(opened, 2, "the source was opened again for the new session");
      const puts = front.requests.filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/"));
      assertEquals(puts.length, 2, "one rejected PUT, one that went through");
      const bytes = await readAll(await store.fetch("team/app", b.descriptor), b.descriptor.size);
      assertEquals(digestOf(bytes), b.descriptor.digest);
      await store.close?.();
    } finally {
      await front.close();
      await registry.stop();
      await tokens.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
