/**
 * The HTTP side of the OCI distribution client: scheme selection (HTTPS,
 * plain HTTP only for loopback or declared-insecure registries), bearer
 * tokens per scope and Basic auth, retries for idempotent requests, and
 * distribution-spec error bodies turned into one-line errors.
 * @module
 */
import { AirgapError } from "../../errors.ts";
import { DOCKER_HUB, registryEndpoint } from "../../ref.ts";
import { basicAuthorization, type Challenge, type Credential, lookupCredential, parseChallenges } from "./auth.ts";

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
  /** A body factory, so a request can be re-sent after an auth challenge. */
  body?: () => BodyInit | Uint8Array | ReadableStream<Uint8Array> | null;
  /** Statuses that are not errors (default: 2xx). */
  ok?: number[];
  /** What is being done, for error messages ("fetch manifest"). */
  op: string;
  /** The image or repository, for error messages. */
  image?: string;
  /** Abort after this long without a response (headers). Default 120 s. */
  timeoutMs?: number;
}

/** A client bound to one registry host. */
export interface RegistryClient {
  /** The registry name (`docker.io`, `registry.local:5000`). */
  readonly registry: string;
  /** Send a request; throws an {@link AirgapError} unless the status is ok. */
  request(req: RegistryRequest): Promise<Response>;
  /** The base URL in use (`https://host`), found on first use. */
  baseUrl(): Promise<string>;
  /** Release the HTTP client. */
  close(): void;
}

/** True for hosts Docker treats as insecure by default (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(1, registry.indexOf("]")) : registry.replace(/:\d+$/, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_DELAYS_MS = [250, 1000, 3000];

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** The useful part of a fetch failure ("fetch failed" hides it in `cause`). */
export function networkReason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : "";
  const text = (cause && !message.includes(cause) ? `${message}: ${cause}` : message).split("\n")[0];
  if (text.includes("CaUsedAsEndEntity")) {
    return `${text} — the registry presents a CA certificate as its server certificate (a self-signed certificate with CA:TRUE); re-issue it with basicConstraints=CA:FALSE, or sign it with a separate CA and trust that CA`;
  }
  return text;
}

/** Distribution-spec error body → "CODE: message" (first error). */
async function describeErrorBody(response: Response): Promise<{ code?: string; text: string }> {
  let text = "";
  try {
    const bytes = new Uint8Array(await response.arrayBuffer());
    text = new TextDecoder().decode(bytes.subarray(0, 16 * 1024));
  } catch {
    return { text: "" };
  }
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = body.errors?.[0];
    if (first) {
      return {
        code: first.code,
        text: [first.code, first.message].filter(Boolean).join(": "),
      };
    }
  } catch {
    // not JSON: fall through
  }
  return { text: text.trim().split("\n")[0].slice(0, 200) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Create a client for one registry. */
export function createRegistryClient(
  registry: string,
  settings: RegistrySettings = {},
): RegistryClient {
  const host = registryEndpoint(registry);
  const allowHttp = settings.insecure === true || isLoopbackHost(host);
  let httpClient: Deno.HttpClient | undefined;
  if (settings.caFile) {
    let pem: string;
    try {
      pem = Deno.readTextFileSync(settings.caFile);
    } catch (e) {
      throw new AirgapError(
        `cannot read CA file ${settings.caFile} for registry ${registry}: ${(e as Error).message}`,
      );
    }
    httpClient = Deno.createHttpClient({ caCerts: [pem] });
  }
  let base: Promise<string> | undefined;
  let challenge: Challenge | undefined;
  let credential: Promise<Credential | undefined> | undefined;
  const tokens = new Map<string, CachedToken>();
  const pendingTokens = new Map<string, Promise<CachedToken>>();

  const send = (url: string | URL, init: RequestInit & { timeoutMs?: number }) => {
    const { timeoutMs, ...rest } = init;
    return fetch(url, {
      ...rest,
      client: httpClient,
      signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
    } as RequestInit);
  };

  const getCredential = () => {
    credential ??= settings.credential
      ? Promise.resolve(settings.credential)
      : settings.noAuthFiles
      ? Promise.resolve(undefined)
      : lookupCredential(registry);
    return credential;
  };

  async function ping(): Promise<string> {
    const attempts = allowHttp ? [`https://${host}`, `http://${host}`] : [`https://${host}`];
    let httpsError: unknown;
    for (const candidate of attempts) {
      let response: Response;
      try {
        response = await send(`${candidate}/v2/`, { method: "GET", timeoutMs: 30_000 });
      } catch (e) {
        httpsError ??= e;
        continue;
      }
      await response.body?.cancel();
      if (response.status === 401) {
        challenge = parseChallenges(response.headers.get("www-authenticate") ?? "")[0];
        return candidate;
      }
      if (response.ok) return candidate;
      // Plain HTTP to a TLS port answers 400: the HTTPS failure is the real story.
      if (httpsError !== undefined && candidate.startsWith("http:")) break;
      throw new AirgapError(
        response.status === 404
          ? `${registry} does not speak the registry API (GET /v2/ returned 404)`
          : `${registry}: GET /v2/ returned HTTP ${response.status}`,
        { where: registry, status: response.status },
      );
    }
    const reason = networkReason(httpsError);
    const tlsProblem = /certificate|tls|ssl|UnknownIssuer/i.test(reason);
    const hint = tlsProblem
      ? ` (to trust a private CA, set registries."${registry}".ca in airgap.yaml or use --ca-file)`
      : allowHttp
      ? ""
      : ` (for a registry without TLS, set registries."${registry}".insecure: true)`;
    throw new AirgapError(`cannot reach registry ${registry}: ${reason}${hint}`, { where: registry });
  }

  function baseUrl(): Promise<string> {
    base ??= ping();
    base.catch(() => (base = undefined));
    return base;
  }

  async function fetchToken(scopes: string[]): Promise<CachedToken> {
    const params = challenge?.params ?? {};
    const realm = params.realm;
    if (!realm) {
      throw new AirgapError(`${registry}: bearer challenge without realm`, { where: registry });
    }
    const allScopes = [...new Set([...scopes, ...(params.scope ? params.scope.split(" ") : [])])];
    const cred = await getCredential();
    const url = new URL(realm);
    if (params.service) url.searchParams.set("service", params.service);
    let response: Response;
    if (cred?.identityToken) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: cred.identityToken,
        client_id: "airgap",
        service: params.service ?? "",
      });
      form.set("scope", allScopes.join(" "));
      response = await send(url, { method: "POST", body: form, timeoutMs: 30_000 });
    } else {
      for (const s of allScopes) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (cred?.username !== undefined && cred.password !== undefined) {
        headers.authorization = basicAuthorization(cred.username, cred.password);
      }
      response = await send(url, { method: "GET", headers, timeoutMs: 30_000 });
    }
    if (!response.ok) {
      const { text } = await describeErrorBody(response);
      const who = cred ? `credentials from ${cred.origin}` : "no credentials";
      throw new AirgapError(
        `${registry}: token request failed with HTTP ${response.status} (${who})${text ? `: ${text}` : ""}`,
        { where: registry, status: response.status, op: "authenticate" },
      );
    }
    const body = await response.json() as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token) throw new AirgapError(`${registry}: token response holds no token`);
    const lifetime = Math.max(60, body.expires_in ?? 60) * 1000;
    return { header: `Bearer ${token}`, expiresAt: Date.now() + lifetime - 15_000 };
  }

  async function authorization(scopes: string[], refresh: boolean): Promise<string | undefined> {
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") {
      const cred = await getCredential();
      if (cred?.username === undefined || cred.password === undefined) return undefined;
      return basicAuthorization(cred.username, cred.password);
    }
    if (challenge.scheme !== "bearer") return undefined;
    const cred = await getCredential();
    if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
    const key = [...scopes].sort().join(" ");
    const cached = tokens.get(key);
    if (!refresh && cached && cached.expiresAt > Date.now()) return cached.header;
    let pending = pendingTokens.get(key);
    if (!pending) {
      pending = fetchToken(scopes);
      pendingTokens.set(key, pending);
      pending.finally(() => pendingTokens.delete(key)).catch(() => {});
    }
    const token = await pending;
    tokens.set(key, token);
    return token.header;
  }

  async function request(req: RegistryRequest): Promise<Response> {
    const root = await baseUrl();
    const url = /^https?:\/\//.test(req.path) ? req.path : `${root}${req.path}`;
    const idempotent = req.method === "GET" || req.method === "HEAD";
    const what = `${req.op}${req.image ? ` ${req.image}` : ""}`;
    let authRetried = false;
    for (let attempt = 0;; attempt++) {
      const headers: Record<string, string> = {
        "user-agent": "airgap",
        ...req.headers,
      };
      const auth = await authorization(req.scopes, authRetried);
      if (auth) headers.authorization = auth;
      let response: Response;
      try {
        response = await send(url, {
          method: req.method,
          headers,
          body: (req.body ? req.body() : undefined) as BodyInit | undefined,
          timeoutMs: req.timeoutMs ?? 120_000,
        });
      } catch (e) {
        if (idempotent && attempt < RETRY_DELAYS_MS.length) {
          await sleep(RETRY_DELAYS_MS[attempt]);
          continue;
        }
        throw new AirgapError(`${what}: ${registry}: ${networkReason(e)}`, {
          op: req.op,
          image: req.image,
          where: registry,
        }, { cause: e });
      }
      if (response.status === 401 && !authRetried) {
        const fresh = parseChallenges(response.headers.get("www-authenticate") ?? "")[0];
        if (fresh) {
          challenge = fresh;
          const cred = await getCredential();
          if (fresh.scheme === "bearer" || cred) {
            await response.body?.cancel();
            authRetried = true;
            continue;
          }
        }
      }
      if (req.ok ? req.ok.includes(response.status) : response.ok) return response;
      if (idempotent && RETRY_STATUS.has(response.status) && attempt < RETRY_DELAYS_MS.length) {
        await response.body?.cancel();
        const retryAfter = Number(response.headers.get("retry-after"));
        await sleep(
          Number.isFinite(retryAfter) && retryAfter > 0
            ? Math.min(retryAfter * 1000, 30_000)
            : RETRY_DELAYS_MS[attempt],
        );
        continue;
      }
      const { code, text } = req.method === "HEAD" ? { code: undefined, text: "" } : await describeErrorBody(response);
      let message = `${what}: ${registry} returned HTTP ${response.status}${text ? ` ${text}` : ""}`;
      if (response.status === 401 || response.status === 403) {
        const cred = await getCredential();
        message += cred
          ? ` (using credentials from ${cred.origin})`
          : registry === DOCKER_HUB
          ? ""
          : ` (no credentials found for ${registry}; run "docker login ${registry}" or set registries in airgap.yaml)`;
      }
      throw new AirgapError(message, {
        op: req.op,
        image: req.image,
        where: registry,
        status: response.status,
        code,
      });
    }
  }

  return {
    registry,
    request,
    baseUrl,
    close() {
      httpClient?.close();
    },
  };
}
