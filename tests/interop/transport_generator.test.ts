/**
 * Generator: every origin a credential could reach. Seeded random topologies
 * of origins on this machine — four small HTTP servers, each reachable under
 * several names (127.0.0.1, localhost, and `vm`/`runsc` where they resolve),
 * so one server on one port is several origins — play the registry (a front
 * that checks Basic or Bearer credentials and forwards the protocol to a
 * real distribution), its token realm, and hops: blob redirect chains, a
 * rewritten upload `Location`, hops that serve the bytes, redirect on, or
 * answer `401` with a Basic or Bearer challenge naming a realm of their own.
 * Every server records every `Authorization` header it receives, with the
 * origin it was addressed as. Each case pushes a blob and/or fetches one
 * through the registry client, then asserts:
 * - the registry's Basic credentials arrive only at the registry's origin and
 *   at the token realm the registry itself announced;
 * - a token arrives only at the registry that asked for it, and no realm a
 *   hop announced is ever asked (with or without credentials);
 * - the case ends in success or a typed error ({@link AirgapError}).
 *
 * CI runs 200 cases with seed 1 (it prints the count and the outcomes);
 * `AIRGAP_ORIGIN_CASES=5000 AIRGAP_ORIGIN_SEED=7` runs longer or elsewhere.
 * A failure prints its seed and case number; keep it as a plain regression
 * test in transport_origins.test.ts. `AIRGAP_ORIGIN_VERBOSE=1` prints each case's error.
 */
import { assert } from "../helpers/assert.ts";
import { forwardRequest, hostResolves } from "../helpers/redirector.ts";
import { generatorRun, mulberry32 } from "../helpers/seeded.ts";
import { interopAvailable, startRegistry } from "../helpers/registry.ts";
import { pseudoRandomBytes } from "../../lib/demo/corpus.ts";
import { AirgapError } from "../../lib/errors.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { readAll } from "../../lib/store/types.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";
import { basicAuthorization } from "../../lib/store/registry/auth.ts";
import { createSession } from "../../lib/transport/session.ts";

const enabled = interopAvailable("/usr/bin/docker-registry");
const RUN = generatorRun("generator origins", {
  cases: 200,
  env: { cases: "AIRGAP_ORIGIN_CASES", seed: "AIRGAP_ORIGIN_SEED" },
});
const { cases: CASES, seed: SEED } = RUN;
const USER = "alice";
const PASSWORD = "gen-s3cret";
const BASIC = basicAuthorization(USER, PASSWORD);

type Scheme = "Basic" | "Bearer";
/** What an origin does with a `/v2/` request in one case. */
type Role =
  | { kind: "registry" }
  | { kind: "serve" }
  | { kind: "redirect"; to: string }
  | { kind: "deny"; scheme: Scheme; realm: string };

interface Case {
  /** The registry's origin (`http://name:port`). */
  registry: string;
  mode: Scheme;
  /** The realm the registry announces (bearer mode): `${origin}/token/registry`. */
  realm: string;
  /** The registry's answer to an authorised blob GET: serve it, or redirect to a hop. */
  blobGet: string | undefined;
  /** Where the registry's upload `Location` points (an origin; the registry's own when undefined). */
  uploadAt: string | undefined;
  /** The registry rejects its first token once (a renewal, from its own origin). */
  expireOnce: boolean;
  roles: Map<string, Role>;
  op: "push" | "fetch" | "both";
}

interface Seen {
  origin: string;
  path: string;
  authorization: string | null;
}

/** The world: distribution, four servers, the names they answer to, and the case being played. */
interface World {
  upstream: string;
  names: string[];
  ports: number[];
  seen: Seen[];
  current?: Case;
  issued: Set<string>;
  close(): Promise<void>;
}

const pick = <T>(random: () => number, items: T[]): T => items[Math.floor(random() * items.length)];

function generate(world: World, random: () => number): Case {
  const origins = world.names.flatMap((name) => world.ports.map((port) => `http://${name}:${port}`));
  // Mostly loopback names, so that many cases get through and exercise the success path.
  const registry = `http://${random() < 0.8 ? pick(random, ["127.0.0.1", "localhost"]) : pick(random, world.names)}:${
    pick(random, world.ports)
  }`;
  const others = origins.filter((o) => o !== registry);
  const roles = new Map<string, Role>([[registry, { kind: "registry" }]]);
  const hop = (depth: number): string => {
    const origin = pick(random, others);
    if (roles.has(origin)) return origin; // an origin plays one role per case (a loop ends in "too many redirects")
    const r = random();
    if (depth < 3 && r < 0.3) {
      roles.set(origin, { kind: "redirect", to: "" });
      (roles.get(origin) as { to: string }).to = hop(depth + 1);
    } else if (r < 0.65) {
      roles.set(origin, { kind: "serve" });
    } else {
      roles.set(origin, { kind: "deny", scheme: random() < 0.5 ? "Basic" : "Bearer", realm: pick(random, origins) });
    }
    return origin;
  };
  const blobGet = random() < 0.6 ? hop(0) : undefined;
  const uploadAt = random() < 0.5 ? hop(0) : undefined;
  return {
    registry,
    mode: random() < 0.5 ? "Basic" : "Bearer",
    realm: pick(random, origins),
    blobGet,
    uploadAt,
    expireOnce: random() < 0.3,
    roles,
    op: pick(random, ["push", "fetch", "both"] as const),
  };
}

function startWorld(upstream: string, names: string[]): World {
  const controllers: AbortController[] = [];
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  const world: World = {
    upstream,
    names,
    ports: [],
    seen: [],
    issued: new Set(),
    async close() {
      for (const c of controllers) c.abort();
      for (const s of servers) await s.finished;
    },
  };
  for (let i = 0; i < 4; i++) {
    const controller = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
      (request) => answer(world, request),
    );
    controllers.push(controller);
    servers.push(server);
    world.ports.push(server.addr.port);
  }
  return world;
}

function forward(world: World, request: Request, locationOrigin: string): Promise<Response> {
  return forwardRequest(request, world.upstream, locationOrigin, null);
}

function challenge(scheme: Scheme, realm: string): string {
  return scheme === "Basic" ? `Basic realm="${realm}"` : `Bearer realm="${realm}",service="svc"`;
}

async function answer(world: World, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const origin = url.origin;
  const authorization = request.headers.get("authorization");
  world.seen.push({ origin, path: url.pathname, authorization });
  const c = world.current;
  if (!c) return new Response("no case", { status: 503 });
  if (url.pathname === "/token/registry") {
    if (authorization !== BASIC) return new Response("bad credentials", { status: 401 });
    const token = `reg-${crypto.randomUUID()}`;
    world.issued.add(token);
    return Response.json({ token, expires_in: 300 });
  }
  if (url.pathname === "/token/hop") return Response.json({ token: `hop-${crypto.randomUUID()}` });
  const role = c.roles.get(origin);
  if (!role) {
    await request.body?.cancel();
    return new Response("unknown origin", { status: 404 });
  }
  switch (role.kind) {
    case "serve":
      return await forward(world, request, origin);
    case "redirect":
      await request.body?.cancel();
      return Response.redirect(`${role.to}${url.pathname}${url.search}`, 307);
    case "deny":
      await request.body?.cancel();
      return new Response("denied", {
        status: 401,
        headers: { "www-authenticate": challenge(role.scheme, `${role.realm}/token/hop`) },
      });
  }
  // The registry: its own credentials checked, then the protocol forwarded.
  const token = authorization?.startsWith("Bearer ") ? authorization.slice(7) : "";
  let ok = c.mode === "Basic" ? authorization === BASIC : world.issued.has(token);
  if (ok && c.expireOnce && c.mode === "Bearer" && url.pathname.includes("/blobs/")) {
    c.expireOnce = false;
    world.issued.delete(token);
    ok = false;
  }
  if (!ok) {
    await request.body?.cancel();
    return new Response(null, {
      status: 401,
      headers: { "www-authenticate": challenge(c.mode, c.mode === "Bearer" ? `${c.realm}/token/registry` : "reg") },
    });
  }
  if (request.method === "GET" && /\/blobs\/sha256:/.test(url.pathname) && c.blobGet) {
    return Response.redirect(`${c.blobGet}${url.pathname}`, 307);
  }
  const reply = await forward(world, request, c.uploadAt && request.method === "POST" ? c.uploadAt : origin);
  return reply;
}

/** The violations in what the servers received during one case. */
function violations(c: Case, seen: Seen[], issued: Set<string>): string[] {
  const out: string[] = [];
  const realmOrigin = new URL(c.realm).origin;
  for (const s of seen) {
    if (s.path === "/token/hop") out.push(`a realm a hop announced was asked: ${s.origin}${s.path}`);
    if (s.authorization === null) continue;
    if (s.authorization === BASIC) {
      const allowed = s.origin === c.registry || (c.mode === "Bearer" && s.origin === realmOrigin &&
        s.path === "/token/registry");
      if (!allowed) out.push(`Basic credentials reached ${s.origin}${s.path}`);
    } else if (s.authorization.startsWith("Bearer ")) {
      const token = s.authorization.slice(7);
      if (token.startsWith("hop-")) out.push(`a token from a hop's realm was sent to ${s.origin}`);
      else if (s.origin !== c.registry) out.push(`a token (${issued.has(token) ? "live" : "old"}) reached ${s.origin}`);
    } else {
      out.push(`an unexpected Authorization reached ${s.origin}`);
    }
  }
  return out;
}

Deno.test({
  name: "generator: credentials only ever reach the origin they belong to, whatever the topology",
  ignore: !enabled,
  async fn() {
    const registry = await startRegistry();
    const names = ["127.0.0.1", "localhost"];
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    for (const name of ["vm", "runsc"]) {
      if (await hostResolves(name, (probe.addr as Deno.NetAddr).port)) names.push(name);
    }
    probe.close();
    const world = startWorld(`http://${registry.host}`, names);
    const random = mulberry32(SEED);
    const shared = pseudoRandomBytes("generator-shared", 4096);
    const sharedDesc = { mediaType: "application/octet-stream", digest: digestOf(shared), size: shared.byteLength };
    const outcomes: Record<string, number> = {};
    try {
      // The blob every fetch asks for, put there directly.
      const direct = registryStore(createRegistryClient(registry.host, { noAuthFiles: true }));
      await direct.push("gen/app", sharedDesc, shared);
      await direct.close?.();
      for (let n = 0; n < CASES; n++) {
        const c = generate(world, random);
        world.current = c;
        world.seen = [];
        world.issued.clear();
        const host = new URL(c.registry).host;
        // Most cases declare every non-loopback origin insecure, so plain HTTP to it is allowed and the
        // credential rules (not the scheme rule) decide; the others exercise the scheme rule too.
        const declared = random() < 0.8
          ? world.names.filter((name) => name === "vm" || name === "runsc").flatMap((name) =>
            world.ports.map((port) => [`${name}:${port}`, { insecure: true }] as const)
          )
          : [[host, { insecure: !/^(127\.0\.0\.1|localhost):/.test(host) }] as const];
        const session = createSession({ hosts: new Map(declared) });
        const store = registryStore(createRegistryClient(host, {
          ...session.settings(host),
          session,
          credential: { username: USER, password: PASSWORD, origin: "test" },
          noAuthFiles: true,
          retry: { attempts: 2, baseMs: 1, maxMs: 2 },
        }));
        let outcome = "success";
        try {
          if (c.op !== "fetch") {
            const bytes = pseudoRandomBytes(`generator-${SEED}-${n}`, 2048);
            const desc = { mediaType: "application/octet-stream", digest: digestOf(bytes), size: bytes.byteLength };
            await store.push(`gen/case${n}`, desc, bytes);
          }
          if (c.op !== "push") {
            const bytes = await readAll(await store.fetch("gen/app", sharedDesc), sharedDesc.size);
            assert(digestOf(bytes) === sharedDesc.digest, `case ${n}: the bytes verify`);
          }
        } catch (e) {
          if (!(e instanceof AirgapError)) {
            throw new Error(`seed ${SEED} case ${n}: an untyped error: ${e}\n${JSON.stringify(describe(c))}`);
          }
          outcome = e.constructor.name;
          if (Deno.env.get("AIRGAP_ORIGIN_VERBOSE")) console.log(`case ${n}: ${e.message}`);
        } finally {
          await store.close?.();
          session.close();
        }
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        const bad = violations(c, world.seen, world.issued);
        if (bad.length > 0) {
          throw new Error(`seed ${SEED} case ${n}: ${bad.join("; ")}\n${JSON.stringify(describe(c))}`);
        }
      }
      world.current = undefined;
      RUN.report(`, names ${names.join(",")}; outcomes ${JSON.stringify(outcomes)}`);
      assert((outcomes.success ?? 0) >= CASES / 5, `enough cases get through: ${JSON.stringify(outcomes)}`);
    } finally {
      await world.close();
      await registry.stop();
    }
  },
});

function describe(c: Case) {
  return { ...c, roles: [...c.roles] };
}
