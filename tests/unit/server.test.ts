import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { resolve } from "node:path";
import { serveOptions } from "../../lib/commands/serve/cli.ts";
import { parseListen } from "../../lib/commands/serve/serve.ts";
import { AirgapError } from "../../lib/errors.ts";
import type { Descriptor } from "../../lib/oci/manifest.ts";
import { DOCKER_MANIFEST } from "../../lib/oci/media.ts";
import { createCatalog, registryNaming, sourceNaming } from "../../lib/server/server.ts";
import { paginate, parseRange } from "../../lib/server/read.ts";
import { route } from "../../lib/server/routes.ts";
import type { Store } from "../../lib/store/types.ts";

const digest = (c: string) => `sha256:${c.repeat(64)}`;

Deno.test("sourceNaming: the images' own names, Docker Hub's host left out", () => {
  const naming = sourceNaming();
  const place = (name: string, entry?: string) => naming.place({ name, entry });
  assertEquals(place("docker.io/rancher/rancher:v2.7.9", "rancher/rancher:v2.7.9"), {
    repository: "rancher/rancher",
    tag: "v2.7.9",
  });
  // The entry wins over the (mirror) name it was pulled from.
  assertEquals(place("mirror.local:5000/rancher/rancher:v1", "rancher/rancher:v1").repository, "rancher/rancher");
  assertEquals(place("docker.io/library/busybox:1.36", "busybox:1.36").repository, "library/busybox");
  assertEquals(place("quay.io/jetstack/cert-manager:v1").repository, "quay.io/jetstack/cert-manager");
  // A host with a port cannot be a path component: dropped.
  assertEquals(place("127.0.0.1:5000/a/b:1").repository, "a/b");
  assertEquals(place(`docker.io/rancher/x@${digest("a")}`), { repository: "rancher/x", tag: undefined });

  assertEquals(naming.canonical("busybox"), "library/busybox");
  assertEquals(naming.canonical("docker.io/library/busybox"), "library/busybox");
  assertEquals(naming.canonical("index.docker.io/rancher/rancher"), "rancher/rancher");
  assertEquals(naming.canonical("quay.io/x/y"), "quay.io/x/y");
  // containerd's mirror parameter.
  assertEquals(naming.canonical("jetstack/x", "quay.io"), "quay.io/jetstack/x");
  assertEquals(naming.canonical("library/busybox", "docker.io"), "library/busybox");

  assertEquals(naming.record("x", "y"), "docker.io/library/x:y");
  assertEquals(naming.record("quay.io/a/b", "1"), "quay.io/a/b:1");
  // What a push records is served where it was pushed.
  assertEquals(place(naming.record("x", "y")), { repository: naming.canonical("x"), tag: "y" });
  // A referrer pushed by digest is recorded by digest, and served untagged in its repository.
  const pinned = `sha256:${"ab".repeat(32)}`;
  assertEquals(naming.record("x", pinned), `docker.io/library/x@${pinned}`);
  assertEquals(place(naming.record("x", pinned)), { repository: naming.canonical("x"), tag: undefined });
});

Deno.test("registryNaming: the target names airgap load gives, pushes recorded under the registry", () => {
  const naming = registryNaming("registry.local:5000", "proj");
  const place = (name: string, entry?: string) => naming.place({ name, entry }).repository;
  assertEquals(place("docker.io/rancher/rancher:v1", "rancher/rancher:v1"), "proj/rancher/rancher");
  assertEquals(place("docker.io/rancher/mirrored-pause:3.6", "mirrored-pause:3.6"), "proj/rancher/mirrored-pause");
  assertEquals(place("quay.io/jetstack/x:v1", "quay.io/jetstack/x:v1"), "proj/quay.io/jetstack/x");
  // Cache names have no entry: named from the name itself.
  assertEquals(place("docker.io/library/busybox:1.36"), "proj/library/busybox");
  assertEquals(naming.record("proj/a", "t"), "registry.local:5000/proj/a:t");
  assertEquals(naming.place({ name: naming.record("proj/a", "t") }), { repository: "proj/a", tag: "t" });
  const pinned = `sha256:${"cd".repeat(32)}`;
  assertEquals(naming.record("proj/a", pinned), `registry.local:5000/proj/a@${pinned}`);
  assertEquals(naming.place({ name: naming.record("proj/a", pinned) }), { repository: "proj/a", tag: undefined });
  assertEquals(naming.place({ name: "registry.local:5000/x:1" }), { repository: "x", tag: "1" });
  assertEquals(naming.canonical("Anything"), "Anything");
  assertThrows(() => naming.place({ name: "reg:5000/x:1", entry: "reg:5000/x:1" }), AirgapError, "port");
});

Deno.test("createCatalog: names, clashes and tags", async () => {
  const store = { description: "none" } as Store;
  const d = (c: string): Descriptor => ({ mediaType: DOCKER_MANIFEST, digest: digest(c), size: 10 });
  const catalog = createCatalog(store, [
    { name: "docker.io/rancher/a:v1", entry: "rancher/a:v1", descriptor: d("a") },
    { name: "mirror.local/rancher/a:v1", entry: "rancher/a:v1", descriptor: d("b") },
    { name: "docker.io/rancher/a:v2", entry: "rancher/a:v2", descriptor: d("a") },
    { name: "docker.io/library/busybox:1", descriptor: d("c") },
    { name: "reg:5000/x:1", entry: "reg:5000/x:1", descriptor: d("d") },
  ]);
  assertEquals(catalog.repositories(), ["library/busybox", "rancher/a", "x"]);
  assertEquals(catalog.tags("rancher/a"), ["v1", "v2"]);
  assertEquals(catalog.tagged("rancher/a", "v1")?.digest, digest("a"), "the first image keeps a clashing name");
  assertEquals(catalog.warnings.length, 1);
  assertEquals(catalog.find("busybox"), "library/busybox");
  assertEquals(catalog.find("docker.io/library/busybox"), "library/busybox");
  assertEquals(catalog.find("nothing"), undefined);
  catalog.link("new/repo", { mediaType: "application/octet-stream", digest: digest("e"), size: 3 });
  assertEquals(catalog.find("new/repo"), "new/repo");
  assertEquals((await catalog.blob("new/repo", digest("e")))?.size, 3);
  assertEquals(await catalog.blob("rancher/a", digest("e")), undefined);
});

Deno.test("parseRange: one byte range, or refused, or ignored", () => {
  assertEquals(parseRange(undefined, 100), undefined);
  assertEquals(parseRange("bytes=0-9", 100), { start: 0, end: 9 });
  assertEquals(parseRange("bytes=90-200", 100), { start: 90, end: 99 });
  assertEquals(parseRange("bytes=95-", 100), { start: 95, end: 99 });
  assertEquals(parseRange("bytes=-10", 100), { start: 90, end: 99 });
  assertEquals(parseRange("bytes=-500", 100), { start: 0, end: 99 });
  assertEquals(parseRange("bytes=100-", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=5-4", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=-0", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=-", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=0-", 0), "unsatisfiable");
  assertEquals(parseRange("items=0-5", 100), undefined);
  assertEquals(parseRange("bytes=0-1,3-4", 100), undefined);
});

Deno.test("paginate: n and last, a Link to the next page", () => {
  const url = (q: string) => new URL(`http://x/v2/a/tags/list${q}`);
  const items = ["a", "b", "c", "d", "e"];
  assertEquals(paginate(items, url("")), { page: items });
  assertEquals(paginate(items, url("?n=2")), { page: ["a", "b"], link: '</v2/a/tags/list?n=2&last=b>; rel="next"' });
  assertEquals(paginate(items, url("?n=2&last=d")), { page: ["e"] });
  assertEquals(paginate(items, url("?n=5")), { page: items });
  assertEquals(paginate(items, url("?n=0")), { page: [] });
  assertEquals(paginate(items, url("?last=c")), { page: ["d", "e"] });
  assertThrows(() => paginate(items, url("?n=two")));
});

Deno.test("parseListen and route", () => {
  assertEquals(parseListen("127.0.0.1:5000"), { hostname: "127.0.0.1", port: 5000 });
  assertEquals(parseListen(":5000"), { hostname: "0.0.0.0", port: 5000 });
  assertEquals(parseListen("5001"), { hostname: "127.0.0.1", port: 5001 });
  assertEquals(parseListen("[::1]:0"), { hostname: "::1", port: 0 });
  assertThrows(() => parseListen("host:port"), AirgapError, "invalid --listen");
  assertThrows(() => parseListen("host:70000"), AirgapError, "invalid --listen");

  assertEquals(route("/v2/"), { kind: "ping" });
  assertEquals(route("/v2/_catalog"), { kind: "catalog" });
  assertEquals(route("/v2/a/b/c/tags/list"), { kind: "tags", name: "a/b/c" });
  assertEquals(route("/v2/a/manifests/v1"), { kind: "manifest", name: "a", reference: "v1" });
  assertEquals(route("/v2/a/b/blobs/uploads/"), { kind: "uploads", name: "a/b" });
  assertEquals(route("/v2/a/b/blobs/uploads/123"), { kind: "upload", name: "a/b", id: "123" });
  assertEquals(route(`/v2/a/blobs/${digest("f")}`), { kind: "blob", name: "a", digest: digest("f") });
  assertEquals(route("/v1/_ping"), { kind: "unknown" });
});

Deno.test("serveOptions: the auth flags and upload limits as the server takes them", () => {
  const reporter = { info() {} };
  const options = serveOptions("cache", {
    listen: "127.0.0.1:0",
    writable: true,
    htpasswd: "users.htpasswd",
    authPulls: true,
    maxUploads: "8",
    maxUploadSize: "1.5GiB",
    uploadIdleTimeout: "2m30s",
  }, reporter);
  assertEquals(options.htpasswd, resolve("users.htpasswd"));
  assertEquals(options.authPulls, true);
  assertEquals(options.allowAnonymousPush, undefined);
  assertEquals([options.maxUploads, options.maxUploadSize, options.uploadIdleMs], [8, 1.5 * 1024 ** 3, 150_000]);
  for (
    const [flags, message] of [
      [{ maxUploads: "-1" }, "--max-uploads"],
      [{ maxUploads: "2.5" }, "--max-uploads"],
      [{ maxUploadSize: "0" }, "--max-upload-size"],
      [{ uploadIdleTimeout: "forever" }, "--upload-idle-timeout"],
    ] as const
  ) {
    assertThrows(() => serveOptions("cache", { listen: "0", ...flags }, reporter), AirgapError, message);
  }
});
