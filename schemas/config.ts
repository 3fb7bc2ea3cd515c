/**
 * The schema of `airgap.yaml`. Unknown keys are errors, so a typo never
 * silently drops an image or a setting.
 * @module
 */
import { z } from "zod";

const platformList = z.array(z.string().min(1), {
  error: "expected a list of platforms such as [linux/amd64, linux/arm64] or [all]",
});

// Every key carries its description here, once: `airgap schema` hands them
// to editors (yaml-language-server shows them on hover), and the example's
// comments say the same in more words.
const PLATFORMS = "Platforms to keep, os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8); [all] keeps every platform";
const MIRROR = "Mirror to pull from instead of the registries the entries name (MIRROR/ENTRY, as --source-registry)";
const WINDOWS_VERSIONS =
  "Windows versions: release names (1809, ltsc2019, 20H2, ltsc2022, ltsc2025) or build prefixes (10.0.17763)";

/** Signatures, attestations and SBOMs to carry with images (cosign tags and OCI referrers). */
export const ArtifactsSchema = z.array(z.enum(["signatures", "attestations", "sboms"]), {
  error: "expected a list of [signatures, attestations, sboms]",
});

/** Cosign key-based verification: the image must carry a signature of its digest made with this key (PEM, relative to this file). */
export const VerifySchema = z.strictObject({
  key: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe(
    "PEM public key file(s) (ECDSA P-256, RSA, Ed25519), relative to this file",
  ),
}, { error: "expected {key: FILE} or {key: [FILE, …]}" });

/** One inline image entry: a string, or an object with per-image settings. */
export const ImageEntrySchema = z.union([
  z.string().min(1).describe("An image reference, written as in rancher-images.txt"),
  z.strictObject({
    ref: z.string().min(1).describe("The image reference, written as in rancher-images.txt"),
    platforms: platformList.optional().describe(`${PLATFORMS} (default: the top-level platforms)`),
    artifacts: ArtifactsSchema.optional().describe("Signatures, attestations and SBOMs to carry with this image"),
    verify: VerifySchema.optional().describe("Keys this image's cosign signature must verify with"),
  }),
], { error: "expected an image reference (string) or {ref, platforms, artifacts, verify}" }).describe(
  "An image: a reference, or {ref, platforms, artifacts, verify}",
);

/** One image list file: a path, or an object with per-list settings. */
export const ListEntrySchema = z.union([
  z.string().min(1).describe("An image list file, relative to this file"),
  z.strictObject({
    path: z.string().min(1).describe("The image list file, relative to this file (one entry per line, # comments)"),
    platforms: platformList.optional().describe(`${PLATFORMS} (default: the top-level platforms)`),
    sourceRegistry: z.string().min(1).optional().describe(`${MIRROR}, for this list`),
  }),
], { error: "expected a list file path (string) or {path, platforms, sourceRegistry}" }).describe(
  "An image list: a path, or {path, platforms, sourceRegistry}",
);

/** Windows versions: release names (1809, ltsc2022, 20H2…) or build prefixes (10.0.17763). */
const windowsVersions = z.array(z.union([z.string().min(1), z.number().int()]), {
  error: "expected a list of Windows versions such as [1809, ltsc2022] or [10.0.17763]",
});

/** Windows images (rancher-windows-images.txt): windows/amd64 images of the given versions. */
export const WindowsSchema = z.strictObject({
  versions: windowsVersions.optional().describe(
    `${WINDOWS_VERSIONS}, for the lists and images that name none (default [1809])`,
  ),
  lists: z.array(z.union([
    z.string().min(1).describe("A Windows image list file, relative to this file"),
    z.strictObject({
      path: z.string().min(1).describe("The Windows image list file, relative to this file"),
      versions: windowsVersions.optional().describe(`${WINDOWS_VERSIONS}, for this list`),
      sourceRegistry: z.string().min(1).optional().describe(`${MIRROR}, for this list`),
    }),
  ], { error: "expected a list file path (string) or {path, versions, sourceRegistry}" })).optional().describe(
    "Windows image list files (rancher-windows-images.txt), relative to this file",
  ),
  images: z.array(z.union([
    z.string().min(1).describe("A Windows image reference"),
    z.strictObject({
      ref: z.string().min(1).describe("The Windows image reference"),
      versions: windowsVersions.optional().describe(`${WINDOWS_VERSIONS}, for this image`),
    }),
  ], { error: "expected an image reference (string) or {ref, versions}" })).optional().describe(
    "Windows images written inline",
  ),
});

/** Connection settings for one registry host. Secrets are referenced, never written here. */
export const RegistrySettingsSchema = z.strictObject({
  foreignLayers: z.enum(["include", "keep", "skip"]).optional().describe(
    "Foreign (non-distributable) layers when this host is the load target: include (default: carry them, rewrite manifests), keep (leave them at their URLs), skip (rewrite, do not carry)",
  ),
  verify: VerifySchema.optional().describe(
    "Keys the cosign signatures of images pulled from this host must verify with",
  ),
  insecure: z.boolean().optional().describe("Allow plain HTTP (tried after HTTPS), like Docker's insecure-registries"),
  ca: z.string().min(1).optional().describe("PEM file of the CA(s) to trust for this host, relative to this file"),
  concurrency: z.number().int().positive().optional().describe(
    "Blob downloads (and, apart, blob uploads) in flight to this registry at once (default 6: Docker Hub and ghcr throttle more); --concurrency overrides",
  ),
  metadataConcurrency: z.number().int().positive().optional().describe(
    "Metadata requests (manifests, tag checks, existence probes, tokens) in flight to this registry at once (default 32)",
  ),
  timeout: z.union([z.number().positive(), z.string().min(1)]).optional().describe(
    "How long this registry may stay silent: seconds or a duration (30s, 2m), for both the wait for a response and the gap between two bytes of a body (default 30 s and 60 s; --timeout overrides)",
  ),
  username: z.string().min(1).optional().describe("User name (the password comes from passwordEnv or passwordFile)"),
  passwordEnv: z.string().min(1).optional().describe("Environment variable holding the password"),
  passwordFile: z.string().min(1).optional().describe(
    "File holding the password (a trailing newline is ignored), relative to this file",
  ),
});

/** Where `airgap load` pushes when no `--registry` is given. */
export const TargetSchema = z.strictObject({
  registry: z.string().min(1).describe("Target registry host[:port]"),
  prefix: z.string().optional().describe("Path put before every image, e.g. a Harbor project"),
});

/** A Rancher release whose image lists (release assets) are carried. */
export const RancherSchema = z.strictObject({
  version: z.string().min(1).describe("Release tag, e.g. v2.7.9"),
  url: z.string().min(1).optional().describe(
    "Where the release assets are: a URL (or a directory relative to this file); {version} is replaced (default: GitHub's release downloads)",
  ),
  allowPrerelease: z.boolean().optional().describe("Accept -rc/-alpha/-beta versions (not for production)"),
  windows: z.boolean().optional().describe("Also carry rancher-windows-images.txt"),
  platforms: platformList.optional().describe(`${PLATFORMS}, for the Linux list (default: the top-level platforms)`),
  windowsPlatforms: platformList.optional().describe(
    "Platforms for the Windows list (default: windows/amd64 of the windows.versions)",
  ),
  sourceRegistry: z.string().min(1).optional().describe(`${MIRROR}, for the release's images`),
});

/** A Helm chart: its images are carried, and the chart itself travels in the archive. */
export const ChartSchema = z.strictObject({
  name: z.string().min(1).optional().describe(
    "Chart name in the repository (with path: optional, checked against its Chart.yaml)",
  ),
  repo: z.string().min(1).optional().describe(
    "An HTTP(S) chart repository (with index.yaml), a local directory (relative to this file) with an index.yaml or with the charts themselves (.tgz files or chart directories), or oci://host/path",
  ),
  path: z.string().min(1).optional().describe(
    "Instead of repo: a chart .tgz or a chart directory, relative to this file (name and version from its Chart.yaml)",
  ),
  version: z.string().min(1).optional().describe(
    "Exact chart version (with path: optional, checked against its Chart.yaml)",
  ),
  values: z.record(z.string(), z.unknown()).optional().describe(
    "Values, as in a values file (applied after valuesFiles)",
  ),
  valuesFiles: z.array(z.string().min(1)).optional().describe(
    "Values files relative to this file, applied in order (helm -f)",
  ),
  set: z.array(z.string().min(1)).optional().describe("--set key=value arguments, applied last"),
  extraImages: z.array(z.string().min(1)).optional().describe(
    "Images the chart's programs pull at run time, which no template shows",
  ),
  platforms: platformList.optional().describe(
    `${PLATFORMS}, for this chart's images (default: the top-level platforms)`,
  ),
  sourceRegistry: z.string().min(1).optional().describe(`${MIRROR}, for this chart's images`),
  releaseName: z.string().min(1).optional().describe(".Release.Name (default release-name, as helm template)"),
  namespace: z.string().min(1).optional().describe(".Release.Namespace (default: default)"),
  kubeVersion: z.string().min(1).optional().describe(".Capabilities.KubeVersion, e.g. v1.27.6"),
}).superRefine((chart, ctx) => {
  // Either a repository (which needs the name and version to look up) or a path (whose Chart.yaml names them).
  if (chart.repo !== undefined && chart.path !== undefined) {
    ctx.addIssue({ code: "custom", path: ["path"], message: "give repo or path, not both" });
  } else if (chart.path === undefined) {
    if (chart.repo === undefined) {
      ctx.addIssue({ code: "custom", path: ["repo"], message: "required (or path: a chart .tgz or directory)" });
    }
    for (const key of ["name", "version"] as const) {
      if (chart[key] === undefined) ctx.addIssue({ code: "custom", path: [key], message: "required with repo" });
    }
  }
});

/** A file that travels as an OCI artifact (the Helm CLI, scripts, ISOs…): downloaded or read, verified, carried by digest. */
export const FileSchema = z.strictObject({
  name: z.string().min(1).optional().describe(
    "File name inside the gap (default: the last part of url or path); letters, digits, '.', '_', '-'",
  ),
  url: z.string().min(1).optional().describe("Where to download it: an http(s) URL (or file:)"),
  path: z.string().min(1).optional().describe("A local file, relative to this file"),
  sha256: z.string().regex(/^(sha256:)?[a-f0-9]{64}$/i, { error: "expected 64 hex digits (sha256)" }).optional()
    .describe("Its SHA-256: the download must match"),
  mode: z.string().regex(/^0?[0-7]{3,4}$/, { error: "expected an octal mode such as 0755" }).optional().describe(
    "Its file mode when extracted, octal (default 0644)",
  ),
}).describe("A file: {url | path, sha256, name, mode}");

/** A Kubernetes distribution (RKE2 or K3s) release: its image list becomes images, its binaries, checksums and install script files. */
export const DistributionSchema = z.strictObject({
  version: z.string().min(1).describe("Release tag, e.g. v1.27.10+rke2r1 (RKE2) or v1.27.10+k3s1 (K3s)"),
  architectures: z.array(z.enum(["amd64", "arm64", "arm", "s390x"]), {
    error: "expected a list of architectures: amd64, arm64, arm, s390x",
  }).min(1).optional().describe("Architectures whose binaries and images to carry (default [amd64])"),
  url: z.string().min(1).optional().describe(
    "Where the release assets are: a URL (or a directory relative to this file); {version} is replaced (default: GitHub's release downloads)",
  ),
  installScript: z.string().min(1).optional().describe(
    "Where install.sh is (default: <url>/install.sh with url, else the script in the release's git tag)",
  ),
  platforms: platformList.optional().describe(
    `${PLATFORMS}, for the release's images (default: linux/<each architecture>)`,
  ),
  sourceRegistry: z.string().min(1).optional().describe(`${MIRROR}, for the release's images`),
});

/** The whole declaration. */
export const ConfigSchema = z.strictObject({
  version: z.literal(1).optional().describe("Declaration format version (1)"),
  platforms: platformList.optional().describe(`${PLATFORMS}, for every image (default [linux/amd64])`),
  sourceRegistry: z.string().min(1).optional().describe(MIRROR),
  images: z.array(ImageEntrySchema).optional().describe("Image entries, written as in rancher-images.txt"),
  lists: z.array(ListEntrySchema).optional().describe("Image list files, relative to this file"),
  windows: WindowsSchema.optional().describe("Windows images and versions (rancher-windows-images.txt)"),
  rancher: RancherSchema.optional().describe("A Rancher release: its rancher-images.txt (and Windows list)"),
  charts: z.array(ChartSchema).optional().describe("Helm charts: their images, and the charts themselves"),
  files: z.array(FileSchema).optional().describe("Files carried as OCI artifacts beside the images"),
  rke2: DistributionSchema.optional().describe("An RKE2 release: its images, tarballs, checksums and install script"),
  k3s: DistributionSchema.optional().describe("A K3s release: its images, binaries, checksums and install script"),
  target: TargetSchema.optional().describe("Where airgap load pushes when --registry is not given"),
  registries: z.record(z.string().min(1), RegistrySettingsSchema).optional().describe(
    "Connection settings by registry host (host[:port]), for sources and targets alike",
  ),
  output: z.string().min(1).optional().describe("Archive written by airgap save, relative to this file"),
  cache: z.string().min(1).optional().describe("Cache directory (default: the platform cache directory)"),
  keepGoing: z.boolean().optional().describe(
    "Save, load and plan every image that can be (--keep-going): the others are listed in NAME.COMMAND-failed.txt, exit code 3",
  ),
  artifacts: ArtifactsSchema.optional().describe(
    "Signatures, attestations and SBOMs to carry with every image (--with-signatures: all three)",
  ),
  verify: VerifySchema.optional().describe("Keys every image's cosign signature must verify with (--verify-key)"),
}).describe("airgap.yaml: what to carry into the air gap");

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
