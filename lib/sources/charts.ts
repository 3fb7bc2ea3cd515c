/**
 * Helm charts from their repositories: an HTTP(S) chart repository
 * (`index.yaml`; the `.tgz` verified against the entry's `digest`; relative
 * `urls` resolved against the repository) or an OCI registry
 * (`oci://host/path`, the chart layer of `host/path/<name>:<version>`).
 * A chart on disk (`path:`, or a directory repository without an index) is
 * read from there (see local_charts.ts). Charts are kept in the cache by
 * digest and pinned in the lock; a chart whose digest is known and cached is
 * not downloaded again.
 * @module
 */
import { resolve as resolvePath } from "node:path";
import type { NetworkSession } from "../transport/session.ts";
import { pathToFileURL } from "node:url";
import { parse } from "yaml";
import { aboutSubject, AirgapError, errorMessage } from "../errors.ts";
import { chartLayer, chartTag } from "../oci/chart.ts";
import { digestOf } from "../oci/digest.ts";
import { parseReference } from "../ref.ts";
import type { CacheStore } from "../store/cache.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import { readAll } from "../store/types.ts";
import { registryPool } from "../store/registry/pool.ts";
import { displayUrl, download, parseSourceUrl } from "./download.ts";
import { readLocalChart } from "./local_charts.ts";

/** Charts larger than this are refused (Helm's own limit on a chart archive). */
export const MAX_CHART_SIZE = 100 * 1024 * 1024;
const MAX_INDEX_SIZE = 256 * 1024 * 1024;

/** Which chart to fetch. */
export interface ChartSpec {
  /** The chart's name in the repository. */
  name: string;
  /** `https://…` (a chart repository), `file:///…` or a directory, or `oci://host/path`. */
  repo: string;
  /** The exact version. */
  version: string;
  /** A chart read from disk (a `.tgz` or chart directory): no index, no download. */
  local?: { path: string };
}

/** A fetched chart. */
export interface FetchedChart {
  /** The chart's name. */
  name: string;
  /** Its version as the repository lists it. */
  version: string;
  /** Where the `.tgz` is published (an `oci://` reference for OCI repositories). */
  url: string;
  /** Digest of the `.tgz`. */
  digest: string;
  /** Size of the `.tgz`. */
  size: number;
  /** The `.tgz`. */
  bytes: Uint8Array;
  /** It came from the cache (no download). */
  cached: boolean;
  /** It was read from a local file or directory. */
  fromDisk?: boolean;
}

/** Options of {@link fetchChart}. */
export interface ChartFetchOptions {
  /** Fetched charts are kept here by digest; known digests are read from here. */
  cache?: CacheStore;
  /** What the lock pins. */
  pinned?: { digest: string; url: string };
  /** Use the pinned digest: from the cache, or fetched and insisted on. */
  locked?: boolean;
  /** Connection settings by host (HTTP repositories and registries alike). */
  settings?: ReadonlyMap<string, RegistrySettings>;
  /** The run's network session: downloads go through it (else each builds one from `settings`). */
  session?: NetworkSession;
  /** Registry stores for OCI repositories (default: a pool of its own). */
  registry?: (host: string) => RegistryStore;
}

/** A repository as written (URL, `oci://`, or a directory relative to `dir`) → a URL. */
export function normaliseRepo(repo: string, dir: string): string {
  const text = repo.trim();
  if (/^oci:\/\//i.test(text)) return `oci://${text.slice("oci://".length).replace(/\/+$/, "")}`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text.replace(/\/+$/, "");
  return pathToFileURL(resolvePath(dir, text)).href.replace(/\/+$/, "");
}

function label(spec: ChartSpec): string {
  return `chart ${spec.name}@${spec.version}`;
}

/** `chart NAME@VERSION: message`, an error that knows it names the chart (see {@link aboutSubject}). */
function chartError(spec: ChartSpec, message: string): AirgapError {
  return new AirgapError(`${label(spec)}: ${message}`, { subject: label(spec) });
}

/** Fetch a chart `.tgz`, verified, through the cache. */
export async function fetchChart(spec: ChartSpec, options: ChartFetchOptions = {}): Promise<FetchedChart> {
  if (options.locked && !options.pinned) {
    throw new AirgapError(`${label(spec)} is not in airgap.lock (run "airgap plan" without --locked)`, {
      subject: label(spec),
    });
  }
  const fromOci = spec.repo.startsWith("oci://");
  const url = fromOci ? `${spec.repo}/${spec.name}:${chartTag(spec.version)}` : undefined;
  const pinned = options.pinned;
  if (options.locked && pinned && options.cache && await options.cache.has(pinned.digest)) {
    const bytes = await readCached(options.cache, pinned.digest);
    return { ...spec, url: pinned.url, digest: pinned.digest, size: bytes.byteLength, bytes, cached: true };
  }
  const fetched = spec.local
    ? await fetchFromDisk(spec, spec.local.path)
    : fromOci
    ? await fetchFromOci(spec, url!, options)
    : await fetchFromIndex(spec, options);
  if (options.locked && fetched.digest !== pinned?.digest) {
    throw new AirgapError(
      `${label(spec)} from ${fetched.url} is ${fetched.digest}, but airgap.lock pins ${pinned?.digest}`,
      { subject: label(spec) },
    );
  }
  if (!fetched.cached) {
    await options.cache?.putBytes(
      { mediaType: "application/gzip", digest: fetched.digest, size: fetched.size },
      fetched.bytes,
    );
  }
  return fetched;
}

/** A chart on disk, read again as `check` read it: the digest is that of what is read now. */
async function fetchFromDisk(spec: ChartSpec, path: string): Promise<FetchedChart> {
  let chart;
  try {
    chart = await readLocalChart(path);
  } catch (e) {
    throw chartError(spec, errorMessage(e));
  }
  if (chart.name !== spec.name) throw chartError(spec, `${path} now holds chart ${chart.name}@${chart.version}`);
  return {
    name: chart.name,
    version: chart.version,
    url: pathToFileURL(path).href,
    digest: chart.digest,
    size: chart.bytes.byteLength,
    bytes: chart.bytes,
    cached: false,
    fromDisk: true,
  };
}

async function readCached(cache: CacheStore, digest: string): Promise<Uint8Array> {
  const size = await cache.blobSize(digest);
  return await cache.readBytes({ mediaType: "application/gzip", digest, size: size ?? 0 }, MAX_CHART_SIZE);
}

interface IndexEntry {
  name?: unknown;
  version?: unknown;
  urls?: unknown;
  digest?: unknown;
}

/** Find a version in an index's entries: exactly, else ignoring a leading `v`. */
function findVersion(entries: IndexEntry[], version: string): IndexEntry | undefined {
  const plain = (v: unknown) => String(v ?? "").replace(/^v/, "");
  return entries.find((e) => e.version === version) ?? entries.find((e) => plain(e.version) === plain(version));
}

async function fetchFromIndex(spec: ChartSpec, options: ChartFetchOptions): Promise<FetchedChart> {
  const base = `${spec.repo}/`;
  const indexUrl = new URL("index.yaml", parseSourceUrl(base, label(spec))).href;
  const got = await download(indexUrl, { settings: options.settings, session: options.session, limit: MAX_INDEX_SIZE });
  if (!got.found) {
    throw chartError(
      spec,
      `no chart repository at ${displayUrl(spec.repo)} (${displayUrl(indexUrl)}: HTTP ${got.status})`,
    );
  }
  let index: { entries?: Record<string, IndexEntry[]> };
  try {
    // The failsafe schema keeps every scalar a string: version 1.10 stays "1.10".
    index = parse(new TextDecoder().decode(got.bytes), { schema: "failsafe" }) ?? {};
  } catch (e) {
    throw chartError(spec, `${displayUrl(indexUrl)} is not valid YAML: ${errorMessage(e)}`);
  }
  const versions = index.entries?.[spec.name];
  if (!Array.isArray(versions) || versions.length === 0) {
    throw chartError(spec, `${displayUrl(indexUrl)} has no chart named ${spec.name}`);
  }
  const entry = findVersion(versions, spec.version);
  if (!entry) {
    const known = versions.slice(0, 5).map((v) => String(v.version)).join(", ");
    throw chartError(
      spec,
      `${displayUrl(indexUrl)} has no version ${spec.version} of ${spec.name} (newest: ${known}${
        versions.length > 5 ? ", …" : ""
      })`,
    );
  }
  const urls = Array.isArray(entry.urls) ? entry.urls.filter((u): u is string => typeof u === "string") : [];
  if (urls.length === 0) throw chartError(spec, `its entry in ${displayUrl(indexUrl)} has no urls`);
  const hex = typeof entry.digest === "string" ? entry.digest.trim().replace(/^sha256:/, "").toLowerCase() : "";
  if (!/^[a-f0-9]{64}$/.test(hex)) {
    throw chartError(
      spec,
      `its entry in ${displayUrl(indexUrl)} has no sha256 digest, so the download cannot be verified`,
    );
  }
  const expected = `sha256:${hex}`;
  const chartUrl = new URL(urls[0], base).href;
  if (options.cache && await options.cache.has(expected)) {
    const bytes = await readCached(options.cache, expected);
    return {
      name: spec.name,
      version: String(entry.version),
      url: displayUrl(chartUrl),
      digest: expected,
      size: bytes.byteLength,
      bytes,
      cached: true,
    };
  }
  const tgz = await download(chartUrl, { settings: options.settings, session: options.session, limit: MAX_CHART_SIZE });
  if (!tgz.found) {
    throw chartError(spec, `${displayUrl(chartUrl)} not found (HTTP ${tgz.status})`);
  }
  const digest = digestOf(tgz.bytes);
  if (digest !== expected) {
    throw chartError(spec, `${displayUrl(chartUrl)} is ${digest}, but ${displayUrl(indexUrl)} says ${expected}`);
  }
  return {
    name: spec.name,
    version: String(entry.version),
    url: displayUrl(chartUrl),
    digest,
    size: tgz.bytes.byteLength,
    bytes: tgz.bytes,
    cached: false,
  };
}

async function fetchFromOci(spec: ChartSpec, url: string, options: ChartFetchOptions): Promise<FetchedChart> {
  let ref;
  try {
    ref = parseReference(url.slice("oci://".length));
  } catch (e) {
    throw chartError(spec, `${url} is not a valid OCI reference: ${errorMessage(e)}`);
  }
  const pool = options.registry ? undefined : registryPool(options.settings ?? new Map());
  const store = options.registry ? options.registry(ref.registry) : pool!.get(ref.registry);
  try {
    const { bytes } = await store.resolve(ref.repository, ref.tag!);
    let manifest: unknown;
    try {
      manifest = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw chartError(spec, `${url} has a manifest that is not JSON`);
    }
    const layer = chartLayer(manifest);
    if (!layer) throw chartError(spec, `${url} is not a Helm chart (no chart layer in its manifest)`);
    if (layer.size > MAX_CHART_SIZE) throw chartError(spec, `${url}: the chart is too large`);
    if (options.cache && await options.cache.has(layer.digest, layer.size)) {
      const cached = await readCached(options.cache, layer.digest);
      return { ...spec, url, digest: layer.digest, size: layer.size, bytes: cached, cached: true };
    }
    const tgz = await readAll(await store.fetch(ref.repository, layer), MAX_CHART_SIZE);
    return { ...spec, url, digest: layer.digest, size: tgz.byteLength, bytes: tgz, cached: false };
  } catch (e) {
    throw aboutSubject(e, label(spec));
  } finally {
    await pool?.close();
  }
}
