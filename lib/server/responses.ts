/**
 * node:http plumbing for the embedded registry: responses with the
 * distribution headers, error bodies, streaming a store's content out with
 * backpressure, and reading small request bodies.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorBody, type HttpError } from "./error_codes.ts";
import { BoundedBytes } from "../limits.ts";

/** One request and its response. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** Upper-case method. */
  method: string;
  url: URL;
  /** Body bytes sent, for the request log. */
  sent: number;
}

/** Header every response carries. */
export const API_VERSION_HEADER = { "docker-distribution-api-version": "registry/2.0" };

/** Send a complete response; for HEAD only the headers (with the length a GET would have). */
export function send(
  ex: Exchange,
  status: number,
  headers: Record<string, string> = {},
  body?: string | Uint8Array,
): void {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const all: Record<string, string> = { ...API_VERSION_HEADER, ...headers };
  if (bytes && all["content-length"] === undefined) all["content-length"] = String(bytes.byteLength);
  if (!bytes && all["content-length"] === undefined && status !== 204 && status !== 304) all["content-length"] = "0";
  ex.res.writeHead(status, all);
  if (bytes && ex.method !== "HEAD") {
    ex.res.end(bytes);
    ex.sent += bytes.byteLength;
  } else {
    ex.res.end();
  }
}

/** Send a JSON document. */
export function sendJson(ex: Exchange, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(ex, status, { "content-type": "application/json", ...headers }, JSON.stringify(value));
}

/** After a refusal, at most this much of an unread body is read (and dropped) before the connection is cut. */
const DRAIN_LIMIT = 1024 * 1024;

/** Refusals whose unread body is not worth reading to its end: it may be of any size, from anyone. */
const BOUNDED_DRAIN = new Set([401, 413, 429, 507]);

/**
 * Read and drop the rest of a request body so the connection stays usable;
 * after a refusal, only up to {@link DRAIN_LIMIT}: a larger body (an
 * anonymous client streaming gigabytes) has its connection cut instead.
 */
function drain(ex: Exchange, status: number): void {
  if (ex.req.complete) return;
  ex.req.resume();
  if (!BOUNDED_DRAIN.has(status)) return;
  let dropped = 0;
  const count = (chunk: Uint8Array) => {
    dropped += chunk.byteLength;
    if (dropped > DRAIN_LIMIT) {
      ex.req.off("data", count);
      ex.req.socket.destroy();
    }
  };
  ex.req.on("data", count);
}

/**
 * Send a distribution-spec error; an unread request body is drained (see
 * {@link drain}) so the connection stays usable.
 */
export function sendError(ex: Exchange, error: HttpError): void {
  drain(ex, error.status);
  if (ex.res.headersSent) {
    ex.res.destroy();
    return;
  }
  if (error.errors.length === 0) {
    return send(ex, error.status, { "content-type": "text/plain; charset=utf-8", ...error.headers }, error.message);
  }
  send(ex, error.status, { "content-type": "application/json", ...error.headers }, errorBody(error));
}

/**
 * Stream content as the response body, honouring backpressure. An error
 * half-way (a failed digest check) aborts the connection, so the client sees
 * a truncated body rather than wrong bytes.
 */
export async function sendStream(
  ex: Exchange,
  status: number,
  headers: Record<string, string>,
  open: () => Promise<ReadableStream<Uint8Array>>,
): Promise<void> {
  if (ex.method === "HEAD") return send(ex, status, headers);
  const stream = await open();
  const { res } = ex;
  res.writeHead(status, { ...API_VERSION_HEADER, ...headers });
  let gone = false;
  const onClose = () => (gone = true);
  res.once("close", onClose);
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (gone) {
        await reader.cancel().catch(() => {});
        return;
      }
      ex.sent += value.byteLength;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const resume = () => {
            res.off("drain", resume);
            res.off("close", resume);
            resolve();
          };
          res.on("drain", resume);
          res.on("close", resume);
        });
      }
    }
    res.end();
  } catch (e) {
    await reader.cancel().catch(() => {});
    res.destroy(e instanceof Error ? e : new Error(String(e)));
  } finally {
    res.off("close", onClose);
  }
}

/** Read a small request body; undefined when it is larger than `limit` (the rest is drained). */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const body = new BoundedBytes(limit);
    req.on("data", (chunk: Uint8Array) => body.add(chunk));
    req.on("end", () => resolve(body.over ? undefined : body.bytes()));
    req.on("error", reject);
    req.on("close", () => {
      if (!req.complete) reject(new Error("the client closed the connection"));
    });
  });
}
