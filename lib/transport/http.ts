/**
 * The one HTTP transport under the registry client, source downloads and
 * foreign-layer URLs. One exchange per {@link Transport.send}: the TLS client
 * (extra CA), the scheme and credential rules of `origin.ts` on every hop of
 * a manually followed redirect chain, and timeouts that tell slow from dead —
 * a silence timer reset by every byte sent or received, so a stalled server
 * fails after `idleMs` while a slow but steady 600 MB layer never does (there
 * is no whole-transfer cap). While a request waits in silence for more than
 * a few seconds, `events.waiting` hears of it (progress shows it).
 * Retries are not here but in `retry.ts`, around whole requests.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { Watchdog } from "./watchdog.ts";
import { redirectHop, refuseUrl, sendsCredentials } from "./origin.ts";

/** How long silence is tolerated. */
export interface Timeouts {
  /** From sending the request (or its last body byte) to the response headers (default 30 s). */
  headersMs: number;
  /** Between two bytes of a body, either way (default 60 s). */
  idleMs: number;
}

/** Default timeouts: 30 s for response headers, 60 s of silence inside a body. */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = { headersMs: 30_000, idleMs: 60_000 };

/**
 * A timeout as written on the command line or in airgap.yaml: seconds (`30`)
 * or a duration (`30s`, `2m`, `1m30s`, `500ms`). It sets both limits: how long
 * to wait for a response to start, and how long a body may be silent.
 */
export function parseTimeout(value: string | number, where = "--timeout"): Timeouts {
  const text = String(value).trim().toLowerCase();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) ms = NaN;
    else {
      const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
      ms = parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]], 0);
    }
  }
  if (!Number.isFinite(ms) || ms < 1) {
    throw new AirgapError(`${where}: "${value}" is not a timeout (seconds, or a duration such as 30s or 2m)`, {}, {
      exitCode: 2,
    });
  }
  return { headersMs: Math.round(ms), idleMs: Math.round(ms) };
}

/** After this long without a byte, a request counts as waiting (reported). */
export const WAITING_AFTER_MS = 5_000;

/** A request that has been silent for a while. */
export interface WaitEvent {
  /** The host waited for. */
  host: string;
  /** Seconds of silence so far. */
  seconds: number;
  /** What the request is for ("fetch blob docker.io/library/alpine@sha256:…"). */
  what: string;
}

/** A failure that will be tried again. */
export interface RetryEvent {
  /** The host. */
  host: string;
  /** The one-line reason. */
  message: string;
  /** The try that failed (1 = the first). */
  attempt: number;
  /** Milliseconds until the next try. */
  delayMs: number;
}

/** Hooks for progress displays: a small event surface, nothing rendered here. */
export interface NetworkEvents {
  /** A request has been silent for {@link WAITING_AFTER_MS} or more (then every 10 s). */
  waiting?(event: WaitEvent): void;
  /** A failure is going to be retried. */
  retrying?(event: RetryEvent): void;
}

/** Options of {@link createTransport}. */
export interface TransportOptions {
  /** PEM file with extra CA certificates to trust. */
  caFile?: string;
  /** Hosts (host or host:port) declared insecure: plain HTTP allowed. Loopback always is. */
  insecure?: (host: string) => boolean;
  /** Timeouts (defaults {@link DEFAULT_TIMEOUTS}). */
  timeouts?: Partial<Timeouts>;
  /** Waiting and retry notifications. */
  events?: NetworkEvents;
  /** Redirect hops followed (default 10). */
  maxRedirects?: number;
  /** Silence after which `events.waiting` is told (default {@link WAITING_AFTER_MS}; tests). */
  waitingAfterMs?: number;
}

/** One exchange. */
export interface SendInit {
  /** HTTP method (default GET). */
  method?: string;
  /** Request headers (never `authorization`: see `authorization`). */
  headers?: Record<string, string>;
  /** The body, already opened: a request is sent once (retries re-open it). */
  body?: BodyInit | null;
  /** A credential and the origin it belongs to: sent to that exact origin only, on every hop. */
  authorization?: { header: string; origin: string };
  /** Cancels the exchange, the body included. */
  signal?: AbortSignal;
  /** For messages: "fetch blob registry/repo@sha256:…". */
  what: string;
  /** Follow redirects (default true); false returns the 3xx. */
  followRedirects?: boolean;
}

/** The HTTP transport. */
export interface Transport {
  /** One exchange, redirects followed; throws typed errors for network failures, returns any status. */
  send(url: URL | string, init: SendInit): Promise<Response>;
  /** The timeouts in effect. */
  readonly timeouts: Timeouts;
  /** The event hooks. */
  readonly events: NetworkEvents;
  /** Release the TLS client. */
  close(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

const SLICE = 256 * 1024;

/** Bytes in memory as a stream of slices. */
function slices(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(bytes.subarray(at, at + SLICE));
      at += SLICE;
      if (at >= bytes.byteLength) controller.close();
    },
  });
}

/**
 * The response with `url` naming the URL that answered it (the last hop of
 * the redirect chain): the registry client adopts an authentication
 * challenge only from its own origin, and needs to know whose 401 it is.
 */
function withFinalUrl(response: Response, url: URL): Response {
  Object.defineProperty(response, "url", { value: url.href, configurable: true });
  return response;
}

/** Read a CA file into a Deno HTTP client. */
function tlsClient(caFile: string | undefined): Deno.HttpClient | undefined {
  if (!caFile) return undefined;
  let pem: string;
  try {
    pem = Deno.readTextFileSync(caFile);
  } catch (e) {
    throw new AirgapError(`cannot read CA file ${caFile}: ${(e as Error).message}`);
  }
  return Deno.createHttpClient({ caCerts: [pem] });
}

/** Create a transport. */
export function createTransport(options: TransportOptions = {}): Transport {
  const client = tlsClient(options.caFile);
  const insecure = options.insecure ?? (() => false);
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const events = options.events ?? {};
  const maxRedirects = options.maxRedirects ?? 10;
  const waitingAfterMs = options.waitingAfterMs ?? WAITING_AFTER_MS;

  async function send(target: URL | string, init: SendInit): Promise<Response> {
    let url = new URL(target);
    const refused = refuseUrl(url, insecure);
    if (refused) throw new AirgapError(`${init.what}: ${refused}`, { where: url.host });
    let method = init.method ?? "GET";
    let body = init.body ?? null;
    for (let hop = 0;; hop++) {
      const response = withFinalUrl(await exchange(url, method, body, init), url);
      if (!REDIRECTS.has(response.status) || init.followRedirects === false) return response;
      await response.body?.cancel().catch(() => {});
      if (hop >= maxRedirects) throw new AirgapError(`${init.what}: more than ${maxRedirects} redirects`);
      const location = response.headers.get("location");
      if (!location) throw new AirgapError(`${init.what}: redirect (HTTP ${response.status}) without a Location`);
      const next = new URL(location, url);
      const hopOk = redirectHop(url, next, insecure);
      if (!hopOk.allow) throw new AirgapError(`${init.what}: ${hopOk.reason}`, { where: url.host });
      if (response.status === 303) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = null;
      } else if (body instanceof ReadableStream) {
        throw new AirgapError(`${init.what}: cannot follow a redirect (HTTP ${response.status}) with a streamed body`);
      }
      url = next;
    }
  }

  async function exchange(url: URL, method: string, body: BodyInit | null, init: SendInit): Promise<Response> {
    const headers: Record<string, string> = { "user-agent": "airgap", ...init.headers };
    if (body instanceof ReadableStream && body.locked) {
      // A body already read (a re-send after a 401 or a redirect) is a bug in the caller, never a network failure.
      throw new AirgapError(
        `${init.what}: internal error: the request body was already sent (ReadableStream is locked)`,
      );
    }
    if (init.authorization && sendsCredentials(url, init.authorization.origin)) {
      headers.authorization = init.authorization.header;
    }
    const watch = new Watchdog(url.host, init.what, timeouts, events, init.signal, waitingAfterMs);
    // A large body in memory (a 64 MiB upload chunk) is sent in slices so its progress counts as life.
    if (body instanceof Uint8Array && body.byteLength > SLICE) body = slices(body);
    if (body instanceof ReadableStream) body = watch.observeUpload(body);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        redirect: "manual",
        client,
        signal: watch.signal,
      } as RequestInit);
    } catch (e) {
      watch.stop();
      throw watch.failure(e);
    }
    if (!response.body || NULL_BODY.has(response.status) || method === "HEAD") {
      watch.stop();
      return response;
    }
    watch.headersArrived();
    const length = Number(response.headers.get("content-length") ?? NaN);
    const wrapped = watch.observeDownload(response.body, Number.isSafeInteger(length) ? length : undefined);
    return new Response(wrapped, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  return {
    send,
    timeouts,
    events,
    close() {
      client?.close();
    },
  };
}
