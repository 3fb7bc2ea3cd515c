/**
 * Routing of the embedded registry: which distribution API endpoint a
 * request is for, with the repository name checked, and which handler
 * answers it. Who sent the request is decided first (lib/server/access.ts:
 * a 401 before anything else is said); writes (and deletes) reach their
 * handlers only on a writable server; a read-only one answers them 405
 * UNSUPPORTED.
 * @module
 */
import type { CacheStore } from "../store/cache.ts";
import type { Store } from "../store/types.ts";
import { type Catalog, isValidRepositoryName } from "./catalog.ts";
import { type AccessPolicy, authorize } from "./access.ts";
import { httpError, toHttpError } from "./error_codes.ts";
import { type Exchange, sendError, sendJson } from "./responses.ts";
import { getBlob, getManifest, listReferrers, listRepositories, listTags } from "./read.ts";
import type { Uploads } from "./uploads.ts";
import { getFile } from "./files.ts";
import { continueUpload, deleteBlob, deleteManifest, putManifest, startUpload } from "./write.ts";

/** What the handlers work with. */
export interface ServerContext {
  store: Store;
  catalog: Catalog;
  /** Set when the server accepts pushes (into this cache). */
  cache?: CacheStore;
  uploads?: Uploads;
  /** Who may do what (lib/server/access.ts); absent: everyone may read (and write, when writable). */
  access?: AccessPolicy;
}

/** A distribution API endpoint. */
export type Route =
  | { kind: "ping" }
  | { kind: "catalog" }
  | { kind: "tags"; name: string }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "referrers"; name: string; digest: string }
  | { kind: "uploads"; name: string }
  | { kind: "upload"; name: string; id: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "file"; file: string }
  | { kind: "unknown" };

const PATTERNS: [RegExp, (m: RegExpMatchArray) => Route][] = [
  [/^\/v2\/?$/, () => ({ kind: "ping" })],
  [/^\/v2\/_catalog\/?$/, () => ({ kind: "catalog" })],
  [/^\/v2\/(.+)\/tags\/list\/?$/, (m) => ({ kind: "tags", name: m[1] })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: "manifest", name: m[1], reference: m[2] })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: "referrers", name: m[1], digest: m[2] })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: "uploads", name: m[1] })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: "upload", name: m[1], id: m[2] })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: "blob", name: m[1], digest: m[2] })],
  [/^\/files\/([^/]+)$/, (m) => ({ kind: "file", file: m[1] })],
];

/** Which endpoint a path is for. */
export function route(pathname: string): Route {
  for (const [pattern, build] of PATTERNS) {
    const match = pathname.match(pattern);
    if (match) return build(match);
  }
  return { kind: "unknown" };
}

const READS = new Set(["GET", "HEAD"]);

function unsupported(method: string, writable: boolean) {
  return httpError(
    "UNSUPPORTED",
    writable ? `${method} is not supported here` : "this registry is read-only",
    undefined,
    { headers: { allow: "GET, HEAD" } },
  );
}

async function dispatch(ex: Exchange, ctx: ServerContext): Promise<void> {
  const target = route(ex.url.pathname);
  const writable = ctx.uploads !== undefined;
  const read = READS.has(ex.method);
  if (ctx.access) await authorize(ex, target, ctx.access);
  if (target.kind === "unknown") {
    if (!ex.url.pathname.startsWith("/v2/")) throw httpError("UNSUPPORTED", "not found", undefined, { status: 404 });
    throw httpError("UNSUPPORTED", "no such endpoint of the distribution API", undefined, { status: 404 });
  }
  if (!read && !writable) throw unsupported(ex.method, false);
  if ("name" in target && !isValidRepositoryName(target.name)) {
    throw httpError("NAME_INVALID", "invalid repository name", { name: target.name });
  }
  switch (target.kind) {
    case "ping":
      if (!read) throw unsupported(ex.method, writable);
      return sendJson(ex, 200, {});
    case "catalog":
      if (ex.method !== "GET") throw unsupported(ex.method, writable);
      return listRepositories(ex, ctx);
    case "tags":
      if (ex.method !== "GET") throw unsupported(ex.method, writable);
      return listTags(ex, ctx, target.name);
    case "manifest":
      if (read) return await getManifest(ex, ctx, target.name, target.reference);
      if (ex.method === "PUT") return await putManifest(ex, ctx, target.name, target.reference);
      if (ex.method === "DELETE") return await deleteManifest(ex, ctx, target.name, target.reference);
      throw unsupported(ex.method, writable);
    case "referrers":
      if (read) return await listReferrers(ex, ctx, target.name, target.digest);
      throw unsupported(ex.method, writable);
    case "blob":
      if (read) return await getBlob(ex, ctx, target.name, target.digest);
      if (ex.method === "DELETE") return await deleteBlob(ex, ctx, target.name, target.digest);
      throw unsupported(ex.method, writable);
    case "uploads":
      if (ex.method === "POST") return await startUpload(ex, ctx, target.name);
      throw unsupported(ex.method, writable);
    case "upload":
      return await continueUpload(ex, ctx, target.name, target.id);
    case "file":
      if (read) return await getFile(ex, ctx, target.file);
      throw unsupported(ex.method, writable);
  }
}

/** Answer one request; failures become distribution-spec error responses. */
export async function handle(ex: Exchange, ctx: ServerContext): Promise<void> {
  try {
    await dispatch(ex, ctx);
  } catch (e) {
    sendError(ex, toHttpError(e));
  }
}
