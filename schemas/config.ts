/**
 * The schema of `airgap.yaml`. Unknown keys are errors, so a typo never
 * silently drops an image or a setting.
 * @module
 */
import { z } from "zod";

const platformList = z.array(z.string().min(1), {
  error: "expected a list of platforms such as [linux/amd64, linux/arm64] or [all]",
});

/** One inline image entry: a string, or an object with per-image settings. */
export const ImageEntrySchema = z.union([
  z.string().min(1),
  z.strictObject({
    ref: z.string().min(1),
    platforms: platformList.optional(),
  }),
], { error: "expected an image reference (string) or {ref, platforms}" });

/** One image list file: a path, or an object with per-list settings. */
export const ListEntrySchema = z.union([
  z.string().min(1),
  z.strictObject({
    path: z.string().min(1),
    platforms: platformList.optional(),
    sourceRegistry: z.string().min(1).optional(),
  }),
], { error: "expected a list file path (string) or {path, platforms, sourceRegistry}" });

/** Windows versions: release names (1809, ltsc2022, 20H2…) or build prefixes (10.0.17763). */
const windowsVersions = z.array(z.union([z.string().min(1), z.number().int()]), {
  error: "expected a list of Windows versions such as [1809, ltsc2022] or [10.0.17763]",
});

/** Windows images (rancher-windows-images.txt): windows/amd64 images of the given versions. */
export const WindowsSchema = z.strictObject({
  /** Versions for the lists and images below that name none (default [1809]). */
  versions: windowsVersions.optional(),
  /** Windows image list files, relative to this file. */
  lists: z.array(z.union([
    z.string().min(1),
    z.strictObject({
      path: z.string().min(1),
      versions: windowsVersions.optional(),
      sourceRegistry: z.string().min(1).optional(),
    }),
  ], { error: "expected a list file path (string) or {path, versions, sourceRegistry}" })).optional(),
  /** Windows images written inline. */
  images: z.array(z.union([
    z.string().min(1),
    z.strictObject({ ref: z.string().min(1), versions: windowsVersions.optional() }),
  ], { error: "expected an image reference (string) or {ref, versions}" })).optional(),
});

/** Connection settings for one registry host. Secrets are referenced, never written here. */
export const RegistrySettingsSchema = z.strictObject({
  /**
   * Foreign (non-distributable) layers when this host is the load target:
   * include (default: carry them, rewrite manifests), keep (leave them at their URLs), skip (rewrite, do not carry).
   */
  foreignLayers: z.enum(["include", "keep", "skip"]).optional(),
  insecure: z.boolean().optional(),
  ca: z.string().min(1).optional(),
  /**
   * How long this registry may stay silent: seconds or a duration (30s, 2m), for both the wait for a
   * response and the gap between two bytes of a body (default 30 s and 60 s; `--timeout` overrides).
   */
  timeout: z.union([z.number().positive(), z.string().min(1)]).optional(),
  username: z.string().min(1).optional(),
  passwordEnv: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
});

/** Where `airgap load` pushes when no `--registry` is given. */
export const TargetSchema = z.strictObject({
  registry: z.string().min(1),
  prefix: z.string().optional(),
});

/** A Rancher release whose image lists (release assets) are carried. */
export const RancherSchema = z.strictObject({
  /** Release tag, e.g. `v2.7.9`. */
  version: z.string().min(1),
  /** Where the release assets are: a URL (or a directory relative to this file); `{version}` is replaced. */
  url: z.string().min(1).optional(),
  /** Accept `-rc`/`-alpha`/`-beta` versions (not for production). */
  allowPrerelease: z.boolean().optional(),
  /** Also carry `rancher-windows-images.txt`. */
  windows: z.boolean().optional(),
  /** Platforms for the Linux list (default: `platforms`). */
  platforms: platformList.optional(),
  /** Platforms for the Windows list (default: [windows/amd64]). */
  windowsPlatforms: platformList.optional(),
  /** Mirror to pull the listed images from (default: `sourceRegistry`). */
  sourceRegistry: z.string().min(1).optional(),
});

/** A Helm chart: its images are carried, and the chart itself travels in the archive. */
export const ChartSchema = z.strictObject({
  /** Chart name in the repository. */
  name: z.string().min(1),
  /** An HTTP(S) chart repository (with index.yaml), a local directory with one, or `oci://host/path`. */
  repo: z.string().min(1),
  /** Exact chart version. */
  version: z.string().min(1),
  /** Values, as in a values file (applied after `valuesFiles`). */
  values: z.record(z.string(), z.unknown()).optional(),
  /** Values files relative to this file, applied in order (`helm -f`). */
  valuesFiles: z.array(z.string().min(1)).optional(),
  /** `--set key=value` arguments, applied last. */
  set: z.array(z.string().min(1)).optional(),
  /** Images the chart's programs pull at run time, which no template shows. */
  extraImages: z.array(z.string().min(1)).optional(),
  /** Platforms for this chart's images (default: `platforms`). */
  platforms: platformList.optional(),
  /** Mirror to pull this chart's images from (default: `sourceRegistry`). */
  sourceRegistry: z.string().min(1).optional(),
  /** `.Release.Name` (default `release-name`, as `helm template`). */
  releaseName: z.string().min(1).optional(),
  /** `.Release.Namespace` (default `default`). */
  namespace: z.string().min(1).optional(),
  /** `.Capabilities.KubeVersion`, e.g. `v1.27.6`. */
  kubeVersion: z.string().min(1).optional(),
});

/** The whole declaration. */
export const ConfigSchema = z.strictObject({
  /** Declaration format version. */
  version: z.literal(1).optional(),
  /** Default platforms for every image (`all` keeps every platform). */
  platforms: platformList.optional(),
  /** Mirror to pull from instead of the registries the entries name (`--source-registry`). */
  sourceRegistry: z.string().min(1).optional(),
  /** Image entries, written as in rancher-images.txt. */
  images: z.array(ImageEntrySchema).optional(),
  /** Image list files, relative to this file. */
  lists: z.array(ListEntrySchema).optional(),
  /** Windows images and versions (rancher-windows-images.txt). */
  windows: WindowsSchema.optional(),
  /** A Rancher release: its `rancher-images.txt` (and Windows list). */
  rancher: RancherSchema.optional(),
  /** Helm charts: their images, and the charts themselves. */
  charts: z.array(ChartSchema).optional(),
  /** Default load target. */
  target: TargetSchema.optional(),
  /** Connection settings by registry host (`host[:port]`). */
  registries: z.record(z.string().min(1), RegistrySettingsSchema).optional(),
  /** Default archive path for `save`, relative to this file. */
  output: z.string().min(1).optional(),
  /** Cache directory (default: the platform cache directory). */
  cache: z.string().min(1).optional(),
});

/** A validated declaration. */
export type Config = z.infer<typeof ConfigSchema>;
/** A Rancher release as declared. */
export type RancherConfig = z.infer<typeof RancherSchema>;
/** A chart as declared. */
export type ChartConfig = z.infer<typeof ChartSchema>;
/** Registry connection settings as declared. */
export type RegistrySettingsConfig = z.infer<typeof RegistrySettingsSchema>;

/** JSON Schema of airgap.yaml, for editors (`airgap schema`). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigSchema);
}
