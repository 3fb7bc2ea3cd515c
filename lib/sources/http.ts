/**
 * Downloads for sources: release assets and chart repositories over
 * HTTP(S), or `file:` URLs for a mirror on disk. Plain HTTP follows the
 * registry rule: loopback hosts, or hosts declared `insecure`. These are small files, read
 * into memory under a size cap. Redirects are followed by hand so a
 * credential is only ever sent to the host it was declared for; the CA and
 * Basic credentials of a host come from the declaration's `registries`
 * settings (passwords from the environment or a file, never printed).
 * @module
 */
import { fileURLToPath } from "node:url";
import { AirgapError, errorMessage } from "../errors.ts";
import { isLoopbackHost, networkReason, type RegistrySettings } from "../store/registry/client.ts";
import { readAll } from "../store/types.ts";

/** Options of {@link download}. */
export interface DownloadOptions {
  /** Connection settings by `host[:port]` (CA file, credentials). */
  settings?: ReadonlyMap<string, RegistrySettings>;
  /** Refuse bodies larger than this (default 100 MiB). */
  limit?: number;
  /** Give up when no response arrives for this long (default 120 s). */
  timeoutMs?: number;
}

/** A download: the bytes, or the status that said there is nothing there. */
export type Download =
  | { found: true; bytes: Uint8Array }
  | { found: false; status: number };

const MAX_REDIRECTS = 10;
const DEFAULT_LIMIT = 100 * 1024 * 1024;

/** Parse a source URL, refusing schemes we do not fetch and credentials written into it. */
export function parseSourceUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AirgapError(`${what}: "${text}" is not a URL`);
  }
  if (!["http:", "https:", "file:"].includes(url.protocol)) {
    throw new AirgapError(`${what}: "${text}": only http, https and file URLs are supported`);
  }
  if (url.username || url.password) {
    throw new AirgapError(
      `${what}: the URL holds credentials; declare them under registries."${url.host}" (username with passwordEnv or passwordFile) instead`,
    );
  }
  return url;
}

/** A URL as shown in messages and locks: no query string (signed URLs carry tokens there). */
export function displayUrl(url: URL | string): string {
  const u = new URL(url);
  u.search = "";
  u.hash = "";
  return u.href;
}

/**
 * GET a URL into memory. 404 and 410 come back as `found: false`; any other
 * failure is an {@link AirgapError} naming the URL.
 */
export async function download(text: string, options: DownloadOptions = {}): Promise<Download> {
  const limit = options.limit ?? DEFAULT_LIMIT;
  let url = parseSourceUrl(text, "download");
  const shown = displayUrl(url);
  if (url.protocol === "file:") return await readLocal(url, shown, limit);

  const clients = new Map<string, Deno.HttpClient>();
  try {
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const settings = options.settings?.get(url.host) ?? {};
      if (url.protocol === "http:" && !isLoopbackHost(url.host) && !settings.insecure) {
        throw new AirgapError(
          `${shown}: plain HTTP to ${url.host} is not allowed (use https, or set registries."${url.host}".insecure: true)`,
        );
      }
      const headers: Record<string, string> = { "user-agent": "airgap" };
      const credential = settings.credential;
      if (credential?.username !== undefined && credential.password !== undefined) {
        if (url.protocol === "https:" || isLoopbackHost(url.host)) {
          headers.authorization = `Basic ${btoa(`${credential.username}:${credential.password}`)}`;
        }
      }
      let response: Response;
      try {
        response = await fetch(url, {
          headers,
          redirect: "manual",
          client: httpClientFor(settings, url.host, clients),
          signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
        } as RequestInit);
      } catch (e) {
        throw new AirgapError(`cannot download ${shown}: ${networkReason(e)}`, { where: shown });
      }
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        await response.body?.cancel();
        const location = response.headers.get("location");
        if (!location) throw new AirgapError(`${shown}: redirect (HTTP ${response.status}) without a Location`);
        url = new URL(location, url);
        if (url.protocol !== "https:" && url.protocol !== "http:") {
          throw new AirgapError(`${shown}: redirected to an unsupported URL scheme ${url.protocol}`);
        }
        continue;
      }
      if (response.status === 404 || response.status === 410) {
        await response.body?.cancel();
        return { found: false, status: response.status };
      }
      if (!response.ok) {
        await response.body?.cancel();
        const hint = response.status === 401 || response.status === 403
          ? ` (credentials: registries."${url.host}" username with passwordEnv or passwordFile)`
          : "";
        throw new AirgapError(`cannot download ${shown}: HTTP ${response.status}${hint}`, {
          where: shown,
          status: response.status,
        });
      }
      const declared = Number(response.headers.get("content-length") ?? "0");
      if (declared > limit) {
        await response.body?.cancel();
        throw new AirgapError(`cannot download ${shown}: ${declared} bytes is more than the ${limit} allowed`);
      }
      try {
        return { found: true, bytes: response.body ? await readAll(response.body, limit) : new Uint8Array() };
      } catch (e) {
        throw new AirgapError(`cannot download ${shown}: ${errorMessage(e)}`, { where: shown });
      }
    }
    throw new AirgapError(`cannot download ${shown}: more than ${MAX_REDIRECTS} redirects`);
  } finally {
    for (const client of clients.values()) client.close();
  }
}

function httpClientFor(
  settings: RegistrySettings,
  host: string,
  clients: Map<string, Deno.HttpClient>,
): Deno.HttpClient | undefined {
  if (!settings.caFile) return undefined;
  let client = clients.get(host);
  if (!client) {
    let pem: string;
    try {
      pem = Deno.readTextFileSync(settings.caFile);
    } catch (e) {
      throw new AirgapError(`cannot read CA file ${settings.caFile} for ${host}: ${errorMessage(e)}`);
    }
    client = Deno.createHttpClient({ caCerts: [pem] });
    clients.set(host, client);
  }
  return client;
}

async function readLocal(url: URL, shown: string, limit: number): Promise<Download> {
  const path = fileURLToPath(url);
  try {
    const info = await Deno.stat(path);
    if (info.size > limit) throw new AirgapError(`${shown}: ${info.size} bytes is more than the ${limit} allowed`);
    return { found: true, bytes: await Deno.readFile(path) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { found: false, status: 404 };
    if (e instanceof AirgapError) throw e;
    throw new AirgapError(`cannot read ${shown}: ${errorMessage(e)}`, { where: shown });
  }
}
