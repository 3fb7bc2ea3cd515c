/**
 * Platforms: parse `os/arch[/variant]`, match index entries by the OCI
 * image-index rules, and filter an index down to the selected platforms.
 * The one place that decides what "linux/arm64" means.
 * @module
 */
import { echo } from "../text.ts";
import { REFERENCE_DIGEST, REFERENCE_TYPE } from "./annotations.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { didYouMean } from "../suggest.ts";
import { encodeJson, type ImageIndex, type Platform } from "./manifest.ts";
import type { Descriptor } from "./manifest.ts";
import { DOCKER_CONFIG, OCI_CONFIG } from "./media.ts";
import { osVersionMatches, parseWindowsVersion, parseWindowsVersions, type WindowsVersion } from "./windows.ts";

/** A wanted platform. `osVersions` are build-number prefixes such as `10.0.17763`. */
export interface PlatformSpec {
  /** Operating system, lower-cased: `linux`, `windows`… */
  os: string;
  /** Architecture, normalised (`x86_64` → `amd64`, `aarch64` → `arm64`). */
  architecture: string;
  /** Variant, normalised (`arm64` → `v8`, `arm` → `v7`); undefined matches any variant. */
  variant?: string;
  /** `os.version` prefixes, any of which matches (Windows builds); undefined matches any. */
  osVersions?: string[];
}

/** Which platforms to keep: every one, or those matching any spec. */
export type PlatformSelector = { all: true } | {
  all: false;
  platforms: PlatformSpec[];
};

/** The platform an image is saved for when nothing is said. */
export const DEFAULT_PLATFORM = "linux/amd64";

const ARCH_ALIASES: Record<string, string> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
};

/** Operating systems and architectures images are published for (Go's GOOS/GOARCH, as the OCI spec uses). */
const KNOWN_OS = new Set([
  "linux",
  "windows",
  "darwin",
  "freebsd",
  "netbsd",
  "openbsd",
  "dragonfly",
  "solaris",
  "illumos",
  "aix",
  "plan9",
  "android",
  "ios",
  "js",
  "wasip1",
]);
const KNOWN_ARCH = new Set([
  "amd64",
  "arm64",
  "arm",
  "386",
  "ppc64le",
  "ppc64",
  "s390x",
  "riscv64",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "loong64",
  "wasm",
]);

/** Normalise architecture and variant as containerd does (arm64 ≡ arm64/v8, arm ≡ arm/v7). */
export function normalisePlatform(
  architecture: string,
  variant?: string,
): { architecture: string; variant?: string } {
  const arch = ARCH_ALIASES[architecture.toLowerCase()] ??
    architecture.toLowerCase();
  let v = variant?.toLowerCase() || undefined;
  if (architecture.toLowerCase() === "armhf" && !v) v = "v7";
  if (architecture.toLowerCase() === "armel" && !v) v = "v6";
  if (arch === "arm64" && (v === undefined || v === "8")) v = "v8";
  if (arch === "arm" && v === undefined) v = "v7";
  if (arch === "arm" && /^[5-8]$/.test(v ?? "")) v = `v${v}`;
  if (arch === "amd64" && (v === "v1")) v = undefined;
  return { architecture: arch, variant: v };
}

/**
 * Parse `os/arch[/variant][:os.version]`, e.g. `linux/arm64/v8` or
 * `windows/amd64:1809` (a Windows release name or a build prefix such as
 * `10.0.17763`, see {@link parseWindowsVersion}).
 */
export function parsePlatform(text: string): PlatformSpec {
  const colon = text.indexOf(":");
  if (colon !== -1) {
    const base = parsePlatform(text.slice(0, colon));
    const version = text.slice(colon + 1).trim();
    if (version === "") throw new AirgapError(`invalid platform "${echo(text)}": empty os.version after ":"`);
    const build = base.os === "windows" ? safeWindowsBuild(version, text) : version;
    return { ...base, osVersions: [build] };
  }
  const parts = text.trim().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new AirgapError(
      `invalid platform "${echo(text)}": expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8`,
    );
  }
  const [os, arch, variant] = parts;
  if (!/^[a-z0-9_.-]+$/i.test(os) || !/^[a-z0-9_.-]+$/i.test(arch)) {
    throw new AirgapError(`invalid platform "${echo(text)}"`);
  }
  if (!KNOWN_OS.has(os.toLowerCase())) {
    throw new AirgapError(`invalid platform "${echo(text)}": unknown OS "${echo(os)}"${didYouMean(os, KNOWN_OS)}`);
  }
  const normalised = normalisePlatform(arch, variant);
  if (!KNOWN_ARCH.has(normalised.architecture)) {
    throw new AirgapError(
      `invalid platform "${echo(text)}": unknown architecture "${echo(arch)}"${didYouMean(arch, KNOWN_ARCH)}`,
    );
  }
  return { os: os.toLowerCase(), ...normalised };
}

function safeWindowsBuild(version: string, text: string): string {
  try {
    return parseWindowsVersion(version).build;
  } catch (e) {
    throw new AirgapError(`invalid platform "${echo(text)}": ${(e as Error).message}`);
  }
}

/**
 * Format a platform as `os/arch[/variant]`, with `:os.version` when an index
 * entry has one (or `:v1|v2` for the build prefixes a spec wants).
 */
export function formatPlatform(p: Platform | PlatformSpec): string {
  const { architecture, variant } = normalisePlatform(
    p.architecture,
    p.variant,
  );
  let out = `${p.os}/${architecture}${variant ? `/${variant}` : ""}`;
  const osVersion = (p as Platform)["os.version"];
  const wanted = (p as PlatformSpec).osVersions;
  if (osVersion) out += `:${osVersion}`;
  else if (wanted && wanted.length > 0) out += `:${wanted.join("|")}`;
  return out;
}

/** The spec selecting `windows/amd64` images of the given Windows versions. */
export function windowsPlatform(versions: readonly WindowsVersion[]): PlatformSpec {
  return { os: "windows", architecture: "amd64", osVersions: versions.map((v) => v.build) };
}

/**
 * Parse a platform selection: `all`, or a list of specs (a comma list or
 * repeated values); empty means the default.
 */
export function parsePlatformSelector(
  values: readonly string[] | undefined,
  fallback: readonly string[] = [DEFAULT_PLATFORM],
): PlatformSelector {
  const items = (values && values.length > 0 ? values : fallback)
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
  if (items.some((v) => v.toLowerCase() === "all")) return { all: true };
  if (items.length === 0) return parsePlatformSelector(fallback, fallback);
  return { all: false, platforms: items.map(parsePlatform) };
}

/** Describe a selector for messages. */
export function formatSelector(selector: PlatformSelector): string {
  return selector.all ? "all" : selector.platforms.map(formatPlatform).join(",");
}

/** Does an index entry's platform satisfy a wanted spec? */
export function platformMatches(spec: PlatformSpec, have: Platform): boolean {
  if (have.os?.toLowerCase() !== spec.os) return false;
  const h = normalisePlatform(have.architecture ?? "", have.variant);
  if (h.architecture !== spec.architecture) return false;
  if (spec.variant !== undefined && h.variant !== spec.variant) return false;
  if (spec.osVersions && spec.osVersions.length > 0) {
    if (!spec.osVersions.some((prefix) => osVersionMatches(prefix, have["os.version"]))) return false;
  }
  return true;
}

/**
 * One thing a selector asks for: a spec, narrowed to a single `os.version`
 * prefix when it names several. A Windows image for 1809 and one for
 * ltsc2022 are two wants; `linux/amd64` is one.
 */
export interface PlatformWant {
  spec: PlatformSpec;
  /** True when the want names an `os.version`: it must then be met (no host runs another build). */
  versioned: boolean;
}

/** The wants of a selector (none for `all`). */
export function platformWants(selector: PlatformSelector): PlatformWant[] {
  if (selector.all) return [];
  return selector.platforms.flatMap((spec): PlatformWant[] =>
    spec.osVersions && spec.osVersions.length > 0
      ? spec.osVersions.map((v) => ({ spec: { ...spec, osVersions: [v] }, versioned: true }))
      : [{ spec, versioned: false }]
  );
}

/** The wants that none of `platforms` meets. */
export function unmetWants(wants: readonly PlatformWant[], platforms: readonly Platform[]): PlatformWant[] {
  return wants.filter((w) => !platforms.some((p) => platformMatches(w.spec, p)));
}

/** True when any spec of the selector matches. */
export function selectorMatches(
  selector: PlatformSelector,
  have: Platform,
): boolean {
  return selector.all || selector.platforms.some((s) => platformMatches(s, have));
}

/** Result of filtering an index to a platform selection. */
export interface FilteredIndex {
  /** The index bytes to save: the upstream bytes when nothing was dropped. */
  bytes: Uint8Array;
  /** The entries kept, in upstream order. */
  kept: Descriptor[];
  /** True when entries were dropped (so the bytes, and the digest, are new). */
  changed: boolean;
}

/**
 * Keep the entries of an index that match the selector. Entries without a
 * platform (artifacts) are kept; BuildKit attestation manifests are kept when
 * the image they describe is. The children keep their exact bytes; only the
 * index is rewritten, and only when something was dropped.
 */
export function filterIndex(
  index: ImageIndex,
  bytes: Uint8Array,
  selector: PlatformSelector,
  what: string,
): FilteredIndex {
  if (selector.all) return { bytes, kept: index.manifests, changed: false };
  const kept = selectEntries(index.manifests, selector);
  const platformEntries = kept.filter((m) => m.platform !== undefined && !m.annotations?.[REFERENCE_TYPE]);
  const hasPlatforms = index.manifests.some((m) => m.platform !== undefined && !m.annotations?.[REFERENCE_TYPE]);
  if (hasPlatforms && platformEntries.length === 0) {
    const available = index.manifests
      .filter((m) => m.platform && !m.annotations?.[REFERENCE_TYPE])
      .map((m) => formatPlatform(m.platform!))
      .join(", ");
    throw new AirgapError(
      `${what}: no manifest for platform ${formatSelector(selector)} (available: ${available || "none"})`,
      { op: "select platform" },
    );
  }
  if (kept.length === index.manifests.length) {
    return { bytes, kept, changed: false };
  }
  const raw = { ...index.raw, manifests: kept };
  return { bytes: encodeJson(raw), kept, changed: true };
}

/** True for BuildKit attestation entries (they describe another entry of the index). */
export function isAttestation(entry: Descriptor): boolean {
  return entry.annotations?.[REFERENCE_TYPE] !== undefined;
}

/**
 * The entries of an index that a selector keeps, in index order: matching
 * platforms, entries without a platform (artifacts), and the attestations of
 * kept images. Never throws; see {@link filterIndex} for the checks.
 */
export function selectEntries(entries: readonly Descriptor[], selector: PlatformSelector): Descriptor[] {
  if (selector.all) return [...entries];
  const index = { manifests: entries };
  const selected = new Set<string>();
  for (const m of index.manifests) {
    if (m.annotations?.[REFERENCE_TYPE]) continue;
    if (m.platform === undefined || selectorMatches(selector, m.platform)) {
      selected.add(m.digest);
    }
  }
  return index.manifests.filter((m) => {
    const ref = m.annotations?.[REFERENCE_DIGEST];
    if (m.annotations?.[REFERENCE_TYPE]) return ref !== undefined && selected.has(ref);
    return selected.has(m.digest);
  });
}

/**
 * The platform of a single-manifest image, `os/arch[/variant]`, from its
 * config (the only place it is written); undefined for artifacts (Helm
 * charts…), unreadable configs, or configs without `os`/`architecture`.
 */
export async function singleImagePlatform(
  manifestBytes: Uint8Array,
  read: (config: Descriptor) => Promise<Uint8Array | undefined>,
): Promise<string | undefined> {
  try {
    const config = JSON.parse(new TextDecoder().decode(manifestBytes))?.config as Descriptor | undefined;
    if (!config || (config.mediaType !== OCI_CONFIG && config.mediaType !== DOCKER_CONFIG)) return undefined;
    const bytes = await read(config);
    if (!bytes) return undefined;
    const { os, architecture, variant } = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof os !== "string" || typeof architecture !== "string") return undefined;
    return formatPlatform({ os, architecture, ...(typeof variant === "string" ? { variant } : {}) });
  } catch {
    return undefined;
  }
}

/** The selector of Windows images for some versions; errors name `where`. */
export function windowsSelector(versions: (string | number)[] | undefined, where: string): PlatformSelector {
  try {
    return { all: false, platforms: [windowsPlatform(parseWindowsVersions(versions?.map(String)))] };
  } catch (e) {
    throw new AirgapError(`${where}: ${errorMessage(e)}`, {}, { exitCode: 2 });
  }
}
