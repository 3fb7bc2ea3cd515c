/**
 * The authorization matrix of `serve --writable --htpasswd`, proven over
 * generated requests: seeded random method × endpoint × body × Authorization
 * header (none, the empty Basic some clients send, good, good with a
 * lower-case scheme, wrong user, wrong password, no colon, malformed base64,
 * Bearer, Digest) against three servers over one cache — writable with
 * anonymous pulls, writable with `auth-pulls`, read-only with `auth-pulls`.
 * For every request:
 *
 * - credentials that are sent and wrong are refused (401), whatever the endpoint;
 * - without a user, every write (any method but GET/HEAD) and the `/v2/` ping
 *   are refused, and with auth-pulls every read too; anonymous reads are
 *   otherwise not refused;
 * - a refusal is 401 with `WWW-Authenticate: Basic realm="airgap"` and the
 *   distribution error body, and changes nothing on disk (index.json, blobs,
 *   upload files compared before and after).
 *
 * Fixed seed and count in CI (printed); a longer run:
 * `AIRGAP_SERVE_MATRIX_CASES=20000 AIRGAP_SERVE_MATRIX_SEED=7 deno test -A tests/interop/server_access_matrix.test.ts`.
 */
import bcrypt from "bcryptjs";
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { generatorRun, mulberry32 } from "../helpers/seeded.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from "../../lib/oci/media.ts";
import { openCache } from "../../lib/store/cache.ts";
import { cacheImages, createCatalog, parseHtpasswd, type RunningServer, startServer } from "../../lib/server/server.ts";

const RUN = generatorRun("serve auth matrix", {
  cases: 1000,
  env: { cases: "AIRGAP_SERVE_MATRIX_CASES", seed: "AIRGAP_SERVE_MATRIX_SEED" },
  unit: "requests",
});
const PASSWORD = "s3cret";
const USERS = parseHtpasswd(`alice:${bcrypt.hashSync(PASSWORD, 4)}\nbob:${bcrypt.hashSync("other", 4)}\n`, "ht");

const b64 = (text: string) => btoa(text);

/** Authorization variants: the header, and who it is (user, nobody, or refused). */
const AUTH: { name: string; header?: string; is: "user" | "anonymous" | "refused" }[] = [
  { name: "none", is: "anonymous" },
  { name: "empty basic", header: `Basic ${b64(":")}`, is: "anonymous" },
  { name: "good", header: `Basic ${b64(`alice:${PASSWORD}`)}`, is: "user" },
  { name: "good, lower-case scheme", header: `basic ${b64(`alice:${PASSWORD}`)}`, is: "user" },
  { name: "wrong user", header: `Basic ${b64(`mallory:${PASSWORD}`)}`, is: "refused" },
  { name: "wrong password", header: `Basic ${b64("alice:s3cre7")}`, is: "refused" },
  { name: "another user's password", header: `Basic ${b64(`bob:${PASSWORD}`)}`, is: "refused" },
  { name: "no colon", header: `Basic ${b64("alice")}`, is: "refused" },
  { name: "malformed base64", header: "Basic YWxpY2U6czNjcmV0!", is: "refused" },
  { name: "bearer", header: `Bearer ${b64(`alice:${PASSWORD}`)}`, is: "refused" },
  { name: "digest", header: 'Digest username="alice"', is: "refused" },
];

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** What the repository holds at start: a config, a layer and a manifest, pushed with good credentials. */
interface Seeded {
  config: Uint8Array<ArrayBuffer>;
  layer: Uint8Array<ArrayBuffer>;
  manifest: Uint8Array<ArrayBuffer>;
}

function seeded(): Seeded {
  const config = new TextEncoder().encode('{"architecture":"amd64","os":"linux"}');
  const layer = new TextEncoder().encode("a layer, not really gzip");
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: digestOf(config), size: config.byteLength },
    layers: [{ mediaType: OCI_LAYER_GZIP, digest: digestOf(layer), size: layer.byteLength }],
  }));
  return { config, layer, manifest };
}

async function push(server: RunningServer, s: Seeded): Promise<void> {
  const authorization = AUTH[2].header!;
  for (const blob of [s.config, s.layer]) {
    const r = await fetch(`${server.url}/v2/app/blobs/uploads/?digest=${digestOf(blob)}`, {
      method: "POST",
      body: blob,
      headers: { authorization },
    });
    await r.body?.cancel();
    assertEquals(r.status, 201);
  }
  const r = await fetch(`${server.url}/v2/app/manifests/v1`, {
    method: "PUT",
    body: s.manifest,
    headers: { authorization, "content-type": OCI_MANIFEST },
  });
  await r.body?.cancel();
  assertEquals(r.status, 201);
}

/** One generated request. */
interface Case {
  method: string;
  path: string;
  body?: Uint8Array<ArrayBuffer>;
  contentType?: string;
}

function generate(random: () => number, s: Seeded, sessions: string[]): Case {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const method = pick(METHODS);
  const junk = new TextEncoder().encode(`junk ${Math.floor(random() * 1e9)}`);
  const known = pick([digestOf(s.config), digestOf(s.layer), digestOf(s.manifest)]);
  const unknown = digestOf(junk);
  const path = pick([
    "/v2/",
    "/v2",
    "/v2/_catalog",
    "/v2/_catalog?n=1",
    "/v2/app/tags/list",
    "/v2/other/tags/list",
    "/v2/app/manifests/v1",
    `/v2/app/manifests/${digestOf(s.manifest)}`,
    `/v2/app/manifests/${pick(["v2", "latest", "new"])}`,
    `/v2/app/blobs/${known}`,
    `/v2/app/blobs/${unknown}`,
    "/v2/app/blobs/uploads/",
    `/v2/app/blobs/uploads/?digest=${digestOf(junk)}`,
    `/v2/copy/blobs/uploads/?mount=${known}&from=app`,
    `/v2/copy/blobs/uploads/?mount=${known}`,
    `/v2/app/blobs/uploads/${sessions.length > 0 ? pick(sessions) : crypto.randomUUID()}`,
    `/v2/app/blobs/uploads/${crypto.randomUUID()}?digest=${unknown}`,
    `/v2/app/referrers/${digestOf(s.manifest)}`,
    "/v2/Bad_Name/tags/list",
    "/v2/../etc/passwd",
    "/",
    "/metrics",
  ]);
  if (method === "GET" || method === "HEAD") return { method, path };
  const body = pick([undefined, junk, s.manifest, s.layer]);
  return { method, path, body, contentType: body === s.manifest ? OCI_MANIFEST : undefined };
}

/** What is on disk that a write could change: index.json, the blob files, the upload files. */
async function snapshot(cacheDir: string): Promise<string> {
  const list = async (dir: string) =>
    (await Array.fromAsync(Deno.readDir(dir), (e) => e.name).catch(() => [] as string[])).sort().join(",");
  const index = await Deno.readTextFile(join(cacheDir, "index.json")).catch(() => "");
  return [index, await list(join(cacheDir, "blobs", "sha256")), await list(join(cacheDir, "tmp"))].join("\n");
}

async function runMatrix(
  cacheDir: string,
  mode: { writable: boolean; authPulls: boolean },
  seed: number,
  cases: number,
): Promise<Record<string, number>> {
  const { authPulls } = mode;
  const cache = await openCache(cacheDir);
  const server = await startServer({
    store: cache,
    catalog: createCatalog(cache, await cacheImages(cache)),
    writable: mode.writable,
    auth: { users: USERS, pulls: authPulls },
  });
  const tally: Record<string, number> = {};
  const s = seeded();
  try {
    if (mode.writable) await push(server, s);
    const random = mulberry32(seed);
    const sessions: string[] = [];
    for (let i = 0; i < cases; i++) {
      const c = generate(random, s, sessions);
      // A third of the requests with good credentials, so the cache changes as the run goes.
      const auth = random() < 0.3 ? AUTH[2 + Math.floor(random() * 2)] : AUTH[Math.floor(random() * AUTH.length)];
      const label = `#${i} ${c.method} ${c.path} (${auth.name}, ${JSON.stringify(mode)})`;
      const before = await snapshot(cacheDir);
      const headers: Record<string, string> = {};
      if (auth.header) headers.authorization = auth.header;
      if (c.contentType) headers["content-type"] = c.contentType;
      const response = await fetch(`${server.url}${c.path}`, {
        method: c.method,
        headers,
        body: c.body,
        redirect: "manual",
      });
      const text = await response.text();
      const read = c.method === "GET" || c.method === "HEAD";
      const ping = /^\/v2\/?$/.test(c.path);
      const mustRefuse = auth.is === "refused" || (auth.is === "anonymous" && (!read || ping || authPulls));
      const refused = response.status === 401;
      tally[refused ? "refused" : "answered"] = (tally[refused ? "refused" : "answered"] ?? 0) + 1;
      if (!refused && !read && response.status < 300) tally["writes done"] = (tally["writes done"] ?? 0) + 1;
      assertEquals(refused, mustRefuse, `${label}: ${response.status} ${text}`);
      if (refused) {
        assertEquals(response.headers.get("www-authenticate"), 'Basic realm="airgap"', label);
        if (c.method !== "HEAD") {
          assertEquals(JSON.parse(text), { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] });
        }
        assertEquals(await snapshot(cacheDir), before, `${label}: a refused request changed the cache`);
      }
      const location = response.headers.get("location");
      if (response.status === 202 && location?.includes("/blobs/uploads/")) {
        sessions.push(location.slice(location.lastIndexOf("/") + 1));
      }
    }
  } finally {
    await server.close();
    await cache.close?.();
  }
  return tally;
}

Deno.test("serve --htpasswd: the authorization matrix over generated requests (anonymous pulls, and auth-pulls)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-server-matrix-" });
  const third = Math.ceil(RUN.cases / 3);
  try {
    const open = await runMatrix(join(dir, "cache"), { writable: true, authPulls: false }, RUN.seed, third);
    const closed = await runMatrix(join(dir, "cache"), { writable: true, authPulls: true }, RUN.seed + 1, third);
    const readOnly = await runMatrix(join(dir, "cache"), { writable: false, authPulls: true }, RUN.seed + 2, third);
    RUN.report(
      ` — writable, anonymous pulls ${JSON.stringify(open)}; ` +
        `writable, auth-pulls ${JSON.stringify(closed)}; read-only, auth-pulls ${JSON.stringify(readOnly)}`,
      3 * third,
    );
    assert((open["writes done"] ?? 0) > 0 && (closed["writes done"] ?? 0) > 0, "some writes went through");
    assertEquals(readOnly["writes done"] ?? 0, 0, "a read-only server writes nothing");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
