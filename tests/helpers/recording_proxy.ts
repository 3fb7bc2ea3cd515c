/**
 * A loopback recording proxy in front of a real distribution registry, for
 * the copy engine's ordering guarantee: it logs every request's start, end
 * and status, delays requests and responses by a seeded random jitter (so a
 * parent that does not wait for its children's acknowledgements really does
 * overtake them), and checks each manifest PUT as it arrives: every blob and
 * manifest it references (config, layers, child manifests, `subject`) must
 * already have been acknowledged in that repository — a blob upload or
 * manifest PUT answered 201, a mount answered 201, or a HEAD/GET answered 200
 * — and that acknowledgement must have reached the client before the PUT
 * started. Anything else is a violation, kept for the test to fail on.
 *
 * It also fails a manifest PUT that overlaps in time, in one repository,
 * with another write of something it references or that references it (a
 * tag PUT of its child, say): distribution rewrites a manifest's links in
 * place on every PUT, so a PUT that checks that manifest meanwhile can read a
 * half-written link (`DIGEST_INVALID`, `MANIFEST_BLOB_UNKNOWN`).
 *
 * Acknowledgements are recorded when the proxy hands the response to the
 * client (after the response jitter), so "acknowledged" means the client
 * could have known; a PUT is checked when its request reaches the proxy.
 * Bodies are buffered: the proxy is for small generated images.
 * @module
 */
import { digestOf } from "../../lib/oci/digest.ts";
import { mulberry32 } from "./seeded.ts";

/** One request as the proxy saw it (times are a shared sequence, not clock time). */
export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  start: number;
  end: number;
}

/** A manifest PUT that started before something it references was acknowledged, or overlapped a write of it. */
export interface OrderViolation {
  repo: string;
  reference: string;
  /** References not acknowledged when it started. */
  missing: string[];
  /** Digests it references (or is) that another request was writing at the same time. */
  overlapping?: string[];
}

/** A write in flight: the digest it writes and what it references. */
interface Write {
  repo: string;
  digest: string;
  references: string[];
}

/** A running recording proxy. */
export interface RecordingProxy {
  /** `127.0.0.1:PORT`, to give the client as the registry. */
  host: string;
  /** Every finished request, in order of completion. */
  log(): readonly RecordedRequest[];
  /** Manifest PUTs that came too early. */
  violations(): readonly OrderViolation[];
  /** Manifest PUTs checked so far. */
  manifestPuts(): number;
  stop(): Promise<void>;
}

/** Options of {@link startRecordingProxy}. */
export interface RecordingProxyOptions {
  /** Seed of the jitter. */
  seed: number;
  /** Upper bound of each delay (before forwarding and before answering), in ms (default 4). */
  jitterMs?: number;
}

const FOREIGN = new Set([
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
]);

interface Ref {
  digest?: string;
  mediaType?: string;
  urls?: string[];
}

/** The digests a manifest body references that a registry must hold first (foreign layers with urls excepted). */
export function referencedDigests(body: Uint8Array): string[] {
  let doc: { config?: Ref; layers?: Ref[]; manifests?: Ref[]; subject?: Ref };
  try {
    doc = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return [];
  }
  const refs: Ref[] = [...(doc.config ? [doc.config] : []), ...(doc.layers ?? []), ...(doc.manifests ?? [])];
  if (doc.subject) refs.push(doc.subject);
  return refs
    .filter((r) => typeof r.digest === "string" && !(FOREIGN.has(r.mediaType ?? "") && (r.urls?.length ?? 0) > 0))
    .map((r) => r.digest!);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a request acknowledges, if it succeeded: `[repo, digest]` pairs. */
function acknowledged(method: string, url: URL, status: number, headers: Headers, body?: Uint8Array): string[][] {
  const m = url.pathname.match(/^\/v2\/(.+)\/(blobs|manifests)\/(.+)$/);
  if (!m) return [];
  const [, repo, kind, rest] = m;
  const out: string[][] = [];
  if (kind === "blobs" && rest.startsWith("uploads/")) {
    const digest = url.searchParams.get("digest") ?? url.searchParams.get("mount");
    if (digest && status === 201 && (method === "PUT" || method === "POST")) out.push([repo, digest]);
    return out;
  }
  const okStatus = method === "PUT" ? status === 201 : (method === "HEAD" || method === "GET") && status === 200;
  if (!okStatus) return out;
  if (rest.includes(":")) out.push([repo, rest]);
  if (kind === "manifests") {
    const announced = headers.get("docker-content-digest");
    if (announced) out.push([repo, announced]);
    if (method === "PUT" && body) out.push([repo, digestOf(body)]);
  }
  return out;
}

/** What a request writes: a manifest PUT (its digest and references), a blob upload's end or a mount. */
function writeOf(method: string, url: URL, body?: Uint8Array<ArrayBuffer>): Write | undefined {
  const m = url.pathname.match(/^\/v2\/(.+)\/(blobs|manifests)\/(.+)$/);
  if (!m) return undefined;
  const [, repo, kind, rest] = m;
  if (kind === "manifests" && method === "PUT" && body) {
    return { repo, digest: digestOf(body), references: referencedDigests(body) };
  }
  const digest = url.searchParams.get("digest") ?? url.searchParams.get("mount");
  if (kind === "blobs" && rest.startsWith("uploads/") && digest && (method === "PUT" || method === "POST")) {
    return { repo, digest, references: [] };
  }
  return undefined;
}

/** Start a recording proxy in front of `upstream` (`127.0.0.1:PORT`). */
export function startRecordingProxy(upstream: string, options: RecordingProxyOptions): Promise<RecordingProxy> {
  const random = mulberry32(options.seed);
  const jitter = options.jitterMs ?? 4;
  const delay = () => sleep(Math.floor(random() * (jitter + 1)));
  const acks = new Set<string>();
  const log: RecordedRequest[] = [];
  const violations: OrderViolation[] = [];
  const writing = new Set<Write>();
  let clock = 0;
  let puts = 0;
  let self = "";

  const handler = async (request: Request): Promise<Response> => {
    const start = ++clock;
    const url = new URL(request.url);
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
    const manifestPut = request.method === "PUT" && url.pathname.match(/^\/v2\/(.+)\/manifests\/([^/]+)$/);
    const write = writeOf(request.method, url, body);
    if (manifestPut && body && write) {
      puts++;
      const [, repo, reference] = manifestPut;
      const missing = write.references.filter((d) => !acks.has(`${repo}@${d}`));
      const overlapping = [...writing].filter((w) =>
        w.repo === repo && (write.references.includes(w.digest) || w.references.includes(write.digest))
      ).map((w) => w.digest);
      if (missing.length > 0 || overlapping.length > 0) {
        violations.push({ repo, reference, missing, ...(overlapping.length ? { overlapping } : {}) });
      }
    }
    if (write) writing.add(write);
    try {
      return await forward(request, url, body, start);
    } finally {
      if (write) writing.delete(write);
    }
  };

  const forward = async (request: Request, url: URL, body: Uint8Array<ArrayBuffer> | undefined, start: number) => {
    await delay();
    const headers = new Headers(request.headers);
    for (const h of ["host", "connection", "content-length", "transfer-encoding", "accept-encoding"]) headers.delete(h);
    const upstreamResponse = await fetch(`http://${upstream}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: body && body.byteLength > 0 ? body : undefined,
      redirect: "manual",
    });
    const answer = request.method === "HEAD" ? undefined : new Uint8Array(await upstreamResponse.arrayBuffer());
    await delay();
    const out = new Headers(upstreamResponse.headers);
    const location = out.get("location");
    if (location) out.set("location", location.replace(`http://${upstream}`, `http://${self}`));
    for (const [repo, digest] of acknowledged(request.method, url, upstreamResponse.status, out, body)) {
      acks.add(`${repo}@${digest}`);
    }
    log.push({
      method: request.method,
      path: url.pathname + url.search,
      status: upstreamResponse.status,
      start,
      end: ++clock,
    });
    const empty = request.method === "HEAD" || [204, 304].includes(upstreamResponse.status) || !answer?.byteLength;
    return new Response(empty ? null : answer, { status: upstreamResponse.status, headers: out });
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        self = `127.0.0.1:${port}`;
        resolve({
          host: self,
          log: () => log,
          violations: () => violations,
          manifestPuts: () => puts,
          stop: () => server.shutdown(),
        });
      },
    }, handler);
  });
}
