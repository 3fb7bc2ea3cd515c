/**
 * The Kubernetes distribution as a source: `rke2:` or `k3s:` in
 * airgap.yaml declares a release by version (and architectures), as
 * `rancher:` does. For each architecture the release's `sha256sum-ARCH.txt`
 * is fetched first; the image list (RKE2 `rke2-images-all.linux-ARCH.txt`,
 * K3s `k3s-images.txt`) is checked against it and its entries become image
 * requests; the tarball or binary, the image list and the checksum file
 * themselves become files verified against it (lib/files), and so does the
 * install script (which no checksum file lists: the lock pins it). Assets
 * come from GitHub's release downloads or a `url:` mirror laid out the same
 * way. The checksum files and lists are put into the cache as they are read,
 * so resolving them as files downloads nothing twice. This module reads the
 * sections and names the assets; the fetch at plan time is
 * lib/plan/fetch_distributions.ts.
 * @module
 */
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Config } from "../../schemas/config.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { parsePlatformSelector, type PlatformSelector } from "../oci/platform.ts";

/** The distributions airgap knows. */
export type DistributionKind = "rke2" | "k3s";

/** A declared distribution release. */
export interface DistributionSpec {
  /** RKE2 or K3s. */
  kind: DistributionKind;
  /** Release tag, `v1.27.10+rke2r1`. */
  version: string;
  /** Architectures carried. */
  architectures: string[];
  /** The directory of its assets (a URL ending in `/`). */
  url: string;
  /** Where install.sh is. */
  installUrl: string;
  /** Platforms for its images; undefined: `linux/ARCH` of each list's architecture(s). */
  platforms?: PlatformSelector;
  /** Mirror its images are pulled from. */
  sourceRegistry?: string;
  /** Where it is declared (`airgap.yaml:3:3`). */
  origin: string;
}

const TAGS: Record<DistributionKind, RegExp> = {
  rke2: /^v\d+\.\d+\.\d+(-rc\d+)?\+rke2r\d+$/,
  k3s: /^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$/,
};
const REPOS: Record<DistributionKind, string> = { rke2: "rancher/rke2", k3s: "k3s-io/k3s" };
const K3S_BINARY: Record<string, string> = { amd64: "k3s", arm64: "k3s-arm64", arm: "k3s-armhf", s390x: "k3s-s390x" };

/** The assets of one architecture of a release. */
export function distributionAssets(
  kind: DistributionKind,
  arch: string,
): { sums: string; list: string; binary: string; mode: number } {
  return kind === "rke2"
    ? {
      sums: `sha256sum-${arch}.txt`,
      list: `rke2-images-all.linux-${arch}.txt`,
      binary: `rke2.linux-${arch}.tar.gz`,
      mode: 0o644,
    }
    : { sums: `sha256sum-${arch}.txt`, list: "k3s-images.txt", binary: K3S_BINARY[arch], mode: 0o755 };
}

function usage(where: string, message: string): AirgapError {
  return new AirgapError(`${where}: ${message}`, { where }, { exitCode: 2 });
}

/** Check the `rke2:` and `k3s:` sections and turn them into specs. */
export function declaredDistributions(
  config: Pick<Config, "rke2" | "k3s">,
  ctx: { path: string; locate(path: readonly PropertyKey[]): string; sourceRegistry?: string },
): DistributionSpec[] {
  const dir = dirname(resolve(ctx.path));
  const out: DistributionSpec[] = [];
  for (const kind of ["rke2", "k3s"] as const) {
    const d = config[kind];
    if (!d) continue;
    const at = (...p: PropertyKey[]) => ctx.locate([kind, ...p]);
    if (!TAGS[kind].test(d.version)) {
      throw usage(
        `${at("version")}: ${kind}.version`,
        `"${d.version}" is not a ${kind} release tag (e.g. ${kind === "rke2" ? "v1.27.10+rke2r1" : "v1.27.10+k3s1"})`,
      );
    }
    const located = (text: string) => {
      const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : pathToFileURL(resolve(dir, text)).href;
      if (!/^(https?|file):/.test(url)) {
        throw usage(`${at("url")}: ${kind}.url`, `"${text}": expected an http(s) URL or a directory`);
      }
      return url;
    };
    const mirror = d.url && located(d.url.replaceAll("{version}", d.version));
    const url = mirror
      ? (mirror.endsWith("/") ? mirror : `${mirror}/`)
      : `https://github.com/${REPOS[kind]}/releases/download/${encodeURIComponent(d.version)}/`;
    const installUrl = d.installScript
      ? located(d.installScript.replaceAll("{version}", d.version))
      : mirror
      ? new URL("install.sh", url).href
      : `https://raw.githubusercontent.com/${REPOS[kind]}/${encodeURIComponent(d.version)}/install.sh`;
    let platforms: PlatformSelector | undefined;
    try {
      platforms = d.platforms ? parsePlatformSelector(d.platforms) : undefined;
    } catch (e) {
      throw usage(`${at("platforms")}: ${kind}.platforms`, errorMessage(e));
    }
    out.push({
      kind,
      version: d.version,
      architectures: [...new Set(d.architectures ?? ["amd64"])],
      url,
      installUrl,
      ...(platforms ? { platforms } : {}),
      ...(d.sourceRegistry ?? ctx.sourceRegistry ? { sourceRegistry: d.sourceRegistry ?? ctx.sourceRegistry } : {}),
      origin: at(),
    });
  }
  return out;
}
