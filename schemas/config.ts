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
  username: z.string().min(1).optional(),
  passwordEnv: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
});

/** Where `airgap load` pushes when no `--registry` is given. */
export const TargetSchema = z.strictObject({
  registry: z.string().min(1),
  prefix: z.string().optional(),
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
/** Registry connection settings as declared. */
export type RegistrySettingsConfig = z.infer<typeof RegistrySettingsSchema>;

/** JSON Schema of airgap.yaml, for editors (`airgap schema`). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigSchema);
}
