/**
 * `airgap serve`: an archive or a cache directory as a registry, on the
 * distribution API — read-only, or (`--writable`, a cache only) accepting
 * pushes. Names are the images' own names, or with `--registry-name` the
 * target names `airgap load` would create (see lib/server/catalog.ts).
 * Who may write and read, and which exposures are refused, is decided in
 * lib/server/access.ts; the options here only carry it there.
 * @module
 */
import { join } from "node:path";
import { AirgapError, usageError, withContext } from "../../errors.ts";
import { splitRegistryArgument } from "../../ref.ts";
import { openArchive } from "../../store/archive.ts";
import { type CacheLease, openCache } from "../../store/cache.ts";
import { lockBlobs, parseLock } from "../../lock.ts";
import { checkExposure } from "../../server/access.ts";
import { readHtpasswd } from "../../server/htpasswd.ts";
import {
  archiveImages,
  cacheImages,
  createCatalog,
  registryNaming,
  type RequestLogEntry,
  type RunningServer,
  sourceNaming,
  startServer,
  type StoredImage,
} from "../../server/server.ts";
import type { Store } from "../../store/types.ts";
import { layered } from "../../store/wrappers/layered.ts";

/** Options of {@link serveCommand}. */
export interface ServeOptions {
  /** An archive file or a cache directory. */
  source: string;
  /** `HOST:PORT`, `:PORT` (every interface) or `PORT` (loopback); default `127.0.0.1:5000`. */
  listen?: string;
  /** Serve the target names of this registry: `HOST[:PORT][/prefix]`. */
  registryName?: string;
  /**
   * For an archive that is a delta: a cache directory holding its base (the
   * blobs the delta leaves out are served from there).
   */
  baseCache?: string;
  /** Accept pushes (the source must be a cache directory; created if missing). */
  writable?: boolean;
  /** HTTPS: PEM file of the certificate (chain); needs {@link tlsKey}. */
  tlsCert?: string;
  /** HTTPS: PEM file of the private key. */
  tlsKey?: string;
  /** An htpasswd file of bcrypt entries: pushes and deletes need one of its users. */
  htpasswd?: string;
  /** Pulls need an htpasswd user too (default: anyone may pull). */
  authPulls?: boolean;
  /** Accept anonymous pushes on an address other than loopback (refused otherwise). */
  allowAnonymousPush?: boolean;
  /** Upload sessions open at once (default 64; one more is answered 429). */
  maxUploads?: number;
  /** Bytes in one upload (default 32 GiB; more is answered 413). */
  maxUploadSize?: number;
  /** An upload no request touched for this long (ms) is dropped (default 15 minutes). */
  uploadIdleMs?: number;
  /** Called after each response (an access log). */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** A running `serve`. */
export interface ServeHandle {
  /** The running server. */
  server: RunningServer;
  /** What is served. */
  kind: "archive" | "cache";
  /** Images (tags and digest-pinned roots) known at start. */
  images: number;
  /** Images that cannot be served, names that clash. */
  warnings: readonly string[];
  /** Stop the server and release the source. */
  close(): Promise<void>;
}

/** Parse `--listen`: `HOST:PORT`, `[IPV6]:PORT`, `:PORT` (every interface) or `PORT` (loopback). */
export function parseListen(text: string): { hostname: string; port: number } {
  const value = text.trim();
  let hostname = "127.0.0.1";
  let portText = value;
  const bracket = value.match(/^\[([^\]]+)\]:(\d+)$/);
  if (bracket) {
    hostname = bracket[1];
    portText = bracket[2];
  } else if (value.includes(":")) {
    const colon = value.lastIndexOf(":");
    hostname = value.slice(0, colon) || "0.0.0.0";
    portText = value.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw usageError(`invalid --listen "${text}": expected HOST:PORT, :PORT or PORT`);
  }
  return { hostname, port };
}

async function kindOf(path: string, writable: boolean): Promise<"archive" | "cache"> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      if (writable) return "cache";
      throw usageError(`${path} does not exist (give an archive file or a cache directory)`);
    }
    throw withContext(e, `cannot use ${path}`);
  }
  if (!info.isDirectory) {
    if (writable) throw usageError(`--writable needs a cache directory; ${path} is a file (an archive is read-only)`);
    return "archive";
  }
  const isLayout = await Deno.stat(join(path, "oci-layout")).then(() => true, () => false);
  if (!isLayout) {
    const empty = (await Array.fromAsync(Deno.readDir(path))).length === 0;
    if (!(writable && empty)) {
      throw usageError(`${path} is not a cache directory (it has no oci-layout file)`);
    }
  }
  return "cache";
}

/** Open the source, build its catalog and start serving it. */
export async function serveCommand(options: ServeOptions): Promise<ServeHandle> {
  const writable = options.writable ?? false;
  const listen = parseListen(options.listen ?? "127.0.0.1:5000");
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw usageError("--tls-cert and --tls-key go together");
  }
  let tls: { cert: string; key: string } | undefined;
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    try {
      tls = { cert: await Deno.readTextFile(options.tlsCert), key: await Deno.readTextFile(options.tlsKey) };
    } catch (e) {
      throw withContext(e, "cannot read the TLS certificate or key");
    }
  }
  // Refused before anything is opened or created (startServer checks again, for library callers).
  checkExposure({
    hostname: listen.hostname,
    writable,
    auth: options.htpasswd !== undefined,
    tls: tls !== undefined,
    allowAnonymousPush: options.allowAnonymousPush,
    authPulls: options.authPulls,
  });
  const users = options.htpasswd === undefined ? undefined : await readHtpasswd(options.htpasswd);
  let naming = sourceNaming();
  if (options.registryName) {
    const { registry, prefix } = splitRegistryArgument(options.registryName);
    naming = registryNaming(registry, prefix);
  }
  const kind = await kindOf(options.source, writable);
  let store: Store;
  let images: StoredImage[];
  // A cache served is held for the server's life: `cache prune` keeps what it serves and what is pushed to it.
  let lease: CacheLease | undefined;
  if (kind === "archive") {
    const archive = await openArchive(options.source);
    images = archiveImages(archive);
    store = archive;
    if (options.baseCache) {
      const base = await openCache(options.baseCache);
      lease = await base.lease();
      if (archive.lock) await lease.update(lockBlobs(parseLock(archive.lock, options.source)).keys());
      store = layered(archive, base);
    }
  } else {
    const cache = await openCache(options.source);
    lease = await cache.lease();
    store = cache;
    images = await cacheImages(cache);
    await lease.update(images.map((i) => i.descriptor.digest)); // and, through them, their graphs
  }
  const catalog = createCatalog(store, images, naming);
  let server: RunningServer;
  try {
    server = await startServer({
      store,
      catalog,
      listen,
      writable,
      tls,
      auth: users && { users, pulls: options.authPulls },
      allowAnonymousPush: options.allowAnonymousPush,
      limits: {
        maxUploads: options.maxUploads,
        maxUploadSize: options.maxUploadSize,
        idleMs: options.uploadIdleMs,
      },
      onRequest: options.onRequest,
    });
  } catch (e) {
    await lease?.release();
    await store.close?.();
    if (e instanceof AirgapError) throw e;
    throw withContext(e, `cannot serve ${options.source}`);
  }
  return {
    server,
    kind,
    images: images.length,
    warnings: catalog.warnings,
    async close() {
      await server.close();
      await store.close?.();
      await lease?.release();
    },
  };
}

/** Resolve with the name of the first SIGINT or SIGTERM (SIGINT only on Windows). */
export function waitForShutdown(): Promise<Deno.Signal> {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  return new Promise((resolve) => {
    const handlers = signals.map((signal) => {
      const handler = () => {
        handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h));
        resolve(signal);
      };
      return [signal, handler] as const;
    });
    handlers.forEach(([s, h]) => Deno.addSignalListener(s, h));
  });
}
