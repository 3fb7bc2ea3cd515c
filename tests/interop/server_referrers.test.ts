/**
 * The embedded registry's OCI 1.1 parts: the referrers API (with the
 * `artifactType` filter and `OCI-Subject` on push) and DELETE of tags,
 * manifests and blobs on a writable cache — both surviving a restart, as
 * the cache's index.json records them — and skopeo deleting an image
 * through it.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { interopAvailable, skopeo } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { encodeJson } from "../../lib/oci/manifest.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../../lib/oci/media.ts";
import { type CacheStore, openCache } from "../../lib/store/cache.ts";
import { cacheImages, createCatalog, type RunningServer, startServer } from "../../lib/server/server.ts";

const EMPTY = { mediaType: "application/vnd.oci.empty.v1+json", digest: digestOf(encodeJson({})), size: 2 };

async function serveCache(cache: CacheStore): Promise<RunningServer> {
  return await startServer({ store: cache, catalog: createCatalog(cache, await cacheImages(cache)), writable: true });
}

async function pushBlob(server: RunningServer, repo: string, bytes: Uint8Array): Promise<void> {
  const response = await fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${digestOf(bytes)}`, {
    method: "POST",
    body: bytes as BodyInit,
  });
  await response.body?.cancel();
  assertEquals(response.status, 201);
}

async function pushManifest(server: RunningServer, repo: string, reference: string | undefined, value: unknown) {
  const bytes = encodeJson(value);
  const response = await fetch(`${server.url}/v2/${repo}/manifests/${reference ?? digestOf(bytes)}`, {
    method: "PUT",
    headers: { "content-type": (value as { mediaType: string }).mediaType },
    body: bytes as BodyInit,
  });
  assertEquals(response.status, 201, await response.text());
  return { digest: digestOf(bytes), size: bytes.byteLength, subject: response.headers.get("oci-subject") };
}

async function referrers(server: RunningServer, path: string) {
  const response = await fetch(`${server.url}${path}`);
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("content-type"), OCI_INDEX);
  const index = await response.json() as {
    mediaType: string;
    manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[];
  };
  assertEquals(index.mediaType, OCI_INDEX);
  return { filtered: response.headers.get("oci-filters-applied"), manifests: index.manifests };
}

async function status(server: RunningServer, method: string, path: string): Promise<number> {
  const response = await fetch(`${server.url}${path}`, { method });
  await response.body?.cancel();
  return response.status;
}

Deno.test("serve --writable: referrers API and DELETE, kept across a restart", async (t) => {
  await withTempDir(async (dir) => {
    const cache = await openCache(join(dir, "cache"));
    let server = await serveCache(cache);
    try {
      const config = encodeJson({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } });
      const layer = new TextEncoder().encode("a layer");
      for (const bytes of [config, layer, encodeJson({})]) await pushBlob(server, "app/web", bytes);
      const image = await pushManifest(server, "app/web", "v1", {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: digestOf(config),
          size: config.length,
        },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: digestOf(layer), size: layer.length }],
      });
      const subject = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.size };
      let sbom = "", signature = "";

      await t.step("a push with a subject answers OCI-Subject, also for a subject that is absent", async () => {
        const pushedSbom = await pushManifest(server, "app/web", undefined, {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: "application/vnd.example.sbom",
          config: EMPTY,
          layers: [EMPTY],
          subject,
          annotations: { "org.example.kind": "sbom" },
        });
        const pushedSignature = await pushManifest(server, "app/web", undefined, {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { ...EMPTY, mediaType: "application/vnd.example.signature.config" },
          layers: [EMPTY],
          subject,
        });
        assertEquals([pushedSbom.subject, pushedSignature.subject], [image.digest, image.digest]);
        sbom = pushedSbom.digest;
        signature = pushedSignature.digest;
        const absent = `sha256:${"cd".repeat(32)}`;
        const orphan = await pushManifest(server, "app/web", undefined, {
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          artifactType: "application/vnd.example.bundle",
          manifests: [],
          subject: { ...subject, digest: absent },
        });
        assertEquals(orphan.subject, absent);
        const listed = await referrers(server, `/v2/app/web/referrers/${absent}`);
        assertEquals(listed.manifests.map((m) => [m.digest, m.artifactType]), [
          [orphan.digest, "application/vnd.example.bundle"],
        ]);
      });

      const expectListed = async () => {
        const all = await referrers(server, `/v2/app/web/referrers/${image.digest}`);
        assertEquals(all.filtered, null);
        assertEquals(
          all.manifests.map((m) => [m.digest, m.artifactType, m.annotations]).sort(),
          [
            [sbom, "application/vnd.example.sbom", { "org.example.kind": "sbom" }],
            [signature, "application/vnd.example.signature.config", undefined],
          ].sort(),
        );
        const sboms = await referrers(
          server,
          `/v2/app/web/referrers/${image.digest}?artifactType=application/vnd.example.sbom`,
        );
        assertEquals([sboms.filtered, sboms.manifests.map((m) => m.digest)], ["artifactType", [sbom]]);
      };

      await t.step("referrers are listed with artifactType and annotations, and filtered", async () => {
        await expectListed();
        assertEquals((await referrers(server, `/v2/app/web/referrers/${digestOf(layer)}`)).manifests, []);
        assertEquals(await status(server, "GET", "/v2/app/web/referrers/sha256:nothex"), 400);
        assertEquals(await status(server, "GET", `/v2/app/other/referrers/${image.digest}`), 404);
      });

      await t.step("after a restart, referrers pushed by digest are still listed", async () => {
        await server.close();
        server = await serveCache(cache);
        await expectListed();
      });

      await t.step("DELETE a tag: 202; the manifest stays reachable by digest", async () => {
        assertEquals(await status(server, "DELETE", "/v2/app/web/manifests/v1"), 202);
        assertEquals(await status(server, "GET", "/v2/app/web/manifests/v1"), 404);
        assertEquals(await status(server, "GET", `/v2/app/web/manifests/${image.digest}`), 200);
        assertEquals(await status(server, "DELETE", "/v2/app/web/manifests/v1"), 404);
        assertEquals(await status(server, "DELETE", "/v2/app/web/manifests/.not-a-tag"), 404);
        assert(!(await cache.tags()).has("docker.io/app/web:v1"), "the tag is gone from index.json");
      });

      await t.step("DELETE a manifest by digest: 202, it is no longer served nor listed as a referrer", async () => {
        assertEquals(await status(server, "DELETE", `/v2/app/web/manifests/${sbom}`), 202);
        assertEquals(await status(server, "GET", `/v2/app/web/manifests/${sbom}`), 404);
        assertEquals(await status(server, "DELETE", `/v2/app/web/manifests/${sbom}`), 404);
        const left = await referrers(server, `/v2/app/web/referrers/${image.digest}`);
        assertEquals(left.manifests.map((m) => m.digest), [signature]);
        assert(![...(await cache.tags()).values()].some((d) => d.digest === sbom), "its name is gone from index.json");
      });

      await t.step("DELETE a blob: 202, then 404; the cache keeps the bytes for prune to decide", async () => {
        const path = `/v2/app/web/blobs/${digestOf(layer)}`;
        assertEquals(await status(server, "DELETE", path), 202);
        assertEquals(await status(server, "GET", path), 404);
        assertEquals(await status(server, "DELETE", path), 404);
        assert(await cache.has(digestOf(layer)));
      });

      await t.step("after a restart, deleted names stay deleted", async () => {
        await server.close();
        server = await serveCache(cache);
        assertEquals(await status(server, "GET", "/v2/app/web/manifests/v1"), 404);
        assertEquals(
          await status(server, "GET", `/v2/app/web/manifests/${image.digest}`),
          200,
          "untagged, not deleted",
        );
        assertEquals(await status(server, "GET", `/v2/app/web/manifests/${sbom}`), 404);
        const left = await referrers(server, `/v2/app/web/referrers/${image.digest}`);
        assertEquals(left.manifests.map((m) => m.digest), [signature]);
      });
    } finally {
      await server.close();
    }
  }, "airgap-server-referrers-");
});

Deno.test({
  name: "serve --writable: skopeo deletes an image through the embedded registry",
  ignore: !interopAvailable(),
  async fn() {
    await withTempDir(async (dir) => {
      const cache = await openCache(join(dir, "cache"));
      const server = await serveCache(cache);
      try {
        const config = encodeJson({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } });
        await pushBlob(server, "app/api", config);
        const digestOfConfig = digestOf(config);
        await pushManifest(server, "app/api", "v2", {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: "application/vnd.oci.image.config.v1+json",
            digest: digestOfConfig,
            size: config.length,
          },
          layers: [],
        });
        await skopeo("delete", "--tls-verify=false", `docker://${server.host}/app/api:v2`);
        assertEquals(await status(server, "GET", "/v2/app/api/manifests/v2"), 404);
        assertEquals((await (await fetch(`${server.url}/v2/app/api/tags/list`)).json()).tags, []);
        assertEquals([...(await cache.tags()).keys()], [], "skopeo deletes by digest: every name goes");
      } finally {
        await server.close();
      }
    }, "airgap-server-skopeo-delete-");
  },
});
