/**
 * Fetch the declared sources — Rancher release lists and Helm charts — and
 * turn them into image requests beside the declaration's own, each with
 * where it came from (`rancher-images.txt@v2.7.9:123`, `chart
 * cert-manager@v1.12.3: cert-manager/templates/deployment.yaml (values
 * image.repository)`), plus the lock entries that pin them and the chart
 * artifacts that travel in the archive.
 * @module
 */
import { dirname, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type NetworkOptions, withNetwork } from "../store/registry/pool.ts";
import type { Lock, LockedSource } from "../../schemas/lock.ts";
import { type Declaration, type ImageRequest, imageRequest, mergeRequests } from "./declaration.ts";
import { aboutSubject, AirgapError, errorMessage } from "../errors.ts";
import { sourceKey } from "../lock.ts";
import { type ChartArtifact, chartArtifact } from "../oci/chart.ts";
import type { CacheStore } from "../store/cache.ts";
import type { RegistryStore } from "../store/registry/store.ts";
import type { NetworkSession } from "../transport/session.ts";
import { fetchChart } from "../sources/charts.ts";
import type { ChartSourceSpec, RancherSourceSpec } from "../sources/specs.ts";
import { type ChartImage, imagesOfChart, loadChart } from "@airgap/helm";
import { fetchRancherLists, RANCHER_WINDOWS_IMAGES } from "../sources/rancher.ts";

/** What fetching sources needs. */
export interface SourceContext {
  /** Fetched lists and charts are kept here by digest. */
  cache?: CacheStore;
  /** The previous lock: to compare with, or to pin from with `locked`. */
  previousLock?: Lock;
  /** Use the lock's digests (from the cache when there, else fetched and checked). */
  locked?: boolean;
  /** Registry stores for OCI chart repositories (default: a pool per chart). */
  registry?: (host: string) => RegistryStore;
  /** Warnings (templates that did not render…). */
  reporter?: { warn(line: string): void };
  /** Timeouts, progress hooks and cancellation for downloads (`--timeout`, Ctrl-C). */
  network?: NetworkOptions;
  /** The run's network session (`pool.session`): source downloads share its transports instead of building their own. */
  session?: NetworkSession;
}

/** One fetched source, for plans and reports. */
export interface SourceSummary {
  /** `rancher-images.txt@v2.7.9`, `chart cert-manager@v1.12.3`. */
  label: string;
  /** Its lock entry. */
  locked: LockedSource;
  /** Distinct images it contributed (another source may name some of them too). */
  images: number;
  /** Compared with the previous lock. */
  status: "new" | "changed" | "unchanged";
  /** How it was verified, e.g. `sha256sum.txt`, `index.yaml digest`. */
  verified: string;
  /** Read from the cache (no download). */
  cached: boolean;
}

/** The declaration's requests with the sources' added, and what pins and carries them. */
export interface ResolvedSources {
  /** Every request, de-duplicated by entry (the declaration's first). */
  requests: ImageRequest[];
  /** Lock entries for the sources. */
  locked: LockedSource[];
  /** The charts, as OCI artifacts for the archive. */
  charts: ChartArtifact[];
  /** One line per source, for plans. */
  summaries: SourceSummary[];
}

/** How a chart image's origin reads: chart, template file, values path. */
export function chartImageOrigin(chartLabel: string, image: ChartImage): string {
  const { template, valuesPath, field, fallback } = image.origin;
  const sub = image.origin.chart;
  const place = `${template ?? ""}${field ? `${template ? ": " : ""}${field}` : ""}`;
  const where = image.method === "annotation"
    ? `Chart.yaml images annotation${sub && !chartLabel.includes(`${sub}@`) ? ` of ${sub}` : ""}`
    : fallback
    ? `from values${
      valuesPath ? ` ${valuesPath}` : ""
    }, template ${fallback.template} could not be rendered: ${fallback.reason}`
    : image.method === "values-scan"
    ? `values ${valuesPath} (values scan: a template of ${sub} did not render)`
    : `${place}${valuesPath ? ` (values ${valuesPath})` : ""}`;
  return `${chartLabel}: ${where}`;
}

function statusOf(locked: LockedSource, previous?: Lock): SourceSummary["status"] {
  const before = previous?.sources?.find((s) => sourceKey(s) === sourceKey(locked));
  return !before ? "new" : before.digest === locked.digest ? "unchanged" : "changed";
}

async function rancherRequests(
  spec: RancherSourceSpec,
  decl: Declaration,
  ctx: SourceContext,
): Promise<{ requests: ImageRequest[]; summaries: SourceSummary[] }> {
  const pinned = new Map<string, string>();
  for (const s of ctx.previousLock?.sources ?? []) {
    if (s.kind !== "chart" && s.version === spec.version) pinned.set(s.name, s.digest);
  }
  let lists;
  try {
    lists = await fetchRancherLists({
      version: spec.version,
      url: spec.url,
      allowPrerelease: spec.allowPrerelease,
      windows: spec.windows,
      cache: ctx.cache,
      pinned,
      locked: ctx.locked,
      settings: withNetwork(decl.registries, ctx.network),
      session: ctx.session,
    });
  } catch (e) {
    throw new AirgapError(`${spec.origin}: ${errorMessage(e)}`, e instanceof AirgapError ? e.context : {});
  }
  const requests: ImageRequest[] = [];
  const summaries: SourceSummary[] = [];
  for (const list of lists) {
    const platforms = list.file === RANCHER_WINDOWS_IMAGES ? spec.windowsPlatforms : spec.platforms;
    for (const { entry, line } of list.entries) {
      requests.push(imageRequest(entry, `${list.file}@${list.version}:${line}`, platforms, spec.sourceRegistry));
    }
    const locked: LockedSource = {
      kind: list.kind,
      name: list.file,
      version: list.version,
      url: list.url,
      digest: list.digest,
      size: list.size,
    };
    summaries.push({
      label: `${list.file}@${list.version}`,
      locked,
      images: list.entries.length,
      status: statusOf(locked, ctx.previousLock),
      verified: list.verified === "unverified" ? "no sha256sum.txt published" : list.verified,
      cached: list.cached,
    });
  }
  return { requests, summaries };
}

async function chartRequests(
  spec: ChartSourceSpec,
  decl: Declaration,
  ctx: SourceContext,
): Promise<{ requests: ImageRequest[]; summary: SourceSummary; artifact: ChartArtifact }> {
  const plain = (v: string) => v.replace(/^v/, "");
  const before = ctx.previousLock?.sources?.find((s) =>
    s.kind === "chart" && s.name === spec.name && plain(s.version) === plain(spec.version)
  );
  const chartLabel = `chart ${spec.name}@${spec.version}`;
  const fail = (e: unknown): never => {
    const about = aboutSubject(e, chartLabel);
    throw about.withMessage(`${spec.origin}: ${about.message}`, about.context);
  };
  const fetched = await fetchChart(spec, {
    cache: ctx.cache,
    pinned: before ? { digest: before.digest, url: before.url } : undefined,
    locked: ctx.locked,
    settings: withNetwork(decl.registries, ctx.network),
    session: ctx.session,
    registry: ctx.registry,
  }).catch(fail);
  const chart = await loadChart(fetched.bytes, `${spec.name}-${fetched.version}.tgz`).catch(fail);
  if (chart.name !== spec.name) fail(new AirgapError(`the archive holds chart "${chart.name}", not "${spec.name}"`));
  const label = `chart ${chart.name}@${chart.version}`;
  const found = imagesOfChart(chart, { values: spec.values, set: spec.set, ...spec.release, where: label });
  for (const w of found.warnings) {
    ctx.reporter?.warn(`${label}: ${w.template ? `${w.template}: ` : ""}${w.message}`);
  }
  const requests: ImageRequest[] = [];
  for (const image of found.images) {
    requests.push(imageRequest(image.image, chartImageOrigin(label, image), spec.platforms, spec.sourceRegistry));
  }
  for (const extra of spec.extraImages) {
    requests.push(
      imageRequest(extra.entry, `${extra.origin} (${label} extraImages)`, spec.platforms, spec.sourceRegistry),
    );
  }
  const artifact = chartArtifact(fetched.bytes, chart.metadata);
  const locked: LockedSource = {
    kind: "chart",
    name: chart.name,
    version: chart.version,
    url: fetched.url,
    digest: fetched.digest,
    size: fetched.size,
    artifact: artifact.manifest.descriptor.digest,
  };
  return {
    requests,
    artifact,
    summary: {
      label,
      locked,
      images: new Set(requests.map((r) => r.entry)).size, // an extraImages entry the templates also name counts once
      status: statusOf(locked, ctx.previousLock),
      verified: fetched.fromDisk
        ? "local file, pinned by digest"
        : fetched.url.startsWith("oci://")
        ? "registry digest"
        : ctx.locked && fetched.cached
        ? "lock"
        : "index.yaml digest",
      cached: fetched.cached,
    },
  };
}

/**
 * The lock goes into git: a local file (`file:///home/me/site/charts/x.tgz`)
 * is recorded relative to the declaration (`charts/x.tgz`, `../shared/x.tgz`)
 * so the lock does not name the machine it was written on. Other URLs stay.
 */
export function portableUrl(url: string, configPath: string | undefined): string {
  if (!configPath || !/^file:\/\//i.test(url)) return url;
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch {
    return url;
  }
  return relative(dirname(configPath), path).split(sep).join("/") || ".";
}

/**
 * Fetch every declared source and merge its images into the declaration's
 * requests. A declaration without sources comes back as it is.
 */
export async function resolveSources(decl: Declaration, ctx: SourceContext = {}): Promise<ResolvedSources> {
  const lists: ImageRequest[][] = [decl.requests];
  const locked: LockedSource[] = [];
  const charts: ChartArtifact[] = [];
  const summaries: SourceSummary[] = [];
  for (const spec of decl.sources ?? []) {
    if (spec.kind === "rancher") {
      const got = await rancherRequests(spec, decl, ctx);
      lists.push(got.requests);
      summaries.push(...got.summaries);
    } else {
      const got = await chartRequests(spec, decl, ctx);
      lists.push(got.requests);
      summaries.push(got.summary);
      charts.push(got.artifact);
    }
  }
  for (const s of summaries) {
    s.locked.url = portableUrl(s.locked.url, decl.configPath);
    locked.push(s.locked);
  }
  // The chart blobs go into the cache so the archive is filled from it like any image.
  for (const artifact of charts) {
    for (const blob of [artifact.manifest, artifact.config, artifact.chart]) {
      await ctx.cache?.putBytes(blob.descriptor, blob.bytes);
    }
  }
  return { requests: mergeRequests(...lists), locked, charts, summaries };
}
