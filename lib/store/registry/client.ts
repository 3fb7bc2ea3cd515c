/**
 * The registry side of the OCI distribution client: which base URL a
 * registry answers on (HTTPS; plain HTTP only for loopback or declared
 * insecure registries), bearer tokens per scope and Basic auth bound to the
 * registry's origin, and registry answers turned into typed one-line errors.
 * The HTTP itself (timeouts, redirects, credential and scheme rules) is
 * `lib/transport/http.ts`; retries are `lib/transport/retry.ts`.
 * @module
 */
import { AirgapError } from "../../errors.ts";
import { DOCKER_HUB, registryEndpoint } from "../../ref.ts";
import {
  fetchErrorText,
  InterruptedError,
  isTemporary,
  NetworkError,
  NotARegistryError,
  NotFoundError,
  TlsError,
  TransientError,
  UnauthorizedError,
} from "../../transport/errors.ts";
import { createTransport, type NetworkEvents, type Timeouts, type Transport } from "../../transport/http.ts";
import { isLoopbackHost } from "../../transport/origin.ts";
import {
  parseRetryAfter,
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  withRetries,
} from "../../transport/retry.ts";
import { limiter } from "../../transport/limiter.ts";
import { basicAuthorization, type Challenge, type Credential, lookupCredential, parseChallenges } from "./auth.ts";

export { isLoopbackHost } from "../../transport/origin.ts";

/** How to reach one registry. */
export interface RegistrySettings {
  /** Allow plain HTTP (tried after HTTPS fails), as Docker's insecure-registries. */
  insecure?: boolean;
  /** PEM file with extra CA certificates to trust. */
  caFile?: string;
  /** Explicit credentials; otherwise the Docker/Podman auth files are consulted. */
  credential?: Credential;
  /** Skip looking in auth files (tests). */
  noAuthFiles?: boolean;
  /** Timeouts for this registry (default: 30 s for headers, 60 s of silence in a body). */
  timeouts?: Partial<Timeouts>;
  /** Waiting and retry notifications (progress). */
  events?: NetworkEvents;
  /** Retry policy override (tests). */
  retry?: Partial<RetryPolicy>;
  /** Cancels every request of this client that does not bring its own signal. */
  signal?: AbortSignal;
  /** Requests in flight to this registry at once (default {@link DEFAULT_HOST_CONCURRENCY}). */
  concurrency?: number;
}

/**
 * Requests in flight to one registry host at once, unless configured: few
 * enough that Docker Hub and ghcr do not throttle, enough to fill a link.
 */
export const DEFAULT_HOST_CONCURRENCY = 6;

/** Options of one {@link RegistryClient.request}. */
export interface RequestOptions {
  /** Cancel the request (and its body). */
  signal?: AbortSignal;
}

/** One request to a registry. */
export interface RegistryRequest {
  /** The HTTP method. */
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** A path starting with `/v2/`, or an absolute URL (upload locations, redirects). */
  path: string;
  /** Token scopes, e.g. `repository:rancher/rancher:pull`. */
  scopes: string[];
  /** Extra headers (`accept`, `range`, `content-type`…); the client adds `authorization`. */
  headers?: Record<string, string>;
  /** A body factory: called for each try, so a request can be re-sent (auth challenge, retry). */
  body?: () => BodyInit | Uint8Array | ReadableStream<Uint8Array> | null;
  /** Statuses that are not errors (default: 2xx). */
  ok?: number[];
  /** What is being done, for error messages ("fetch manifest"). */
  op: string;
  /** The image or repository, for error messages. */
  image?: string;
  /**
   * Retry temporary failures of this request (default: GET and HEAD). A
   * manifest PUT is safe to repeat; an upload PUT/PATCH is not (its session
   * holds what was sent): uploads retry the whole session instead.
   */
  retry?: boolean;
  /** Cancel the request (and its body). */
  signal?: AbortSignal;
}

/** A client bound to one registry host. */
export interface RegistryClient {
  /** The registry name (`docker.io`, `registry.local:5000`). */
  readonly registry: string;
  /** Send a request; throws a typed {@link AirgapError} unless the status is ok. */
  request(req: RegistryRequest): Promise<Response>;
  /** The base URL in use (`https://host`), found on first use. */
  baseUrl(options?: RequestOptions): Promise<string>;
  /** The transport (timeouts, events). */
  readonly transport: Transport;
  /** The retry policy and notices of this registry, for retries around more than one request. */
  retryOptions(signal?: AbortSignal): RetryOptions & { policy: RetryPolicy };
  /** Requests this client lets be in flight at once. */
  readonly concurrency: number;
  /** Release the HTTP client. */
  close(): void;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** Distribution-spec error body → "CODE: message" (first error); an HTML page is named, not quoted. */
async function describeErrorBody(response: Response): Promise<{ code?: string; text: string }> {
  let text = "";
  try {
    const bytes = new Uint8Array(await response.arrayBuffer());
    text = new TextDecoder().decode(bytes.subarray(0, 16 * 1024));
  } catch {
    return { text: "" };
  }
  if (isHtml(response, text)) return { text: "(an HTML page)" };
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = body.errors?.[0];
    if (first) return { code: first.code, text: [first.code, first.message].filter(Boolean).join(": ") };
  } catch {
    // not JSON: fall through
  }
  return { text: text.trim().split("\n")[0].slice(0, 200) };
}

function isHtml(response: Response, text = ""): boolean {
  return /html/i.test(response.headers.get("content-type") ?? "") || /^\s*<(!doctype|html)/i.test(text);
}

const NOT_FOUND_CODES = new Set(["NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"]);
const TRANSIENT_CODES = new Set(["UNKNOWN", "UNAVAILABLE", "TOOMANYREQUESTS"]);

/** Docker Hub's rate-limit headers, for the 429 message. */
function rateLimitNote(response: Response): string {
  const remaining = response.headers.get("ratelimit-remaining");
  const limit = response.headers.get("ratelimit-limit");
  if (!remaining && !limit) return "";
  const part = (v: string | null) => v?.split(";")[0];
  return ` (rate limit: ${part(remaining) ?? "?"} of ${part(limit) ?? "?"} pulls left${
    limit?.includes("w=") ? ` per ${Number(limit.split("w=")[1]) / 3600} h` : ""
  })`;
}

/**
 * The typed error for a registry answer that is not ok: 404 and the
 * *_UNKNOWN codes are {@link NotFoundError}, 401/403 {@link UnauthorizedError},
 * 5xx, 408 and 429 {@link TransientError} (with `Retry-After`), the rest a
 * plain {@link AirgapError}.
 */
export async function statusError(
  response: Response,
  what: string,
  registry: string,
  context: { op?: string; image?: string },
  authHint = "",
): Promise<AirgapError> {
  const status = response.status;
  const { code, text } = response.body ? await describeErrorBody(response) : { code: undefined, text: "" };
  const ctx = { ...context, where: registry, status, code };
  let message = `${what}: ${registry} returned HTTP ${status}${text ? ` ${text}` : ""}`;
  if (status === 404 || (code && NOT_FOUND_CODES.has(code))) return new NotFoundError(message, ctx);
  if (status === 401 || status === 403) return new UnauthorizedError(message + authHint, ctx);
  // A 5xx that names a distribution error other than these is the registry's final word.
  const permanent = status >= 500 && code !== undefined && !TRANSIENT_CODES.has(code);
  if (!permanent && (status >= 500 || status === 408 || status === 429)) {
    if (status === 429) message += rateLimitNote(response);
    return new TransientError(message, ctx, { retryAfterMs: parseRetryAfter(response.headers.get("retry-after")) });
  }
  return new AirgapError(message, ctx);
}

/** What a registry client keeps between requests; its operations are the functions below. */
class ClientState {
  readonly host: string;
  readonly allowHttp: boolean;
  readonly transport: Transport;
  base: Promise<string> | undefined;
  challenge: Challenge | undefined;
  credential: Promise<Credential | undefined> | undefined;
  readonly concurrency: number;
  // The bound holds from sending a request (its upload included) to the response headers: every
  // connection the host sees is one of these, or a response body a caller is reading (callers
  // bound those). Holding a slot through a body could deadlock a copy whose upload to this host
  // streams from a download from this host.
  readonly slots: ReturnType<typeof limiter>;
  readonly tokens = new Map<string, CachedToken>();
  readonly pendingTokens = new Map<string, Promise<CachedToken>>();

  constructor(readonly registry: string, readonly settings: RegistrySettings) {
    const host = this.host = registryEndpoint(registry);
    this.allowHttp = settings.insecure === true || isLoopbackHost(host);
    try {
      this.transport = createTransport({
        caFile: settings.caFile,
        insecure: (h) => settings.insecure === true && (h === host || h === host.replace(/:\d+$/, "")),
        timeouts: settings.timeouts,
        events: settings.events,
      });
    } catch (e) {
      throw new AirgapError(`registry ${registry}: ${(e as Error).message}`, { where: registry }, { cause: e });
    }
    this.concurrency = Math.max(1, settings.concurrency ?? DEFAULT_HOST_CONCURRENCY);
    this.slots = limiter(this.concurrency);
  }

  retryOptions(signal?: AbortSignal): RetryOptions & { policy: RetryPolicy } {
    return {
      signal,
      policy: retryPolicy(this.settings.retry),
      onRetry: (e: unknown, attempt: number, delayMs: number) =>
        this.settings.events?.retrying?.({
          host: this.registry,
          message: e instanceof Error ? e.message : String(e),
          attempt: attempt + 1,
          delayMs,
        }),
    };
  }

  getCredential() {
    this.credential ??= this.settings.credential
      ? Promise.resolve(this.settings.credential)
      : this.settings.noAuthFiles
      ? Promise.resolve(undefined)
      : lookupCredential(this.registry);
    return this.credential;
  }
}

/** Create a client for one registry. */
export function createRegistryClient(registry: string, settings: RegistrySettings = {}): RegistryClient {
  const c = new ClientState(registry, settings);
  return {
    registry,
    request: (req) => request(c, req),
    baseUrl: (options) => baseUrl(c, options),
    transport: c.transport,
    retryOptions: (signal) => c.retryOptions(signal),
    concurrency: c.concurrency,
    close() {
      c.transport.close();
    },
  };
}

/** One try at `GET /v2/` on each allowed scheme. */
async function pingOnce(c: ClientState, signal?: AbortSignal): Promise<string> {
  const candidates = c.allowHttp ? [`https://${c.host}`, `http://${c.host}`] : [`https://${c.host}`];
  let httpsError: AirgapError | undefined;
  for (const candidate of candidates) {
    let response: Response;
    try {
      response = await c.transport.send(`${candidate}/v2/`, { what: `GET /v2/`, signal });
    } catch (e) {
      if (e instanceof InterruptedError) throw e;
      httpsError ??= e as AirgapError;
      continue;
    }
    const body = response.status === 401 ? "" : await response.text().catch(() => "");
    if (response.status === 401) {
      await response.body?.cancel();
      c.challenge = parseChallenges(response.headers.get("www-authenticate") ?? "")[0];
      return candidate;
    }
    // Plain HTTP to a TLS port answers 400: the HTTPS failure is the real story.
    if (httpsError !== undefined && candidate.startsWith("http:") && response.status === 400) break;
    const api = response.headers.get("docker-distribution-api-version");
    if (response.status === 404 || (!api && isHtml(response, body))) {
      throw new NotARegistryError(
        `${c.registry} does not look like a registry (GET ${candidate}/v2/ returned HTTP ${response.status}${
          isHtml(response, body) ? ", an HTML page" : ""
        })`,
        { where: c.registry, status: response.status },
      );
    }
    if (response.ok) return candidate;
    throw await statusError(
      new Response(body, { status: response.status, headers: response.headers }),
      "GET /v2/",
      c.registry,
      { op: "ping" },
    );
  }
  throw unreachable(c, httpsError);
}

function unreachable(c: ClientState, e: AirgapError | undefined): AirgapError {
  const reason = e?.cause !== undefined ? fetchErrorText(e.cause) : e?.message ?? "no answer";
  const context = { where: c.registry };
  if (e instanceof TlsError) {
    const hint = e.plainHttp
      ? c.allowHttp ? "" : ` (for a registry without TLS, set registries."${c.registry}".insecure: true)`
      : ` (to trust a private CA, set registries."${c.registry}".ca in airgap.yaml or use --ca-file)`;
    return new TlsError(`cannot reach registry ${c.registry}: ${reason}${hint}`, context, {
      cause: e,
      plainHttp: e.plainHttp,
    });
  }
  const temporary = e instanceof NetworkError ? e.temporary : isTemporary(e);
  return new NetworkError(`cannot reach registry ${c.registry}: ${reason}`, context, { cause: e, temporary });
}

function baseUrl(c: ClientState, options: RequestOptions = {}): Promise<string> {
  if (!options.signal && c.settings.signal) options = { signal: c.settings.signal };
  // A registry not found after the retries stays failed for the run (one cause, not one wait per image,
  // and final: nothing retries it again); only a cancelled search is forgotten.
  c.base ??= withRetries(() => pingOnce(c, options.signal), c.retryOptions(options.signal)).catch((e) => {
    if (e instanceof InterruptedError) {
      c.base = undefined;
      throw e;
    }
    if (!isTemporary(e)) throw e;
    throw new NetworkError((e as Error).message, (e as AirgapError).context, { cause: e, temporary: false });
  });
  return c.base;
}

async function fetchToken(c: ClientState, scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
  const params = c.challenge?.params ?? {};
  const realm = params.realm;
  if (!realm) throw new AirgapError(`${c.registry}: bearer challenge without realm`, { where: c.registry });
  const allScopes = [...new Set([...scopes, ...(params.scope ? params.scope.split(" ") : [])])];
  const cred = await c.getCredential();
  const url = new URL(realm);
  if (params.service) url.searchParams.set("service", params.service);
  const what = `${c.registry}: token request`;
  // Not retried here: a failure fails the request's try, and the request's retries ask again.
  let response: Response;
  if (cred?.identityToken) {
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: cred.identityToken,
      client_id: "airgap",
      service: params.service ?? "",
    });
    form.set("scope", allScopes.join(" "));
    response = await c.transport.send(url, { method: "POST", body: form, what, signal });
  } else {
    const query = new URL(url);
    for (const s of allScopes) query.searchParams.append("scope", s);
    const basic = cred?.username !== undefined && cred.password !== undefined
      ? { header: basicAuthorization(cred.username, cred.password), origin: query.origin }
      : undefined;
    response = await c.transport.send(query, { what, authorization: basic, signal });
  }
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    throw await statusError(response, what, c.registry, { op: "authenticate" });
  }
  if (!response.ok) {
    const { text } = await describeErrorBody(response);
    const who = cred ? `credentials from ${cred.origin}` : "no credentials";
    throw new UnauthorizedError(
      `${c.registry}: token request failed with HTTP ${response.status} (${who})${text ? `: ${text}` : ""}`,
      { where: c.registry, status: response.status, op: "authenticate" },
    );
  }
  const body = await response.json() as { token?: string; access_token?: string; expires_in?: number };
  const token = body.token ?? body.access_token;
  if (!token) throw new AirgapError(`${c.registry}: token response holds no token`);
  const lifetime = Math.max(60, body.expires_in ?? 60) * 1000;
  return { header: `Bearer ${token}`, expiresAt: Date.now() + lifetime - 15_000 };
}

async function authorization(c: ClientState, scopes: string[], refresh: boolean, signal?: AbortSignal) {
  if (!c.challenge) return undefined;
  if (c.challenge.scheme === "basic") {
    const cred = await c.getCredential();
    if (cred?.username === undefined || cred.password === undefined) return undefined;
    return basicAuthorization(cred.username, cred.password);
  }
  if (c.challenge.scheme !== "bearer") return undefined;
  const cred = await c.getCredential();
  if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
  const key = [...scopes].sort().join(" ");
  const cached = c.tokens.get(key);
  if (!refresh && cached && cached.expiresAt > Date.now()) return cached.header;
  let pending = c.pendingTokens.get(key);
  if (!pending) {
    pending = fetchToken(c, scopes, signal);
    c.pendingTokens.set(key, pending);
    pending.finally(() => c.pendingTokens.delete(key)).catch(() => {});
  }
  const token = await pending;
  c.tokens.set(key, token);
  return token.header;
}

async function authHint(c: ClientState): Promise<string> {
  const cred = await c.getCredential();
  if (cred) return ` (using credentials from ${cred.origin})`;
  // Docker Hub answers 401 for a repository that does not exist as for a private one.
  if (c.registry === DOCKER_HUB) return " (no such repository, or a private one: docker login)";
  return ` (no credentials found for ${c.registry}; run "docker login ${c.registry}" or set registries in airgap.yaml)`;
}

/** One try: the request, re-sent once with fresh credentials after a 401. */
async function attempt(c: ClientState, req: RegistryRequest): Promise<Response> {
  const root = await baseUrl(c, { signal: req.signal });
  const url = /^https?:\/\//.test(req.path) ? req.path : `${root}${req.path}`;
  const what = `${req.op}${req.image ? ` ${req.image}` : ""}`;
  for (let refreshed = false;; refreshed = true) {
    const auth = await authorization(c, req.scopes, refreshed, req.signal);
    const response = await c.slots(() =>
      c.transport.send(url, {
        method: req.method,
        headers: req.headers,
        body: (req.body ? req.body() : undefined) as BodyInit | undefined,
        authorization: auth ? { header: auth, origin: root } : undefined,
        signal: req.signal,
        what,
      })
    );
    if (response.status === 401 && !refreshed) {
      // A token the registry no longer takes (expired mid-run), or the first challenge.
      const fresh = parseChallenges(response.headers.get("www-authenticate") ?? "")[0];
      if (fresh && (fresh.scheme === "bearer" || await c.getCredential())) {
        c.challenge = fresh;
        await response.body?.cancel();
        continue;
      }
    }
    if (req.ok ? req.ok.includes(response.status) : response.ok) return response;
    const hint = response.status === 401 || response.status === 403 ? await authHint(c) : "";
    throw await statusError(
      req.method === "HEAD" ? new Response(null, { status: response.status, headers: response.headers }) : response,
      what,
      c.registry,
      { op: req.op, image: req.image },
      hint,
    );
  }
}

async function request(c: ClientState, req: RegistryRequest): Promise<Response> {
  if (!req.signal && c.settings.signal) req = { ...req, signal: c.settings.signal };
  const retry = req.retry ?? (req.method === "GET" || req.method === "HEAD");
  // Finding the registry has its own retries: its failure is final for the request.
  await baseUrl(c, { signal: req.signal });
  return await withRetries(() => attempt(c, req), {
    ...c.retryOptions(req.signal),
    retryable: retry ? isTemporary : () => false,
  });
}
