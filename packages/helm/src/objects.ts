/**
 * The built-in objects a chart template sees besides `.Values`: `.Chart`
 * (with Go's field names), `.Release`, `.Capabilities` and `.Files`, with
 * the defaults `helm template` uses when no cluster is asked.
 * @module
 */
import { posix } from "node:path";
import type { Chart } from "./chart.ts";
import { type GoMap, isMap, mapsWithMethods, toStr, type Value, withMethods } from "./gotypes.ts";
import { parseSemver } from "./semver.ts";
import { toYaml } from "./template.ts";

/** What the caller may say about the (imagined) cluster and release. */
export interface ReleaseOptions {
  /** `.Release.Name`; `helm template` uses `release-name`. */
  releaseName?: string;
  /** `.Release.Namespace`; default `default`. */
  namespace?: string;
  /** `.Capabilities.KubeVersion`, e.g. `v1.29.0`. */
  kubeVersion?: string;
  /** Extra `.Capabilities.APIVersions` entries (like `helm template --api-versions`). */
  apiVersions?: string[];
}

/** The Kubernetes version assumed when none is given. */
export const DEFAULT_KUBE_VERSION = "v1.29.0";

/**
 * Helm's default capability set (chartutil `allKnownVersions`): every group/version in client-go's scheme of the
 * Kubernetes release Helm 3.14 is built against (v0.29), plus apiextensions — old betas included, so a chart's
 * `Has "policy/v1beta1"` is true under `helm template`, as here.
 */
const DEFAULT_API_VERSIONS = [
  "admissionregistration.k8s.io/v1",
  "admissionregistration.k8s.io/v1alpha1",
  "admissionregistration.k8s.io/v1beta1",
  "internal.apiserver.k8s.io/v1alpha1",
  "apps/v1",
  "apps/v1beta1",
  "apps/v1beta2",
  "authentication.k8s.io/v1",
  "authentication.k8s.io/v1alpha1",
  "authentication.k8s.io/v1beta1",
  "authorization.k8s.io/v1",
  "authorization.k8s.io/v1beta1",
  "autoscaling/v1",
  "autoscaling/v2",
  "autoscaling/v2beta1",
  "autoscaling/v2beta2",
  "batch/v1",
  "batch/v1beta1",
  "certificates.k8s.io/v1",
  "certificates.k8s.io/v1alpha1",
  "certificates.k8s.io/v1beta1",
  "coordination.k8s.io/v1",
  "coordination.k8s.io/v1beta1",
  "v1",
  "discovery.k8s.io/v1",
  "discovery.k8s.io/v1beta1",
  "events.k8s.io/v1",
  "events.k8s.io/v1beta1",
  "extensions/v1beta1",
  "flowcontrol.apiserver.k8s.io/v1",
  "flowcontrol.apiserver.k8s.io/v1beta1",
  "flowcontrol.apiserver.k8s.io/v1beta2",
  "flowcontrol.apiserver.k8s.io/v1beta3",
  "networking.k8s.io/v1",
  "networking.k8s.io/v1alpha1",
  "networking.k8s.io/v1beta1",
  "node.k8s.io/v1",
  "node.k8s.io/v1alpha1",
  "node.k8s.io/v1beta1",
  "policy/v1",
  "policy/v1beta1",
  "rbac.authorization.k8s.io/v1",
  "rbac.authorization.k8s.io/v1alpha1",
  "rbac.authorization.k8s.io/v1beta1",
  "resource.k8s.io/v1alpha2",
  "scheduling.k8s.io/v1",
  "scheduling.k8s.io/v1alpha1",
  "scheduling.k8s.io/v1beta1",
  "storage.k8s.io/v1",
  "storage.k8s.io/v1alpha1",
  "storage.k8s.io/v1beta1",
  "apiextensions.k8s.io/v1beta1",
  "apiextensions.k8s.io/v1",
];

/** `.Release` for `helm template`. */
export function releaseObject(options: ReleaseOptions): GoMap {
  return {
    Name: options.releaseName ?? "release-name",
    Namespace: options.namespace ?? "default",
    Revision: 1n,
    IsInstall: true,
    IsUpgrade: false,
    Service: "Helm",
  };
}

/** `.Capabilities`: Kubernetes version, API versions (with `Has`) and Helm's version. */
export function capabilitiesObject(options: ReleaseOptions): GoMap {
  const version = options.kubeVersion ?? DEFAULT_KUBE_VERSION;
  const parsed = parseSemver(version);
  const gitVersion = version.startsWith("v") ? version : `v${version}`;
  const apiVersions = [...new Set([...DEFAULT_API_VERSIONS, ...(options.apiVersions ?? [])])];
  return {
    KubeVersion: withMethods({
      Version: gitVersion,
      Major: String(parsed.major),
      Minor: String(parsed.minor),
      GitVersion: gitVersion,
    }, { String: () => gitVersion }),
    APIVersions: withMethods(apiVersions, { Has: (name: Value) => apiVersions.includes(toStr(name)) }),
    HelmVersion: { Version: "v3.14.0", GitCommit: "", GitTreeState: "clean", GoVersion: "go1.21.7" },
  };
}

function goStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/** `.Chart`: Chart.yaml with the Go field names templates use (`.Chart.AppVersion`). */
export function chartObject(chart: Chart, name: string): GoMap {
  const m = chart.metadata;
  const str = (value: unknown) => (value === undefined || value === null ? "" : String(value));
  return {
    Name: name,
    Home: str(m.home),
    Sources: goStrings(m.sources),
    Version: chart.version,
    Description: str(m.description),
    Keywords: goStrings(m.keywords),
    Maintainers: (Array.isArray(m.maintainers) ? m.maintainers : []).filter(isMap).map((x) => ({
      Name: str(x.name),
      Email: str(x.email),
      URL: str(x.url),
    })),
    Icon: str(m.icon),
    APIVersion: str(m.apiVersion),
    Condition: str(m.condition),
    Tags: str(m.tags),
    AppVersion: chart.appVersion ?? "",
    Deprecated: m.deprecated === true,
    Annotations: isMap(m.annotations) ? m.annotations : {},
    KubeVersion: str(m.kubeVersion),
    Dependencies: chart.dependencies.map((d) => ({
      Name: d.name,
      Alias: d.alias ?? "",
      Condition: d.condition ?? "",
      Tags: d.tags ?? [],
      Enabled: true,
    })),
    Type: str(m.type) || "application",
  };
}

/** gobwas/glob with `/` as separator: `*` stays within a path segment, `**` crosses them. */
function globPattern(pattern: string): RegExp {
  let source = "";
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      source += ".*";
      i++;
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "{") {
      braces++;
      source += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      source += ")";
    } else if (c === "," && braces > 0) source += "|";
    else if (c === "[" || c === "]") source += c;
    else source += c.replace(/[.+^$()|\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** `.Files`: the chart's non-template files, with Helm's accessor methods. */
export function filesObject(files: Map<string, Uint8Array>): GoMap {
  const decoder = new TextDecoder();
  const data: GoMap = {};
  for (const [path, bytes] of files) data[path] = bytes;
  const contents = (name: Value) => files.get(toStr(name));
  mapsWithMethods.add(data);
  return withMethods(data, {
    Get: (name: Value) => {
      const bytes = contents(name);
      return bytes ? decoder.decode(bytes) : "";
    },
    GetBytes: (name: Value) => contents(name) ?? new Uint8Array(),
    Lines: (name: Value) => {
      const bytes = contents(name);
      if (!bytes) return [];
      return decoder.decode(bytes).replace(/\n$/, "").split("\n");
    },
    Glob: (pattern: Value) => {
      const re = globPattern(toStr(pattern));
      return filesObject(new Map([...files].filter(([path]) => re.test(path))));
    },
    AsConfig: () => {
      const out: GoMap = {};
      for (const [path, bytes] of files) out[posix.basename(path)] = decoder.decode(bytes);
      return toYaml(out);
    },
    AsSecrets: () => {
      const out: GoMap = {};
      for (const [path, bytes] of files) {
        out[posix.basename(path)] = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
      }
      return toYaml(out);
    },
  });
}
