/**
 * Issue 3's acceptance, end to end against real distribution registries:
 * Windows image lists and versions, multi-OS indexes filtered to the wanted
 * platforms, per-OS tags assembled into one list, and foreign layers served
 * by a local HTTP server standing in for Microsoft's host. skopeo judges.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { type ForeignHost, startForeignHost } from "../helpers/foreign_host.ts";
import { interopAvailable, skopeo, skopeoDigest, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import {
  type Blob,
  type GeneratedImage,
  type ImageSpec,
  makeManifest,
  multiPlatformImage,
  singleImage,
  WINDOWS_1809,
  WINDOWS_LTSC2022,
} from "../../lib/demo/corpus.ts";
import { parseLock } from "../../lib/lock.ts";
import { type Descriptor, encodeJson, type Platform } from "../../lib/oci/manifest.ts";
import { copyGraph } from "../../lib/copy/engine.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";
import { bytesStream, type Store } from "../../lib/store/types.ts";
import * as media from "../../lib/oci/media.ts";
import { openArchive } from "../../lib/store/archive.ts";

const enabled = interopAvailable();

const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64", variant: "v8" };

/** The corpus; foreign layers name `BASE/gone/HEX` (404) first, then `BASE/moved/HEX` (a redirect). */
function corpus(foreignBase: string) {
  const urlBases = [`${foreignBase}/gone`, `${foreignBase}/moved`];
  const layer = (seed: string) => [{ seed, size: 3000 }];
  const win = (format: "docker" | "oci", platform: Platform, seed: string, base?: string): ImageSpec => ({
    format,
    platform,
    layers: layer(seed),
    ...(base ? { foreignBase: { seed: base, size: 5000, urlBases } } : {}),
  });
  // One Docker manifest list with Linux and two Windows builds (no foreign layers: every digest is kept).
  const multi = multiPlatformImage("rancher/multi", "v1", "docker", [
    { format: "docker", platform: AMD64, layers: layer("multi-amd64") },
    { format: "docker", platform: ARM64, layers: layer("multi-arm64") },
    win("docker", WINDOWS_1809, "multi-1809"),
    win("docker", WINDOWS_LTSC2022, "multi-2022"),
  ]);
  // An OCI index whose Windows images sit on non-distributable base layers.
  const wins = multiPlatformImage("rancher/wins", "v0.4.11", "oci", [
    { format: "oci", platform: AMD64, layers: layer("wins-amd64") },
    { format: "oci", platform: ARM64, layers: layer("wins-arm64") },
    win("oci", WINDOWS_1809, "wins-1809", "servercore-1809"),
    win("oci", WINDOWS_LTSC2022, "wins-2022", "servercore-2022"),
  ]);
  // The older per-OS tag scheme: Linux under the plain tag, Windows under TAG-windows-<release>.
  const agentLinux = singleImage("rancher/agent", "v2", { format: "docker", layers: layer("agent-linux") });
  const agent1809 = singleImage("rancher/agent", "v2-windows-1809", win("docker", WINDOWS_1809, "agent-1809", "nano"));
  const agent2022 = singleImage("rancher/agent", "v2-windows-ltsc2022", win("docker", WINDOWS_LTSC2022, "agent-2022"));
  // Windows only, per-OS tags only: no plain tag at all.
  const flannel1809 = singleImage("rancher/flannel", "v3-windows-1809", win("docker", WINDOWS_1809, "fl-1809"));
  const flannel2022 = singleImage("rancher/flannel", "v3-windows-ltsc2022", win("docker", WINDOWS_LTSC2022, "fl-22"));
  return { multi, wins, agentLinux, agent1809, agent2022, flannel1809, flannel2022 };
}

type Corpus = ReturnType<typeof corpus>;

async function rawManifest(ref: string): Promise<{ digest: string; json: Record<string, unknown> }> {
  const text = await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${ref}`);
  return { digest: await skopeoDigest(ref), json: JSON.parse(text) };
}

function entries(json: Record<string, unknown>): Descriptor[] {
  return json.manifests as Descriptor[];
}

/** The child digest of a generated index for a platform. */
function childOf(image: GeneratedImage, platform: Platform): string {
  const index = JSON.parse(new TextDecoder().decode(image.root.bytes));
  const found = (index.manifests as Descriptor[]).find((m) =>
    m.platform?.os === platform.os && m.platform.architecture === platform.architecture &&
    m.platform["os.version"] === platform["os.version"]
  );
  if (!found) throw new Error(`no ${JSON.stringify(platform)} in ${image.repository}`);
  return found.digest;
}

function platformsOf(json: Record<string, unknown>): string[] {
  return entries(json).map((m) =>
    `${m.platform!.os}/${m.platform!.architecture}${m.platform!["os.version"] ? `:${m.platform!["os.version"]}` : ""}`
  );
}

Deno.test({
  name: "Windows lists, versions, per-OS tags and foreign layers round-trip through a stock registry",
  ignore: !enabled,
  sanitizeOps: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "airgap-windows-" });
    const registries: TestRegistry[] = [];
    let host: ForeignHost | undefined;
    try {
      host = startForeignHost(); // its URL goes into the manifests: started first, its blobs added below
      const c: Corpus = corpus(host.url);
      const upstream = await startRegistry({
        extraConfig: "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n",
      });
      const target = await startRegistry();
      registries.push(upstream, target);
      await pushCorpus(upstream.host, Object.values(c));
      const foreign: Blob[] = Object.values(c).flatMap((i) => i.foreign ?? []);
      assertEquals(foreign.length, 3, "three foreign base layers");
      host.add(foreign);

      const linuxList = join(dir, "rancher-images.txt");
      const windowsList = join(dir, "rancher-windows-images.txt");
      await Deno.writeTextFile(linuxList, "rancher/multi:v1\nrancher/agent:v2\n");
      await Deno.writeTextFile(
        windowsList,
        "# Windows\r\nrancher/multi:v1\r\nrancher/wins:v0.4.11\r\nrancher/agent:v2\r\n",
      );
      const cache = join(dir, "cache");
      /** `save --windows-image-list` of the Windows list from upstream into ARCHIVE, through the cache. */
      const saveWindows = (
        archive: string,
      ) => ["save", "--windows-image-list", windowsList, "-s", upstream.host, "-i", archive, "--cache", cache];
      const archive = join(dir, "rancher-images.tar");

      await t.step("save with the seed's flags: Windows 1809 by default, foreign layers fetched", async () => {
        const out = await airgapOk([
          "save",
          "--image-list",
          linuxList,
          "--windows-image-list",
          windowsList,
          "--source-registry",
          upstream.host,
          "--images",
          archive,
          "--cache",
          cache,
        ]);
        assertStringIncludes(out.stdout, "saved 3 images");
        assertStringIncludes(out.stderr, "foreign layer(s)");
        // The 1809 base layers of wins and agent were fetched: the dead URL first, then the redirect.
        const fetched = host!.requests.filter((r) => r.status === 200).map((r) => r.path);
        assertEquals(fetched.length, 2, JSON.stringify(host!.requests));
        assert(host!.requests.some((r) => r.path.startsWith("/gone/") && r.status === 404));
        assert(host!.requests.some((r) => r.path.startsWith("/moved/") && r.status === 302));
        host!.offline = true;
      });

      await t.step("the lock records assembled tags and rewritten manifests", async () => {
        const reader = await openArchive(archive);
        const lock = parseLock(reader.lock!, "airgap.lock");
        await reader.close?.();
        const byEntry = new Map(lock.images.map((i) => [i.entry, i]));
        const agent = byEntry.get("rancher/agent:v2")!;
        assertEquals(Object.keys(agent.assembled!).sort(), ["v2", "v2-windows-1809"]);
        assertEquals(agent.assembled!["v2"], c.agentLinux.root.descriptor.digest);
        assertEquals(agent.rewritten?.[c.agent1809.root.descriptor.digest] !== undefined, true);
        const wins = byEntry.get("rancher/wins:v0.4.11")!;
        assertEquals(wins.upstreamDigest, c.wins.root.descriptor.digest);
        assertEquals(Object.keys(wins.rewritten!), [childOf(c.wins, WINDOWS_1809)]);
        assertEquals(wins.platforms, ["windows/amd64:10.0.17763.5206"]);
        const multi = byEntry.get("rancher/multi:v1")!;
        assertEquals(multi.platforms, ["linux/amd64", "windows/amd64:10.0.17763.5206"]);
        assertEquals(multi.rewritten, undefined);
      });

      await t.step("load with the seed's flags into a stock registry", async () => {
        await airgapOk([
          "load",
          "--registry",
          target.host,
          "--image-list",
          linuxList,
          "--windows-image-list",
          windowsList,
          "--windows-versions",
          "1809",
          "--images",
          archive,
          "-q",
        ]);
      });

      await t.step(
        "load asked for a Windows version the archive lacks: error naming the image, nothing pushed",
        async () => {
          const out = await airgap([
            "load",
            "-r",
            `${target.host}/never`,
            "-l",
            linuxList,
            "--windows-image-list",
            windowsList,
            "--windows-versions",
            "1809,ltsc2022",
            "-i",
            archive,
          ]);
          assertEquals(out.code, 1);
          assertStringIncludes(out.stderr, "rancher/multi:v1: ");
          assertStringIncludes(out.stderr, "holds no image for windows/amd64:10.0.20348");
          const catalog = await (await fetch(`http://${target.host}/v2/_catalog`)).json();
          assert(!catalog.repositories.some((r: string) => r.startsWith("never/")));
        },
      );

      await t.step(
        "an image in both lists is one tag holding its Linux and Windows 1809 images, same digests",
        async () => {
          const { json } = await rawManifest(`${target.host}/rancher/multi:v1`);
          assertEquals(json.mediaType, media.DOCKER_MANIFEST_LIST);
          assertEquals(platformsOf(json), ["linux/amd64", "windows/amd64:10.0.17763.5206"]);
          assertEquals(entries(json).map((e) => e.digest), [childOf(c.multi, AMD64), childOf(c.multi, WINDOWS_1809)]);
          for (const d of entries(json)) {
            assertEquals(await skopeoDigest(`${target.host}/rancher/multi@${d.digest}`), d.digest);
          }
          // The per-OS tags rancher-load-images.sh leaves next to the list.
          assertEquals(await skopeoDigest(`${target.host}/rancher/multi:v1-linux-amd64`), childOf(c.multi, AMD64));
          assertEquals(
            await skopeoDigest(`${target.host}/rancher/multi:v1-windows-1809`),
            childOf(c.multi, WINDOWS_1809),
          );
        },
      );

      await t.step(
        "a Windows-only entry keeps only its Windows 1809 image; the foreign layer is an ordinary blob",
        async () => {
          const { json } = await rawManifest(`${target.host}/rancher/wins:v0.4.11`);
          assertEquals(json.mediaType, media.OCI_INDEX);
          assertEquals(platformsOf(json), ["windows/amd64:10.0.17763.5206"]);
          const child = entries(json)[0];
          assert(child.digest !== childOf(c.wins, WINDOWS_1809), "the manifest was rewritten");
          const manifest = (await rawManifest(`${target.host}/rancher/wins@${child.digest}`)).json;
          const layers = manifest.layers as Descriptor[];
          assertEquals(layers[0].mediaType, media.OCI_LAYER_GZIP);
          assertEquals(layers[0].urls, undefined);
          const base = c.wins.foreign!.find((f) => f.descriptor.digest === layers[0].digest);
          assert(base, "the base layer keeps its digest");
          // Pullable with the foreign host gone: every blob comes from the target.
          const out = join(dir, "pulled-wins");
          await skopeo(
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            `docker://${target.host}/rancher/wins@${child.digest}`,
            `dir:${out}`,
          );
          const hex = layers[0].digest.slice("sha256:".length);
          assertEquals(await Deno.readFile(join(out, hex)), base.bytes);
        },
      );

      await t.step("per-OS tags are assembled into one list with os.version from the image config", async () => {
        const { json } = await rawManifest(`${target.host}/rancher/agent:v2`);
        assertEquals(json.mediaType, media.DOCKER_MANIFEST_LIST);
        assertEquals(platformsOf(json), ["linux/amd64", "windows/amd64:10.0.17763.5206"]);
        assertEquals(entries(json)[0].digest, c.agentLinux.root.descriptor.digest);
        const windows = entries(json)[1];
        const manifest = (await rawManifest(`${target.host}/rancher/agent@${windows.digest}`)).json;
        assertEquals((manifest.layers as Descriptor[])[0].mediaType, media.DOCKER_LAYER);
        await skopeo(
          "copy",
          "--quiet",
          "--src-tls-verify=false",
          `docker://${target.host}/rancher/agent@${windows.digest}`,
          `dir:${join(dir, "pulled-agent")}`,
        );
      });

      await t.step("unselected platforms are absent: no arm64, no ltsc2022", async () => {
        for (const repo of ["rancher/multi", "rancher/wins"]) {
          const image = repo === "rancher/multi" ? c.multi : c.wins;
          for (const p of [ARM64, WINDOWS_LTSC2022]) {
            const probe = await fetch(`http://${target.host}/v2/${repo}/manifests/${childOf(image, p)}`, {
              method: "HEAD",
              headers: { accept: [media.DOCKER_MANIFEST, media.OCI_MANIFEST].join(", ") },
            });
            await probe.body?.cancel();
            assertEquals(probe.status, 404, `${repo} ${JSON.stringify(p)}`);
          }
        }
      });

      await t.step("without a Windows list, Windows images are not saved", async () => {
        const out = join(dir, "linux-only.tar");
        await airgapOk(["save", "-l", linuxList, "-s", upstream.host, "-i", out, "--cache", cache, "-q"]);
        const reader = await openArchive(out);
        const lock = parseLock(reader.lock!, "airgap.lock");
        await reader.close?.();
        assertEquals(lock.images.find((i) => i.entry === "rancher/multi:v1")!.platforms, ["linux/amd64"]);
        assertEquals(lock.images.find((i) => i.entry === "rancher/agent:v2")!.platforms, []);
      });

      await t.step("airgap.yaml windows: two versions; Windows-only per-OS tags; plan says what it did", async () => {
        const yaml = join(dir, "airgap.yaml");
        await Deno.writeTextFile(
          join(dir, "win2.txt"),
          "rancher/flannel:v3\r\nrancher/wins:v0.4.11\r\nrancher/multi:v1\r\nrancher/agent:v2\r\n",
        );
        await Deno.writeTextFile(
          yaml,
          `sourceRegistry: ${upstream.host}
lists: [rancher-images.txt]
windows:
  versions: [1809, ltsc2022]
  lists: [win2.txt]
`,
        );
        const plan = await airgapOk(["plan", "-f", yaml, "--cache", cache]);
        assertStringIncludes(
          plan.stdout,
          "rancher/flannel:v3: one index assembled from the per-OS tags v3-windows-1809",
        );
        assertStringIncludes(plan.stdout, "foreign layers made distributable");
        const second = await startRegistry();
        registries.push(second);
        // The ltsc2022 base layer is not cached and its host is gone: save must fail, naming it, and write nothing.
        const failed = await airgap(["save", "-f", yaml, "-o", join(dir, "two.tar"), "--cache", cache, "-q"]);
        assertEquals(failed.code, 1);
        assertStringIncludes(failed.stderr, "cannot fetch foreign layer");
        assert(!(await Deno.stat(join(dir, "two.tar")).then(() => true, () => false)));
        // With the host back, it works.
        host!.offline = false;
        await airgapOk(["save", "-f", yaml, "-o", join(dir, "two.tar"), "--cache", cache, "-q"]);
        // --locked resolves every per-OS tag to its pinned digest: the same archive, byte for byte.
        await airgapOk(["save", "-f", yaml, "--locked", "-o", join(dir, "locked.tar"), "--cache", cache, "-q"]);
        assertEquals(await Deno.readFile(join(dir, "locked.tar")), await Deno.readFile(join(dir, "two.tar")));
        const yamlLock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        assertEquals(
          yamlLock.images.find((i) => i.entry === "rancher/flannel:v3")!.assembled,
          {
            "v3-windows-1809": c.flannel1809.root.descriptor.digest,
            "v3-windows-ltsc2022": c.flannel2022.root.descriptor.digest,
          },
        );
        await airgapOk(["load", join(dir, "two.tar"), "--registry", second.host, "-q"]);
        const flannel = (await rawManifest(`${second.host}/rancher/flannel:v3`)).json;
        assertEquals(platformsOf(flannel), ["windows/amd64:10.0.17763.5206", "windows/amd64:10.0.20348.2113"]);
        assertEquals(entries(flannel).map((e) => e.digest), [
          c.flannel1809.root.descriptor.digest,
          c.flannel2022.root.descriptor.digest,
        ]);
        const multi = (await rawManifest(`${second.host}/rancher/multi:v1`)).json;
        assertEquals(platformsOf(multi), [
          "linux/amd64",
          "windows/amd64:10.0.17763.5206",
          "windows/amd64:10.0.20348.2113",
        ]);
        assertEquals(entries(multi).map((e) => e.digest), [
          childOf(c.multi, AMD64),
          childOf(c.multi, WINDOWS_1809),
          childOf(c.multi, WINDOWS_LTSC2022),
        ]);
        const agent = (await rawManifest(`${second.host}/rancher/agent:v2`)).json;
        assertEquals(platformsOf(agent), [
          "linux/amd64",
          "windows/amd64:10.0.17763.5206",
          "windows/amd64:10.0.20348.2113",
        ]);
        assertEquals(entries(agent)[2].digest, c.agent2022.root.descriptor.digest, "no foreign layer: same digest");
        await host!.stop();
        host = undefined;
      });

      await t.step("a version nobody published fails the save with the image and the tags tried named", async () => {
        const out = await airgap([
          ...saveWindows(join(dir, "20h2.tar")),
          "--windows-versions",
          "20H2",
        ]);
        assertEquals(out.code, 1);
        assertStringIncludes(out.stderr, "rancher-windows-images.txt:2:");
        assertStringIncludes(out.stderr, "no image for windows/amd64:10.0.19042");
        assertStringIncludes(out.stderr, "v1-windows-20H2, v1-windows-2009");
      });

      await t.step("keep: upstream digests, no foreign bytes carried; a stock target refuses the URLs", async () => {
        const keep = join(dir, "keep.tar");
        const out = await airgapOk([
          ...saveWindows(keep),
          "--foreign-layers",
          "keep",
        ]);
        assertStringIncludes(out.stderr, "stay at their URLs");
        const reader = await openArchive(keep);
        for (const f of foreign) assert(!reader.blobs.has(f.descriptor.digest), "no foreign bytes in the archive");
        const lock = parseLock(reader.lock!, "airgap.lock");
        await reader.close?.();
        assertEquals(lock.images.find((i) => i.entry === "rancher/wins:v0.4.11")!.rewritten, undefined);
        const allowing = await startRegistry({
          extraConfig: "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n",
        });
        registries.push(allowing);
        await airgapOk(["load", keep, "--registry", allowing.host, "-q"]);
        const wins = (await rawManifest(`${allowing.host}/rancher/wins:v0.4.11`)).json;
        assertEquals(entries(wins)[0].digest, childOf(c.wins, WINDOWS_1809), "the upstream manifest, byte for byte");
        const stock = await startRegistry();
        registries.push(stock);
        const refused = await airgap(["load", keep, "--registry", stock.host, "-q"]);
        assertEquals(refused.code, 1);
        assertStringIncludes(refused.stderr, "HTTP 500");
        assertStringIncludes(refused.stderr, "validation.manifests.urls.allow");
      });

      await t.step("skip: same digests as include, no foreign bytes; load needs the target to hold them", async () => {
        const skip = join(dir, "skip.tar");
        await airgapOk([
          ...saveWindows(skip),
          "--foreign-layers",
          "skip",
          "-q",
        ]);
        const reader = await openArchive(skip);
        for (const f of foreign) assert(!reader.blobs.has(f.descriptor.digest), "no foreign bytes in the archive");
        await reader.close?.();
        const empty = await startRegistry();
        registries.push(empty);
        const refused = await airgap(["load", skip, "--registry", empty.host]);
        assertEquals(refused.code, 1);
        assertStringIncludes(refused.stderr, "neither in");
        assertStringIncludes(refused.stderr, "Nothing was pushed");
        const catalog = await (await fetch(`http://${empty.host}/v2/_catalog`)).json();
        assertEquals(catalog.repositories, [], "nothing pushed");
        // The first target holds the 1809 base layers from the include load: same digests, nothing to push.
        const ok = await airgapOk(["load", skip, "--registry", target.host]);
        assertStringIncludes(ok.stdout, "0 blobs pushed");
      });
    } finally {
      await host?.stop();
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Generated blobs as a read-only source store, to push graphs skopeo 1.9 cannot (nested indexes). */
function memorySource(blobs: Blob[]): Store {
  const byDigest = new Map(blobs.map((b) => [b.descriptor.digest, b.bytes]));
  const get = (digest: string) => {
    const bytes = byDigest.get(digest);
    if (!bytes) throw new Error(`no blob ${digest}`);
    return bytes;
  };
  const readOnly = () => Promise.reject(new Error("read-only"));
  return {
    description: "generated",
    concurrency: 4,
    exists: (_repo, desc) => Promise.resolve(byDigest.has(desc.digest)),
    fetch: (_repo, desc) => Promise.resolve(bytesStream(get(desc.digest))),
    push: readOnly,
    tag: readOnly,
    resolve: readOnly,
  };
}

function ociBlob(mediaType: string, value: unknown): Blob {
  const bytes = encodeJson(value);
  return { descriptor: { mediaType, digest: digestOf(bytes), size: bytes.byteLength }, bytes };
}

Deno.test({
  name: "foreign layers below nested indexes and next to attestations: parents rewritten, references follow",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-windows-nested-" });
    const registries: TestRegistry[] = [];
    let host: ForeignHost | undefined;
    try {
      host = startForeignHost(); // its URL goes into the manifests: started first, its blobs added below
      const urlBases = [`${host.url}/layers`];
      const linux = makeManifest({ format: "oci", platform: AMD64, layers: [{ seed: "n-linux", size: 2000 }] });
      const windows = makeManifest({
        format: "oci",
        platform: WINDOWS_1809,
        layers: [{ seed: "n-win", size: 2000 }],
        foreignBase: { seed: "n-base", size: 4000, urlBases },
      });
      const attestation = (subject: Blob, seed: string) => {
        const config = ociBlob(media.OCI_CONFIG, { architecture: "unknown", os: "unknown", seed });
        const statement = ociBlob("application/vnd.in-toto+json", { _type: "https://in-toto.io/Statement/v0.1", seed });
        const manifest = ociBlob(media.OCI_MANIFEST, {
          schemaVersion: 2,
          mediaType: media.OCI_MANIFEST,
          config: config.descriptor,
          layers: [statement.descriptor],
        });
        const entry: Descriptor = {
          ...manifest.descriptor,
          platform: { os: "unknown", architecture: "unknown" },
          annotations: {
            "vnd.docker.reference.type": "attestation-manifest",
            "vnd.docker.reference.digest": subject.descriptor.digest,
          },
        };
        return { entry, blobs: [config, statement, manifest] };
      };
      const attLinux = attestation(linux.manifest, "l");
      const attWindows = attestation(windows.manifest, "w");
      const flat = ociBlob(media.OCI_INDEX, {
        schemaVersion: 2,
        mediaType: media.OCI_INDEX,
        manifests: [
          { ...linux.manifest.descriptor, platform: AMD64 },
          { ...windows.manifest.descriptor, platform: WINDOWS_1809 },
          attLinux.entry,
          attWindows.entry,
        ],
      });
      const inner = ociBlob(media.OCI_INDEX, {
        schemaVersion: 2,
        mediaType: media.OCI_INDEX,
        manifests: [
          { ...linux.manifest.descriptor, platform: AMD64 },
          { ...windows.manifest.descriptor, platform: WINDOWS_1809 },
        ],
      });
      const outer = ociBlob(media.OCI_INDEX, {
        schemaVersion: 2,
        mediaType: media.OCI_INDEX,
        manifests: [inner.descriptor],
      });
      const all = [
        linux.manifest,
        ...linux.blobs,
        windows.manifest,
        ...windows.blobs,
        ...attLinux.blobs,
        ...attWindows.blobs,
        flat,
        inner,
        outer,
      ];
      const upstream = await startRegistry({
        extraConfig: "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n",
      });
      const target = await startRegistry();
      registries.push(upstream, target);
      const client = createRegistryClient(upstream.host, { noAuthFiles: true });
      try {
        await copyGraph({
          src: memorySource(all),
          dst: registryStore(client),
          roots: [
            { srcRepo: "", dstRepo: "rancher/att", descriptor: flat.descriptor, tags: ["v1"], label: "att" },
            { srcRepo: "", dstRepo: "rancher/nested", descriptor: outer.descriptor, tags: ["v1"], label: "nested" },
          ],
        });
      } finally {
        client.close();
      }
      host.add(windows.foreign);
      const list = join(dir, "rancher-images.txt");
      const windowsList = join(dir, "rancher-windows-images.txt");
      await Deno.writeTextFile(list, "rancher/att:v1\n");
      await Deno.writeTextFile(windowsList, "rancher/att:v1\r\nrancher/nested:v1\r\n");
      const archive = join(dir, "images.tar");
      await airgapOk([
        "save",
        "-l",
        list,
        "--windows-image-list",
        windowsList,
        "-s",
        upstream.host,
        "-i",
        archive,
        "--cache",
        join(dir, "cache"),
        "-q",
      ]);
      await host.stop();
      host = undefined;
      await airgapOk(["load", "-i", archive, "-r", target.host, "-q"]);

      // The flat index: Linux and its attestation unchanged; Windows rewritten and its attestation follows it.
      const att = (await rawManifest(`${target.host}/rancher/att:v1`)).json;
      const [l, w, al, aw] = entries(att);
      assertEquals(entries(att).length, 4);
      assertEquals(l.digest, linux.manifest.descriptor.digest);
      assert(w.digest !== windows.manifest.descriptor.digest, "the Windows manifest was rewritten");
      assertEquals(al.digest, attLinux.entry.digest);
      assertEquals(al.annotations!["vnd.docker.reference.digest"], linux.manifest.descriptor.digest);
      assertEquals(aw.digest, attWindows.entry.digest, "the attestation itself keeps its bytes");
      assertEquals(aw.annotations!["vnd.docker.reference.digest"], w.digest, "and points at the saved manifest");
      await skopeo(
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${target.host}/rancher/att@${w.digest}`,
        `dir:${join(dir, "w")}`,
      );

      // The nested index: the outer index points at a rewritten inner index, which points at the rewritten manifest.
      const nested = (await rawManifest(`${target.host}/rancher/nested:v1`)).json;
      const innerEntry = entries(nested)[0];
      assert(innerEntry.digest !== inner.descriptor.digest, "the inner index was rewritten");
      const innerAtTarget = (await rawManifest(`${target.host}/rancher/nested@${innerEntry.digest}`)).json;
      assertEquals(entries(innerAtTarget).map((e) => e.digest), [linux.manifest.descriptor.digest, w.digest]);

      const reader = await openArchive(archive);
      const lock = parseLock(reader.lock!, "airgap.lock");
      await reader.close?.();
      const nestedLock = lock.images.find((i) => i.entry === "rancher/nested:v1")!;
      assertEquals(nestedLock.upstreamDigest, outer.descriptor.digest);
      assertEquals(nestedLock.rewritten, {
        [inner.descriptor.digest]: innerEntry.digest,
        [windows.manifest.descriptor.digest]: w.digest,
      });
    } finally {
      await host?.stop();
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
