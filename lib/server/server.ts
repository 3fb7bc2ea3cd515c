/**
 * The embedded registry: any store (an archive, the cache) served over the
 * OCI distribution API, read-only or — over a cache — accepting pushes, over
 * HTTP or HTTPS. Built on node:http, whose request bodies arrive as events
 * that are written out synchronously: large uploads run at disk speed.
 * Who may push, delete and pull is decided in lib/server/access.ts
 * (htpasswd users; Basic only over TLS off loopback; no anonymous writes
 * off loopback unless allowed); uploads are limited in number, size and idle
 * time (lib/server/uploads.ts).
 *
 * @example Serve an archive under the names it was saved with
 * ```ts
 * import { openArchive } from "../store/archive.ts";
 * import { archiveImages, createCatalog } from "./catalog.ts";
 * import { startServer } from "./server.ts";
 *
 * const archive = await openArchive("airgap-images.tar");
 * const server = await startServer({
 *   store: archive,
 *   catalog: createCatalog(archive, archiveImages(archive)),
 *   listen: { hostname: "127.0.0.1", port: 5000 },
 * });
 * console.log(`serving at ${server.url}`);
 * // … later
 * await server.close();
 * ```
 * @module
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { AirgapError } from "../errors.ts";
import type { CacheStore } from "../store/cache.ts";
import type { Catalog } from "./catalog.ts";
import { checkExposure } from "./access.ts";
import { createAuthenticator, type Htpasswd } from "./htpasswd.ts";
import type { Exchange } from "./responses.ts";
import { handle, type ServerContext } from "./routes.ts";
import { createUploads, type UploadLimits } from "./uploads.ts";
import type { Store } from "../store/types.ts";

export {
  archiveImages,
  cacheImages,
  type Catalog,
  createCatalog,
  isValidRepositoryName,
  type Naming,
  type Placement,
  registryNaming,
  sourceNaming,
  type StoredImage,
} from "./catalog.ts";
export { type Htpasswd, parseHtpasswd, readHtpasswd } from "./htpasswd.ts";
export { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from "./uploads.ts";

/** One answered request, for an access log (no headers: nothing secret). */
export interface RequestLogEntry {
  /** HTTP method. */
  method: string;
  /** Path and query. */
  path: string;
  /** HTTP status answered. */
  status: number;
  /** Body bytes sent. */
  bytes: number;
  /** Milliseconds from request to the end of the response. */
  ms: number;
}

/** What {@link startServer} needs. */
export interface ServerOptions {
  /** Where content is read from (and, when writable, written to). */
  store: Store;
  /** What is served under which names (see {@link createCatalog}). */
  catalog: Catalog;
  /** Address to listen on (default 127.0.0.1, port 0 = any free port). */
  listen?: { hostname?: string; port?: number };
  /** Accept pushes; `store` must then be a cache ({@link openCache}). */
  writable?: boolean;
  /** Serve HTTPS with this PEM certificate (chain) and key. */
  tls?: { cert: string; key: string };
  /**
   * Basic auth against these htpasswd users (see {@link readHtpasswd}):
   * writes (and `/v2/`) need a user, reads too when `pulls` is set. Off
   * loopback it needs {@link ServerOptions.tls}.
   */
  auth?: { users: Htpasswd; pulls?: boolean };
  /** Accept writes without {@link ServerOptions.auth} on an address other than loopback (refused otherwise). */
  allowAnonymousPush?: boolean;
  /** Limits of uploads (a writable server): sessions at once, bytes per upload, idle time. */
  limits?: Partial<UploadLimits>;
  /** Called after each response. */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** A running server. */
export interface RunningServer {
  /** `http://127.0.0.1:5000` or `https://…`. */
  readonly url: string;
  /** `host:port`, as a registry is named in image references. */
  readonly host: string;
  /** The port listened on (the one chosen when 0 was asked for). */
  readonly port: number;
  /** What is served (pushes update it). */
  readonly catalog: Catalog;
  /** Stop listening, cut open connections, drop unfinished uploads. */
  close(): Promise<void>;
}

function isCacheStore(store: Store): store is CacheStore {
  const s = store as Partial<CacheStore>;
  return typeof s.dir === "string" && typeof s.blobPath === "function" && typeof s.recordTags === "function" &&
    typeof s.putBytes === "function";
}

/**
 * Start serving `store` through `catalog` on the distribution API. Resolves
 * once the server listens.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { store, catalog } = options;
  const hostname = options.listen?.hostname ?? "127.0.0.1";
  checkExposure({
    hostname,
    writable: options.writable ?? false,
    auth: options.auth !== undefined,
    tls: options.tls !== undefined,
    allowAnonymousPush: options.allowAnonymousPush,
    authPulls: options.auth?.pulls,
  });
  const context: ServerContext = { store, catalog };
  if (options.auth) {
    context.access = { authenticator: createAuthenticator(options.auth.users), authPulls: options.auth.pulls ?? false };
  }
  if (options.writable) {
    if (!isCacheStore(store)) {
      throw new AirgapError(
        `cannot accept pushes into ${store.description}: a writable server needs a cache directory`,
      );
    }
    context.cache = store;
    context.uploads = createUploads(store, options.limits);
  }
  const scheme = options.tls ? "https" : "http";
  const onRequest = options.onRequest;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const ex: Exchange = {
      req,
      res,
      method: (req.method ?? "GET").toUpperCase(),
      url: new URL(req.url ?? "/", `${scheme}://registry.invalid`),
      sent: 0,
    };
    if (onRequest) {
      res.once("close", () => {
        onRequest({
          method: ex.method,
          path: ex.url.pathname + ex.url.search,
          status: res.statusCode,
          bytes: ex.sent,
          ms: Math.round(performance.now() - started),
        });
      });
    }
    handle(ex, context).catch(() => res.destroy());
  };
  // No overall request deadline: a multi-gigabyte layer over a slow link may take hours.
  const timeouts = { requestTimeout: 0 };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...timeouts }, listener) as unknown as Server
    : createHttpServer(timeouts, listener);
  const requestedPort = options.listen?.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => {
      reject(new AirgapError(`cannot listen on ${hostname}:${requestedPort}: ${e.message}`, { op: "serve" }));
    };
    server.once("error", fail);
    server.listen(requestedPort, hostname, () => {
      server.off("error", fail);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${host}`,
    host,
    port,
    catalog,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }).finally(() => context.uploads?.closeAll());
      return closing;
    },
  };
}
