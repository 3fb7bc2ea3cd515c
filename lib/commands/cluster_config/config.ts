/**
 * The files that make a cluster pull from the private registry, as text:
 * RKE2/K3s `registries.yaml`, containerd's `certs.d/<host>/hosts.toml` tree,
 * and the Helm values of Rancher (`systemDefaultRegistry`) and of the
 * cert-manager chart (its image repositories). Pure: the command writes them.
 *
 * Secrets: `registries.yaml` has no way to refer to a password kept
 * elsewhere, so a password is written only when the caller was handed one
 * (from an environment variable or stdin); without it the `auth` block holds
 * the username and a comment saying where the password goes. `hosts.toml`
 * holds no credentials at all (containerd has no field for them); the CA is
 * referenced by path, never inlined.
 * @module
 */
import { stringify as stringifyToml } from "smol-toml";
import { formatReference, parseReference, targetReference } from "../../ref.ts";
import { type MirrorPlan, type MirrorSet, mirrorsFor, type PrivateRegistry } from "../../cluster/mirrors.ts";

/** Where the nodes find the registry's CA, and the credentials to write. */
export interface RegistryAccess {
  /** Path of the CA certificate on the nodes (registries.yaml `ca_file`). */
  caPath?: string;
  /** File name of the CA inside each `certs.d/<host>/` directory (copied there by the command). */
  caFileName?: string;
  /** Username for the private registry. */
  username?: string;
  /** Password, only when handed over from env or stdin; never printed. */
  password?: string;
  /** Where a password not written should be set, for the comment in its place. */
  passwordHint?: string;
  /** The registry speaks plain HTTP (`airgap serve` without TLS): `http://` endpoints. */
  plainHttp?: boolean;
}

/** Everything the cluster configuration is made of. */
export interface ClusterConfig {
  /** The mirrors (and clashes) of the entries. */
  set: MirrorSet;
  /** Relative path → file text. */
  files: Map<string, string>;
  /** Things the operator must know (images hosts.toml cannot map, name clashes). */
  warnings: string[];
}

/** A YAML scalar: JSON's double-quoted strings are YAML's too. */
const q = (text: string) => JSON.stringify(text);

/** The URL of the private registry: `https://`, or `http://` when it speaks plain HTTP. */
export const registryUrl = (target: PrivateRegistry, access: Pick<RegistryAccess, "plainHttp"> = {}) =>
  `${access.plainHttp ? "http" : "https"}://${target.registry}`;

/** RKE2/K3s `registries.yaml` (docs.k3s.io/installation/private-registry). */
export function registriesYaml(mirrors: MirrorPlan[], target: PrivateRegistry, access: RegistryAccess): string {
  const lines = [
    "# RKE2: /etc/rancher/rke2/registries.yaml   K3s: /etc/rancher/k3s/registries.yaml   (written by airgap)",
    "mirrors:",
  ];
  const mirror = (host: string, rewrite: Record<string, string>) => {
    lines.push(`  ${q(host)}:`, "    endpoint:", `      - ${q(registryUrl(target, access))}`);
    const rules = Object.entries(rewrite);
    if (rules.length > 0) lines.push("    rewrite:", ...rules.map(([p, r]) => `      ${q(p)}: ${q(r)}`));
  };
  for (const m of mirrors) if (m.upstream !== target.registry) mirror(m.upstream, m.rewrite);
  // The private registry as its own mirror: some RKE2/K3s releases honour `configs` only for mirror endpoints.
  mirror(target.registry, {});
  lines.push("configs:", `  ${q(target.registry)}:`);
  if (access.username !== undefined) {
    lines.push("    auth:", `      username: ${q(access.username)}`);
    if (access.password !== undefined) lines.push(`      password: ${q(access.password)}`);
    else {lines.push(
        `      # password: set it here on the node${access.passwordHint ? ` (${access.passwordHint})` : ""}`,
      );}
  }
  if (access.caPath !== undefined) lines.push("    tls:", `      ca_file: ${q(access.caPath)}`);
  if (access.username === undefined && access.caPath === undefined) lines.push("    {}");
  return lines.join("\n") + "\n";
}

/** One `certs.d/<host>/hosts.toml` (containerd's registry host configuration). */
function hostsToml(server: string | undefined, endpoint: string, overridePath: boolean, ca?: string): string {
  const host: Record<string, unknown> = { capabilities: ["pull", "resolve"] };
  if (ca) host.ca = ca;
  if (overridePath) host.override_path = true;
  return "# containerd: /etc/containerd/certs.d/<host>/hosts.toml (config_path), or ctr --hosts-dir (written by airgap)\n" +
    stringifyToml({ ...(server ? { server } : {}), host: { [endpoint]: host } }) + "\n";
}

/** The upstream server containerd falls back to (never reached in an air gap, but the format wants it). */
function upstreamServer(host: string): string {
  return host === "docker.io" ? "https://registry-1.docker.io" : `https://${host}`;
}

/** containerd's `certs.d` tree: relative path → text. */
export function hostsTree(mirrors: MirrorPlan[], target: PrivateRegistry, access: RegistryAccess): Map<string, string> {
  const files = new Map<string, string>();
  const ca = access.caFileName;
  for (const m of mirrors) {
    if (m.upstream === target.registry) continue;
    const path = m.endpointPath ?? "";
    const url = registryUrl(target, access);
    const endpoint = path ? `${url}/v2/${path}` : url;
    files.set(`certs.d/${m.upstream}/hosts.toml`, hostsToml(upstreamServer(m.upstream), endpoint, path !== "", ca));
  }
  files.set(
    `certs.d/${target.registry}/hosts.toml`,
    hostsToml(registryUrl(target, access), registryUrl(target, access), false, ca),
  );
  return files;
}

/** Rancher's chart values: its images (and the charts' system images) from the private registry. */
export function rancherValues(target: PrivateRegistry): string {
  const registry = target.prefix ? `${target.registry}/${target.prefix}` : target.registry;
  return [
    "# helm install rancher … -f rancher-values.yaml (written by airgap)",
    `systemDefaultRegistry: ${q(registry)}`,
    "useBundledSystemChart: true",
    "",
  ].join("\n");
}

/** The cert-manager chart's value key of each of its images. */
const CERT_MANAGER_KEYS: Record<string, string> = {
  "cert-manager-controller": "image",
  "cert-manager-webhook": "webhook.image",
  "cert-manager-cainjector": "cainjector.image",
  "cert-manager-acmesolver": "acmesolver.image",
  "cert-manager-startupapicheck": "startupapicheck.image",
  "cert-manager-ctl": "startupapicheck.image",
};

/** The cert-manager chart's values naming its images where load pushed them; undefined without cert-manager. */
export function certManagerValues(entries: readonly string[], target: PrivateRegistry): string | undefined {
  const values = new Map<string, { repository: string; tag?: string; digest?: string }>();
  for (const entry of entries) {
    const source = parseReference(entry);
    const [namespace, name, ...rest] = source.repository.split("/");
    if (source.registry !== "quay.io" || namespace !== "jetstack" || rest.length > 0) continue;
    const key = CERT_MANAGER_KEYS[name];
    if (!key || (name === "cert-manager-ctl" && values.has(key))) continue;
    const pushed = targetReference(entry, target.registry, target.prefix);
    values.set(key, {
      repository: formatReference({ ...pushed, tag: undefined, digest: undefined }),
      tag: pushed.tag,
      digest: pushed.digest,
    });
  }
  if (values.size === 0) return undefined;
  const lines = ["# helm install cert-manager jetstack/cert-manager … -f cert-manager-values.yaml (written by airgap)"];
  for (const [key, v] of [...values].sort(([a], [b]) => (a === "image" ? -1 : b === "image" ? 1 : a < b ? -1 : 1))) {
    const path = key.split(".");
    path.forEach((part, i) => {
      if (i < path.length - 1) lines.push(`${"  ".repeat(i)}${part}:`);
    });
    const indent = "  ".repeat(path.length - 1);
    lines.push(`${indent}${path.at(-1)}:`, `${indent}  repository: ${q(v.repository)}`);
    if (v.tag) lines.push(`${indent}  tag: ${q(v.tag)}`);
    if (v.digest) lines.push(`${indent}  digest: ${q(v.digest)}`);
  }
  return lines.join("\n") + "\n";
}

/** The whole cluster configuration of a set of list entries towards a private registry. */
export function clusterConfig(
  entries: readonly string[],
  target: PrivateRegistry,
  access: RegistryAccess,
): ClusterConfig {
  const set = mirrorsFor(entries, target);
  const files = new Map<string, string>([["registries.yaml", registriesYaml(set.mirrors, target, access)]]);
  for (const [path, text] of hostsTree(set.mirrors, target, access)) files.set(path, text);
  files.set("rancher-values.yaml", rancherValues(target));
  const certManager = certManagerValues(entries, target);
  if (certManager) files.set("cert-manager-values.yaml", certManager);
  const warnings: string[] = [];
  for (const m of set.mirrors) {
    if (m.unmappable.length === 0 || m.upstream === target.registry) continue;
    warnings.push(
      `certs.d/${m.upstream}/hosts.toml cannot map ${m.unmappable.length} image(s) containerd has no rewrite for (e.g. ${m.upstream}/${
        m.unmappable[0]
      }); registries.yaml's rewrite does, or list them with their full path`,
    );
  }
  for (const c of set.clashes) {
    warnings.push(`${c.upstream} is pushed both as ${c.kept} and ${c.dropped}; the cluster is pointed at ${c.kept}`);
  }
  return { set, files, warnings };
}
