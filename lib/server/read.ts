/**
 * The read side of the embedded registry: manifests (with distribution's
 * `Accept` negotiation), blobs (with byte ranges), tag lists and the catalog
 * (with `n`/`last` pagination).
 * @module
 */
import type { Descriptor } from "../oci/manifest.ts";
import { MAX_MANIFEST_SIZE, parseManifest } from "../oci/manifest.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX } from "../oci/media.ts";
import { isValidDigest } from "../ref.ts";
import { readAll } from "../store/types.ts";
import type { Catalog } from "./catalog.ts";
import { httpError, plainError } from "./error_codes.ts";
import { type Exchange, send, sendJson, sendStream } from "./responses.ts";
import type { ServerContext } from "./routes.ts";

const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * Check a manifest reference: a tag or a digest. A syntactically invalid tag
 * names no manifest: MANIFEST_UNKNOWN (404) on reads and deletes, as the
 * spec has it; a push to one is refused as MANIFEST_INVALID.
 */
export function parseManifestReference(reference: string, push = false): { tag?: string; digest?: string } {
  if (reference.includes(":")) {
    if (!isValidDigest(reference)) throw httpError("DIGEST_INVALID", "invalid digest", { digest: reference });
    return { digest: reference };
  }
  if (!TAG.test(reference)) {
    if (push) throw httpError("MANIFEST_INVALID", "invalid tag", { tag: reference });
    throw httpError("MANIFEST_UNKNOWN", "manifest unknown (not a valid tag)", { reference });
  }
  return { tag: reference };
}

/** Check a blob digest. */
export function checkDigest(digest: string): void {
  if (!isValidDigest(digest)) throw httpError("DIGEST_INVALID", "invalid digest", { digest });
}

/** The served repository a request names, or NAME_UNKNOWN. */
export function findRepository(catalog: Catalog, name: string, url: URL): string {
  const found = catalog.find(name, url.searchParams.get("ns") ?? undefined);
  if (found === undefined) throw httpError("NAME_UNKNOWN", "repository name not known to registry", { name });
  return found;
}

/** Media types named in `Accept` headers, without parameters. */
function acceptedTypes(header: string | string[] | undefined): Set<string> {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  return new Set(
    values.flatMap((v) => v.split(",")).map((t) => t.split(";")[0].trim().toLowerCase()).filter((t) => t !== ""),
  );
}

/**
 * Can a manifest be served to a client accepting `accepted`? As distribution:
 * OCI manifests and indexes only when asked for; Docker schema 2 always; a
 * Docker manifest list by digest always, by tag only when asked for. Unlike
 * distribution, a wildcard (all types) is honoured too.
 */
function acceptable(mediaType: string, accepted: Set<string>, byTag: boolean): boolean {
  if (accepted.has("*/*") || accepted.has(mediaType)) return true;
  if (mediaType === DOCKER_MANIFEST) return true;
  return mediaType === DOCKER_MANIFEST_LIST && !byTag;
}

/** GET/HEAD `/v2/<name>/manifests/<reference>`. */
export async function getManifest(ex: Exchange, ctx: ServerContext, name: string, reference: string): Promise<void> {
  const { catalog, store } = ctx;
  const repo = findRepository(catalog, name, ex.url);
  const { tag, digest } = parseManifestReference(reference);
  let desc: Descriptor | undefined;
  if (digest) {
    desc = await catalog.manifest(repo, digest);
  } else {
    const tagged = catalog.tagged(repo, tag!);
    if (tagged) desc = await catalog.manifest(repo, tagged.digest);
  }
  if (!desc) throw httpError("MANIFEST_UNKNOWN", "manifest unknown", { name, reference });
  const readBytes = async (d: Descriptor) => {
    try {
      return await readAll(await store.fetch(repo, d), MAX_MANIFEST_SIZE);
    } catch {
      throw httpError("MANIFEST_UNKNOWN", `manifest ${d.digest} cannot be read from the store`, { name, reference });
    }
  };
  const accepted = acceptedTypes(ex.req.headers.accept);
  if (!acceptable(desc.mediaType, accepted, tag !== undefined)) {
    if (desc.mediaType !== DOCKER_MANIFEST_LIST) {
      throw httpError("MANIFEST_UNKNOWN", `${desc.mediaType} found, but the Accept header does not include it`, {
        name,
        reference,
      });
    }
    // Distribution's answer to old clients asking for a list by tag: the linux/amd64 image.
    const list = parseManifest(await readBytes(desc), desc.mediaType, `${name}:${reference}`);
    const child = list.kind === "index"
      ? list.manifests.find((m) => m.platform?.os === "linux" && m.platform.architecture === "amd64")
      : undefined;
    const childDesc = child ? await catalog.manifest(repo, child.digest) : undefined;
    if (!childDesc) throw httpError("MANIFEST_UNKNOWN", "manifest list found, but the client does not accept lists");
    if (childDesc.mediaType !== DOCKER_MANIFEST || !accepted.has(DOCKER_MANIFEST)) {
      throw httpError("MANIFEST_INVALID", "schema 2 manifest not supported by client");
    }
    desc = childDesc;
  }
  const headers = {
    "content-type": desc.mediaType,
    "content-length": String(desc.size),
    "docker-content-digest": desc.digest,
    etag: `"${desc.digest}"`,
  };
  const ifNoneMatch = ex.req.headers["if-none-match"];
  if (ifNoneMatch && ifNoneMatch.split(",").some((v) => v.trim().replace(/"/g, "") === desc.digest)) {
    return send(ex, 304, { "docker-content-digest": desc.digest, etag: headers.etag });
  }
  if (ex.method === "HEAD") return send(ex, 200, headers);
  send(ex, 200, headers, await readBytes(desc));
}

type RangeRequest = { start: number; end: number } | "unsatisfiable" | undefined;

/**
 * Parse a `Range` header against a size. Only a single `bytes=` range is
 * served; other units and multiple ranges are ignored (a full 200 answer,
 * as HTTP allows); a malformed or unsatisfiable byte range is refused.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (!header) return undefined;
  const text = header.trim();
  if (!text.toLowerCase().startsWith("bytes=")) return undefined;
  const spec = text.slice(6).trim();
  if (spec.includes(",")) return undefined;
  const match = spec.match(/^(\d*)-(\d*)$/);
  if (!match || (match[1] === "" && match[2] === "")) return "unsatisfiable";
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || (match[2] !== "" && Number(match[2]) < start)) return "unsatisfiable";
  return { start, end };
}

/** GET/HEAD `/v2/<name>/blobs/<digest>`. */
export async function getBlob(ex: Exchange, ctx: ServerContext, name: string, digest: string): Promise<void> {
  const { catalog, store } = ctx;
  const repo = findRepository(catalog, name, ex.url);
  checkDigest(digest);
  const desc = await catalog.blob(repo, digest);
  if (!desc || !(await store.exists(repo, desc).catch(() => false))) {
    throw httpError("BLOB_UNKNOWN", "blob unknown to registry", { name, digest });
  }
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "docker-content-digest": desc.digest,
    etag: `"${desc.digest}"`,
    "cache-control": "max-age=31536000",
  };
  const fetchRange = store.fetchRange?.bind(store);
  if (fetchRange) headers["accept-ranges"] = "bytes";
  const range = fetchRange ? parseRange(ex.req.headers.range, desc.size) : undefined;
  if (range === "unsatisfiable") {
    throw plainError(416, "requested range not satisfiable", { "content-range": `bytes */${desc.size}` });
  }
  if (range && fetchRange) {
    const length = range.end - range.start + 1;
    return await sendStream(ex, 206, {
      ...headers,
      "content-length": String(length),
      "content-range": `bytes ${range.start}-${range.end}/${desc.size}`,
    }, () => fetchRange(repo, desc, range.start, length));
  }
  await sendStream(ex, 200, { ...headers, "content-length": String(desc.size) }, () => store.fetch(repo, desc));
}

/** One page of a sorted list, and the `Link` to the next one. */
export function paginate(items: string[], url: URL): { page: string[]; link?: string } {
  const nText = url.searchParams.get("n");
  const last = url.searchParams.get("last");
  let n: number | undefined;
  if (nText !== null && nText !== "") {
    if (!/^\d+$/.test(nText)) throw plainError(400, "invalid number of results requested");
    n = Number(nText);
  }
  const rest = last ? items.filter((i) => i > last) : items;
  if (n === undefined || rest.length <= n) return { page: rest };
  const page = rest.slice(0, n);
  if (n === 0) return { page };
  const next = `${url.pathname}?n=${n}&last=${encodeURIComponent(page[page.length - 1])}`;
  return { page, link: `<${next}>; rel="next"` };
}

/** GET `/v2/<name>/tags/list`. */
export function listTags(ex: Exchange, ctx: ServerContext, name: string): void {
  const repo = findRepository(ctx.catalog, name, ex.url);
  const { page, link } = paginate(ctx.catalog.tags(repo), ex.url);
  sendJson(ex, 200, { name, tags: page }, link ? { link } : {});
}

/**
 * GET `/v2/<name>/referrers/<digest>`: an OCI index of the repository's
 * manifests whose `subject` is `digest` (empty, not 404, when there are
 * none or the subject itself is absent), filtered by `artifactType`.
 */
export async function listReferrers(ex: Exchange, ctx: ServerContext, name: string, digest: string): Promise<void> {
  const repo = findRepository(ctx.catalog, name, ex.url);
  checkDigest(digest);
  let manifests = await ctx.catalog.referrers(repo, digest);
  const wanted = ex.url.searchParams.getAll("artifactType").filter((t) => t !== "");
  const headers: Record<string, string> = {};
  if (wanted.length > 0) {
    manifests = manifests.filter((m) => m.artifactType !== undefined && wanted.includes(m.artifactType));
    headers["oci-filters-applied"] = "artifactType";
  }
  send(
    ex,
    200,
    { ...headers, "content-type": OCI_INDEX },
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }),
  );
}

/** GET `/v2/_catalog`. */
export function listRepositories(ex: Exchange, ctx: ServerContext): void {
  const { page, link } = paginate(ctx.catalog.repositories(), ex.url);
  sendJson(ex, 200, { repositories: page }, link ? { link } : {});
}
