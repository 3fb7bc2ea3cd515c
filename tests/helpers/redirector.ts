/**
 * Loopback HTTP(S) fronts for transport tests: a front forwards every request
 * to a real registry (distribution) and records what it received (method,
 * path, the Authorization header), and a test may answer some requests
 * itself — a redirect to another origin, an upload Location elsewhere, one
 * 401 or 500. The registry protocol itself is always real distribution's.
 */
import { makeServerCertificate } from "./tokenserver.ts";

/** One request a front received. */
export interface Recorded {
  method: string;
  path: string;
  authorization: string | null;
}

/** A running front. */
export interface Front {
  /** `http(s)://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`. */
  host: string;
  port: number;
  /** Requests received so far. */
  requests: Recorded[];
  close(): Promise<void>;
}

/** Options of {@link startFront}. */
export interface FrontOptions {
  /** Where to forward: `http://127.0.0.1:PORT` (a distribution registry). */
  upstream: string;
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  /** Authorization to send upstream instead of the client's (a presigned URL's server-side access). */
  upstreamAuthorization?: string;
  /**
   * Answer a request without forwarding (return a Response), or change the
   * forwarded answer (`forward` sends it upstream).
   */
  route?: (request: Request, forward: () => Promise<Response>) => Promise<Response | undefined> | Response | undefined;
}

/**
 * Forward `request` to `upstream` as it came (no redirect followed), without
 * its Host and with `authorization` instead of the client's (a string),
 * without one (null) or with the client's (undefined). distribution names
 * itself by the Host it was asked on: its Locations are pointed back at
 * `self`, the origin the client asked.
 */
export async function forwardRequest(
  request: Request,
  upstream: string,
  self: string,
  authorization: string | null | undefined,
): Promise<Response> {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  headers.delete("host");
  if (authorization === null) headers.delete("authorization");
  else if (authorization) headers.set("authorization", authorization);
  const answer = await fetch(`${upstream}${url.pathname}${url.search}`, {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
  });
  const out = new Headers(answer.headers);
  const location = out.get("location");
  if (location?.startsWith(upstream)) out.set("location", self + location.slice(upstream.length));
  return new Response(answer.body, { status: answer.status, headers: out });
}

/** Start a front on 127.0.0.1 (port 0: a free one). */
export function startFront(options: FrontOptions): Front {
  const requests: Recorded[] = [];
  const controller = new AbortController();
  let self = "";
  const forward = (request: Request) =>
    forwardRequest(request, options.upstream, self, options.upstreamAuthorization ?? undefined);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen() {},
    ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
  }, async (request) => {
    const url = new URL(request.url);
    requests.push({ method: request.method, path: url.pathname, authorization: request.headers.get("authorization") });
    const answer = options.route?.(request, () => forward(request));
    return (await answer) ?? await forward(request);
  });
  const port = server.addr.port;
  const host = `127.0.0.1:${port}`;
  self = `${options.tls ? "https" : "http"}://${host}`;
  return {
    url: self,
    host,
    port,
    requests,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

/** A private CA and a server certificate for `names` (DNS names) and 127.0.0.1 ({@link makeServerCertificate}). */
export async function certificateFor(
  dir: string,
  names: string[],
): Promise<{ caPath: string; cert: string; key: string }> {
  const { ca, server } = await makeServerCertificate(dir, names, names[0]);
  return { caPath: ca.certPath, cert: server.pem, key: server.keyPem };
}

/**
 * Whether `name` resolves to this machine (the `vm`/`runsc` names of the test
 * machines: 127.0.0.1 but not a loopback *name*). Under CI=true a missing
 * name fails; otherwise the caller skips with a message.
 */
export async function hostResolves(name: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: name, port });
    conn.close();
    return true;
  } catch {
    if (Deno.env.get("CI") === "true") {
      throw new Error(`CI=true but host name ${name} does not resolve to this machine`);
    }
    console.warn(`\n!!! SKIPPING: host name ${name} does not resolve here (add it to /etc/hosts as 127.0.0.1) !!!\n`);
    return false;
  }
}

/** An HTTPS server on 127.0.0.1 (port 0) with `tls`'s certificate; `close` stops it and waits. */
export function serveTls(
  tls: { cert: string; key: string },
  handler: Deno.ServeHandler,
): { host: string; close(): Promise<void> } {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.cert,
    key: tls.key,
    signal: controller.signal,
    onListen() {},
  }, handler);
  return {
    host: `127.0.0.1:${server.addr.port}`,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

/**
 * For a {@link FrontOptions.route}: an upload POST forwarded, its answer's
 * `Location` moved to `other`'s origin (same path and query) — a registry
 * that hands uploads to another host. Any other request: undefined.
 */
export async function uploadMovedTo(
  request: Request,
  forward: () => Promise<Response>,
  front: { url: string },
  other: { url: string },
): Promise<Response | undefined> {
  if (request.method !== "POST" || !new URL(request.url).pathname.includes("/blobs/uploads/")) return undefined;
  const answer = await forward();
  const location = new URL(answer.headers.get("location")!, front.url);
  const headers = new Headers(answer.headers);
  headers.set("location", `${other.url}${location.pathname}${location.search}`);
  return new Response(answer.body, { status: answer.status, headers });
}
