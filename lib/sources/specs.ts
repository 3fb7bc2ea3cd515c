/**
 * Source specs: the `rancher:` and `charts:` sections of airgap.yaml, checked when the
 * declaration is read (versions, pre-releases, values files, `--set`
 * syntax, extra image references), each problem naming its file, line and
 * column. Nothing is fetched here: {@link resolveSources} does that.
 * @module
 */
import { echo } from "../text.ts";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Config } from "../../schemas/config.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { parsePlatformSelector, type PlatformSelector, windowsSelector } from "../oci/platform.ts";
import { parseReference } from "../ref.ts";
import { normaliseRepo } from "./charts.ts";
import { checkLocalIndex, findInDirectory, hasIndex, type LocalChart, readLocalChart } from "./local_charts.ts";
import { type GoMap, mergeValues, parseSet, parseValues } from "@airgap/helm";
import { readTextLimited } from "../limits.ts";
import { rancherAssetsUrl, rancherReleaseTag } from "./rancher.ts";

/** A declared Rancher release. */
export interface RancherSourceSpec {
  /** A Rancher release. */
  kind: "rancher";
  /** Release tag, `v2.7.9`. */
  version: string;
  /** The directory of its assets (a URL ending in `/`). */
  url: string;
  /** Pre-releases accepted. */
  allowPrerelease: boolean;
  /** Fetch `rancher-windows-images.txt` too. */
  windows: boolean;
  /** Platforms for the Linux list's images. */
  platforms: PlatformSelector;
  /** Platforms for the Windows list's images. */
  windowsPlatforms: PlatformSelector;
  /** Mirror the listed images are pulled from. */
  sourceRegistry?: string;
  /** Where it is declared (`airgap.yaml:3:3`). */
  origin: string;
}

/** A declared chart. */
export interface ChartSourceSpec {
  /** A Helm chart. */
  kind: "chart";
  /** Chart name. */
  name: string;
  /** Normalised repository: `https://…`, `file:///…` or `oci://…`, without a trailing slash. */
  repo: string;
  /** Exact version. */
  version: string;
  /** Values files merged in order, then inline `values`. */
  values: Record<string, unknown>;
  /** `--set` arguments, applied last. */
  set: string[];
  /** Images no template shows, each with where it is declared. */
  extraImages: { entry: string; origin: string }[];
  /** Platforms for its images. */
  platforms: PlatformSelector;
  /** Mirror its images are pulled from. */
  sourceRegistry?: string;
  /** Release name, namespace and Kubernetes version for the render. */
  release: { releaseName?: string; namespace?: string; kubeVersion?: string };
  /** Where it is declared (`airgap.yaml:12:5`). */
  origin: string;
  /**
   * Read from disk (`path:`, or a directory repository without `index.yaml`):
   * the chart file or directory, and the digest of its `.tgz` when checked.
   */
  local?: { path: string; digest: string };
}

/** A source of image names that must be fetched. */
export type SourceSpec = RancherSourceSpec | ChartSourceSpec;

/** What {@link declaredSources} needs from the declaration being read. */
export interface DeclaredContext {
  /** The declaration file (relative paths are relative to its directory). */
  path: string;
  /** `FILE:LINE:COL` of a node. */
  locate(path: readonly PropertyKey[]): string;
  defaultPlatforms: PlatformSelector;
  sourceRegistry?: string;
}

function selector(values: string[] | undefined, fallback: PlatformSelector, where: string): PlatformSelector {
  if (!values) return fallback;
  try {
    return parsePlatformSelector(values);
  } catch (e) {
    throw new AirgapError(`${where}: ${errorMessage(e)}`, {}, { exitCode: 2 });
  }
}

function usage(where: string, message: string): AirgapError {
  return new AirgapError(`${where}: ${message}`, { where }, { exitCode: 2 });
}

/** Turn a location (URL or a directory relative to the declaration) into a URL ending in `/`. */
function directoryUrl(text: string, dir: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : pathToFileURL(resolve(dir, text)).href;
  return url.endsWith("/") ? url : `${url}/`;
}

/** Check the `rancher:` and `charts:` sections and turn them into source specs. */
export async function declaredSources(config: Config, ctx: DeclaredContext): Promise<SourceSpec[]> {
  const dir = dirname(resolve(ctx.path));
  const out: SourceSpec[] = [];
  if (config.rancher) out.push(rancherSource(config, ctx, dir));
  const seen = new Map<string, string>();
  for (const [i, chart] of (config.charts ?? []).entries()) {
    const at = (...path: PropertyKey[]) => ctx.locate(["charts", i, ...path]);
    const spec = await chartSource(chart, ctx, dir, at);
    const key = `${spec.name}@${spec.version}`;
    if (seen.has(key)) throw usage(at(), `chart ${key} is declared twice (first at ${seen.get(key)})`);
    seen.set(key, at());
    out.push(spec);
  }
  return out;
}

/** The `rancher:` section as a source spec. */
function rancherSource(config: Config, ctx: DeclaredContext, dir: string): RancherSourceSpec {
  const rancher = config.rancher!;
  let version: string;
  try {
    version = rancherReleaseTag(rancher.version, rancher.allowPrerelease);
  } catch (e) {
    throw usage(`${ctx.locate(["rancher", "version"])}: rancher.version`, errorMessage(e));
  }
  const url = rancher.url ? directoryUrl(rancher.url.replaceAll("{version}", version), dir) : rancherAssetsUrl(version);
  if (!/^(https?|file):/.test(url)) {
    throw usage(
      `${ctx.locate(["rancher", "url"])}: rancher.url`,
      `"${echo(String(rancher.url))}": expected an http(s) URL or a directory`,
    );
  }
  return {
    kind: "rancher",
    version,
    url,
    allowPrerelease: rancher.allowPrerelease ?? false,
    windows: rancher.windows ?? false,
    platforms: selector(rancher.platforms, ctx.defaultPlatforms, `${ctx.locate(["rancher", "platforms"])}`),
    // The Windows versions of the declaration (windows.versions, default 1809), as for any Windows list.
    windowsPlatforms: selector(
      rancher.windowsPlatforms,
      windowsSelector(config.windows?.versions, ctx.locate(["windows", "versions"])),
      `${ctx.locate(["rancher", "windowsPlatforms"])}`,
    ),
    sourceRegistry: rancher.sourceRegistry ?? ctx.sourceRegistry,
    origin: ctx.locate(["rancher"]),
  };
}

/** One entry of `charts:` as a source spec (`at` locates its fields). */
async function chartSource(
  chart: NonNullable<Config["charts"]>[number],
  ctx: DeclaredContext,
  dir: string,
  at: (...path: PropertyKey[]) => string,
): Promise<ChartSourceSpec> {
  const { repo, local, name, version } = await chartOrigin(chart, dir, at);
  let values: GoMap = {};
  for (const [j, file] of (chart.valuesFiles ?? []).entries()) {
    const path = resolve(dir, file);
    let text: string;
    try {
      text = await readTextLimited(path, "values", file);
    } catch (e) {
      if (e instanceof AirgapError) throw e;
      throw usage(`${at("valuesFiles", j)}: valuesFiles`, `cannot read ${file}: ${errorMessage(e)}`);
    }
    values = mergeValues(values, parseValues(text, file));
  }
  if (chart.values) values = mergeValues(values, chart.values as GoMap);
  for (const [j, arg] of (chart.set ?? []).entries()) {
    try {
      parseSet([arg]);
    } catch (e) {
      throw usage(`${at("set", j)}: set`, errorMessage(e));
    }
  }
  const extraImages = (chart.extraImages ?? []).map((entry, j) => {
    try {
      parseReference(entry);
    } catch (e) {
      throw usage(`${at("extraImages", j)}: extraImages`, errorMessage(e));
    }
    return { entry: entry.trim(), origin: at("extraImages", j) };
  });
  return {
    kind: "chart",
    name,
    repo,
    version,
    ...(local ? { local } : {}),
    values,
    set: chart.set ?? [],
    extraImages,
    platforms: selector(chart.platforms, ctx.defaultPlatforms, at("platforms")),
    sourceRegistry: chart.sourceRegistry ?? ctx.sourceRegistry,
    release: {
      ...(chart.releaseName ? { releaseName: chart.releaseName } : {}),
      ...(chart.namespace ? { namespace: chart.namespace } : {}),
      ...(chart.kubeVersion ? { kubeVersion: chart.kubeVersion } : {}),
    },
    origin: at(),
  };
}

/**
 * Where a chart comes from: a repository as written, or a chart read from
 * disk now — `path:` (a `.tgz` or chart directory) or a directory repository
 * without `index.yaml` — so a missing local chart is reported at its line,
 * by `check` as by `plan`.
 */
async function chartOrigin(
  chart: NonNullable<Config["charts"]>[number],
  dir: string,
  at: (...path: PropertyKey[]) => string,
): Promise<{ repo: string; name: string; version: string; local?: { path: string; digest: string } }> {
  if (chart.path !== undefined) {
    const path = resolve(dir, chart.path);
    let found: LocalChart;
    try {
      found = await readLocalChart(path);
    } catch (e) {
      throw usage(`${at("path")}: path`, errorMessage(e));
    }
    for (const key of ["name", "version"] as const) {
      const declared = chart[key];
      if (declared !== undefined && declared.replace(/^v/, "") !== found[key].replace(/^v/, "")) {
        throw usage(`${at(key)}: ${key}`, `"${declared}", but ${chart.path} is ${found.name}@${found.version}`);
      }
    }
    return {
      repo: pathToFileURL(path).href,
      name: found.name,
      version: found.version,
      local: { path, digest: found.digest },
    };
  }
  const repo = normaliseRepo(chart.repo!, dir);
  if (!/^(https?|file|oci):\/\//.test(repo)) {
    throw usage(
      `${at("repo")}: repo`,
      `"${echo(chart.repo!)}": expected an http(s) chart repository, a directory or oci://`,
    );
  }
  const name = chart.name!;
  const version = chart.version!;
  if (repo.startsWith("file:")) {
    const path = fileURLToPath(repo);
    try {
      if (await hasIndex(path)) {
        await checkLocalIndex(path, name, version);
      } else {
        const found = await findInDirectory(path, name, version);
        return { repo, name, version, local: { path: found.path, digest: found.digest } };
      }
    } catch (e) {
      throw usage(`${at("repo")}: repo`, errorMessage(e));
    }
  }
  return { repo, name, version };
}
