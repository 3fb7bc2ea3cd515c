/**
 * A Kubernetes distribution's release fetched at plan time: for each
 * architecture its `sha256sum-ARCH.txt`, then the image list checked against
 * it, whose entries become image requests; the list, the checksum file, the
 * tarball or binary and the install script become files to carry. The
 * declaration's `rke2:`/`k3s:` sections and the assets' names are
 * lib/files/distribution.ts; this step lives in the planner because it builds
 * the planner's requests (so lib/files/ never imports the declaration).
 * @module
 */
import { AirgapError, errorMessage } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";
import { parsePlatformSelector } from "../oci/platform.ts";
import { type ImageRequest, imageRequest } from "./declaration.ts";
import { displayUrl, download } from "../sources/download.ts";
import { parseImageList } from "../sources/list.ts";
import { parseSha256Sums } from "../sources/rancher.ts";
import type { CacheStore } from "../store/cache.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import { fileRepository, type FileSpec } from "../files/spec.ts";
import { distributionAssets, type DistributionSpec } from "../files/distribution.ts";

/** What fetching a distribution needs. */
export interface DistributionContext {
  cache: CacheStore;
  settings?: ReadonlyMap<string, RegistrySettings>;
  signal?: AbortSignal;
}

/** A release's image requests and files. */
export interface ResolvedDistribution {
  requests: ImageRequest[];
  files: FileSpec[];
}

const LIST_LIMIT = 16 * 1024 * 1024;

/** Fetch a release's checksum files and image lists: its requests, and its files to carry. */
export async function resolveDistribution(
  spec: DistributionSpec,
  ctx: DistributionContext,
): Promise<ResolvedDistribution> {
  const label = `${spec.kind} ${spec.version}`;
  const fail = (message: string) => new AirgapError(`${spec.origin}: ${label}: ${message}`, { where: spec.origin });
  const fetched = async (name: string, limit = LIST_LIMIT) => {
    const url = new URL(name, spec.url).href;
    let got;
    try {
      got = await download(url, { settings: ctx.settings, limit, signal: ctx.signal });
    } catch (e) {
      throw fail(errorMessage(e));
    }
    if (!got.found) {
      throw fail(
        `${name} not found at ${displayUrl(url)} (HTTP ${got.status}): is ${spec.version} a ${spec.kind} release?`,
      );
    }
    const digest = digestOf(got.bytes);
    await ctx.cache.putBytes({ mediaType: "application/octet-stream", digest, size: got.bytes.length }, got.bytes);
    return { url, bytes: got.bytes, digest };
  };
  const file = (name: string, url: string, mode: number, sha256?: string, sha256From?: string): FileSpec => ({
    name,
    url,
    written: displayUrl(url),
    ...(sha256 ? { sha256 } : {}),
    ...(sha256From ? { sha256From } : {}),
    mode,
    repository: fileRepository(name)!,
    origin: spec.origin,
  });
  const requests: ImageRequest[] = [];
  const files = new Map<string, FileSpec>();
  for (const arch of spec.architectures) {
    const assets = distributionAssets(spec.kind, arch);
    const sumsFile = await fetched(assets.sums);
    const sums = parseSha256Sums(new TextDecoder().decode(sumsFile.bytes), `${assets.sums}@${spec.version}`);
    files.set(assets.sums, file(assets.sums, sumsFile.url, 0o644, sumsFile.digest));
    for (const name of [assets.list, assets.binary]) {
      if (!sums.has(name)) throw fail(`${name} is not listed in ${assets.sums}: it cannot be verified`);
    }
    if (!files.has(assets.list)) {
      const list = await fetched(assets.list);
      if (list.digest !== sums.get(assets.list)) {
        throw fail(
          `${assets.list}: sha256 mismatch: ${assets.sums} lists ${
            sums.get(assets.list)
          }, the download has ${list.digest}`,
        );
      }
      const platforms = spec.platforms ??
        parsePlatformSelector(
          spec.kind === "k3s" ? spec.architectures.map((a) => `linux/${a}`) : [`linux/${arch}`],
        );
      const where = `${assets.list}@${spec.version}`;
      for (const { entry, line } of parseImageList(new TextDecoder().decode(list.bytes), where)) {
        // `docker.io/rancher/x` as `rancher/x`: load then puts it at REGISTRY/rancher/x, where a node with
        // `system-default-registry: REGISTRY` asks for it (and where Rancher's own list puts the same images).
        const named = entry.replace(/^docker\.io\//, "");
        requests.push(imageRequest(named, `${where}:${line}`, platforms, spec.sourceRegistry));
      }
      files.set(assets.list, file(assets.list, list.url, 0o644, list.digest, assets.sums));
    }
    files.set(
      assets.binary,
      file(assets.binary, new URL(assets.binary, spec.url).href, assets.mode, sums.get(assets.binary), assets.sums),
    );
  }
  files.set("install.sh", file("install.sh", spec.installUrl, 0o755));
  return { requests, files: [...files.values()] };
}
