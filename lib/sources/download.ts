/**
 * Downloads for sources: release assets and chart repositories over
 * HTTP(S), or `file:` URLs for a mirror on disk, through the run's network
 * session (lib/transport/session.ts): plain HTTP only to loopback hosts or hosts declared
 * `insecure`, redirects followed by hand so a credential is only ever sent
 * to the origin it was declared for. Lists and charts are small files, read
 * into memory under a size cap ({@link download}); carried files may be
 * several GiB and are handed over as a stream ({@link downloadStream}). The CA and
 * Basic credentials of a host come from the declaration's `registries`
 * settings (passwords from the environment or a file, never printed).
 * @module
 */
import { fileURLToPath } from "node:url";
import { AirgapError, errorMessage } from "../errors.ts";
import { basicAuthorization } from "../store/registry/auth.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import { fileByteStream } from "../format/streams.ts";
import { readAll } from "../store/types.ts";
import { isTemporary, TransientError, UnauthorizedError } from "../error_kinds.ts";
import type { NetworkEvents, Timeouts } from "../transport/http.ts";
import { createSession, type NetworkSession } from "../transport/session.ts";
import { parseRetryAfter, withRetries } from "../transport/retry.ts";

/** Options of {@link download}. */
export interface DownloadOptions {
  /** Connection settings by `host[:port]` (CA file, credentials). */
  settings?: ReadonlyMap<string, RegistrySettings>;
  /** Refuse bodies larger than this (default 100 MiB). */
  limit?: number;
  /** Give up when no response arrives for this long (default: the transport's 30 s). */
  timeoutMs?: number;
  /** Timeouts (default: the host's settings, else the transport's defaults). */
  timeouts?: Partial<Timeouts>;
  /** Waiting and retry notifications. */
  events?: NetworkEvents;
  /** Cancels the download. */
  signal?: AbortSignal;
  /**
   * The run's network session (its transports, CA files, timeouts, events,
   * signal); otherwise one is made from `settings` for this download.
   */
  session?: NetworkSession;
}

/** A download: the bytes, or the status that said there is nothing there. */
export type Download =
  | { found: true; bytes: Uint8Array }
  | { found: false; status: number };

const DEFAULT_LIMIT = 100 * 1024 * 1024;

/** Parse a source URL, refusing schemes we do not fetch and credentials written into it. */
export function parseSourceUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AirgapError(`${what}: "${text}" is not a URL`, { subject: what });
  }
  if (!["http:", "https:", "file:"].includes(url.protocol)) {
    throw new AirgapError(`${what}: "${text}": only http, https and file URLs are supported`, { subject: what });
  }
  if (url.username || url.password) {
    throw new AirgapError(
      `${what}: the URL holds credentials; declare them under registries."${url.host}" (username with passwordEnv or passwordFile) instead`,
      { subject: what },
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

/** What {@link downloadStream} got: the consumer's result, or the status that said there is nothing there. */
export type StreamedDownload<T> =
  | { found: true; value: T }
  | { found: false; status: number };

/**
 * GET a URL (or read a `file:` URL) as a stream handed to `consume`, never
 * held in memory; `limit` is checked against the declared length up front.
 * A temporary failure while consuming retries the whole download, so
 * `consume` must be safe to call again. `consume`'s own
 * {@link AirgapError}s pass through as they are.
 */
export async function downloadStream<T>(
  text: string,
  options: DownloadOptions,
  consume: (body: ReadableStream<Uint8Array>) => Promise<T>,
): Promise<StreamedDownload<T>> {
  const limit = options.limit ?? DEFAULT_LIMIT;
  const url = parseSourceUrl(text, "download");
  const shown = displayUrl(url);
  if (url.protocol === "file:") {
    const path = fileURLToPath(url);
    let size;
    try {
      size = (await Deno.stat(path)).size;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { found: false, status: 404 };
      throw new AirgapError(`cannot read ${shown}: ${errorMessage(e)}`, { where: shown });
    }
    if (size > limit) throw new AirgapError(`${shown}: ${size} bytes is more than the ${limit} allowed`);
    return { found: true, value: await consume(fileByteStream(path)) };
  }
  return await getUrl(url, shown, options, limit, consume, true);
}

/**
 * GET a URL into memory. 404 and 410 come back as `found: false`; any other
 * failure is an {@link AirgapError} naming the URL. The transport applies
 * the scheme, redirect and credential rules (credentials declared for the
 * URL's host go to that origin only); temporary failures are retried.
 */
export async function download(text: string, options: DownloadOptions = {}): Promise<Download> {
  const limit = options.limit ?? DEFAULT_LIMIT;
  const url = parseSourceUrl(text, "download");
  const shown = displayUrl(url);
  if (url.protocol === "file:") return await readLocal(url, shown, limit);
  const got = await getUrl(url, shown, options, limit, (body) => readAll(body, limit));
  return got.found ? { found: true, bytes: got.value } : got;
}

async function getUrl<T>(
  url: URL,
  shown: string,
  options: DownloadOptions,
  limit: number,
  consume: (body: ReadableStream<Uint8Array>) => Promise<T>,
  passThrough = false,
): Promise<StreamedDownload<T>> {
  const own = options.session === undefined;
  const session = options.session ?? createSession({
    hosts: options.settings,
    timeouts: options.timeouts ?? (options.timeoutMs ? { headersMs: options.timeoutMs } : undefined),
    events: options.events,
    signal: options.signal,
  });
  const settings = session.settings(url.host);
  const signal = options.signal ?? settings.signal;
  const events = options.events ?? settings.events;
  let transport;
  try {
    transport = session.transport(url.host);
  } catch (e) {
    if (own) session.close();
    throw new AirgapError(`cannot download ${shown}: ${errorMessage(e)}`, { where: shown });
  }
  const credential = settings.credential;
  const authorization = credential?.username !== undefined && credential.password !== undefined
    ? { header: basicAuthorization(credential.username, credential.password), origin: url.origin }
    : undefined;
  try {
    return await withRetries(async () => {
      const response = await transport.send(url, {
        what: `cannot download ${shown}`,
        authorization,
        signal,
      });
      if (response.status === 404 || response.status === 410) {
        await response.body?.cancel();
        return { found: false, status: response.status } as const;
      }
      if (!response.ok) {
        await response.body?.cancel();
        const hint = response.status === 401 || response.status === 403
          ? ` (credentials: registries."${url.host}" username with passwordEnv or passwordFile)`
          : "";
        const message = `cannot download ${shown}: HTTP ${response.status}${hint}`;
        const context = { where: shown, status: response.status };
        if (response.status === 401 || response.status === 403) throw new UnauthorizedError(message, context);
        if (response.status >= 500 || response.status === 408 || response.status === 429) {
          throw new TransientError(message, context, {
            retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
          });
        }
        throw new AirgapError(message, context);
      }
      const declared = Number(response.headers.get("content-length") ?? "0");
      if (declared > limit) {
        await response.body?.cancel();
        throw new AirgapError(`cannot download ${shown}: ${declared} bytes is more than the ${limit} allowed`);
      }
      try {
        return { found: true, value: await consume(response.body ?? new Blob([]).stream()) } as const;
      } catch (e) {
        if (isTemporary(e) || (passThrough && e instanceof AirgapError)) throw e;
        throw new AirgapError(`cannot download ${shown}: ${errorMessage(e)}`, { where: shown });
      }
    }, {
      signal,
      onRetry: (e, attempt, delayMs) =>
        events?.retrying?.({ host: url.host, message: errorMessage(e), attempt: attempt + 1, delayMs }),
    });
  } finally {
    if (own) session.close();
  }
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
