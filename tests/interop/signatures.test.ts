/**
 * Signatures acceptance: images with cosign-format signatures and an
 * attestation (made here with a generated ECDSA P-256 key, in the bytes
 * cosign writes) in a distribution registry → `save --with-signatures
 * --verify-key` → archive → `load --verify-key` into a fresh distribution →
 * skopeo sees the same `.sig`/`.att` tags with the same digests. A tampered
 * signature and an unsigned image are refused before anything is written.
 */
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { interopAvailable, skopeo, skopeoDigest, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { type Blob, type GeneratedImage, multiPlatformImage, singleImage } from "../../lib/demo/corpus.ts";
import { cosignTag, fallbackTag } from "../../lib/artifacts/discover.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { encodeJson } from "../../lib/oci/manifest.ts";
import { parseLock } from "../../lib/lock.ts";
import { openCache } from "../../lib/store/cache.ts";
import { archiveImages, cacheImages, createCatalog, startServer } from "../../lib/server/server.ts";
import { openArchive } from "../../lib/store/archive.ts";

const encoder = new TextEncoder();

function blob(mediaType: string, bytes: Uint8Array, annotations?: Record<string, string>): Blob {
  return { descriptor: { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...{ annotations } }, bytes };
}

/** A cosign-format artifact image: OCI manifest, cosign's small config, the given layers. */
function cosignImage(repository: string, tag: string, layers: Blob[]): GeneratedImage {
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    encodeJson({
      architecture: "",
      created: "0001-01-01T00:00:00Z",
      history: [{ created: "0001-01-01T00:00:00Z" }],
      os: "",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.descriptor.digest) },
      config: {},
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: config.descriptor,
    layers: layers.map((l) => l.descriptor),
  };
  const root = blob(manifest.mediaType, encodeJson(manifest));
  return { repository, tag, root: { descriptor: root.descriptor, bytes: root.bytes }, blobs: [config, ...layers] };
}

/** A `.sig` image as cosign signs `host/repository@digest` with `key` (tampered: the payload names `signed`). */
function signature(
  host: string,
  repository: string,
  digest: string,
  key: KeyObject,
  signed = digest,
  optional: Record<string, string> | null = null,
) {
  const payload = encoder.encode(JSON.stringify({
    critical: {
      identity: { "docker-reference": `${host}/${repository}` },
      image: { "docker-manifest-digest": signed },
      type: "cosign container image signature",
    },
    optional,
  }));
  const sig = sign("sha256", payload, key).toString("base64");
  const layer = blob("application/vnd.dev.cosign.simplesigning.v1+json", payload, {
    "dev.cosignproject.cosign/signature": sig,
  });
  return cosignImage(repository, cosignTag(digest, "signature"), [layer]);
}

/** A `.att` image: a DSSE envelope with an in-toto statement about the image. */
function attestation(repository: string, digest: string, key: KeyObject) {
  const statement = encoder.encode(JSON.stringify({
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://slsa.dev/provenance/v0.2",
    subject: [{ name: repository, digest: { sha256: digest.slice("sha256:".length) } }],
    predicate: { builder: { id: "airgap-test" } },
  }));
  const payloadType = "application/vnd.in-toto+json";
  const pae = encoder.encode(`DSSEv1 ${payloadType.length} ${payloadType} ${statement.byteLength} `);
  const signed = new Uint8Array([...pae, ...statement]);
  const envelope = encoder.encode(JSON.stringify({
    payloadType,
    payload: btoa(String.fromCharCode(...statement)),
    signatures: [{ keyid: "", sig: sign("sha256", signed, key).toString("base64") }],
  }));
  const layer = blob("application/vnd.dsse.envelope.v1+json", envelope, {
    "dev.cosignproject.cosign/signature": "",
    predicateType: "https://slsa.dev/provenance/v0.2",
  });
  return cosignImage(repository, cosignTag(digest, "attestation"), [layer]);
}

/** An SBOM as an OCI 1.1 referrer of `subject`, and the `sha256-<hex>` fallback index that lists it. */
function sbomReferrer(repository: string, subject: Blob): { referrer: GeneratedImage; fallback: GeneratedImage } {
  const empty = blob("application/vnd.oci.empty.v1+json", encoder.encode("{}"));
  const sbom = blob("application/spdx+json", encoder.encode(JSON.stringify({ spdxVersion: "SPDX-2.3", name: "app" })));
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/spdx+json",
    config: empty.descriptor,
    layers: [sbom.descriptor],
    subject: {
      mediaType: subject.descriptor.mediaType,
      digest: subject.descriptor.digest,
      size: subject.descriptor.size,
    },
  };
  const root = blob(manifest.mediaType, encodeJson(manifest));
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ ...root.descriptor, artifactType: manifest.artifactType }],
  };
  const fallback = blob(index.mediaType, encodeJson(index));
  const referrer = { repository, tag: "sbom-referrer", root, blobs: [empty, sbom] };
  return {
    referrer,
    fallback: { repository, tag: fallbackTag(subject.descriptor.digest), root: fallback, blobs: [root, empty, sbom] },
  };
}

const layers = (seed: string) => [{ seed, size: 2048 }];

/** The referrer is at `host` by digest, and the fallback index of its subject lists it (distribution 2.8 has no referrers API). */
async function referrerArrived(host: string, referrer: GeneratedImage, subject: Blob): Promise<void> {
  const digest = referrer.root.descriptor.digest;
  assertEquals(await skopeoDigest(`${host}/acme/app@${digest}`), digest);
  const raw = await skopeo(
    "inspect",
    "--raw",
    "--tls-verify=false",
    `docker://${host}/acme/app:${fallbackTag(subject.descriptor.digest)}`,
  );
  const index = JSON.parse(raw);
  assertEquals(index.manifests.map((m: { digest: string }) => m.digest), [digest]);
  assertEquals(index.manifests[0].artifactType, "application/spdx+json");
}

Deno.test({
  name: "signatures: cosign .sig/.att travel registry → archive → registry; bad ones refused before writing",
  ignore: !interopAvailable(),
  async fn(t) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    await withRegistries(async (start) => {
      const source = await start();
      const target = await start();
      const app = multiPlatformImage("acme/app", "v1", "oci", [
        { format: "oci", platform: { os: "linux", architecture: "amd64" }, layers: layers("app-amd64") },
        { format: "oci", platform: { os: "linux", architecture: "arm64" }, layers: layers("app-arm64") },
      ]);
      const unsigned = singleImage("acme/unsigned", "v1", { format: "oci", layers: layers("unsigned") });
      const tampered = singleImage("acme/tampered", "v1", { format: "oci", layers: layers("tampered") });
      const alien = singleImage("acme/alien", "v1", { format: "oci", layers: layers("alien") });
      const appDigest = app.root.descriptor.digest;
      const sig = signature(source.host, "acme/app", appDigest, privateKey);
      const att = attestation("acme/app", appDigest, privateKey);
      const amd64 = app.blobs.find((b) => b.descriptor.mediaType === "application/vnd.oci.image.manifest.v1+json")!;
      const { referrer, fallback } = sbomReferrer("acme/app", amd64);
      const artifacts = [
        sig,
        att,
        referrer,
        // Signed with the right key for another digest: a signature moved onto the wrong image.
        signature(source.host, "acme/tampered", tampered.root.descriptor.digest, privateKey, appDigest),
        // Signed with a key that is not ours.
        signature(source.host, "acme/alien", alien.root.descriptor.digest, other),
      ];
      await pushCorpus(source.host, [app, unsigned, tampered, alien, ...artifacts]);
      // skopeo will not copy an index of artifacts as is: a plain PUT, as `oras` or cosign would do.
      const put = await fetch(`http://${source.host}/v2/acme/app/manifests/${fallback.tag}`, {
        method: "PUT",
        headers: { "content-type": fallback.root.descriptor.mediaType },
        body: fallback.root.bytes as Uint8Array<ArrayBuffer>,
      });
      assertEquals(put.status, 201, await put.text());

      await withTempDir(async (dir) => {
        const keyPath = join(dir, "cosign.pub");
        await Deno.writeTextFile(keyPath, publicKey.export({ type: "spki", format: "pem" }) as string);
        const cache = join(dir, "cache");
        const signed = ["--platform", "all", "--with-signatures", "--verify-key", keyPath];
        const saveOf = async (name: string, entries: string[], from = source.host, cacheDir = cache) => {
          await Deno.writeTextFile(join(dir, `${name}.txt`), entries.join("\n") + "\n");
          const files = ["-o", `${name}.tar`, "--lock", `${name}.lock`];
          return await airgap(["save", "-l", `${name}.txt`, "-s", from, "--cache", cacheDir, ...files, ...signed], {
            cwd: dir,
          });
        };
        const absent = async (path: string) => await Deno.stat(join(dir, path)).then(() => false, () => true);

        await t.step("unsigned, tampered and foreign-key images are refused; no archive is written", async () => {
          for (
            const [name, entry, reason] of [
              ["unsigned", "acme/unsigned:v1", "no cosign signature"],
              ["tampered", "acme/tampered:v1", `signature is for ${appDigest}`],
              ["alien", "acme/alien:v1", "does not verify with"],
            ]
          ) {
            const result = await saveOf(name, ["acme/app:v1", entry]);
            assertEquals(result.code, 1, result.stderr);
            assertStringIncludes(result.stderr, entry.split(":")[0]);
            assertStringIncludes(result.stderr, reason);
            assert(await absent(`${name}.tar`), `${name}.tar was written`);
            assert(await absent(`${name}.tar.partial`), `${name}.tar.partial was written`);
          }
        });

        await t.step("save --with-signatures --verify-key carries the .sig and .att", async () => {
          const saved = await saveOf("signed", ["acme/app:v1"]);
          assertEquals(saved.code, 0, saved.stderr);
          assertStringIncludes(saved.stdout, "saved 1 image with 3 signatures/attestations/SBOMs");
          const lock = parseLock(await Deno.readTextFile(join(dir, "signed.lock")), "signed.lock");
          const locked = lock.images[0];
          assertEquals([locked.verified?.signatures, locked.verified?.attestations], [1, 1]);
          const expected = [
            ["signature", cosignTag(appDigest, "signature"), sig.root.descriptor.digest],
            ["attestation", cosignTag(appDigest, "attestation"), att.root.descriptor.digest],
            ["referrer", undefined, referrer.root.descriptor.digest],
          ];
          assertEquals(
            locked.artifacts?.map((a) => [a.role, a.tag, a.digest]).sort(),
            expected.sort(),
          );
          assertEquals(locked.artifacts?.find((a) => a.role === "referrer")?.subject, amd64.descriptor.digest);
          const listed = JSON.parse((await airgapOk(["ls", "--json", "signed.tar"], { cwd: dir })).stdout);
          assertEquals(listed.images.length, 1);
          assertEquals(listed.images[0].artifacts, 3);
          const table = (await airgapOk(["ls", "signed.tar"], { cwd: dir })).stdout;
          assertStringIncludes(table, "ARTIFACTS");
          assertStringIncludes(table, "3 (verified)");
          await airgapOk(["verify", "signed.tar"], { cwd: dir });
        });

        await t.step("load --verify-key into a fresh distribution: skopeo sees the same tags and digests", async () => {
          const loaded = await airgap(
            ["load", "signed.tar", "--registry", target.host, "--verify-key", keyPath],
            { cwd: dir },
          );
          assertEquals(loaded.code, 0, loaded.stderr);
          assertStringIncludes(loaded.stdout, "pushed 3 signatures/attestations/SBOMs");
          assertEquals(await skopeoDigest(`${target.host}/acme/app:v1`), appDigest);
          for (const artifact of [sig, att]) {
            const name = `${target.host}/${artifact.repository}:${artifact.tag}`;
            const raw = await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${name}`);
            assertEquals(digestOf(encoder.encode(raw)), artifact.root.descriptor.digest, name);
            assertEquals(raw, new TextDecoder().decode(artifact.root.bytes));
          }
          await referrerArrived(target.host, referrer, amd64);
        });

        await t.step(
          "mirror --with-signatures --verify-key: registry → registry, the same tags and digests",
          async () => {
            const mirrored = await start();
            const result = await airgap([
              "mirror",
              "-l",
              "signed.txt",
              "-s",
              source.host,
              "--registry",
              mirrored.host,
              "--cache",
              cache,
              ...signed,
            ], { cwd: dir });
            assertEquals(result.code, 0, result.stderr);
            assertStringIncludes(result.stdout, "3 signatures/attestations/SBOMs");
            assertEquals(await skopeoDigest(`${mirrored.host}/acme/app:v1`), appDigest);
            for (const artifact of [sig, att]) {
              assertEquals(
                await skopeoDigest(`${mirrored.host}/${artifact.repository}:${artifact.tag}`),
                artifact.root.descriptor.digest,
              );
            }
            await referrerArrived(mirrored.host, referrer, amd64);
          },
        );

        await t.step(
          "a registry with the referrers API: load indexes the referrer, save discovers it there",
          async () => {
            const served = await openCache(join(dir, "served"));
            const server = await startServer({
              store: served,
              catalog: createCatalog(served, await cacheImages(served)),
              writable: true,
            });
            try {
              await airgapOk(["load", "signed.tar", "--registry", server.host, "--verify-key", keyPath], { cwd: dir });
              const listed = await fetch(`${server.url}/v2/acme/app/referrers/${amd64.descriptor.digest}`);
              assertEquals(listed.status, 200);
              const index = await listed.json() as { manifests: { digest: string; artifactType?: string }[] };
              assertEquals(index.manifests.map((m) => [m.digest, m.artifactType]), [
                [referrer.root.descriptor.digest, "application/spdx+json"],
              ]);
              const tags = await (await fetch(`${server.url}/v2/acme/app/tags/list`)).json() as { tags: string[] };
              assert(!tags.tags.includes(fallbackTag(amd64.descriptor.digest)), "no fallback tag where the API exists");
              assert(tags.tags.includes(sig.tag) && tags.tags.includes(att.tag), tags.tags.join(" "));

              const saved = await saveOf("served", ["acme/app:v1"], server.host, join(dir, "cache2"));
              assertEquals(saved.code, 0, saved.stderr);
              const lock = parseLock(await Deno.readTextFile(join(dir, "served.lock")), "served.lock");
              assertEquals(
                lock.images[0].artifacts?.map((a) => [a.role, a.digest]).sort(),
                [
                  ["attestation", att.root.descriptor.digest],
                  ["referrer", referrer.root.descriptor.digest],
                  ["signature", sig.root.descriptor.digest],
                ],
              );
            } finally {
              await server.close();
            }
          },
        );

        await t.step("airgap serve of the archive answers the .sig/.att tags and the referrers API", async () => {
          const archive = await openArchive(join(dir, "signed.tar"));
          const server = await startServer({ store: archive, catalog: createCatalog(archive, archiveImages(archive)) });
          try {
            for (const artifact of [sig, att]) {
              const name = `${server.host}/acme/app:${artifact.tag}`;
              assertEquals(await skopeoDigest(name), artifact.root.descriptor.digest, name);
            }
            const listed = await fetch(`${server.url}/v2/acme/app/referrers/${amd64.descriptor.digest}`);
            const index = await listed.json() as { manifests: { digest: string }[] };
            assertEquals(index.manifests.map((m) => m.digest), [referrer.root.descriptor.digest]);
          } finally {
            await server.close();
            await archive.close?.();
          }
        });

        await t.step("a delta carries a new signature; base then delta loads it", async () => {
          // Signed again with an annotation (`cosign sign -a`): a new .sig manifest under the same tag.
          const resigned = signature(source.host, "acme/app", appDigest, privateKey, appDigest, { run: "2" });
          assert(resigned.root.descriptor.digest !== sig.root.descriptor.digest);
          await pushCorpus(source.host, [resigned]);
          await Deno.writeTextFile(join(dir, "delta.txt"), "acme/app:v1\n");
          const files = ["-o", "delta.tar", "--lock", "delta.lock", "--since", "signed.tar"];
          await airgapOk(["save", "-l", "delta.txt", "-s", source.host, "--cache", cache, ...files, ...signed], {
            cwd: dir,
          });
          const delta = JSON.parse((await airgapOk(["ls", "--json", "delta.tar"], { cwd: dir })).stdout).images[0];
          assert(delta.carried < delta.size, "the delta leaves out the image's layers");
          assertEquals(delta.artifacts, 3);
          const fresh = await start();
          for (const archive of ["signed.tar", "delta.tar"]) {
            await airgapOk(["load", archive, "--registry", fresh.host, "--verify-key", keyPath], { cwd: dir });
          }
          assertEquals(await skopeoDigest(`${fresh.host}/acme/app:${sig.tag}`), resigned.root.descriptor.digest);
          assertEquals(await skopeoDigest(`${fresh.host}/acme/app:${att.tag}`), att.root.descriptor.digest);
        });

        await t.step("load --verify-key with another key refuses before pushing anything", async () => {
          const otherPath = join(dir, "other.pub");
          const otherPublic = generateKeyPairSync("ed25519").publicKey;
          await Deno.writeTextFile(otherPath, otherPublic.export({ type: "spki", format: "pem" }) as string);
          const fresh = await start();
          const refused = await airgap(
            ["load", "signed.tar", "--registry", fresh.host, "--verify-key", otherPath],
            { cwd: dir },
          );
          assertEquals(refused.code, 1, refused.stderr);
          assertStringIncludes(refused.stderr, "does not verify with");
          const tags = await skopeo("list-tags", "--tls-verify=false", `docker://${fresh.host}/acme/app`)
            .catch((e) => String(e));
          assert(!tags.includes('"v1"'), tags);
        });
      });
    });
  },
});
