/**
 * The embedded registry over HTTPS with a certificate from a private CA
 * (made by openssl): our registry client trusts it through a CA file, skopeo
 * through a certificate directory, and neither trusts it without.
 */
import { join } from "node:path";
import { assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { interopAvailable, SKOPEO_BIN } from "../helpers/registry.ts";
import { makeServerCertificate } from "../helpers/tokenserver.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { isManifestType } from "../../lib/oci/media.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";
import { archiveImages, createCatalog, startServer } from "../../lib/server/server.ts";
import { readAll } from "../../lib/store/types.ts";
import { writeCorpusArchive } from "./server_fixture.ts";

const enabled = interopAvailable("/usr/bin/openssl", SKOPEO_BIN);

async function skopeoRaw(args: string[]): Promise<{ ok: boolean; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(SKOPEO_BIN, { args, stdout: "piped", stderr: "piped" }).output();
  return { ok: out.success, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "serve over HTTPS: our client with --ca-file, skopeo with a cert dir; refused without the CA",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-server-tls-" });
    const images = standardCorpus();
    const rancher = images.find((i) => i.repository === "rancher/rancher")!;
    const archive = await writeCorpusArchive(join(dir, "a.tar"), images);
    const { ca, server: certificate } = await makeServerCertificate(dir);
    const server = await startServer({
      store: archive,
      catalog: createCatalog(archive, archiveImages(archive)),
      tls: { cert: certificate.pem, key: certificate.keyPem },
    });
    const trusted = registryStore(createRegistryClient(server.host, { caFile: ca.certPath, noAuthFiles: true }));
    const untrusted = registryStore(createRegistryClient(server.host, { noAuthFiles: true }));
    try {
      assertEquals(server.url, `https://${server.host}`);
      assertEquals(await trusted.client.baseUrl(), `https://${server.host}`);
      const resolved = await trusted.resolve("rancher/rancher", rancher.tag);
      assertEquals(resolved.descriptor.digest, rancher.root.descriptor.digest);
      assertEquals(await trusted.listTags("library/busybox"), ["1.36"]);
      const layer = rancher.blobs.find((b) => !isManifestType(b.descriptor.mediaType))!;
      assertEquals(await readAll(await trusted.fetch("rancher/rancher", layer.descriptor), 1 << 24), layer.bytes);

      await assertRejects(() => untrusted.resolve("rancher/rancher", rancher.tag), Error, "cannot reach registry");

      const certDir = join(dir, "certs");
      await Deno.mkdir(certDir);
      await Deno.copyFile(ca.certPath, join(certDir, "ca.crt"));
      const reference = `docker://${server.host}/rancher/rancher:${rancher.tag}`;
      const withCa = await skopeoRaw(["inspect", "--raw", "--cert-dir", certDir, reference]);
      assertEquals(withCa.ok, true, withCa.stderr);
      assertEquals(digestOf(withCa.stdout), rancher.root.descriptor.digest);
      await Deno.mkdir(join(dir, "no-certs"));
      const withoutCa = await skopeoRaw(["inspect", "--raw", "--cert-dir", join(dir, "no-certs"), reference]);
      assertEquals(withoutCa.ok, false, "skopeo must not trust an unknown CA");
      assertStringIncludes(withoutCa.stderr, "certificate");
    } finally {
      trusted.client.close();
      untrusted.client.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
