/**
 * Files end to end (`files:` in airgap.yaml): a file served over HTTP (with
 * its sha256) and a local script (mode 0755) are saved as OCI artifacts,
 * loaded into a real registry (Debian's distribution) and pulled back by
 * digest through the registry API (manifest, then blob, hashed);
 * `files extract` writes them verified with their modes; `serve` offers
 * them at `GET /files/NAME` (behind `--htpasswd --auth-pulls` like any
 * read); `ctr images import` of the archive still works (RKE2/K3s preload); split volumes and `mirror` carry them; a delta does not carry an unchanged file
 * again; a wrong sha256 is a one-line error naming airgap.yaml's line.
 */
import bcrypt from "bcryptjs";
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { serveFiles } from "../helpers/fileserver.ts";
import { interopAvailable, startRegistry } from "../helpers/registry.ts";
import { containerdAvailable, withContainerd } from "../helpers/containerd.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { parseLock } from "../../lib/lock.ts";
import { openArchive } from "../../lib/store/archive.ts";
import { archiveImages, createCatalog, startServer } from "../../lib/server/server.ts";
import { parseHtpasswd } from "../../lib/server/htpasswd.ts";
import { EMPTY_CONFIG_TYPE, FILE_ARTIFACT_TYPE, TITLE_ANNOTATION } from "../../lib/files/artifact.ts";

const enabled = interopAvailable();

/** Deterministic bytes. */
function bytesOf(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const hex = (bytes: Uint8Array) => digestOf(bytes).slice("sha256:".length);

Deno.test({
  name: "files: save → load into distribution → pull by digest; extract with modes; serve /files/NAME; deltas",
  ignore: !enabled,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "airgap-files-" });
    const helm = bytesOf(1, 2_500_000);
    const script = "#!/bin/sh\necho installing\n";
    const files = serveFiles({ "/helm/helm-v3.14.0-linux-amd64.tar.gz": helm });
    const registry = await startRegistry();
    const cache = join(dir, "cache");
    const yaml = (helmSha: string, scriptPath = "install.sh") =>
      [
        "files:",
        `  - url: ${files.url}/helm/helm-v3.14.0-linux-amd64.tar.gz`,
        `    sha256: "${helmSha}"`,
        `  - path: ${scriptPath}`,
        '    mode: "0755"',
        "",
      ].join("\n");
    try {
      await Deno.writeTextFile(join(dir, "install.sh"), script);
      await Deno.writeTextFile(join(dir, "airgap.yaml"), yaml(hex(helm)));
      const archive = join(dir, "kit.tar");

      await t.step("save: the files are pinned in the lock by digest, with their sha256 and mode", async () => {
        await airgapOk(["save", "--cache", cache, "-o", archive], { cwd: dir });
        const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        const pinned = Object.fromEntries(lock.images.map((i) => [i.entry, i.file]));
        assertEquals(pinned["files/helm-v3.14.0-linux-amd64.tar.gz"], {
          name: "helm-v3.14.0-linux-amd64.tar.gz",
          mode: "0644",
          from: `${files.url}/helm/helm-v3.14.0-linux-amd64.tar.gz`,
          sha256: digestOf(helm),
          size: helm.length,
        });
        assertEquals(pinned["files/install.sh"]?.mode, "0755");
        assertEquals(pinned["files/install.sh"]?.from, "install.sh");
        const ls = JSON.parse((await airgapOk(["ls", "--json", archive])).stdout);
        assertEquals(ls.images.map((i: { kind: string }) => i.kind), ["file", "file"]);
        assertStringIncludes((await airgapOk(["verify", archive])).stdout + "", "OK");
      });

      await t.step("plan again: the file is cached, nothing is downloaded", async () => {
        const before = files.requests.length;
        await airgapOk(["plan", "--cache", cache], { cwd: dir });
        assertEquals(files.requests.length, before);
      });

      await t.step("load, then GET manifest and blob by digest from distribution", async () => {
        await airgapOk(["load", archive, "--registry", registry.host]);
        const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        for (
          const [entry, content] of [["files/helm-v3.14.0-linux-amd64.tar.gz", helm], ["files/install.sh", script]]
        ) {
          const pin = lock.images.find((i) => i.entry === entry)!;
          const base = `http://${registry.host}/v2/${entry}`;
          const response = await fetch(`${base}/manifests/${pin.digest}`, {
            headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
          });
          assertEquals(response.status, 200);
          const bytes = new Uint8Array(await response.arrayBuffer());
          assertEquals(digestOf(bytes), pin.digest);
          const manifest = JSON.parse(new TextDecoder().decode(bytes));
          assertEquals(manifest.artifactType, FILE_ARTIFACT_TYPE);
          assertEquals(manifest.config.mediaType, EMPTY_CONFIG_TYPE);
          assertEquals(manifest.layers.length, 1);
          assertEquals(manifest.layers[0].annotations[TITLE_ANNOTATION], pin.file!.name);
          const blob = await fetch(`${base}/blobs/${manifest.layers[0].digest}`);
          assertEquals(blob.status, 200);
          const body = new Uint8Array(await blob.arrayBuffer());
          const expected = typeof content === "string" ? new TextEncoder().encode(content) : content;
          assertEquals(digestOf(body), digestOf(expected));
          assertEquals(digestOf(body), pin.file!.sha256);
        }
      });

      await t.step("files extract: bytes verified, modes kept", async () => {
        const out = join(dir, "out");
        await airgapOk(["files", "extract", archive, "-d", out]);
        assertEquals(digestOf(await Deno.readFile(join(out, "helm-v3.14.0-linux-amd64.tar.gz"))), digestOf(helm));
        assertEquals(await Deno.readTextFile(join(out, "install.sh")), script);
        if (Deno.build.os !== "windows") {
          assertEquals((await Deno.stat(join(out, "install.sh"))).mode! & 0o777, 0o755);
          assertEquals((await Deno.stat(join(out, "helm-v3.14.0-linux-amd64.tar.gz"))).mode! & 0o777, 0o644);
        }
        const ls = JSON.parse((await airgapOk(["files", "ls", "--json", archive])).stdout);
        assertEquals(ls.map((f: { name: string }) => f.name).sort(), ["helm-v3.14.0-linux-amd64.tar.gz", "install.sh"]);
      });

      await t.step("serve: GET /files/NAME streams the file; unknown and unsafe names are 404", async () => {
        const reader = await openArchive(archive);
        const server = await startServer({ store: reader, catalog: createCatalog(reader, archiveImages(reader)) });
        try {
          const got = await fetch(`${server.url}/files/install.sh`);
          assertEquals(got.status, 200);
          assertEquals(got.headers.get("x-airgap-file-mode"), "0755");
          assertEquals(await got.text(), script);
          const big = await fetch(`${server.url}/files/helm-v3.14.0-linux-amd64.tar.gz`);
          assertEquals(digestOf(new Uint8Array(await big.arrayBuffer())), digestOf(helm));
          for (const path of ["/files/nothing.txt", "/files/..%2Fairgap.lock", "/files/"]) {
            const response = await fetch(`${server.url}${path}`);
            await response.body?.cancel();
            assertEquals(response.status, 404, path);
          }
          const put = await fetch(`${server.url}/files/install.sh`, { method: "PUT", body: "x" });
          await put.body?.cancel();
          assertEquals(put.status, 405);
        } finally {
          await server.close();
          await reader.close?.();
        }
      });

      await t.step("serve --htpasswd --auth-pulls: /files/NAME needs a user, as every read does", async () => {
        const reader = await openArchive(archive);
        const server = await startServer({
          store: reader,
          catalog: createCatalog(reader, archiveImages(reader)),
          auth: { users: parseHtpasswd(`alice:${bcrypt.hashSync("s3cret", 4)}\n`, "ht"), pulls: true },
        });
        try {
          const anonymous = await fetch(`${server.url}/files/install.sh`);
          await anonymous.body?.cancel();
          assertEquals(anonymous.status, 401);
          const wrong = await fetch(`${server.url}/files/install.sh`, {
            headers: { authorization: `Basic ${btoa("alice:nope")}` },
          });
          await wrong.body?.cancel();
          assertEquals(wrong.status, 401);
          const alice = await fetch(`${server.url}/files/install.sh`, {
            headers: { authorization: `Basic ${btoa("alice:s3cret")}` },
          });
          assertEquals(await alice.text(), script);
        } finally {
          await server.close();
          await reader.close?.();
        }
      });

      await t.step({
        name: "ctr images import: the archive stays a preload tarball (files are left unnamed, not unpacked)",
        ignore: !containerdAvailable(),
        fn: async () => {
          await withContainerd(async (containerd) => {
            await containerd.ctr("-n", "k8s.io", "images", "import", archive);
            assertEquals((await containerd.ctr("-n", "k8s.io", "images", "ls", "-q")).trim(), "");
          });
        },
      });

      await t.step("split volumes: files extract reads the parts", async () => {
        const split = join(dir, "split.tar");
        await airgapOk(["save", "--cache", cache, "-o", split, "--split", "1MiB"], { cwd: dir });
        const out = join(dir, "out-split");
        await airgapOk(["files", "extract", `${split}.001`, "-d", out, "--file", "helm-v3.14.0-linux-amd64.tar.gz"]);
        assertEquals(digestOf(await Deno.readFile(join(out, "helm-v3.14.0-linux-amd64.tar.gz"))), digestOf(helm));
      });

      await t.step("mirror pushes the files too, from the cache", async () => {
        await airgapOk(["mirror", "--cache", cache, "--registry", `${registry.host}/mirrored`], { cwd: dir });
        const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        const pin = lock.images.find((i) => i.entry === "files/install.sh")!;
        const response = await fetch(`http://${registry.host}/v2/mirrored/files/install.sh/manifests/${pin.digest}`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        });
        assertEquals(digestOf(new Uint8Array(await response.arrayBuffer())), pin.digest);
      });

      await t.step("a delta carries the changed file, not the unchanged one", async () => {
        await Deno.writeTextFile(join(dir, "install2.sh"), `${script}echo again\n`);
        await Deno.writeTextFile(
          join(dir, "airgap.yaml"),
          yaml(hex(helm), "install2.sh").replace("path: install2.sh", "path: install2.sh\n    name: install.sh"),
        );
        const delta = join(dir, "delta.tar");
        await airgapOk(["save", "--cache", cache, "-o", delta, "--since", archive], { cwd: dir });
        const reader = await openArchive(delta);
        try {
          assert(!reader.blobs.has(digestOf(helm)), "the unchanged file's bytes are left to the base");
        } finally {
          await reader.close?.();
        }
        const listed = JSON.parse((await airgapOk(["files", "ls", "--json", delta])).stdout) as {
          name: string;
          carried: boolean;
        }[];
        assertEquals(
          Object.fromEntries(listed.map((f) => [f.name, f.carried])),
          { "helm-v3.14.0-linux-amd64.tar.gz": false, "install.sh": true },
        );
      });

      await t.step("a wrong sha256 is one line naming airgap.yaml's entry, and nothing is saved", async () => {
        await Deno.writeTextFile(join(dir, "airgap.yaml"), yaml("0".repeat(64)));
        const result = await airgap(["save", "--cache", join(dir, "cache2"), "-o", join(dir, "bad.tar")], { cwd: dir });
        assertEquals(result.code === 0, false);
        assertStringIncludes(result.stderr, "airgap.yaml:2:5: file helm-v3.14.0-linux-amd64.tar.gz: sha256 mismatch");
        assert(await Deno.stat(join(dir, "bad.tar")).then(() => false, () => true));
      });
    } finally {
      await registry.stop();
      await files.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
