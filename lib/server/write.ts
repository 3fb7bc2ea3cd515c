/**
 * The write side of the embedded registry (`writable` mode, into a cache):
 * blob uploads (monolithic, chunked, cross-repository mounts), manifest
 * pushes, which are refused while anything they reference is missing, and
 * deletes. A delete removes names (tags, a repository's link to a manifest
 * or blob), never bytes: the cache is shared, and `airgap cache prune`
 * decides what goes.
 * @module
 */
import { errorMessage } from "../errors.ts";
import { digestAlgorithm, digestOf } from "../oci/digest.ts";
import { children, type Descriptor, type Manifest, MAX_MANIFEST_SIZE, parseManifest } from "../oci/manifest.ts";
import { FOREIGN_LAYER_TYPES, isManifestType } from "../oci/media.ts";
import type { CacheStore } from "../store/cache.ts";
import { httpError, httpErrors } from "./error_codes.ts";
import { type Exchange, readBody, send } from "./responses.ts";
import { checkDigest, findRepository, parseManifestReference } from "./read.ts";
import type { ServerContext } from "./routes.ts";
import { type Uploads, type UploadSession, uploadTooLarge } from "./uploads.ts";

/** The parts of the context a writable server has. */
interface Writable extends ServerContext {
  cache: CacheStore;
  uploads: Uploads;
}

function writable(ctx: ServerContext): Writable {
  if (!ctx.cache || !ctx.uploads) throw httpError("UNSUPPORTED", "this registry is read-only");
  return ctx as Writable;
}

/** The repository a push goes to (aliases resolved as for reads). */
function pushRepository(ctx: ServerContext, name: string, url: URL): string {
  return ctx.catalog.naming.canonical(name, url.searchParams.get("ns") ?? undefined);
}

/** `Range` of an upload: inclusive, `0-0` for an empty one (as distribution). */
function uploadRange(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}

function uploadHeaders(name: string, session: UploadSession): Record<string, string> {
  return {
    location: `/v2/${name}/blobs/uploads/${session.id}`,
    range: uploadRange(session.size),
    "docker-upload-uuid": session.id,
  };
}

function blobCreated(ex: Exchange, name: string, digest: string): void {
  send(ex, 201, { location: `/v2/${name}/blobs/${digest}`, "docker-content-digest": digest });
}

/**
 * Check a `Content-Range` (`start-end`, also `bytes start-end/total` or
 * `/*`) against the bytes an upload already holds and the body's length: a
 * chunk out of order is refused with 416 and the upload's current range.
 */
function checkContentRange(ex: Exchange, name: string, session: UploadSession): void {
  const header = ex.req.headers["content-range"];
  if (header === undefined) return;
  const match = header.trim().replace(/^bytes[= ]\s*/, "").match(/^(\d+)-(\d+)(?:\/(?:\d+|\*))?$/);
  const length = ex.req.headers["content-length"];
  const fits = match && Number(match[1]) === session.size && Number(match[2]) >= Number(match[1]) &&
    (length === undefined || Number(length) === Number(match[2]) - Number(match[1]) + 1);
  if (!fits) {
    throw httpError("BLOB_UPLOAD_INVALID", `upload holds ${session.size} bytes; cannot write range ${header}`, {
      size: session.size,
    }, { status: 416, headers: uploadHeaders(name, session) });
  }
}

/**
 * Refuse (413) a body whose declared length would take the upload past the
 * size limit, before reading it; the session, if any, is dropped.
 */
function checkDeclaredSize(ex: Exchange, ctx: Writable, session?: UploadSession): void {
  const limit = ctx.uploads.limits.maxUploadSize;
  const length = Number(ex.req.headers["content-length"] ?? 0);
  if ((session?.size ?? 0) + (Number.isFinite(length) ? length : 0) <= limit) return;
  if (session) ctx.uploads.cancel(session);
  throw uploadTooLarge(limit);
}

/** Finish an upload into the cache and link the blob into its repository. */
async function finish(ctx: Writable, session: UploadSession, digest: string): Promise<Descriptor> {
  const desc = await ctx.uploads.complete(session, digest);
  ctx.catalog.link(session.repository, desc);
  return desc;
}

/** POST `/v2/<name>/blobs/uploads/`: start an upload, upload in one go (`digest`), or mount (`mount`, `from`). */
export async function startUpload(ex: Exchange, context: ServerContext, name: string): Promise<void> {
  const ctx = writable(context);
  const repo = pushRepository(ctx, name, ex.url);
  const mount = ex.url.searchParams.get("mount");
  const from = ex.url.searchParams.get("from");
  const digest = ex.url.searchParams.get("digest");
  if (mount !== null) {
    checkDigest(mount);
    let desc: Descriptor | undefined;
    if (from !== null) {
      const source = ctx.catalog.find(from, ex.url.searchParams.get("ns") ?? undefined);
      desc = source === undefined ? undefined : await ctx.catalog.blob(source, mount);
    } else {
      // No source repository (OCI 1.1): any verified blob of the cache will do.
      const size = await ctx.cache.blobSize(mount);
      if (size !== undefined) desc = { mediaType: "application/octet-stream", digest: mount, size };
    }
    if (desc && await ctx.cache.has(mount, desc.size)) {
      if (!ex.req.complete) ex.req.resume();
      ctx.catalog.link(repo, desc);
      return blobCreated(ex, name, mount);
    }
    // Not mountable: an ordinary upload session, as distribution answers.
  }
  if (digest !== null) {
    checkDigest(digest);
    checkDeclaredSize(ex, ctx);
  }
  const session = ctx.uploads.start(repo);
  if (digest !== null) {
    try {
      await ctx.uploads.append(session, ex.req);
      await finish(ctx, session, digest);
    } catch (e) {
      // The client was never told of this session: nothing to retry.
      ctx.uploads.cancel(session);
      throw e;
    }
    return blobCreated(ex, name, digest);
  }
  if (!ex.req.complete) ex.req.resume();
  send(ex, 202, uploadHeaders(name, session));
}

function session(ctx: Writable, name: string, id: string, url: URL): UploadSession {
  const found = ctx.uploads.get(id, pushRepository(ctx, name, url));
  if (!found) throw httpError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", { id });
  return found;
}

/** GET/PATCH/PUT/DELETE `/v2/<name>/blobs/uploads/<id>`. */
export async function continueUpload(ex: Exchange, context: ServerContext, name: string, id: string): Promise<void> {
  const ctx = writable(context);
  const upload = session(ctx, name, id, ex.url);
  switch (ex.method) {
    case "GET":
    case "HEAD":
      return send(ex, 204, uploadHeaders(name, upload));
    case "DELETE":
      ctx.uploads.cancel(upload);
      return send(ex, 204);
    case "PATCH":
      checkContentRange(ex, name, upload);
      checkDeclaredSize(ex, ctx, upload);
      await ctx.uploads.append(upload, ex.req);
      return send(ex, 202, uploadHeaders(name, upload));
    case "PUT": {
      const digest = ex.url.searchParams.get("digest");
      if (digest === null) throw httpError("DIGEST_INVALID", "the digest parameter is required to finish an upload");
      checkDigest(digest);
      checkContentRange(ex, name, upload);
      checkDeclaredSize(ex, ctx, upload);
      const mark = ctx.uploads.mark(upload);
      await ctx.uploads.append(upload, ex.req);
      try {
        await finish(ctx, upload, digest);
      } catch (e) {
        // A wrong digest leaves the upload as it was before this request: the client may retry.
        ctx.uploads.rollback(upload, mark);
        throw e;
      }
      return blobCreated(ex, name, digest);
    }
    default:
      throw httpError("UNSUPPORTED", `${ex.method} is not supported on an upload`);
  }
}

/** Descriptors that may be missing: non-distributable layers fetched from their URLs. */
function mayBeAbsent(desc: Descriptor): boolean {
  return FOREIGN_LAYER_TYPES.has(desc.mediaType) && (desc.urls?.length ?? 0) > 0;
}

/** Every child a manifest references that the repository does not hold. */
async function missingChildren(ctx: Writable, repo: string, manifest: Manifest): Promise<Descriptor[]> {
  const missing: Descriptor[] = [];
  for (const child of children(manifest)) {
    if (mayBeAbsent(child)) continue;
    const held = isManifestType(child.mediaType)
      ? await ctx.catalog.manifest(repo, child.digest)
      : await ctx.catalog.blob(repo, child.digest);
    if (!held || held.size !== child.size || !(await ctx.cache.has(child.digest, child.size))) missing.push(child);
  }
  return missing;
}

/** PUT `/v2/<name>/manifests/<reference>`: stored with its exact bytes; a tag is recorded in the cache's index. */
export async function putManifest(ex: Exchange, context: ServerContext, name: string, reference: string) {
  const ctx = writable(context);
  const repo = pushRepository(ctx, name, ex.url);
  const { tag, digest: pinned } = parseManifestReference(reference, true);
  const bytes = await readBody(ex.req, MAX_MANIFEST_SIZE);
  if (!bytes) {
    throw httpError("MANIFEST_INVALID", `manifest larger than ${MAX_MANIFEST_SIZE} bytes`, undefined, { status: 413 });
  }
  const contentType = ex.req.headers["content-type"]?.split(";")[0].trim();
  let manifest: Manifest;
  try {
    manifest = parseManifest(bytes, contentType, `${name}:${reference}`);
  } catch (e) {
    throw httpError("MANIFEST_INVALID", errorMessage(e));
  }
  const digest = digestOf(bytes, pinned ? digestAlgorithm(pinned) : "sha256");
  if (pinned && digest !== pinned) {
    throw httpError("DIGEST_INVALID", "manifest digest did not match the reference", { expected: pinned, digest });
  }
  const missing = await missingChildren(ctx, repo, manifest);
  if (missing.length > 0) {
    throw httpErrors(
      400,
      missing.map((d) => ({
        code: "MANIFEST_BLOB_UNKNOWN",
        message: "blob unknown to registry",
        detail: { digest: d.digest, mediaType: d.mediaType },
      })),
    );
  }
  const desc: Descriptor = { mediaType: manifest.mediaType, digest, size: bytes.byteLength };
  await ctx.cache.putBytes(desc, bytes);
  const { naming } = ctx.catalog;
  if (tag) {
    const recorded = naming.record(repo, tag);
    await ctx.cache.recordTags([{ name: recorded, descriptor: desc }]);
    ctx.catalog.setTag(repo, tag, desc, recorded);
  } else if (manifest.subject) {
    // A referrer pushed by digest is recorded too, so it is still listed after a restart.
    const recorded = naming.record(repo, digest);
    await ctx.cache.recordTags([{ name: recorded, descriptor: desc }]);
    ctx.catalog.link(repo, desc, recorded);
  } else {
    ctx.catalog.link(repo, desc);
  }
  send(ex, 201, {
    location: `/v2/${name}/manifests/${digest}`,
    "docker-content-digest": digest,
    ...(manifest.subject ? { "oci-subject": manifest.subject.digest } : {}),
  });
}

/** DELETE `/v2/<name>/manifests/<reference>`: a tag, or a manifest with every tag pointing at it. */
export async function deleteManifest(ex: Exchange, context: ServerContext, name: string, reference: string) {
  const ctx = writable(context);
  const repo = findRepository(ctx.catalog, name, ex.url);
  const { tag, digest } = parseManifestReference(reference);
  let names: string[];
  if (tag !== undefined) {
    const desc = ctx.catalog.tagged(repo, tag);
    if (!desc) throw httpError("MANIFEST_UNKNOWN", "manifest unknown", { name, reference });
    names = ctx.catalog.untag(repo, tag);
    // The manifest itself stays, by digest, as in distribution: recorded so a restart keeps it too.
    const kept = ctx.catalog.naming.record(repo, desc.digest);
    await ctx.cache.recordTags([{ name: kept, descriptor: desc }]);
    ctx.catalog.link(repo, desc, kept);
  } else {
    if (!(await ctx.catalog.manifest(repo, digest!))) {
      throw httpError("MANIFEST_UNKNOWN", "manifest unknown", { name, reference });
    }
    names = await ctx.catalog.removeManifest(repo, digest!);
  }
  await ctx.cache.removeTags(names);
  send(ex, 202);
}

/** DELETE `/v2/<name>/blobs/<digest>`: the repository's link to a blob. */
export async function deleteBlob(ex: Exchange, context: ServerContext, name: string, digest: string) {
  const ctx = writable(context);
  const repo = findRepository(ctx.catalog, name, ex.url);
  checkDigest(digest);
  if (!(await ctx.catalog.unlink(repo, digest))) {
    throw httpError("BLOB_UNKNOWN", "blob unknown to registry", { name, digest });
  }
  send(ex, 202);
}
