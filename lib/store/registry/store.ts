/**
 * A registry as a {@link Store}: resolve tags, fetch verified manifests and
 * blobs, push blobs (monolithic PUT, chunked PATCH fallback, cross-repository
 * mount, skip what exists) and manifests with their exact bytes.
 * @module
 */
import { AirgapError, ManifestRefusedError, withContext } from "../../errors.ts";
import { DigestMismatchError, isTemporary, NotFoundError } from "../../error_kinds.ts";
import { resumableBody } from "../../transport/resume.ts";
import { withRetries } from "../../transport/retry.ts";
import { digestAlgorithm, digestOf, ensureVerified } from "../../oci/digest.ts";
import { type Descriptor, MAX_MANIFEST_SIZE, parseManifest } from "../../oci/manifest.ts";
import { isManifestType, MANIFEST_ACCEPT } from "../../oci/media.ts";
import { isValidDigest } from "../../ref.ts";
import { observeBytes, verifiedByteStream } from "../../format/streams.ts";
import {
  type Content,
  openContent,
  type PushOutcome,
  readAll,
  type ResolvedManifest,
  type Store,
  type StoreOptions,
} from "../types.ts";
import type { RegistryClient } from "./client.ts";

/** A registry store, plus registry-only operations. */
export interface RegistryStore extends Store {
  /** The client every request goes through (auth, retries). */
  readonly client: RegistryClient;
  /** HEAD a manifest: its descriptor without the bytes (cheap tag resolution). */
  head(repo: string, reference: string, options?: StoreOptions): Promise<Descriptor | undefined>;
  /** All tags of a repository (follows pagination). */
  listTags(repo: string, options?: StoreOptions): Promise<string[]>;
  /**
   * The bytes of a blob from `offset` on (HTTP Range), unverified — the
   * caller hashes what it already has plus these. Undefined when the
   * registry ignores the range.
   */
  fetchFrom(
    repo: string,
    desc: Descriptor,
    offset: number,
    options?: StoreOptions,
  ): Promise<ReadableStream<Uint8Array> | undefined>;
  /**
   * What this run's PUT of `repo:reference` stored, when the registry's answer
   * named the digest of the bytes sent (`Docker-Content-Digest`): the proof a
   * check after the push would fetch again, without asking.
   */
  confirmed(repo: string, reference: string): Descriptor | undefined;
  /**
   * Ask the registry once which repositories it holds (`GET /v2/_catalog`, at
   * most {@link CATALOG_PAGES} pages): from then on a probe into a repository
   * it did not list answers "absent" without a request. That repository held
   * nothing when the run began, and what this run puts there is remembered.
   * False, and nothing changes, when the registry does not say (no catalog,
   * not allowed, too many repositories). For a push destination only.
   */
  learnRepositories(options?: StoreOptions): Promise<boolean>;
  /** Bytes and requests moved so far, for reports and tests. */
  readonly stats: RegistryStats;
}

/** Counters of what a registry store did. */
export interface RegistryStats {
  /** Downloads started: blobs, manifests fetched by digest, resumed blobs. */
  blobsFetched: number;
  /** Bytes downloaded (blobs and manifests). */
  bytesFetched: number;
  /** Blobs uploaded. */
  blobsPushed: number;
  /** Bytes uploaded. */
  bytesPushed: number;
  /** Blobs mounted from another repository of the registry instead of uploaded. */
  blobsMounted: number;
  /** Blobs not pushed because the repository already had them. */
  blobsSkipped: number;
  /** Manifest PUTs, by digest or by tag. */
  manifestsPushed: number;
}

/** Options for {@link registryStore}. */
export interface RegistryStoreOptions {
  /** Concurrent transfers (default: the client's bound on requests in flight, 6 unless configured). */
  concurrency?: number;
  /** Chunk size for the PATCH fallback upload (default 64 MiB). */
  chunkSize?: number;
  /** Force chunked uploads (tests, registries that refuse large PUTs). */
  chunkedUploads?: boolean;
  /**
   * Probe a blob by the upload's own start (`POST ?mount=DIGEST&from=REPO`:
   * 201 when the repository holds it, else the session to upload into)
   * instead of a HEAD before it (default true; see {@link pushBlob}).
   */
  probeByMount?: boolean;
}

const pull = (repo: string) => `repository:${repo}:pull`;
const push = (repo: string) => `repository:${repo}:pull,push`;
const ACCEPT = MANIFEST_ACCEPT.join(", ");

function contentType(response: Response): string | undefined {
  const value = response.headers.get("content-type");
  return value ? value.split(";")[0].trim() : undefined;
}

/** What a registry store keeps between calls; its operations are the functions below. */
class RegistryState {
  readonly registry: string;
  readonly chunkSize: number;
  /** Repositories known to hold a blob: candidates for cross-repository mounts. */
  readonly holders = new Map<string, Set<string>>();
  /** Uploads in flight, by digest: later pushes of the same blob wait and mount. */
  readonly uploading = new Map<string, Promise<void>>();
  /**
   * Whether the registry honours `POST ?mount=D&from=R` for a blob R holds
   * (201): unknown until the first upload, then asked once ({@link calibrate}).
   * Only a registry seen to honour it has its blobs probed by the POST.
   */
  mounts: "unknown" | "asking" | "yes" | "no" = "unknown";
  /** `repo:reference` → what this run's manifest PUT stored, as the registry's answer named it. */
  readonly confirmed = new Map<string, Descriptor>();
  /** `repo@digest` this run saw answered 404: a push right after needs no second probe. */
  readonly absent = new Set<string>();
  /** The repositories the registry listed when asked ({@link learnRepositories}); unknown until then. */
  listed?: Set<string>;
  readonly stats: RegistryStats = {
    blobsFetched: 0,
    bytesFetched: 0,
    blobsPushed: 0,
    bytesPushed: 0,
    blobsMounted: 0,
    blobsSkipped: 0,
    manifestsPushed: 0,
  };

  constructor(readonly client: RegistryClient, readonly options: RegistryStoreOptions) {
    this.registry = client.registry;
    this.chunkSize = options.chunkSize ?? 64 * 1024 * 1024;
  }

  remember(digest: string, repo: string) {
    this.absent.delete(`${repo}@${digest}`);
    let set = this.holders.get(digest);
    if (!set) this.holders.set(digest, set = new Set());
    set.add(repo);
  }

  label(repo: string, ref?: string) {
    return `${this.registry}/${repo}${ref ? (ref.includes(":") ? `@${ref}` : `:${ref}`) : ""}`;
  }
}

const kind = (desc: Descriptor) => isManifestType(desc.mediaType) ? "manifests" : "blobs";

/** Wrap a registry client as a store. */
export function registryStore(client: RegistryClient, options: RegistryStoreOptions = {}): RegistryStore {
  const s = new RegistryState(client, options);
  return {
    description: `registry ${s.registry}`,
    client,
    stats: s.stats,
    concurrency: options.concurrency ?? client.concurrency,
    verifiesGraphs: true,
    tagStoresManifest: true,
    exists: (repo, desc, options) => exists(s, repo, desc, options),
    fetch: (repo, desc, options) => fetchBlob(s, repo, desc, options),
    fetchFrom: (repo, desc, offset, options) => fetchFrom(s, repo, desc, offset, options),
    head: (repo, reference, options) => headManifest(s, repo, reference, options),
    resolve: (repo, reference, options) => resolveManifest(s, repo, reference, options),
    push: (repo, desc, content, options) => pushContent(s, repo, desc, content, options),
    async tag(repo, tag, desc, bytes, options) {
      await putManifest(s, repo, tag, desc, bytes, options);
      s.remember(desc.digest, repo); // a PUT by tag stored the manifest too
    },
    listTags: (repo, options) => listTags(s, repo, options),
    confirmed: (repo, reference) => s.confirmed.get(`${repo}:${reference}`),
    learnRepositories: (options) => learnRepositories(s, options),
    close() {
      client.close();
      return Promise.resolve();
    },
  };
}

async function exists(s: RegistryState, repo: string, desc: Descriptor, options: StoreOptions = {}): Promise<boolean> {
  if (s.holders.get(desc.digest)?.has(repo)) return true;
  if (s.listed && !s.listed.has(repo)) {
    s.absent.add(`${repo}@${desc.digest}`); // a repository empty at the start: only this run's pushes are there
    return false;
  }
  const response = await s.client.request({
    method: "HEAD",
    path: `/v2/${repo}/${kind(desc)}/${desc.digest}`,
    scopes: [pull(repo)],
    headers: kind(desc) === "manifests" ? { accept: `${desc.mediaType}, ${ACCEPT}` } : {},
    ok: [200, 404],
    op: "check",
    image: s.label(repo, desc.digest),
    signal: options.signal,
    destination: true, // only a destination asks whether it holds something: one token for probe and push
  });
  await response.body?.cancel();
  if (response.status === 200) {
    s.remember(desc.digest, repo);
    return true;
  }
  s.absent.add(`${repo}@${desc.digest}`);
  return false;
}

/**
 * Whether a push must probe first: not when this run already proved the
 * repository holds it (skipped without a request) or proved it absent (a 404
 * just now: the push goes ahead without asking again). The proof of absence
 * is used once.
 */
function provedAbsent(s: RegistryState, repo: string, digest: string): boolean {
  return s.absent.delete(`${repo}@${digest}`);
}

/**
 * A verified download that resumes with `Range` where a connection broke,
 * so the hash runs on over both parts (see transport/resume.ts).
 */
async function fetchBlob(
  s: RegistryState,
  repo: string,
  desc: Descriptor,
  options: StoreOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const what = s.label(repo, desc.digest);
  const op = `fetch ${kind(desc) === "manifests" ? "manifest" : "blob"}`;
  // From `offset` on (a resume after a broken connection): its size decides its bound (bounds.ts).
  const get = (offset?: number, ok?: number[]) => {
    const range: Record<string, string> = offset !== undefined ? { range: `bytes=${offset}-` } : {};
    return s.client.request({
      method: "GET",
      path: `/v2/${repo}/${kind(desc)}/${desc.digest}`,
      scopes: [pull(repo)],
      headers: kind(desc) === "manifests" ? { accept: `${desc.mediaType}, ${ACCEPT}`, ...range } : range,
      ok,
      op,
      image: what,
      signal: options.signal,
      size: desc.size - (offset ?? 0),
    });
  };
  const response = await get();
  if (!response.body) throw new AirgapError(`fetch ${what}: empty response`);
  s.stats.blobsFetched++;
  const body = resumableBody(
    response.body,
    desc.size,
    (offset) => get(offset, [200, 206, 416]),
    {
      ...s.client.retryOptions(options.signal),
      what: `${op} ${what}`,
    },
  );
  return verifiedByteStream(body, desc, what, (bytes) => (s.stats.bytesFetched += bytes));
}

async function fetchFrom(
  s: RegistryState,
  repo: string,
  desc: Descriptor,
  offset: number,
  options: StoreOptions = {},
): Promise<ReadableStream<Uint8Array> | undefined> {
  const what = s.label(repo, desc.digest);
  const get = (at: number) =>
    s.client.request({
      method: "GET",
      path: `/v2/${repo}/blobs/${desc.digest}`,
      scopes: [pull(repo)],
      headers: { range: `bytes=${at}-` },
      ok: [200, 206, 416], // 416: see resumableBody
      op: "resume blob",
      image: what,
      signal: options.signal,
      size: desc.size - at,
    });
  const response = await get(offset);
  const range = response.headers.get("content-range");
  if (response.status !== 206 || !range?.startsWith(`bytes ${offset}-`) || !response.body) {
    await response.body?.cancel();
    return undefined;
  }
  s.stats.blobsFetched++;
  return resumableBody(response.body, desc.size - offset, get, {
    ...s.client.retryOptions(options.signal),
    what: `resume blob ${what}`,
    startsAt: offset,
  }).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        s.stats.bytesFetched += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }),
  );
}

async function headManifest(
  s: RegistryState,
  repo: string,
  reference: string,
  options: StoreOptions = {},
): Promise<Descriptor | undefined> {
  const response = await s.client.request({
    method: "HEAD",
    path: `/v2/${repo}/manifests/${reference}`,
    scopes: [pull(repo)],
    headers: { accept: ACCEPT },
    ok: [200, 404],
    op: "resolve",
    image: s.label(repo, reference),
    signal: options.signal,
  });
  await response.body?.cancel();
  if (response.status === 404) return undefined;
  const digest = response.headers.get("docker-content-digest");
  const size = Number(response.headers.get("content-length"));
  const mediaType = contentType(response);
  if (!digest || !isValidDigest(digest) || !Number.isSafeInteger(size) || !isManifestType(mediaType)) {
    return undefined; // not enough to go on: the caller GETs instead
  }
  return { mediaType: mediaType!, digest, size };
}

/**
 * GET a manifest by tag or digest and check its bytes (the pinned digest,
 * and `Docker-Content-Digest` when sent). A broken body is asked for again
 * under the retry policy; bytes that do not match are fetched once more.
 */
async function resolveManifest(
  s: RegistryState,
  repo: string,
  reference: string,
  options: StoreOptions = {},
): Promise<ResolvedManifest> {
  const what = s.label(repo, reference);
  let mismatches = 0;
  try {
    return await withRetries(() => resolveOnce(s, repo, reference, what, options), {
      ...s.client.retryOptions(options.signal),
      retryable: (e) => isTemporary(e) || (e instanceof DigestMismatchError && mismatches++ === 0),
    });
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new NotFoundError(`${what} not found (${e.context.code ?? "HTTP 404"})`, e.context, { cause: e });
    }
    throw e;
  }
}

async function resolveOnce(
  s: RegistryState,
  repo: string,
  reference: string,
  what: string,
  options: StoreOptions,
): Promise<ResolvedManifest> {
  const response = await s.client.request({
    method: "GET",
    path: `/v2/${repo}/manifests/${reference}`,
    scopes: [pull(repo)],
    headers: { accept: ACCEPT },
    op: "fetch manifest",
    image: what,
    signal: options.signal,
    retry: false, // the caller retries the request and the body together
  });
  let bytes: Uint8Array;
  try {
    bytes = await readAll(response.body!, MAX_MANIFEST_SIZE);
  } catch (e) {
    throw withContext(e, `fetch manifest ${what}`);
  }
  const pinned = isValidDigest(reference) ? reference : undefined;
  const algorithm = pinned ? digestAlgorithm(pinned) : "sha256";
  const digest = digestOf(bytes, algorithm);
  if (pinned && digest !== pinned) {
    throw new DigestMismatchError(`fetch manifest ${what}: digest mismatch: got ${digest}`, { image: what });
  }
  const announced = response.headers.get("docker-content-digest");
  if (announced && announced.startsWith(`${algorithm}:`) && announced !== digest) {
    throw new DigestMismatchError(
      `fetch manifest ${what}: registry announced ${announced} but the bytes hash to ${digest}`,
      { image: what },
    );
  }
  const parsed = parseManifest(bytes, contentType(response), what);
  s.stats.bytesFetched += bytes.byteLength;
  return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.byteLength }, bytes };
}

async function putManifest(
  s: RegistryState,
  repo: string,
  reference: string,
  desc: Descriptor,
  bytes: Uint8Array,
  options: StoreOptions = {},
) {
  const response = await s.client.request({
    method: "PUT",
    path: `/v2/${repo}/manifests/${reference}`,
    scopes: [push(repo)],
    headers: { "content-type": desc.mediaType },
    body: () => bytes,
    op: "push manifest",
    image: s.label(repo, reference),
    retry: true, // the same bytes again: safe to repeat
    signal: options.signal,
  }).catch((e) => Promise.reject(refusedManifest(e)));
  await response.body?.cancel();
  const announced = response.headers.get("docker-content-digest");
  if (
    announced && announced.startsWith("sha256:") && desc.digest.startsWith("sha256:") && announced !== desc.digest
  ) {
    throw new AirgapError(
      `push manifest ${s.label(repo, reference)}: registry stored it as ${announced}, expected ${desc.digest}`,
    );
  }
  if (announced === desc.digest) s.confirmed.set(`${repo}:${reference}`, desc);
  s.stats.manifestsPushed++;
}

function absolute(location: string | null, base: string, what: string): URL {
  if (!location) throw new AirgapError(`${what}: registry gave no upload location`);
  return new URL(location, base);
}

async function startUpload(
  s: RegistryState,
  repo: string,
  desc: Descriptor,
  signal: AbortSignal | undefined,
  from?: string,
) {
  const what = s.label(repo, desc.digest);
  const query = from ? `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}` : "";
  const response = await s.client.request({
    method: "POST",
    path: `/v2/${repo}/blobs/uploads/${query}`,
    scopes: from && from !== repo ? [push(repo), pull(from)] : [push(repo)],
    ok: [201, 202],
    op: from && from !== repo ? "mount blob" : "start upload",
    image: what,
    signal,
  });
  await response.body?.cancel();
  if (response.status === 201) return { mounted: true as const };
  return {
    mounted: false as const,
    location: absolute(response.headers.get("location"), await s.client.baseUrl({ signal }), what),
  };
}

/** A blob to upload: where, what, and the content (a stream opens anew for each session). */
interface BlobUpload {
  repo: string;
  desc: Descriptor;
  content: Content;
  signal?: AbortSignal;
}

async function uploadMonolithic(s: RegistryState, blob: BlobUpload, location: URL) {
  const { repo, desc, content, signal } = blob;
  const url = new URL(location);
  url.searchParams.set("digest", desc.digest);
  const stream = ensureVerified(await openContent(content), desc, s.label(repo, desc.digest));
  const counted = observeBytes(stream, (n) => (s.stats.bytesPushed += n));
  const response = await s.client.request({
    method: "PUT",
    path: url.href,
    scopes: [push(repo)],
    headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
    body: () => counted,
    ok: [201, 204],
    op: "upload blob",
    image: s.label(repo, desc.digest),
    signal,
  });
  await response.body?.cancel();
}

async function uploadChunked(s: RegistryState, blob: BlobUpload, location: URL) {
  const { repo, desc, content, signal } = blob;
  const what = s.label(repo, desc.digest);
  const base = await s.client.baseUrl({ signal });
  const reader = ensureVerified(await openContent(content), desc, what).getReader();
  let offset = 0;
  let pending: Uint8Array[] = [];
  let pendingSize = 0;
  const flush = async () => {
    if (pendingSize === 0) return;
    const chunk = new Uint8Array(pendingSize);
    let at = 0;
    for (const p of pending) {
      chunk.set(p, at);
      at += p.byteLength;
    }
    pending = [];
    pendingSize = 0;
    const response = await s.client.request({
      method: "PATCH",
      path: location.href,
      scopes: [push(repo)],
      headers: {
        "content-type": "application/octet-stream",
        "content-range": `${offset}-${offset + chunk.byteLength - 1}`,
        "content-length": String(chunk.byteLength),
      },
      body: () => chunk,
      ok: [202, 204],
      op: "upload chunk",
      image: what,
      signal,
    });
    await response.body?.cancel();
    offset += chunk.byteLength;
    s.stats.bytesPushed += chunk.byteLength;
    location = absolute(response.headers.get("location"), base, what);
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending.push(value);
    pendingSize += value.byteLength;
    if (pendingSize >= s.chunkSize) await flush();
  }
  await flush();
  const url = new URL(location);
  url.searchParams.set("digest", desc.digest);
  const response = await s.client.request({
    method: "PUT",
    path: url.href,
    scopes: [push(repo)],
    headers: { "content-length": "0" },
    ok: [201, 204],
    op: "finish upload",
    image: what,
    signal,
  });
  await response.body?.cancel();
}

/**
 * One upload session from start to finish. A session that failed holds an
 * unknown part of the bytes, so the unit a retry repeats is the session.
 */
async function uploadSession(
  s: RegistryState,
  repo: string,
  desc: Descriptor,
  content: Content,
  signal?: AbortSignal,
  started?: URL,
) {
  const blob: BlobUpload = { repo, desc, content, signal };
  let session = started ? { mounted: false as const, location: started } : await startUpload(s, repo, desc, signal);
  if (session.mounted) return;
  if (s.options.chunkedUploads) return await uploadChunked(s, blob, session.location);
  try {
    await uploadMonolithic(s, blob, session.location);
  } catch (e) {
    const status = e instanceof AirgapError ? e.context.status : undefined;
    if (typeof content !== "function" || ![400, 405, 413, 416, 501].includes(status ?? 0)) throw e;
    // Some registries and proxies refuse one large PUT: send it in chunks.
    session = await startUpload(s, repo, desc, signal);
    if (session.mounted) return;
    await uploadChunked(s, blob, session.location);
  }
}

/**
 * Push one blob with as few requests as the run's knowledge allows: nothing
 * when this run saw the repository holding it; a mount from another
 * repository that holds it; and on a registry seen to honour mounts
 * ({@link calibrate}), one `POST ?mount=DIGEST&from=REPO` that is at once the
 * existence probe (201: the repository holds it) and the upload's start
 * (202: its session) — where a HEAD, a POST and a PUT were three requests,
 * two remain. Elsewhere (or before the registry has shown it), a HEAD first.
 */
async function pushBlob(
  s: RegistryState,
  repo: string,
  desc: Descriptor,
  content: Content,
  signal?: AbortSignal,
): Promise<PushOutcome> {
  // Pushes of one digest queue up, registered before the first await, so
  // the second waits for the first and mounts instead of uploading again.
  const earlier = s.uploading.get(desc.digest);
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  s.uploading.set(desc.digest, mine);
  try {
    if (earlier) await earlier;
    if (s.holders.get(desc.digest)?.has(repo)) {
      s.stats.blobsSkipped++;
      return "exists";
    }
    const absent = provedAbsent(s, repo, desc.digest);
    const honoured = s.options.probeByMount !== false && s.mounts === "yes";
    if (!absent && !honoured && await exists(s, repo, desc, { signal })) {
      s.stats.blobsSkipped++;
      return "exists";
    }
    const from = [...(s.holders.get(desc.digest) ?? [])].find((r) => r !== repo) ?? (honoured ? repo : undefined);
    let started: URL | undefined;
    if (from) {
      const start = await startUpload(s, repo, desc, signal, from).catch(() => undefined); // refused: upload instead
      if (start?.mounted) {
        s.remember(desc.digest, repo);
        if (from === repo) {
          s.stats.blobsSkipped++;
          return "exists";
        }
        s.stats.blobsMounted++;
        return "mounted";
      }
      started = start?.location; // a 202: the session to upload into
    }
    // Content is bytes in memory or a stream that opens anew: a new session can resend it.
    // The first try uploads into the session the probe opened; a retry starts a new one.
    await withRetries(
      (n) => uploadSession(s, repo, desc, content, signal, n === 0 ? started : undefined),
      s.client.retryOptions(signal),
    );
    s.remember(desc.digest, repo);
    s.stats.blobsPushed++;
    // Into a repository proven empty no probe is ever needed: asked after the first upload elsewhere.
    const probes = !s.listed || s.listed.has(repo);
    if (s.mounts === "unknown" && probes && s.options.probeByMount !== false) await calibrate(s, repo, desc, signal);
    return "pushed";
  } finally {
    if (s.uploading.get(desc.digest) === mine) s.uploading.delete(desc.digest);
    done();
  }
}

/**
 * Ask the registry once whether it honours a mount as an existence probe:
 * `POST ?mount=D&from=R` for a blob just uploaded to R. 201 says yes (the
 * later probes are that POST); 202 says it ignores mounts (its session is
 * cancelled, and blobs are probed with HEAD, so none is uploaded twice).
 */
async function calibrate(s: RegistryState, repo: string, desc: Descriptor, signal?: AbortSignal) {
  s.mounts = "asking";
  try {
    const start = await startUpload(s, repo, desc, signal, repo);
    s.mounts = start.mounted ? "yes" : "no";
    if (!start.mounted) {
      const response = await s.client.request({
        method: "DELETE",
        path: start.location.href,
        scopes: [push(repo)],
        ok: [200, 202, 204, 404, 405],
        op: "cancel upload",
        image: s.label(repo, desc.digest),
        signal,
      }).catch(() => undefined);
      await response?.body?.cancel();
    }
  } catch {
    s.mounts = "no";
  }
}

async function pushContent(
  s: RegistryState,
  repo: string,
  desc: Descriptor,
  content: Content,
  options?: StoreOptions,
): Promise<PushOutcome> {
  if (isManifestType(desc.mediaType) && content instanceof Uint8Array) {
    if (!provedAbsent(s, repo, desc.digest) && await exists(s, repo, desc, options)) return "exists";
    await putManifest(s, repo, desc.digest, desc, content, options);
    s.remember(desc.digest, repo);
    return "pushed";
  }
  return await pushBlob(s, repo, desc, content, options?.signal);
}

/** Catalog pages read at most (1,000 repositories each): a larger registry is probed per manifest as before. */
export const CATALOG_PAGES = 5;

async function learnRepositories(s: RegistryState, options: StoreOptions = {}): Promise<boolean> {
  if (s.listed) return true;
  const listed = new Set<string>();
  let path: string | undefined = "/v2/_catalog?n=1000";
  try {
    for (let page = 0; path; page++) {
      if (page === CATALOG_PAGES) return false;
      const response: Response = await s.client.request({
        method: "GET",
        path,
        scopes: ["registry:catalog:*"],
        ok: [200, 401, 403, 404, 405],
        op: "list repositories",
        image: s.registry,
        signal: options.signal,
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        return false;
      }
      const body = await response.json() as { repositories?: unknown };
      if (!Array.isArray(body.repositories)) return false;
      for (const repo of body.repositories) if (typeof repo === "string") listed.add(repo);
      const next = response.headers.get("link")?.match(/<([^>]+)>\s*;\s*rel="?next"?/);
      path = next ? new URL(next[1], await s.client.baseUrl(options)).href : undefined;
    }
  } catch (e) {
    if (options.signal?.aborted) throw e;
    return false; // the catalog is an optimisation: without it every probe asks
  }
  s.listed = listed;
  return true;
}

async function listTags(s: RegistryState, repo: string, options: StoreOptions = {}): Promise<string[]> {
  const tags: string[] = [];
  let path: string | undefined = `/v2/${repo}/tags/list?n=1000`;
  while (path) {
    const response: Response = await s.client.request({
      method: "GET",
      path,
      scopes: [pull(repo)],
      op: "list tags",
      image: `${s.registry}/${repo}`,
      signal: options.signal,
    });
    const body = await response.json() as { tags?: string[] | null };
    tags.push(...(body.tags ?? []));
    const link = response.headers.get("link");
    const next = link?.match(/<([^>]+)>\s*;\s*rel="?next"?/);
    path = next ? new URL(next[1], await s.client.baseUrl(options)).href : undefined;
  }
  return tags;
}

/** The registry's final no to a manifest (HTTP 500 after the retries, or MANIFEST_INVALID), as its own type. */
function refusedManifest(e: unknown): unknown {
  if (!(e instanceof AirgapError) || (e.context.status !== 500 && e.context.code !== "MANIFEST_INVALID")) return e;
  return new ManifestRefusedError(e.message, e.context, { cause: e, exitCode: e.exitCode });
}
