/**
 * Issue 22 item 1: the name containerd registers for an archive entry
 * (`io.containerd.image.name`) is the fully qualified name kubelet asks for,
 * or with `--registry-name` the name `load` pushes; index.json keeps
 * `org.opencontainers.image.ref.name` for OCI tools; charts and carried files
 * get neither name (containerd's import fails on them when named) and are
 * named by their entry when read back.
 */
import { assertEquals } from "../helpers/assert.ts";
import { containerdName, namedInIndex, registryNaming, unnamedEntryName } from "../../lib/cluster/names.ts";
import { indexEntry } from "../../lib/store/archive.ts";
import { CONTAINERD_NAME, KIND_ANNOTATION } from "../../lib/oci/annotations.ts";
import { REF_NAME } from "../../lib/store/cache.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

Deno.test("containerd names: the fully qualified name of the entry as kubelet resolves it", () => {
  for (
    const [entry, name] of [
      ["busybox:1.36", "docker.io/library/busybox:1.36"],
      ["library/busybox:1.36", "docker.io/library/busybox:1.36"],
      ["rancher/rancher:v2.7.9", "docker.io/rancher/rancher:v2.7.9"],
      ["docker.io/rancher/shell:v0.1.21", "docker.io/rancher/shell:v0.1.21"],
      ["index.docker.io/rancher/shell:v0.1.21", "docker.io/rancher/shell:v0.1.21"],
      ["quay.io/jetstack/cert-manager-controller:v1.12.3", "quay.io/jetstack/cert-manager-controller:v1.12.3"],
      ["registry.k8s.io/pause", "registry.k8s.io/pause:latest"],
      [`rancher/fleet@${DIGEST}`, `docker.io/rancher/fleet@${DIGEST}`],
      [`rancher/fleet:v0.9.0@${DIGEST}`, `docker.io/rancher/fleet:v0.9.0@${DIGEST}`],
    ]
  ) assertEquals(containerdName(entry, "fallback"), name, entry);
  assertEquals(containerdName("Not A Reference", "the-source-name"), "the-source-name");
});

Deno.test("containerd names with --registry-name: exactly load's target names", () => {
  const naming = registryNaming("https://registry.example.com:5000/site/");
  assertEquals(naming, { registry: "registry.example.com:5000", prefix: "site" });
  assertEquals(containerdName("busybox:1.36", "x", naming), "registry.example.com:5000/site/rancher/busybox:1.36");
  assertEquals(
    containerdName("quay.io/jetstack/cert-manager-controller:v1.12.3", "x", naming),
    "registry.example.com:5000/site/quay.io/jetstack/cert-manager-controller:v1.12.3",
  );
  assertEquals(
    containerdName("rancher/rancher:v2.7.9", "x", registryNaming("reg:5000")),
    "reg:5000/rancher/rancher:v2.7.9",
  );
});

Deno.test("index.json: containerd gets the qualified name, OCI tools the source name, charts and files none", () => {
  const descriptor = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: DIGEST, size: 10 };
  const image = indexEntry({ descriptor, name: "library/busybox:1.36", entry: "library/busybox:1.36" });
  assertEquals(image.annotations?.[REF_NAME], "library/busybox:1.36");
  assertEquals(image.annotations?.[CONTAINERD_NAME], "docker.io/library/busybox:1.36");
  const chart = indexEntry({
    descriptor,
    name: "rancher-charts/rancher:2.7.9",
    entry: "rancher-charts/rancher:2.7.9",
    annotations: { [KIND_ANNOTATION]: "chart" },
  });
  assertEquals(chart.annotations?.[CONTAINERD_NAME], undefined);
  assertEquals(chart.annotations?.[REF_NAME], undefined);
  const file = indexEntry({
    descriptor,
    name: "files.airgap.invalid/files/helm.tgz:latest",
    entry: "files/helm.tgz",
    annotations: { [KIND_ANNOTATION]: "file" },
  });
  assertEquals([file.annotations?.[CONTAINERD_NAME], file.annotations?.[REF_NAME]], [undefined, undefined]);
  const named = indexEntry({ descriptor, name: "a/b:1", entry: "a/b:1", containerdName: "reg:5000/a/b:1" });
  assertEquals(named.annotations?.[CONTAINERD_NAME], "reg:5000/a/b:1");
});

Deno.test("unnamed kinds: charts and files; read back by their entry", () => {
  assertEquals([undefined, "image", "chart", "file"].map(namedInIndex), [true, true, false, false]);
  assertEquals(unnamedEntryName("chart", "charts/rancher:2.7.9"), "charts/rancher:2.7.9");
  assertEquals(unnamedEntryName("file", "files/helm.tgz"), "files/helm.tgz:latest");
  assertEquals(unnamedEntryName(undefined, "busybox:1.36"), undefined);
  assertEquals(unnamedEntryName("chart", undefined), undefined);
});
