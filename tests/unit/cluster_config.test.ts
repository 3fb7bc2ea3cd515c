/**
 * Issue 22 item 2: the cluster registry configuration. `registries.yaml`
 * has the structure RKE2/K3s document (docs.k3s.io/installation/
 * private-registry: `mirrors.<host>.endpoint`/`rewrite`,
 * `configs.<host>.auth`/`tls`, nothing else), the containerd `hosts.toml`
 * tree and the Helm values parse and say what they should, and — the rule
 * that matters — for every image, the mirror's rewrite of its upstream path
 * is exactly the path `load` pushed it to, with never two rules matching one
 * path: against every entry of Rancher's v2.7.9 list (712), and against a
 * seeded generator of image names (registry/namespace/repo/tag/digest forms,
 * random targets and prefixes).
 *
 * Longer run: AIRGAP_FUZZ_CLUSTER_CASES=50000 deno test -A tests/unit/cluster_config.test.ts
 */
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { assert, assertEquals } from "../helpers/assert.ts";
import { hasShared, SHARED_DATA } from "../helpers/helm.ts";
import { generatorRun, type Rand, rand } from "../helpers/seeded.ts";
import { applyRewrite, mirrorsFor, type PrivateRegistry } from "../../lib/cluster/mirrors.ts";
import { certManagerValues, clusterConfig, type RegistryAccess } from "../../lib/commands/cluster_config/config.ts";
import { parseReference, targetReference } from "../../lib/ref.ts";
import { parseImageList } from "../../lib/sources/list.ts";

/** registries.yaml as RKE2/K3s read it (wharfie's `registries.Registry`): strict, so an unknown key fails. */
const RegistriesYaml = z.strictObject({
  mirrors: z.record(
    z.string(),
    z.strictObject({
      endpoint: z.array(z.url().regex(/^https?:\/\//)).min(1),
      rewrite: z.record(z.string(), z.string()).optional(),
    }),
  ),
  configs: z.record(
    z.string(),
    z.strictObject({
      auth: z.strictObject({
        username: z.string().optional(),
        password: z.string().optional(),
        auth: z.string().optional(),
        identitytoken: z.string().optional(),
      }).optional(),
      tls: z.strictObject({
        ca_file: z.string().optional(),
        cert_file: z.string().optional(),
        key_file: z.string().optional(),
        insecure_skip_verify: z.boolean().optional(),
      }).optional(),
    }),
  ).optional(),
});

/** containerd's hosts.toml as this tool writes it (containerd docs/hosts.md). */
const HostsToml = z.strictObject({
  server: z.url(),
  host: z.record(
    z.url(),
    z.strictObject({
      capabilities: z.array(z.enum(["pull", "resolve", "push"])),
      ca: z.string().optional(),
      override_path: z.boolean().optional(),
    }),
  ),
});

/**
 * The rule under test: for every entry, the rewrite of its upstream path is where load pushed it (the first
 * entry's path when two entries are one image to kubelet), and the hosts.toml endpoint path maps every image it
 * claims to. Returns the number of rewrite rules.
 */
function checkMirrors(entries: string[], target: PrivateRegistry): number {
  const { mirrors, clashes } = mirrorsFor(entries, target);
  const byHost = new Map(mirrors.map((m) => [m.upstream, m]));
  const firstTarget = new Map<string, string>();
  for (const entry of entries) {
    const source = parseReference(entry);
    const pushed = targetReference(entry, target.registry, target.prefix).repository;
    const key = `${source.registry}/${source.repository}`;
    if (!firstTarget.has(key)) firstTarget.set(key, pushed);
    const mirror = byHost.get(source.registry)!;
    const rewritten = applyRewrite(mirror.rewrite, source.repository);
    assertEquals(rewritten, firstTarget.get(key), `${entry} → ${target.registry}/${target.prefix}`);
    if (!mirror.unmappable.includes(source.repository)) {
      const path = mirror.endpointPath ? `${mirror.endpointPath}/` : "";
      assertEquals(`${path}${source.repository}`, firstTarget.get(key), `hosts.toml path of ${entry}`);
    }
  }
  const distinct = new Set(entries.map((e) => {
    const r = parseReference(e);
    return `${r.registry}/${r.repository}`;
  }));
  assertEquals(
    clashes.length,
    new Set(entries.map((e) => {
      const r = parseReference(e);
      return `${r.registry}/${r.repository}\0${targetReference(e, target.registry, target.prefix).repository}`;
    })).size - distinct.size,
  );
  return mirrors.reduce((n, m) => n + Object.keys(m.rewrite).length, 0);
}

const RANCHER_LIST = "rancher-images-v2.7.9.txt";
const rancherText = hasShared(RANCHER_LIST) ? Deno.readTextFileSync(join(SHARED_DATA, RANCHER_LIST)) : undefined;

Deno.test({
  name: "Rancher's 712 images: every rewrite lands where load pushed, with and without a prefix",
  ignore: rancherText === undefined,
  fn() {
    const entries = parseImageList(rancherText!, RANCHER_LIST).map((e) => e.entry);
    assertEquals(entries.length, 712);
    const plain = checkMirrors(entries, { registry: "registry.example.com:5000", prefix: "" });
    const prefixed = checkMirrors(entries, { registry: "harbor.example.com", prefix: "airgap/rancher" });
    const { mirrors } = mirrorsFor(entries, { registry: "registry.example.com:5000", prefix: "" });
    assertEquals(mirrors.map((m) => m.upstream), ["docker.io", "gcr.io", "ghcr.io", "quay.io", "registry.k8s.io"]);
    // Rancher's naming keeps docker.io paths and moves the others under their host: one rule per registry.
    assertEquals(mirrors.find((m) => m.upstream === "docker.io")!.rewrite, {});
    assertEquals(mirrors.find((m) => m.upstream === "quay.io")!.rewrite, { "^(.*)$": "quay.io/$1" });
    assertEquals(mirrors.find((m) => m.upstream === "quay.io")!.endpointPath, "quay.io");
    assert(mirrors.every((m) => m.unmappable.length === 0));
    console.log(`rancher list: 712 entries, ${plain} rewrite rules (plain), ${prefixed} (prefixed)`);
  },
});

/** A random image name in any form a list may hold. */
function randomEntry(r: Rand): string {
  const pick = r.pick;
  const word = () => pick(["rancher", "library", "busybox", "jetstack", "a", "b1", "k8s", "x"]);
  const component = () => r.chance(0.2) ? `${word()}${pick([".", "_", "__", "-", "--"])}${word()}` : word();
  const host = pick([
    "",
    "",
    "",
    "docker.io/",
    "index.docker.io/",
    "quay.io/",
    "ghcr.io/",
    "registry.k8s.io/",
    "r.example.com/",
  ]);
  const depth = host === "" ? pick([1, 1, 2, 2, 2, 3]) : pick([1, 2, 2, 3, 4]);
  const path = Array.from({ length: depth }, component).join("/");
  const digest = `sha256:${r.int(16 ** 8).toString(16).padStart(64, "0")}`;
  const suffix = pick([":v1", ":1.36", ":latest", `@${digest}`, `:v2@${digest}`, ""]);
  return `${host}${path}${suffix}`;
}

Deno.test("generated names: the rewrite of every upstream path is load's target, no two rules overlap", () => {
  const { cases, seed, report } = generatorRun("fuzz cluster rewrites", {
    cases: 1500,
    env: { cases: "AIRGAP_FUZZ_CLUSTER_CASES" },
  });
  const r = rand(seed);
  const pick = r.pick;
  let rules = 0;
  for (let i = 0; i < cases; i++) {
    const target = {
      registry: pick(["reg.example.com:5000", "10.0.0.1:443", "harbor.local"]),
      prefix: pick(["", "", "site", "proj/rancher", "a.b"]),
    };
    const entries = Array.from({ length: 1 + r.int(24) }, () => randomEntry(r));
    try {
      rules += checkMirrors(entries, target);
    } catch (e) {
      throw new Error(`case ${i} (seed ${seed}): ${JSON.stringify({ target, entries })}: ${e}`);
    }
  }
  report(`, ${rules} rewrite rules generated`);
});

Deno.test("regression: a short name and its library/ path are one image to kubelet; the first one's path wins", () => {
  const target = { registry: "reg:5000", prefix: "" };
  const { mirrors, clashes } = mirrorsFor(["busybox:1.36", "library/busybox:1.36", "rancher/shell:v1"], target);
  assertEquals(mirrors[0].rewrite, { "^library/busybox$": "rancher/busybox" });
  assertEquals(clashes, [{
    upstream: "docker.io/library/busybox",
    kept: "rancher/busybox",
    dropped: "library/busybox",
  }]);
  assertEquals(mirrors[0].unmappable, ["library/busybox"]);
  assertEquals(mirrors[0].endpointPath, "");
});

Deno.test("regression (fuzz case 122): an upstream whose only image moved by no prefix has no hosts.toml path", () => {
  const { mirrors } = mirrorsFor(["busybox:1.36"], { registry: "10.0.0.1:443", prefix: "proj/rancher" });
  assertEquals(mirrors[0].endpointPath, undefined);
  assertEquals(mirrors[0].unmappable, ["library/busybox"]);
  assertEquals(mirrors[0].rewrite, { "^library/busybox$": "proj/rancher/rancher/busybox" });
});

Deno.test("regression (fuzz case 288): a clash is named once however many entries repeat it", () => {
  const { clashes } = mirrorsFor(["docker.io/k8s:latest", "library/k8s:1.36", `library/k8s@sha256:${"b".repeat(64)}`], {
    registry: "harbor.local",
    prefix: "site",
  });
  assertEquals(clashes, [{
    upstream: "docker.io/library/k8s",
    kept: "site/docker.io/k8s",
    dropped: "site/library/k8s",
  }]);
});

const ACCESS: RegistryAccess = { caPath: "/etc/rancher/registry-ca.crt", caFileName: "ca.crt", username: "alice" };
const ENTRIES = [
  "rancher/rancher:v2.7.9",
  "busybox:1.36",
  "quay.io/jetstack/cert-manager-controller:v1.12.3",
  "quay.io/jetstack/cert-manager-webhook:v1.12.3",
  "quay.io/jetstack/cert-manager-cainjector:v1.12.3",
  "quay.io/jetstack/cert-manager-ctl:v1.12.3",
];

Deno.test("registries.yaml: the documented structure; a mirror per upstream, configs with CA and user by reference", () => {
  const target = { registry: "reg.example.com:5000", prefix: "site" };
  const config = clusterConfig(ENTRIES, target, ACCESS);
  const yaml = RegistriesYaml.parse(parseYaml(config.files.get("registries.yaml")!));
  assertEquals(Object.keys(yaml.mirrors), ["docker.io", "quay.io", "reg.example.com:5000"]);
  assertEquals(yaml.mirrors["docker.io"], {
    endpoint: ["https://reg.example.com:5000"],
    rewrite: { "^library/busybox$": "site/rancher/busybox", "^rancher/(.*)$": "site/rancher/$1" },
  });
  assertEquals(yaml.mirrors["quay.io"].rewrite, { "^(.*)$": "site/quay.io/$1" });
  assertEquals(yaml.configs, {
    "reg.example.com:5000": { auth: { username: "alice" }, tls: { ca_file: "/etc/rancher/registry-ca.crt" } },
  });
  assert(config.files.get("registries.yaml")!.includes("# password: set it here on the node"));
  // A password is written only when handed over (the command takes it from env or stdin).
  const withPassword = clusterConfig(ENTRIES, target, { ...ACCESS, password: 'pa:ss"word' });
  const parsed = RegistriesYaml.parse(parseYaml(withPassword.files.get("registries.yaml")!));
  assertEquals(parsed.configs!["reg.example.com:5000"].auth, { username: "alice", password: 'pa:ss"word' });
  for (const [path, text] of withPassword.files) {
    if (path !== "registries.yaml") assert(!text.includes("pa:ss"), `${path} holds no password`);
  }
  // Nothing to configure: configs still parses.
  const bare = clusterConfig(["rancher/shell:v1"], { registry: "reg.local", prefix: "" }, {});
  const bareYaml = RegistriesYaml.parse(parseYaml(bare.files.get("registries.yaml")!));
  assertEquals(bareYaml.mirrors["docker.io"], { endpoint: ["https://reg.local"] });
});

Deno.test("hosts.toml: one per upstream and one for the registry, the prefix as an overriding path, the CA by file", () => {
  const config = clusterConfig(ENTRIES, { registry: "reg.example.com:5000", prefix: "site" }, ACCESS);
  const files = [...config.files.keys()].filter((p) => p.startsWith("certs.d/")).sort();
  assertEquals(files, [
    "certs.d/docker.io/hosts.toml",
    "certs.d/quay.io/hosts.toml",
    "certs.d/reg.example.com:5000/hosts.toml",
  ]);
  const docker = HostsToml.parse(parseToml(config.files.get("certs.d/docker.io/hosts.toml")!));
  assertEquals(docker, {
    server: "https://registry-1.docker.io",
    host: {
      "https://reg.example.com:5000/v2/site": { capabilities: ["pull", "resolve"], ca: "ca.crt", override_path: true },
    },
  });
  const quay = HostsToml.parse(parseToml(config.files.get("certs.d/quay.io/hosts.toml")!));
  assertEquals(Object.keys(quay.host), ["https://reg.example.com:5000/v2/site/quay.io"]);
  const own = HostsToml.parse(parseToml(config.files.get("certs.d/reg.example.com:5000/hosts.toml")!));
  assertEquals(own.host, { "https://reg.example.com:5000": { capabilities: ["pull", "resolve"], ca: "ca.crt" } });
  // busybox moved to rancher/busybox: containerd has no rewrite, so it is named in a warning.
  assertEquals(config.warnings.length, 1);
  assert(config.warnings[0].includes("docker.io/library/busybox"), config.warnings[0]);
  // Plain HTTP (airgap serve without TLS): http:// endpoints everywhere.
  const served = clusterConfig(["rancher/shell:v1"], { registry: "10.0.0.9:5000", prefix: "" }, { plainHttp: true });
  assertEquals(
    Object.keys(HostsToml.parse(parseToml(served.files.get("certs.d/docker.io/hosts.toml")!)).host),
    ["http://10.0.0.9:5000"],
  );
  assertEquals(
    RegistriesYaml.parse(parseYaml(served.files.get("registries.yaml")!)).mirrors["docker.io"].endpoint,
    ["http://10.0.0.9:5000"],
  );
  // Without a prefix, docker.io needs no path.
  const plain = clusterConfig(["rancher/shell:v1"], { registry: "reg.local", prefix: "" }, {});
  assertEquals(
    HostsToml.parse(parseToml(plain.files.get("certs.d/docker.io/hosts.toml")!)).host,
    { "https://reg.local": { capabilities: ["pull", "resolve"] } },
  );
});

Deno.test("Helm values: Rancher's systemDefaultRegistry, cert-manager's images where load pushed them", () => {
  const config = clusterConfig(ENTRIES, { registry: "reg.example.com:5000", prefix: "site" }, ACCESS);
  assertEquals(parseYaml(config.files.get("rancher-values.yaml")!), {
    systemDefaultRegistry: "reg.example.com:5000/site",
    useBundledSystemChart: true,
  });
  assertEquals(parseYaml(config.files.get("cert-manager-values.yaml")!), {
    image: { repository: "reg.example.com:5000/site/quay.io/jetstack/cert-manager-controller", tag: "v1.12.3" },
    cainjector: {
      image: { repository: "reg.example.com:5000/site/quay.io/jetstack/cert-manager-cainjector", tag: "v1.12.3" },
    },
    startupapicheck: {
      image: { repository: "reg.example.com:5000/site/quay.io/jetstack/cert-manager-ctl", tag: "v1.12.3" },
    },
    webhook: {
      image: { repository: "reg.example.com:5000/site/quay.io/jetstack/cert-manager-webhook", tag: "v1.12.3" },
    },
  });
  assertEquals(certManagerValues(["rancher/shell:v1"], { registry: "r", prefix: "" }), undefined);
});
