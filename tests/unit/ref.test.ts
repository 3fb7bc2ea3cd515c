import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  formatReference,
  normaliseRegistryHost,
  parseReference,
  sourceReference,
  splitRegistryArgument,
  targetReference,
} from "../../lib/ref.ts";

const D = "sha256:" + "a".repeat(64);

Deno.test("parseReference applies Docker Hub defaults in one place", () => {
  assertEquals(formatReference(parseReference("nginx")), "docker.io/library/nginx:latest");
  assertEquals(formatReference(parseReference("rancher/rancher:v2.7.9")), "docker.io/rancher/rancher:v2.7.9");
  assertEquals(formatReference(parseReference("index.docker.io/library/busybox")), "docker.io/library/busybox:latest");
  assertEquals(formatReference(parseReference("docker.io/busybox:1.36")), "docker.io/library/busybox:1.36");
  assertEquals(parseReference("localhost/foo").registry, "localhost");
  assertEquals(parseReference("Registry/foo").registry, "Registry");
});

Deno.test("parseReference handles hosts, ports, tags and digests", () => {
  assertEquals(parseReference(`registry:5000/a/b@${D}`), {
    registry: "registry:5000",
    repository: "a/b",
    tag: undefined,
    digest: D,
  });
  assertEquals(parseReference(`quay.io/jetstack/cert-manager-controller:v1.12.3@${D}`), {
    registry: "quay.io",
    repository: "jetstack/cert-manager-controller",
    tag: "v1.12.3",
    digest: D,
  });
  assertEquals(parseReference("[::1]:5000/x:y").registry, "[::1]:5000");
  assertEquals(parseReference("127.0.0.1:5000/x").tag, "latest");
});

Deno.test("parseReference rejects malformed references with a clear message", () => {
  for (
    const [bad, why] of [
      ["", "empty"],
      ["library/Upper", "path component"],
      ["a//b", "empty path component"],
      ["nginx:bad tag", "whitespace"],
      ["nginx@sha256:abc", "malformed digest"],
      ["nginx:-x", "malformed tag"],
      ["host:port/x", "malformed registry host"],
      [`a/${"b".repeat(300)}`, "longer than"],
    ]
  ) {
    assertThrows(() => parseReference(bad), Error, why);
  }
});

Deno.test("target naming follows rancher-load-images.sh", () => {
  const t = (entry: string, prefix = "") => formatReference(targetReference(entry, "reg.local:5000", prefix));
  assertEquals(t("rancher/rancher:v2.7.9"), "reg.local:5000/rancher/rancher:v2.7.9");
  assertEquals(t("busybox:1.36"), "reg.local:5000/rancher/busybox:1.36");
  assertEquals(
    t("quay.io/jetstack/cert-manager-controller:v1.12.3"),
    "reg.local:5000/quay.io/jetstack/cert-manager-controller:v1.12.3",
  );
  assertEquals(t("rancher/shell:v0.1.21", "harbor-project"), "reg.local:5000/harbor-project/rancher/shell:v0.1.21");
  assertEquals(t("busybox", "p/q"), "reg.local:5000/p/q/rancher/busybox:latest");
  assertEquals(t(`a/b:v1@${D}`), `reg.local:5000/a/b:v1@${D}`);
  assertThrows(() => t("registry:5000/a/b:v1"), Error, "has a port");
});

Deno.test("source naming with a source registry matches the save script", () => {
  assertEquals(formatReference(sourceReference("rancher/rancher:v2.7.9")), "docker.io/rancher/rancher:v2.7.9");
  assertEquals(
    formatReference(sourceReference("busybox", "mirror.local:5000/")),
    "mirror.local:5000/busybox:latest",
  );
  assertEquals(
    formatReference(sourceReference("quay.io/jetstack/x:v1", "mirror.local")),
    "mirror.local/quay.io/jetstack/x:v1",
  );
});

Deno.test("registry arguments: scheme, trailing slash, prefix", () => {
  assertEquals(normaliseRegistryHost("https://reg.local:5000/"), "reg.local:5000");
  assertEquals(normaliseRegistryHost("https://index.docker.io/v1/"), "docker.io");
  assertEquals(splitRegistryArgument("reg.local:5000/project/sub"), {
    registry: "reg.local:5000",
    prefix: "project/sub",
  });
  assertEquals(splitRegistryArgument("reg.local/"), { registry: "reg.local", prefix: "" });
  assertThrows(() => splitRegistryArgument("reg.local/BAD"), Error, "prefix");
  assertThrows(() => splitRegistryArgument(""), Error, "invalid registry");
});
