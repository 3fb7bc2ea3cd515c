/**
 * The registry side of the OCI distribution client: which base URL a
 * registry answers on (HTTPS; plain HTTP only for loopback or declared
 * insecure registries), and one `send` made of small stacked layers, as
 * go-containerregistry's `remote/transport`:
 *   challenge (adopted from the registry's own origin only) → auth (Basic or
 *   a bearer token per scope, bound to the registry's origin) → retry
 *   (lib/transport/retry.ts) → limits (lib/transport/bounds.ts) → the HTTP
 *   transport (scheme and redirect rules, timeouts: lib/transport/http.ts).
 * Each layer is one function below; registry answers become typed one-line
 * errors at the top. The rules and the tests that prove them: docs/transport.md.
 * @module
 */
import { AirgapError } from "../../errors.ts";
import { readBounded } from "../../limits.ts";
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
} from "../../error_kinds.ts";
import { createTransport, type NetworkEvents, type Timeouts, type Transport } from "../../transport/http.ts";
import { isLoopbackHost, sameOrigin } from "../../transport/origin.ts";
import { DEFAULT_METADATA_CONCURRENCY, type HostSlots, hostSlots, requestClass } from "../../transport/bounds.ts";
import type { NetworkSession } from "../../transport/session.ts";
import {
  parseRetryAfter,
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  withRetries,
} from "../../transport/retry.ts";
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
  /** Blob downloads (and, apart, blob uploads) in flight to this registry at once (default {@link DEFAULT_HOST_CONCURRENCY}). */
  concurrency?: number;
  /** Metadata requests (manifests, tag checks, existence probes, tokens) in flight at once (default 32). */
  metadataConcurrency?: number;
  /** The run's network session: its shared transport is used (and closed by the session, not the client). */
  session?: NetworkSession;
}

/**
 * Blob bodies in flight to one registry host at once, each way, unless
 * configured: few enough that Docker Hub and ghcr do not throttle, enough to
 * fill a link. Metadata requests have a wider bound (lib/transport/bounds.ts).
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
  /** Bytes of the blob body this request fetches, when known: a small one waits under the metadata bound (bounds.ts). */
  size?: number;
  /** Made for a push destination (a probe before a push): its token is asked with the push scope too. */
  destination?: boolean;
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
  /** Blob bodies this client lets be in flight at once (each way). */
  readonly concurrency: number;
  /** Metadata requests (HEAD and GET of manifests, probes, tokens) this client lets be in flight at once. */
  readonly metadataConcurrency: number;
  /** The run's network session, when the client was made with one. */
  readonly session?: NetworkSession;
  /** Release the HTTP client. */
  close(): void;
}

interface CachedToken {
  header: string;
  expiresAt: number;
  /** The scopes it was asked for (set by {@link authorization}). */
  scopes?: string[];
}

/** How much of an error body is read: the first error of a distribution-spec body, or a page's first line. */
const ERROR_BODY_KEPT = 16 * 1024;

/** Distribution-spec error body → "CODE: message" (first error); an HTML page is named, not quoted. */
async function describeErrorBody(response: Response): Promise<{ code?: string; text: string }> {
  let text = "";
  try {
    const bytes = response.body ? (await readBounded(response.body, ERROR_BODY_KEPT)).bytes() : new Uint8Array();
    text = new TextDecoder().decode(bytes);
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
  readonly ownsTransport: boolean;
  base: Promise<string> | undefined;
  challenge: Challenge | undefined;
  credential: Promise<Credential | undefined> | undefined;
  readonly concurrency: number;
  readonly slots: HostSlots;
  readonly tokens = new Map<string, CachedToken>();
  readonly pendingTokens = new Map<string, Promise<CachedToken>>();

  constructor(readonly registry: string, readonly settings: RegistrySettings) {
    const host = this.host = registryEndpoint(registry);
    this.allowHttp = settings.insecure === true || isLoopbackHost(host);
    this.ownsTransport = settings.session === undefined;
    try {
      this.transport = settings.session ? settings.session.transport(host) : createTransport({
        caFile: settings.caFile,
        insecure: (h) => settings.insecure === true && (h === host || h === host.replace(/:\d+$/, "")),
        timeouts: settings.timeouts,
        events: settings.events,
      });
    } catch (e) {
      throw new AirgapError(`registry ${registry}: ${(e as Error).message}`, { where: registry }, { cause: e });
    }
    this.concurrency = Math.max(1, settings.concurrency ?? DEFAULT_HOST_CONCURRENCY);
    this.slots = hostSlots({
      metadata: Math.max(1, settings.metadataConcurrency ?? DEFAULT_METADATA_CONCURRENCY),
      bodies: this.concurrency,
    });
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
    metadataConcurrency: c.slots.bounds.metadata,
    session: settings.session,
    close() {
      if (c.ownsTransport) c.transport.close();
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
      c.challenge = ownChallenge(c, candidate, response, "GET /v2/");
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

/**
 * The challenge layer's rule: a `401` is the registry's word only when the
 * URL that answered it (after redirects) is the registry's own origin. A 401
 * from any other origin — a blob redirect target, an upload `Location` on
 * another host — is an error naming that host: its `WWW-Authenticate` is never
 * adopted, so no credential ever goes to a realm a foreign response chose.
 */
function ownChallenge(c: ClientState, root: string, response: Response, what: string): Challenge | undefined {
  const answered = response.url ? new URL(response.url) : new URL(root);
  if (!sameOrigin(answered, root)) {
    response.body?.cancel().catch(() => {});
    throw new UnauthorizedError(
      `${what}: ${answered.host} answered HTTP 401 but is not the registry ${c.registry}; its challenge is not followed and no credentials are sent to it`,
      { where: answered.host, status: 401 },
    );
  }
  return parseChallenges(response.headers.get("www-authenticate") ?? "")[0];
}

/**
 * Where a bearer token may be asked for: the realm the registry named, on its
 * own origin or another one (Docker Hub's token service) — over HTTPS only,
 * unless the registry itself is plain-HTTP loopback or declared insecure (or
 * both the registry and the realm are loopback: nothing leaves the machine).
 */
function tokenRealm(c: ClientState, realm: string | undefined, root: string): URL {
  let url: URL;
  try {
    url = new URL(realm ?? "");
  } catch {
    throw new AirgapError(`${c.registry}: bearer challenge without a usable realm`, { where: c.registry });
  }
  // A loopback registry's loopback realm never crosses a network, whichever scheme the registry speaks.
  const plainAllowed = c.settings.insecure === true ||
    (isLoopbackHost(c.host) && (root.startsWith("http:") || isLoopbackHost(url.host)));
  if (url.protocol !== "https:" && !sameOrigin(url, root) && !plainAllowed) {
    throw new UnauthorizedError(
      `${c.registry}: refusing to send credentials to the token realm ${url.host} over plain HTTP (a realm on another origin must be HTTPS)`,
      { where: url.host, op: "authenticate" },
    );
  }
  return url;
}

async function fetchToken(c: ClientState, scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
  const params = c.challenge?.params ?? {};
  const root = await baseUrl(c, { signal });
  const url = tokenRealm(c, params.realm, root);
  const allScopes = [...new Set([...scopes, ...(params.scope ? params.scope.split(" ") : [])])];
  const cred = await c.getCredential();
  if (params.service) url.searchParams.set("service", params.service);
  const what = `${c.registry}: token request`;
  const once = async () => {
    let response: Response;
    if (cred?.identityToken) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: cred.identityToken,
        client_id: "airgap",
        service: params.service ?? "",
      });
      form.set("scope", allScopes.join(" "));
      response = await c.slots.run(
        "metadata",
        () => c.transport.send(url, { method: "POST", body: form, what, signal }),
      );
    } else {
      const query = new URL(url);
      for (const s of allScopes) query.searchParams.append("scope", s);
      const basic = cred?.username !== undefined && cred.password !== undefined
        ? { header: basicAuthorization(cred.username, cred.password), origin: query.origin }
        : undefined;
      response = await c.slots.run("metadata", () => c.transport.send(query, { what, authorization: basic, signal }));
    }
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw await statusError(response, what, c.registry, { op: "authenticate" });
    }
    return response;
  };
  const response = await withRetries(once, c.retryOptions(signal));
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

const scopeKey = (scopes: string[]) => [...scopes].sort().join(" ");

/** `repository:NAME:a,b` → [NAME-with-type, actions]; undefined for another shape. */
function splitScope(scope: string): [string, Set<string>] | undefined {
  const at = scope.lastIndexOf(":");
  return at > 0 ? [scope.slice(0, at), new Set(scope.slice(at + 1).split(","))] : undefined;
}

/** Does a token asked for `held` cover every scope in `wanted` (same resource, at least the actions)? */
export function scopesCover(held: readonly string[], wanted: readonly string[]): boolean {
  const have = held.map(splitScope).filter((x) => x !== undefined);
  return wanted.every((w) => {
    const want = splitScope(w);
    if (!want) return held.includes(w);
    return have.some(([resource, actions]) => resource === want[0] && [...want[1]].every((a) => actions.has(a)));
  });
}

/**
 * The token-reuse policy, in one place: a request made for a destination (an
 * existence probe before a push) asks for `pull,push` where it needs `pull`,
 * so the probe and the push of a repository share one token; reads for a
 * source (save, plan) never ask for more than they need.
 */
function widened(scopes: string[], destination: boolean | undefined): string[] {
  if (!destination) return scopes;
  return scopes.map((s) => /^repository:[^:]+:pull$/.test(s) ? `${s},push` : s);
}

function cachedToken(c: ClientState, scopes: string[]): CachedToken | undefined {
  const now = Date.now();
  const exact = c.tokens.get(scopeKey(scopes));
  if (exact && exact.expiresAt > now) return exact;
  for (const token of c.tokens.values()) {
    if (token.expiresAt > now && token.scopes && scopesCover(token.scopes, scopes)) return token;
  }
  return undefined;
}

/** Fetch a token once per scope set, however many requests wait for it. */
async function sharedToken(c: ClientState, scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
  const key = scopeKey(scopes);
  let pending = c.pendingTokens.get(key);
  if (!pending) {
    pending = fetchToken(c, scopes, signal).then((t) => ({ ...t, scopes }));
    c.pendingTokens.set(key, pending);
    pending.finally(() => c.pendingTokens.delete(key)).catch(() => {});
  }
  const token = await pending;
  c.tokens.set(key, token);
  return token;
}

/**
 * The `Authorization` for a request: a cached token that covers its scopes
 * (one per repository scope for the run), else one fetched. `renew` (after a
 * 401) drops what was cached and asks for exactly these scopes again.
 */
async function authorization(
  c: ClientState,
  scopes: string[],
  signal?: AbortSignal,
  renew = false,
  destination?: boolean,
) {
  if (!c.challenge) return undefined;
  if (c.challenge.scheme === "basic") {
    const cred = await c.getCredential();
    if (cred?.username === undefined || cred.password === undefined) return undefined;
    return basicAuthorization(cred.username, cred.password);
  }
  if (c.challenge.scheme !== "bearer") return undefined;
  const cred = await c.getCredential();
  if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
  if (renew) {
    for (const [key, token] of c.tokens) if (token.scopes && scopesCover(token.scopes, scopes)) c.tokens.delete(key);
    return (await sharedToken(c, scopes, signal)).header;
  }
  const cached = cachedToken(c, scopes);
  if (cached) return cached.header;
  const wider = widened(scopes, destination);
  if (wider.join(" ") === scopes.join(" ")) return (await sharedToken(c, scopes, signal)).header;
  // A token service that refuses the wider ask still grants what the request needs.
  return (await sharedToken(c, wider, signal).catch(() => sharedToken(c, scopes, signal))).header;
}

async function authHint(c: ClientState): Promise<string> {
  const cred = await c.getCredential();
  if (cred) return ` (using credentials from ${cred.origin})`;
  // Docker Hub answers 401 for a repository that does not exist as for a private one.
  if (c.registry === DOCKER_HUB) return ` (no such repository, or a private one: ${loginHint(c.registry)})`;
  return ` (no credentials found for ${c.registry}; ${
    loginHint(c.registry)
  }, or set registries."${c.registry}" in airgap.yaml)`;
}

/**
 * How to log in to `registry`, naming every login command airgap reads the
 * credentials of — inside the gap there is often no Docker — and the
 * command line's own `--username`/`--password-stdin`.
 */
export function loginHint(registry: string): string {
  return `log in with "podman login ${registry}", "skopeo login ${registry}" or "docker login ${registry}", or give --username with --password-stdin`;
}

/** One request as the layers see it. */
interface Exchange {
  req: RegistryRequest;
  /** The absolute URL. */
  url: string;
  /** The registry's base URL (its origin): where its credentials and challenges belong. */
  root: string;
  /** For messages. */
  what: string;
  /** The `Authorization` value for the registry's origin, set by the auth layer. */
  authorization?: string;
  /** Set by the limits layer when the body sent was a stream (it cannot be sent again). */
  streamed?: boolean;
}

/**
 * The auth layer: credentials for the registry's origin on every request, and
 * one renewal after a `401` from that origin (a token expired mid-run, or the
 * first challenge) — its challenge checked by {@link ownChallenge}. A request
 * whose body was a stream is never sent again: the 401 is thrown as a
 * temporary failure, and the upload restarts its session from the source.
 */
async function authLayer(c: ClientState, x: Exchange): Promise<Response> {
  for (let renewed = false;; renewed = true) {
    x.authorization = await authorization(c, x.req.scopes, x.req.signal, renewed, x.req.destination);
    const response = await retryLayer(c, x);
    if (response.status !== 401) return response;
    const fresh = ownChallenge(c, x.root, response, x.what);
    if (renewed || !fresh || (fresh.scheme !== "bearer" && !await c.getCredential())) return response;
    c.challenge = fresh;
    await response.body?.cancel();
    if (x.streamed) {
      throw new TransientError(
        `${x.what}: ${c.registry} asked for credentials again while a body was streaming; the upload restarts from its source`,
        { where: c.registry, status: 401, op: x.req.op, image: x.req.image },
      );
    }
  }
}

/** The retry layer: temporary failures (network, 5xx, 408, 429) of requests that may repeat. */
async function retryLayer(c: ClientState, x: Exchange): Promise<Response> {
  const repeatable = x.req.retry ?? (x.req.method === "GET" || x.req.method === "HEAD");
  if (!repeatable) return await limitLayer(c, x);
  return await withRetries(async () => {
    const response = await limitLayer(c, x);
    const transient = response.status >= 500 || response.status === 408 || response.status === 429;
    if (!transient || x.req.ok?.includes(response.status)) return response;
    throw await statusError(response, x.what, c.registry, { op: x.req.op, image: x.req.image });
  }, c.retryOptions(x.req.signal));
}

/**
 * The limits layer: a slot of the request's class (bounds.ts) from sending
 * until the response headers; the transport below follows redirects under
 * the scheme rules and sends the credential to the registry's origin only.
 */
async function limitLayer(c: ClientState, x: Exchange): Promise<Response> {
  const body = (x.req.body ? x.req.body() : undefined) as BodyInit | undefined;
  x.streamed = body instanceof ReadableStream;
  const kind = requestClass(x.req.method, x.url, body !== undefined && body !== null, x.req.size);
  return await c.slots.run(kind, () =>
    c.transport.send(x.url, {
      method: x.req.method,
      headers: x.req.headers,
      body,
      authorization: x.authorization ? { header: x.authorization, origin: x.root } : undefined,
      signal: x.req.signal,
      what: x.what,
    }));
}

async function request(c: ClientState, req: RegistryRequest): Promise<Response> {
  if (!req.signal && c.settings.signal) req = { ...req, signal: c.settings.signal };
  // Finding the registry has its own retries: its failure is final for the request.
  const root = await baseUrl(c, { signal: req.signal });
  const url = /^https?:\/\//.test(req.path) ? req.path : `${root}${req.path}`;
  const what = `${req.op}${req.image ? ` ${req.image}` : ""}`;
  const response = await authLayer(c, { req, url, root, what });
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
