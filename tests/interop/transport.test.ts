/**
 * The transport against real distribution, with a loopback front
 * (tests/helpers/redirector.ts) that forwards to it and records what it
 * received: credentials never reach another origin (an upload Location or a
 * blob redirect elsewhere), HTTPS is never downgraded for a non-loopback
 * name, a token the registry rejects mid-run is renewed once, 5xx is retried
 * (manifest PUT included) while 404 is not, and a host that is not a
 * registry is named as such.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { airgap } from "../helpers/cli.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { certificateFor, type Front, hostResolves, startFront, uploadMovedTo } from "../helpers/redirector.ts";
import { interopAvailable, startRegistry, type TestRegistry, withBasicAuthRegistry } from "../helpers/registry.ts";
import { randomBlob } from "../helpers/fixtures.ts";
import { makeCertificate, startTokenServer } from "../helpers/tokenserver.ts";
import { makeManifest } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { readAll } from "../../lib/store/types.ts";
import { createRegistryClient, type RegistrySettings } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";
import { basicAuthorization } from "../../lib/store/registry/auth.ts";
import { NetworkError, NotARegistryError, NotFoundError, TlsError } from "../../lib/error_kinds.ts";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const enabled = interopAvailable("/usr/bin/docker-registry", "/usr/bin/openssl");
const SECRET = "pässwörd-€-not-latin1";
const fast: RegistrySettings["retry"] = { baseMs: 5, maxMs: 20 };
const credential = { username: "alice", password: SECRET, origin: "test" };

const blob = (seed: string, size = 64 * 1024) => randomBlob(seed, size);

const withBasicRegistry = (fn: (registry: TestRegistry) => Promise<void>) => withBasicAuthRegistry(SECRET, fn);

Deno.test({
  name: "credentials stay on their origin: an upload Location and a blob redirect elsewhere get none",
  ignore: !enabled,
  async fn() {
    await withBasicRegistry(async (registry) => {
      const upstream = `http://${registry.host}`;
      const upstreamAuthorization = basicAuthorization("alice", SECRET);
      // The other origin: reaches the registry with its own access, as a presigned URL would.
      const elsewhere = startFront({ upstream, upstreamAuthorization });
      const front: Front = startFront({
        upstream,
        async route(request, forward) {
          const moved = await uploadMovedTo(request, forward, front, elsewhere);
          if (moved) return moved;
          const url = new URL(request.url);
          if (request.method === "GET" && url.pathname.includes("/blobs/sha256:")) {
            return Response.redirect(`${elsewhere.url}${url.pathname}?X-Amz-Signature=abc`, 307);
          }
        },
      });
      try {
        const store = registryStore(
          createRegistryClient(front.host, { credential, noAuthFiles: true, retry: fast }),
        );
        const b = blob("cross-origin");
        assertEquals(await store.push("team/app", b.descriptor, b.bytes), "pushed");
        const fetched = await readAll(await store.fetch("team/app", b.descriptor), b.descriptor.size);
        assertEquals(digestOf(fetched), b.descriptor.digest);
        await store.close?.();

        assert(elsewhere.requests.some((r) => r.method === "PUT"), "the upload went to the Location given");
        assert(elsewhere.requests.some((r) => r.method === "GET"), "the blob came from the redirect target");
        assertEquals(elsewhere.requests.filter((r) => r.authorization !== null), [], "no credentials elsewhere");
        assert(
          front.requests.some((r) => r.authorization === upstreamAuthorization),
          "the registry's own origin does get them",
        );
      } finally {
        await front.close();
        await elsewhere.close();
      }
    });
  },
});

Deno.test({
  name: "HTTPS is never downgraded: a 307 to http:// on a non-loopback name (vm) is refused",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-downgrade-" });
    const registry = await startRegistry();
    const plain = startFront({ upstream: `http://${registry.host}` });
    try {
      if (!await hostResolves("vm", plain.port)) return;
      const tls = await certificateFor(dir, ["vm"]);
      const secure: Front = startFront({
        upstream: `http://${registry.host}`,
        tls,
        async route(request, forward) {
          const url = new URL(request.url);
          if (request.method === "GET" && url.pathname.includes("/blobs/sha256:")) {
            return Response.redirect(`http://vm:${plain.port}${url.pathname}`, 307);
          }
          if (request.method === "POST" && url.pathname.includes("/blobs/uploads/")) {
            const answer = await forward();
            const location = new URL(answer.headers.get("location")!, `https://vm:${secure.port}`);
            const headers = new Headers(answer.headers);
            headers.set("location", `http://vm:${plain.port}${location.pathname}${location.search}`);
            return new Response(answer.body, { status: answer.status, headers });
          }
        },
      });
      try {
        const b = blob("downgrade");
        const direct = registryStore(createRegistryClient(registry.host, { noAuthFiles: true }));
        await direct.push("team/app", b.descriptor, b.bytes);
        await direct.close?.();
        const store = registryStore(createRegistryClient(`vm:${secure.port}`, {
          caFile: tls.caPath,
          noAuthFiles: true,
          retry: fast,
        }));
        await assertRejects(
          () => store.fetch("team/app", b.descriptor),
          Error,
          "refusing a redirect from HTTPS to plain HTTP",
        );
        const upload = blob("downgrade-upload");
        await assertRejects(() => store.push("team/app", upload.descriptor, upload.bytes), Error, "plain HTTP to vm");
        await store.close?.();
        assertEquals(plain.requests.length, 0, "nothing was sent over plain HTTP");

        // The insecure hint only when TLS met plain HTTP, never for a name that does not resolve.
        const noTls = registryStore(createRegistryClient(`vm:${plain.port}`, { noAuthFiles: true, retry: fast }));
        const error = await assertRejects(() => noTls.resolve("team/app", "latest"), TlsError);
        assertStringIncludes((error as Error).message, "insecure: true");
        await noTls.close?.();
        const nowhere = registryStore(createRegistryClient("no-such-host.invalid", { noAuthFiles: true, retry: fast }));
        const dns = await assertRejects(() => nowhere.resolve("team/app", "latest"), NetworkError);
        assert(!(dns as Error).message.includes("insecure"), (dns as Error).message);
        await nowhere.close?.();
      } finally {
        await secure.close();
      }
    } finally {
      await plain.close();
      await registry.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "retries: 5xx retried (manifest PUT too), 404 and 401 are not; a rejected token is renewed once",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-retries-" });
    const tokenCert = await makeCertificate(dir, "token-signer");
    const tokens = startTokenServer(tokenCert, "bob", "s3cret"); // the helper decodes Basic as Latin-1
    const registry = await startRegistry({
      extraConfig: tokens.registryConfig,
    });
    const faults = { manifestPut: 1, blobGet: 2, rejectToken: 1 };
    let challenge = "";
    const front = startFront({
      upstream: `http://${registry.host}`,
      async route(request, forward) {
        const path = new URL(request.url).pathname;
        if (path === "/v2/") {
          const answer = await forward();
          challenge = answer.headers.get("www-authenticate") ?? challenge;
          return answer;
        }
        if (request.method === "PUT" && path.includes("/manifests/") && faults.manifestPut-- > 0) {
          return new Response("overloaded", { status: 500 });
        }
        if (request.method === "GET" && path.includes("/blobs/sha256:")) {
          if (faults.rejectToken-- > 0) {
            return new Response(null, { status: 401, headers: { "www-authenticate": challenge } });
          }
          if (faults.blobGet-- > 0) return new Response("busy", { status: 503, headers: { "retry-after": "0" } });
        }
      },
    });
    try {
      const store = registryStore(createRegistryClient(front.host, {
        credential: { username: "bob", password: "s3cret", origin: "test" },
        noAuthFiles: true,
        retry: fast,
      }));
      const { manifest, blobs } = makeManifest({ format: "oci", layers: [{ seed: "retry-layer", size: 4096 }] });
      for (const b of blobs) await store.push("team/app", b.descriptor, b.bytes);
      await store.push("team/app", manifest.descriptor, manifest.bytes);
      const puts = front.requests.filter((r) => r.method === "PUT" && r.path.includes("/manifests/"));
      assertEquals(puts.length, 2, "one 500 on the manifest PUT, then it went through");

      const tokensBefore = tokens.requests.length;
      const layer = blobs[blobs.length - 1];
      const bytes = await readAll(await store.fetch("team/app", layer.descriptor), layer.descriptor.size);
      assertEquals(digestOf(bytes), layer.descriptor.digest);
      assertEquals(tokens.requests.length, tokensBefore + 1, "the rejected token was renewed once");
      const gets = front.requests.filter((r) => r.method === "GET" && r.path.endsWith(layer.descriptor.digest));
      assertEquals(gets.length, 4, "401, fresh token: 503, 503, then the bytes");

      const before = front.requests.length;
      await assertRejects(() => store.resolve("team/app", "no-such-tag"), NotFoundError, "not found");
      assertEquals(front.requests.length - before, 1, "a 404 is asked once");
      assertEquals(tokens.requests.length, tokensBefore + 1, "the pull token is reused until it expires");
      await store.close?.();
    } finally {
      await front.close();
      await registry.stop();
      await tokens.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a web server that is not a registry is named as such",
  ignore: !enabled,
  async fn() {
    const controller = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
      () =>
        new Response("<!DOCTYPE html><html><body>Welcome</body></html>", { headers: { "content-type": "text/html" } }),
    );
    try {
      const store = registryStore(createRegistryClient(`127.0.0.1:${server.addr.port}`, { noAuthFiles: true }));
      const error = await assertRejects(() => store.resolve("team/app", "latest"), NotARegistryError);
      assertStringIncludes((error as Error).message, "does not look like a registry");
      assert(!(error as Error).message.includes("DOCTYPE"), (error as Error).message);
      await store.close?.();
    } finally {
      controller.abort();
      await server.finished;
    }
  },
});

Deno.test({
  name: "Ctrl-C stops a stalled save at once: exit 130, one line on what is cached; the same command resumes",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-interrupt-" });
    const registry = await startRegistry();
    let stall = true;
    const front = startFront({
      upstream: `http://${registry.host}`,
      async route(request, forward) {
        const path = new URL(request.url).pathname;
        if (!stall || request.method !== "GET" || !/\/blobs\/sha256:/.test(path)) return undefined;
        const answer = await forward();
        const reader = answer.body!.getReader();
        const first = await reader.read(); // some bytes, then silence
        return new Response(
          new ReadableStream({
            start(controller) {
              if (!first.done) controller.enqueue(first.value);
            },
            cancel: () => reader.cancel(),
          }),
          { status: answer.status, headers: answer.headers },
        );
      },
    });
    try {
      const { manifest, blobs } = makeManifest({
        format: "oci",
        layers: [{ seed: "interrupt-a", size: 512 * 1024 }, { seed: "interrupt-b", size: 512 * 1024 }],
      });
      const store = registryStore(createRegistryClient(registry.host, { noAuthFiles: true }));
      for (const b of blobs) await store.push("team/app", b.descriptor, b.bytes);
      await store.tag("team/app", "v1", manifest.descriptor, manifest.bytes);
      await store.close?.();
      const list = join(dir, "list.txt");
      await Deno.writeTextFile(list, "team/app:v1\n");
      const args = ["save", "-l", list, "-s", front.host, "-o", join(dir, "a.tar"), "--cache", join(dir, "c")];
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", CLI, ...args, "--platform", "all"],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1", HOME: dir },
      }).spawn();
      const output = child.output();
      while (!front.requests.some((r) => r.method === "GET" && r.path.includes("/blobs/sha256:"))) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill("SIGINT");
      const result = await output;
      const stderr = new TextDecoder().decode(result.stderr);
      assertEquals(result.code, 130, stderr);
      assertStringIncludes(stderr, "interrupted: ");
      assertStringIncludes(stderr, "are in the cache; run the same command again to resume");
      assert(!stderr.includes("error:"), stderr);

      stall = false;
      const again = await airgap([...args, "--platform", "all"], { env: { HOME: dir } });
      assertEquals(again.code, 0, again.stderr);
    } finally {
      await front.close();
      await registry.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a blob download cut off mid-body continues with Range from distribution; the digest holds",
  ignore: !enabled,
  async fn() {
    const registry = await startRegistry();
    const ranges: (string | null)[] = [];
    const front = startFront({
      upstream: `http://${registry.host}`,
      async route(request, forward) {
        const path = new URL(request.url).pathname;
        if (request.method !== "GET" || !path.includes("/blobs/sha256:")) return undefined;
        ranges.push(request.headers.get("range"));
        const answer = await forward();
        if (ranges.length > 2) return answer;
        // Cut the first two answers off after their first chunk, as a reset connection does.
        const reader = answer.body!.getReader();
        const first = await reader.read();
        return new Response(
          new ReadableStream({
            start(controller) {
              if (!first.done) controller.enqueue(first.value.subarray(0, 20_000));
            },
            async pull(controller) {
              await reader.cancel();
              controller.error(new Error("connection reset by the test"));
            },
          }),
          { status: answer.status, headers: answer.headers },
        );
      },
    });
    try {
      const b = blob("resume-mid-body", 3 * 1024 * 1024);
      const direct = registryStore(createRegistryClient(registry.host, { noAuthFiles: true }));
      await direct.push("team/app", b.descriptor, b.bytes);
      await direct.close?.();
      const store = registryStore(createRegistryClient(front.host, { noAuthFiles: true, retry: fast }));
      const bytes = await readAll(await store.fetch("team/app", b.descriptor), b.descriptor.size);
      assertEquals(digestOf(bytes), b.descriptor.digest);
      assertEquals(ranges[0], null);
      assert(ranges.length === 3 && ranges.slice(1).every((r) => /^bytes=\d+-$/.test(r ?? "")), String(ranges));
      assert(Number(ranges[1]!.slice(6, -1)) > 0, "resumed where it broke, not from zero");
      await store.close?.();
    } finally {
      await front.close();
      await registry.stop();
    }
  },
});
