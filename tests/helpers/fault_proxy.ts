/**
 * A loopback fault proxy for the fault suite: a reverse proxy in front of a
 * real distribution registry that, driven by a seed and a fault plan, resets
 * connections mid-body, truncates bodies, answers 500 and 429 (Retry-After),
 * stalls after the first bytes, adds latency, caps bandwidth and redirects
 * blob GETs to a second server that records the headers it receives.
 *
 * The client side is raw TCP (Deno.listen with hand-written HTTP/1.1), because
 * cutting a connection after exactly K body bytes, or promising a
 * Content-Length and sending less, is not something an HTTP server library
 * lets you do. The upstream side is plain fetch: the registry is real.
 *
 * Decisions are a pure function of (seed, request key, attempt number), not
 * of arrival order, so a seed means the same faults whatever the concurrency.
 * Each request key (method + path, uploads per repository) is faulted at most
 * `maxFaultsPerKey` times, so a client that retries enough always gets through.
 * Everything injected is counted, so tests assert the faults really happened.
 * @module
 */

import { mulberry32 } from "./seeded.ts";

/** The kinds of request a fault can target. */
export type RequestKind =
  | "blob-get"
  | "manifest-get"
  | "manifest-put"
  | "upload-post"
  | "upload-patch"
  | "upload-put"
  | "head"
  | "other";

/** Faults the proxy can inject. */
export type Fault = "reset" | "truncate" | "error500" | "rate429" | "stall" | "latency" | "redirect";

/** One rule: requests of these kinds get this fault with this probability. */
export interface FaultRule {
  fault: Fault;
  kinds: RequestKind[];
  probability: number;
}

/** What the proxy does. */
export interface FaultPlan {
  seed: number;
  rules: FaultRule[];
  /** At most this many faults per request key (default 2); latency and the bandwidth cap do not count. */
  maxFaultsPerKey?: number;
  /** Link speed in bytes per second, shared by all connections (default: unlimited). */
  bandwidth?: number;
  /** Added delay before a response for the `latency` fault (default 300 ms). */
  latencyMs?: number;
  /** How long a stall lasts before the proxy closes the connection (default 60 s, i.e. until the client gives up). */
  stallMs?: number;
  /** The Retry-After value (seconds) of a 429 (default 1). */
  retryAfter?: number;
}

/** One injected fault, for assertions and for reading a failing seed. */
export interface FaultEvent {
  fault: Fault;
  kind: RequestKind;
  method: string;
  path: string;
  /** Body bytes sent before the cut (reset, truncate, stall). */
  after?: number;
}

/** The running proxy. */
export interface FaultProxy {
  /** `127.0.0.1:PORT`, to use as a registry host. */
  host: string;
  port: number;
  /** Replace the plan (and reset the per-key attempt counts); counts are kept until {@link resetStats}. */
  setPlan(plan: FaultPlan): void;
  /** Faults injected since the last reset, by kind. */
  counts(): Record<Fault, number>;
  /** Every fault injected since the last reset. */
  events(): FaultEvent[];
  /** Bytes sent to and received from clients since the proxy started. */
  traffic(): { sent: number; received: number };
  /** Stalled connections the client has not given up on yet. */
  stalling(): number;
  /** Every distinct Authorization header clients sent (to grep outputs for bearer tokens). */
  authorizations(): string[];
  /** Requests seen since the last reset, by kind. */
  requests(): Record<RequestKind, number>;
  /**
   * The most requests waiting for their answer at once since the last reset: counted from the
   * request read to the response head written, so never more than the client had in flight.
   * `bodies` counts blob GETs and upload PUT/PATCHes only, `metadata` the rest (the client
   * bounds the two apart: lib/transport/bounds.ts).
   */
  peakInFlight(group?: "all" | "bodies" | "metadata"): number;
  /**
   * Count the requests `match` picks apart (counted as {@link peakInFlight} counts);
   * the peak since the last reset, read back by `name`.
   */
  trackInFlight(name: string, match: (method: string, path: string) => boolean): void;
  /** The peak of a {@link trackInFlight} tracker (0 when nothing matched). */
  peakInFlightOf(name: string): number;
  resetStats(): void;
  close(): Promise<void>;
}

/** The seeded PRNG (tests/helpers/seeded.ts), kept here for the tests that import it from the proxy. */
export { mulberry32 };

/** FNV-1a of a string mixed with a seed: the per-request PRNG seed. */
function hashSeed(seed: number, text: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Classify a registry request by method and path. */
export function requestKind(method: string, path: string): RequestKind {
  const p = path.split("?")[0];
  if (method === "HEAD") return "head";
  if (/\/blobs\/uploads\/?$/.test(p) && method === "POST") return "upload-post";
  if (/\/blobs\/uploads\/[^/]+$/.test(p)) {
    if (method === "PATCH") return "upload-patch";
    if (method === "PUT") return "upload-put";
  }
  if (/\/blobs\/sha256:[0-9a-f]+$/.test(p) && method === "GET") return "blob-get";
  if (/\/manifests\/[^/]+$/.test(p)) {
    if (method === "GET") return "manifest-get";
    if (method === "PUT") return "manifest-put";
  }
  return "other";
}

/** The key faults are bounded by: uploads per repository and step (their URLs change each attempt). */
function faultKey(method: string, path: string, kind: RequestKind): string {
  const p = path.split("?")[0];
  if (kind.startsWith("upload-")) {
    const repo = p.replace(/\/blobs\/uploads\/.*$/, "");
    const digest = new URLSearchParams(path.split("?")[1] ?? "").get("digest") ?? "";
    return `${method} ${repo} ${kind} ${digest}`;
  }
  return `${method} ${p}`;
}

const encoder = new TextEncoder();
const FAULTS: Fault[] = ["reset", "truncate", "error500", "rate429", "stall", "latency", "redirect"];
const KINDS: RequestKind[] = [
  "blob-get",
  "manifest-get",
  "manifest-put",
  "upload-post",
  "upload-patch",
  "upload-put",
  "head",
  "other",
];

/** A connection with a read buffer, for parsing HTTP/1.1 by hand. */
class Reader {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn, readonly onRead: (n: number) => Promise<void>) {}
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    await this.onRead(n);
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }
  /** Bytes up to and including `delimiter`, or null at EOF. */
  async until(delimiter: string): Promise<Uint8Array<ArrayBuffer> | null> {
    const d = encoder.encode(delimiter);
    for (let from = 0;;) {
      outer: for (let i = from; i + d.length <= this.#buf.length; i++) {
        for (let j = 0; j < d.length; j++) if (this.#buf[i + j] !== d[j]) continue outer;
        const out = this.#buf.slice(0, i + d.length);
        this.#buf = this.#buf.slice(i + d.length);
        return out;
      }
      from = Math.max(0, this.#buf.length - d.length);
      if (!(await this.#fill())) return null;
    }
  }
  /** The first byte, without consuming it (null at EOF). */
  async peek(): Promise<number | null> {
    if (this.#buf.length === 0 && !(await this.#fill())) return null;
    return this.#buf[0];
  }
  async exactly(n: number): Promise<Uint8Array<ArrayBuffer>> {
    while (this.#buf.length < n) if (!(await this.#fill())) throw new Error("client closed mid-body");
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }
}

interface ParsedRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
}

async function readRequest(reader: Reader): Promise<ParsedRequest | null> {
  // A TLS ClientHello (the client tries HTTPS first): close, as a plain-HTTP server's refusal.
  if ((await reader.peek()) === 0x16) return null;
  const head = await reader.until("\r\n\r\n");
  if (!head) return null;
  const lines = new TextDecoder().decode(head).split("\r\n");
  const [method, path] = lines[0].split(" ");
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body = new Uint8Array(0);
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    const parts: Uint8Array[] = [];
    for (;;) {
      const sizeLine = await reader.until("\r\n");
      if (!sizeLine) throw new Error("client closed mid-chunk");
      const size = parseInt(new TextDecoder().decode(sizeLine).trim().split(";")[0], 16);
      if (size === 0) {
        while (true) {
          const trailer = await reader.until("\r\n");
          if (!trailer || trailer.length === 2) break;
        }
        break;
      }
      parts.push(await reader.exactly(size));
      await reader.exactly(2);
    }
    body = concat(parts);
  } else if (headers.get("content-length")) {
    body = await reader.exactly(Number(headers.get("content-length")));
  }
  return { method, path, headers, body };
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A link shared by all connections: bytes/s, handed out in order. */
function link(rate: () => number | undefined) {
  let nextFree = 0;
  return async (n: number) => {
    const r = rate();
    if (!r) return;
    const now = performance.now();
    const start = Math.max(now, nextFree);
    nextFree = start + (n / r) * 1000;
    if (nextFree > now) await sleep(nextFree - now);
  };
}

/** Options for {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Where blob GETs are redirected by the `redirect` fault. */
  redirectTo?: BlobServer;
  /** Host name the proxy reports in rewritten Location headers (default 127.0.0.1). */
  hostname?: string;
}

/** Start a fault proxy in front of `upstream` (`127.0.0.1:PORT`, plain HTTP). */
export function startFaultProxy(upstream: string, plan: FaultPlan, options: FaultProxyOptions = {}): FaultProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const host = `${options.hostname ?? "127.0.0.1"}:${port}`;
  let current = plan;
  let attempts = new Map<string, number>();
  let faultCounts = new Map<string, number>();
  let counts = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>;
  let seen = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<RequestKind, number>;
  let events: FaultEvent[] = [];
  const conns = new Set<Deno.Conn>();
  const authorizations = new Set<string>();
  let sent = 0;
  let inFlight = 0;
  let peak = 0;
  const groupInFlight = { bodies: 0, metadata: 0 };
  const groupPeak = { bodies: 0, metadata: 0 };
  const BODY_KINDS = new Set<RequestKind>(["blob-get", "upload-put", "upload-patch"]);
  const trackers = new Map<string, { match: (method: string, path: string) => boolean; now: number; peak: number }>();
  let stalling = 0;
  let received = 0;
  const pace = link(() => current.bandwidth);
  const writeAll = async (conn: Deno.Conn, bytes: Uint8Array, paced = true) => {
    const step = current.bandwidth ? Math.max(1024, Math.floor(current.bandwidth / 20)) : bytes.length || 1;
    for (let i = 0; i < bytes.length; i += step) {
      const chunk = bytes.subarray(i, i + step);
      if (paced) await pace(chunk.length);
      for (let w = 0; w < chunk.length;) w += await conn.write(chunk.subarray(w));
      sent += chunk.length;
    }
  };

  function decide(method: string, path: string, kind: RequestKind): { fault?: Fault; random: () => number } {
    const key = faultKey(method, path, kind);
    const n = attempts.get(key) ?? 0;
    attempts.set(key, n + 1);
    const random = mulberry32(hashSeed(current.seed, `${key}#${n}`));
    const budgetLeft = (faultCounts.get(key) ?? 0) < (current.maxFaultsPerKey ?? 2);
    for (const rule of current.rules) {
      const roll = random();
      if (!rule.kinds.includes(kind) || roll >= rule.probability) continue;
      if (!applicable(rule.fault, kind)) continue;
      if (rule.fault === "latency") return { fault: "latency", random };
      if (!budgetLeft) continue;
      faultCounts.set(key, (faultCounts.get(key) ?? 0) + 1);
      return { fault: rule.fault, random };
    }
    return { random };
  }

  function record(event: FaultEvent) {
    counts[event.fault]++;
    events.push(event);
  }

  async function forward(req: ParsedRequest): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
    const headers = new Headers(req.headers);
    for (const h of ["host", "connection", "transfer-encoding", "content-length", "keep-alive"]) headers.delete(h);
    headers.set("accept-encoding", "identity");
    const url = `http://${upstream}${req.path.replace(/^https?:\/\/[^/]+/, "")}`;
    const response = await fetch(url, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : req.body,
      redirect: "manual",
    });
    const body = req.method === "HEAD" ? new Uint8Array(0) : new Uint8Array(await response.arrayBuffer());
    const out = new Headers(response.headers);
    const location = out.get("location");
    if (location) out.set("location", location.replace(`http://${upstream}`, `http://${host}`));
    return { status: response.status, headers: out, body };
  }

  function head(status: number, headers: Headers, length: number | undefined, close: boolean): Uint8Array {
    const lines = [`HTTP/1.1 ${status} ${status < 400 ? "OK" : "Error"}`];
    headers.forEach((value, name) => {
      if (!["content-length", "transfer-encoding", "connection", "keep-alive"].includes(name)) {
        lines.push(`${name}: ${value}`);
      }
    });
    if (length !== undefined) lines.push(`content-length: ${length}`);
    if (close) lines.push("connection: close");
    return encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
  }

  /** Serve one request; false when the connection is to be closed. */
  async function serve(conn: Deno.Conn, req: ParsedRequest): Promise<boolean> {
    peak = Math.max(peak, ++inFlight);
    const group = BODY_KINDS.has(requestKind(req.method, req.path)) ? "bodies" : "metadata";
    groupPeak[group] = Math.max(groupPeak[group], ++groupInFlight[group]);
    const tracked = [...trackers.values()].filter((t) => t.match(req.method, req.path));
    for (const t of tracked) t.peak = Math.max(t.peak, ++t.now);
    let waiting = true;
    const answered = () =>
      waiting && (waiting = false, inFlight--, groupInFlight[group]--, tracked.forEach((t) => t.now--));
    try {
      return await answer(conn, req, answered);
    } finally {
      answered();
    }
  }

  async function answer(conn: Deno.Conn, req: ParsedRequest, answered: () => void): Promise<boolean> {
    const kind = requestKind(req.method, req.path);
    seen[kind]++;
    const auth = req.headers.get("authorization");
    if (auth) authorizations.add(auth);
    const { fault, random } = decide(req.method, req.path, kind);
    const ev = (after?: number) => record({ fault: fault!, kind, method: req.method, path: req.path, after });
    if (fault === "latency") {
      ev();
      await sleep(current.latencyMs ?? 300);
    }
    // Faults that never reach the registry: nothing is applied upstream.
    if (fault === "error500" || fault === "rate429") {
      ev();
      const status = fault === "error500" ? 500 : 429;
      const body = encoder.encode(JSON.stringify({
        errors: [{ code: status === 500 ? "UNKNOWN" : "TOOMANYREQUESTS", message: `injected ${status}` }],
      }));
      const headers = new Headers({ "content-type": "application/json" });
      if (status === 429) headers.set("retry-after", String(current.retryAfter ?? 1));
      answered();
      await writeAll(conn, concat([head(status, headers, body.length, false), body]), false);
      return true;
    }
    if (fault === "reset" && kind !== "blob-get" && kind !== "manifest-get") {
      ev(0);
      return false; // the request is dropped before the registry sees it; the client sees a closed connection
    }
    if (fault === "redirect" && options.redirectTo) {
      const upstreamBlob = await forward({ ...req, method: "GET" });
      if (upstreamBlob.status === 200) {
        ev();
        const location = options.redirectTo.put(upstreamBlob.body);
        const headers = new Headers({ location });
        answered();
        await writeAll(conn, head(random() < 0.5 ? 302 : 307, headers, 0, false), false);
        return true;
      }
    }
    const response = await forward(req);
    const length = req.method === "HEAD" ? Number(response.headers.get("content-length") ?? 0) : response.body.length;
    const cut = fault === "reset" || fault === "truncate" || fault === "stall";
    answered();
    if (!cut || req.method === "HEAD" || response.body.length < 2) {
      await writeAll(conn, head(response.status, response.headers, length, false), false);
      await writeAll(conn, response.body);
      return true;
    }
    const after = Math.floor(random() * (response.body.length - 1));
    ev(after);
    await writeAll(conn, head(response.status, response.headers, length, fault !== "stall"), false);
    await writeAll(conn, response.body.subarray(0, after));
    if (fault === "stall") await stall(conn, current.stallMs ?? 60_000);
    return false;
  }

  async function stall(conn: Deno.Conn, ms: number) {
    stalling++;
    try {
      await silence(conn, ms);
    } finally {
      stalling--;
    }
  }

  async function silence(conn: Deno.Conn, ms: number) {
    // Silent until the client gives up (closes) or `ms` pass.
    const closed = (async () => {
      try {
        while ((await conn.read(new Uint8Array(1024))) !== null) { /* discard */ }
      } catch { /* closed */ }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  async function handle(conn: Deno.Conn) {
    conns.add(conn);
    const reader = new Reader(conn, async (n) => {
      received += n;
      if (current.bandwidth) await pace(n); // uploads share the link too
    });
    try {
      for (;;) {
        const req = await readRequest(reader);
        if (!req) break;
        if (!(await serve(conn, req))) break;
      }
    } catch {
      // the client went away, or the registry did: close
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) handle(conn);
    } catch { /* listener closed */ }
  })();

  return {
    host,
    port,
    setPlan(plan) {
      current = plan;
      attempts = new Map();
      faultCounts = new Map();
    },
    counts: () => ({ ...counts }),
    events: () => [...events],
    requests: () => ({ ...seen }),
    peakInFlight: (group = "all") => group === "all" ? peak : groupPeak[group],
    trackInFlight: (name, match) => void trackers.set(name, { match, now: 0, peak: 0 }),
    peakInFlightOf: (name) => trackers.get(name)?.peak ?? 0,
    traffic: () => ({ sent, received }),
    stalling: () => stalling,
    authorizations: () => [...authorizations],
    resetStats() {
      counts = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>;
      seen = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<RequestKind, number>;
      events = [];
      peak = inFlight;
      groupPeak.bodies = groupInFlight.bodies;
      groupPeak.metadata = groupInFlight.metadata;
      for (const t of trackers.values()) t.peak = t.now;
    },
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

function applicable(fault: Fault, kind: RequestKind): boolean {
  switch (fault) {
    case "truncate":
    case "stall":
      return kind === "blob-get" || kind === "manifest-get";
    case "redirect":
      return kind === "blob-get";
    default:
      return true;
  }
}

/** A second origin that serves blob bytes handed to it and records every request's headers. */
export interface BlobServer {
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  /** Serve `bytes` at a fresh URL; returns the URL. */
  put(bytes: Uint8Array): string;
  /** Headers of every request received, lower-case names. */
  received: { path: string; headers: Record<string, string> }[];
  close(): Promise<void>;
}

/** Start a header-recording blob server (a blob-storage CDN stand-in: needs no credentials). */
export function startBlobServer(hostname = "127.0.0.1"): BlobServer {
  const blobs = new Map<string, Uint8Array<ArrayBuffer>>();
  const received: BlobServer["received"] = [];
  let counter = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    received.push({ path: url.pathname, headers: Object.fromEntries(req.headers) });
    const bytes = blobs.get(url.pathname);
    if (!bytes) return new Response("not found", { status: 404 });
    const range = req.headers.get("range")?.match(/^bytes=(\d+)-$/);
    if (range && Number(range[1]) < bytes.length) {
      const from = Number(range[1]);
      return new Response(bytes.slice(from), {
        status: 206,
        headers: { "content-range": `bytes ${from}-${bytes.length - 1}/${bytes.length}` },
      });
    }
    return new Response(bytes, { headers: { "content-type": "application/octet-stream" } });
  });
  const origin = `http://${hostname}:${server.addr.port}`;
  return {
    origin,
    put(bytes) {
      const path = `/storage/${++counter}-${crypto.randomUUID()}`;
      blobs.set(path, bytes.slice());
      return `${origin}${path}?X-Amz-Signature=${counter}`;
    },
    received,
    close: () => server.shutdown(),
  };
}
