/**
 * Windows releases: the one table that maps the names people and Rancher's
 * scripts use (`1809`, `ltsc2022`, `20H2`, …) to the build numbers Windows
 * images carry in `os.version` (`10.0.17763.5206`). A container runs only on
 * a host of the same build (process isolation), so a Windows image is chosen
 * by build, never by name.
 * @module
 */
import { AirgapError } from "../errors.ts";

/** One Windows release that container images are published for. */
export interface WindowsRelease {
  /** `os.version` prefix: `10.0.BUILD`. */
  build: string;
  /** Names, the usual one first (it is also the first tag suffix tried). */
  names: readonly string[];
  /** What it is, for messages. */
  title: string;
}

/**
 * Windows Server and Windows releases with container base images. Names are
 * matched case-insensitively. `2009` is the ReleaseId that Windows 20H2 hosts
 * report (the registry's `ReleaseId`; `DisplayVersion` says 20H2), so a
 * script run on such a host tags images `-windows-2009`: it is the same
 * build, 19042, and therefore an alias — not build 2009 of anything.
 */
export const WINDOWS_RELEASES: readonly WindowsRelease[] = [
  { build: "10.0.14393", names: ["ltsc2016", "1607"], title: "Windows Server 2016" },
  { build: "10.0.16299", names: ["1709"], title: "Windows Server, version 1709" },
  { build: "10.0.17134", names: ["1803"], title: "Windows Server, version 1803" },
  { build: "10.0.17763", names: ["1809", "ltsc2019"], title: "Windows Server 2019 (1809)" },
  { build: "10.0.18362", names: ["1903"], title: "Windows Server, version 1903" },
  { build: "10.0.18363", names: ["1909"], title: "Windows Server, version 1909" },
  { build: "10.0.19041", names: ["2004"], title: "Windows Server, version 2004" },
  { build: "10.0.19042", names: ["20H2", "2009"], title: "Windows Server, version 20H2" },
  { build: "10.0.20348", names: ["ltsc2022"], title: "Windows Server 2022" },
  { build: "10.0.25398", names: ["23H2"], title: "Windows Server, version 23H2" },
  { build: "10.0.26100", names: ["ltsc2025", "24H2"], title: "Windows Server 2025" },
];

/** Names that mean different builds depending on the edition: refused with the choices. */
const AMBIGUOUS: Record<string, string> = {
  "21h2": "Windows Server 2022 (ltsc2022, 10.0.20348) or Windows 10 21H2 (10.0.19044)",
  "21h1": "Windows 10 21H1 (10.0.19043) has no Windows Server release; use a build number",
  "2019": "say ltsc2019 (Windows Server 2019, 10.0.17763)",
  "2022": "say ltsc2022 (Windows Server 2022, 10.0.20348)",
  "2016": "say ltsc2016 (Windows Server 2016, 10.0.14393)",
  "2025": "say ltsc2025 (Windows Server 2025, 10.0.26100)",
};

/** The versions `--windows-versions` defaults to, as in rancher-load-images.sh. */
export const DEFAULT_WINDOWS_VERSIONS: readonly string[] = ["1809"];

/** A requested Windows version: what was written and the build prefix it means. */
export interface WindowsVersion {
  /** As written (`1809`, `ltsc2022`, `10.0.17763`). */
  written: string;
  /** `os.version` prefix, e.g. `10.0.17763` (or a longer one when a full build was given). */
  build: string;
  /** The release, when the build is one the table knows. */
  release?: WindowsRelease;
}

const BUILD = /^10\.0\.\d{4,5}(\.\d+)?$/;

/**
 * Parse one Windows version: a release name from {@link WINDOWS_RELEASES}
 * or a build number prefix `10.0.BUILD[.REVISION]`.
 */
export function parseWindowsVersion(text: string): WindowsVersion {
  const written = text.trim();
  const lower = written.toLowerCase();
  if (BUILD.test(written)) {
    const base = written.split(".").slice(0, 3).join(".");
    return { written, build: written, release: WINDOWS_RELEASES.find((r) => r.build === base) };
  }
  const release = WINDOWS_RELEASES.find((r) => r.names.some((n) => n.toLowerCase() === lower));
  if (release) return { written, build: release.build, release };
  if (AMBIGUOUS[lower]) throw new AirgapError(`Windows version "${written}" is ambiguous: ${AMBIGUOUS[lower]}`);
  throw new AirgapError(
    `unknown Windows version "${written}": expected one of ${
      WINDOWS_RELEASES.flatMap((r) => r.names).join(", ")
    }, or a build number such as 10.0.17763`,
  );
}

/** Parse a list of versions (comma lists and repeated values); empty means the default, 1809. */
export function parseWindowsVersions(values: readonly string[] | undefined): WindowsVersion[] {
  const items = (values && values.length > 0 ? values : DEFAULT_WINDOWS_VERSIONS)
    .flatMap((v) => String(v).split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
  const out: WindowsVersion[] = [];
  for (const item of items.length > 0 ? items : DEFAULT_WINDOWS_VERSIONS) {
    const version = parseWindowsVersion(item);
    if (!out.some((v) => v.build === version.build)) out.push(version);
  }
  return out;
}

/** Does an `os.version` belong to a build prefix (`10.0.17763` matches `10.0.17763.5206`, not `10.0.177630`)? */
export function osVersionMatches(prefix: string, osVersion: string | undefined): boolean {
  if (!osVersion) return false;
  return osVersion === prefix || osVersion.startsWith(`${prefix}.`);
}

/** The release an `os.version` belongs to, if the table knows it. */
export function releaseOf(osVersion: string | undefined): WindowsRelease | undefined {
  return WINDOWS_RELEASES.find((r) => osVersionMatches(r.build, osVersion));
}

/** Describe an `os.version` for people: `10.0.17763.5206 (1809)`. */
export function describeOsVersion(osVersion: string): string {
  const release = releaseOf(osVersion);
  return release ? `${osVersion} (${release.names[0]})` : osVersion;
}

/**
 * Tag suffixes under which the older per-OS tag scheme publishes an image
 * for a build (`TAG-windows-1809`): the table's names for the build, the
 * usual one first; the build itself when the table does not know it.
 */
export function windowsTagSuffixes(build: string): string[] {
  const release = releaseOf(build);
  return (release ? release.names : [build]).map((name) => `windows-${name}`);
}
