/**
 * Sources end to end: a Rancher release's list and two real charts served
 * over HTTP, images in a real registry; plan, save, the archive's contents,
 * load with --charts-dir and --push-charts, judged with skopeo. A wrong
 * checksum, a missing asset or a tampered chart stops the save before
 * anything is written. And charts from an OCI registry, plus a chart
 * artifact listed as an image entry, round-trip with identical digests.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { pushCorpus } from "../helpers/corpus.ts";
import { chartIndex, serveFiles, sha256sums } from "../helpers/fileserver.ts";
import { sharedChart } from "../helpers/helm.ts";
import { interopAvailable, seedStorage, skopeoDigest, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { type GeneratedImage, singleImage } from "../../lib/demo/corpus.ts";
import { parseLock } from "../../lib/lock.ts";
import { chartLayer, isChartEntry } from "../../lib/oci/chart.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { HELM_CHART_CONFIG, HELM_CHART_LAYER, OCI_MANIFEST } from "../../lib/oci/media.ts";
import { openArchive } from "../../lib/store/archive.ts";

const enabled = interopAvailable();
const certManager = await sharedChart("cert-manager-v1.12.3.tgz");
const rancherChart = await sharedChart("rancher-2.7.9.tgz");

const RELEASE_LIST = "# Rancher v2.7.9\nrancher/rancher:v2.7.9\nrancher/fleet:v0.8.0\nbusybox:1.36\n";
const CHART_IMAGES = [
  "quay.io/jetstack/cert-manager-cainjector:v1.12.3",
  "quay.io/jetstack/cert-manager-controller:v1.12.3",
  "quay.io/jetstack/cert-manager-ctl:v1.12.3",
  "quay.io/jetstack/cert-manager-webhook:v1.12.3",
  "quay.io/jetstack/cert-manager-acmesolver:v1.12.3",
  "rancher/shell:v0.1.21",
];
const ALL_ENTRIES = [...["rancher/rancher:v2.7.9", "rancher/fleet:v0.8.0", "busybox:1.36"], ...CHART_IMAGES].sort();

/** A small image under an entry's name (as `--source-registry HOST` asks for it: HOST/ENTRY). */
function imageFor(entry: string): GeneratedImage {
  const colon = entry.lastIndexOf(":");
  return singleImage(entry.slice(0, colon), entry.slice(colon + 1), {
    format: "oci",
    layers: [{ seed: entry, size: 2048 }],
    label: entry,
  });
}

/** The cert-manager chart as `helm push` stores it, built here independently of lib/oci/chart.ts. */
function ociChart(tgz: Uint8Array): GeneratedImage {
  const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const configBytes = encode({ name: "cert-manager", version: "v1.12.3", apiVersion: "v1", appVersion: "v1.12.3" });
  const config = { mediaType: HELM_CHART_CONFIG, digest: digestOf(configBytes), size: configBytes.byteLength };
  const layer = { mediaType: HELM_CHART_LAYER, digest: digestOf(tgz), size: tgz.byteLength };
  const manifestBytes = encode({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: [layer],
    annotations: { "org.opencontainers.image.created": "2023-08-01T00:00:00Z" },
  });
  return {
    repository: "helm/cert-manager",
    tag: "v1.12.3",
    root: {
      descriptor: { mediaType: OCI_MANIFEST, digest: digestOf(manifestBytes), size: manifestBytes.byteLength },
      bytes: manifestBytes,
    },
    blobs: [{ descriptor: config, bytes: configBytes }, { descriptor: layer, bytes: tgz }],
  };
}

async function gone(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => false, () => true);
}

Deno.test({
  name: "sources end to end: release list + charts over HTTP → plan → save → archive → load --charts-dir/--push-charts",
  ignore: !enabled || !certManager || !rancherChart,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "airgap-sources-" });
    const registries: TestRegistry[] = [];
    const server = serveFiles({
      "/releases/v2.7.9/rancher-images.txt": RELEASE_LIST,
      "/releases/v2.7.9/sha256sum.txt": sha256sums({ "rancher-images.txt": RELEASE_LIST }),
      "/charts/index.yaml": chartIndex([
        { name: "cert-manager", version: "v1.12.3", url: "cert-manager-v1.12.3.tgz", bytes: certManager! },
        { name: "rancher", version: "2.7.9", url: "rancher-2.7.9.tgz", bytes: rancherChart! },
      ]),
      "/charts/cert-manager-v1.12.3.tgz": certManager!,
      "/charts/rancher-2.7.9.tgz": rancherChart!,
    });
    try {
      const upstream = await startRegistry();
      const target = await startRegistry();
      registries.push(upstream, target);
      await seedStorage(upstream, ALL_ENTRIES.map(imageFor));
      const yaml = join(dir, "airgap.yaml");
      await Deno.writeTextFile(
        yaml,
        `sourceRegistry: ${upstream.host}
rancher:
  version: v2.7.9
  url: ${server.url}/releases/{version}/
charts:
  - name: cert-manager
    repo: ${server.url}/charts
    version: v1.12.3
    extraImages: [quay.io/jetstack/cert-manager-acmesolver:v1.12.3]
  - name: rancher
    repo: ${server.url}/charts
    version: 2.7.9
`,
      );
      const cache = join(dir, "cache");
      const archive = join(dir, "airgap-images.tar");
      const lockPath = join(dir, "airgap.lock");

      await t.step("plan shows the sources and pins them in the lock", async () => {
        const out = await airgapOk(["plan", "--cache", cache], { cwd: dir });
        assertStringIncludes(out.stdout, "new  rancher-images.txt@v2.7.9");
        assertStringIncludes(out.stdout, "3 images  (sha256sum.txt)");
        assertStringIncludes(out.stdout, "new  chart cert-manager@v1.12.3");
        assertStringIncludes(out.stdout, `${ALL_ENTRIES.length} images (${ALL_ENTRIES.length} new`);
        const lock = parseLock(await Deno.readTextFile(lockPath), "airgap.lock");
        assertEquals(lock.sources!.map((s) => `${s.kind} ${s.name}@${s.version}`), [
          "chart cert-manager@v1.12.3",
          "chart rancher@2.7.9",
          "rancher-images rancher-images.txt@v2.7.9",
        ]);
        assertEquals(lock.sources![0].digest, digestOf(certManager!));
        assertEquals(lock.images.map((i) => i.entry), ALL_ENTRIES);
      });

      await t.step("save puts the images and the chart artifacts in the archive", async () => {
        const out = await airgapOk(["save", "--cache", cache], { cwd: dir });
        assertStringIncludes(out.stdout, `saved ${ALL_ENTRIES.length} images and 2 charts`);
        const reader = await openArchive(archive);
        try {
          const images = reader.images.filter((i) => !isChartEntry(i));
          assertEquals(images.map((i) => i.entry).sort(), ALL_ENTRIES);
          const charts = reader.images.filter(isChartEntry);
          // Named by their entry: index.json gives charts no image name (containerd's import fails on named ones).
          assertEquals(charts.map((c) => [c.entry, c.name]), [
            ["charts/cert-manager:v1.12.3", "charts/cert-manager:v1.12.3"],
            ["charts/rancher:2.7.9", "charts/rancher:2.7.9"],
          ]);
          assertEquals(
            charts.map((c) => [c.annotations["io.airgap.chart.name"], c.annotations["io.airgap.chart.version"]]),
            [
              ["cert-manager", "v1.12.3"],
              ["rancher", "2.7.9"],
            ],
          );
          for (const [chart, original] of [[charts[0], certManager!], [charts[1], rancherChart!]] as const) {
            const manifest = JSON.parse(new TextDecoder().decode(await reader.readBytes(chart.descriptor)));
            assertEquals(manifest.config.mediaType, HELM_CHART_CONFIG);
            const layer = chartLayer(manifest)!;
            assertEquals(await reader.readBytes(layer, 1 << 20), original);
          }
          const lock = parseLock(reader.lock!, "airgap.lock");
          assertEquals(lock.sources!.find((s) => s.name === "cert-manager")!.artifact, charts[0].descriptor.digest);
        } finally {
          await reader.close?.();
        }
      });

      await t.step(
        "load --charts-dir writes the .tgz files byte for byte; --push-charts pushes OCI charts",
        async () => {
          const chartsDir = join(dir, "charts-out");
          const out = await airgapOk(
            ["load", archive, "--registry", target.host, "--charts-dir", chartsDir, "--push-charts", "-q"],
            { cwd: dir },
          );
          assertStringIncludes(out.stdout, `pushed chart ${target.host}/charts/cert-manager:v1.12.3`);
          assertEquals(await Deno.readFile(join(chartsDir, "cert-manager-v1.12.3.tgz")), certManager!);
          assertEquals(await Deno.readFile(join(chartsDir, "rancher-2.7.9.tgz")), rancherChart!);
          const lock = parseLock(await Deno.readTextFile(lockPath), "airgap.lock");
          for (const source of lock.sources!.filter((s) => s.kind === "chart")) {
            const ref = `${target.host}/charts/${source.name}:${source.version}`;
            assertEquals(await skopeoDigest(ref), source.artifact, ref);
          }
          for (const entry of ALL_ENTRIES) {
            const name = entry.includes("/") ? entry : `rancher/${entry}`;
            assertEquals(
              await skopeoDigest(`${target.host}/${name}`),
              await skopeoDigest(`${upstream.host}/${entry}`),
              entry,
            );
          }
        },
      );

      await t.step("by default load pushes images only; --charts-dir alone needs no registry", async () => {
        const out = await airgapOk(["load", archive, "--registry", `${target.host}/plain`, "-q"], { cwd: dir });
        assertStringIncludes(out.stdout, `loaded ${ALL_ENTRIES.length} images into ${target.host}/plain in `);
        assertStringIncludes(out.stdout, "the archive also carries 2 charts, not pushed: --push-charts pushes them");
        const listed = await airgapOk(["ls", archive], { cwd: dir });
        assertStringIncludes(listed.stdout, `${ALL_ENTRIES.length} images, 2 charts, `);
        const catalog = await (await fetch(`http://${target.host}/v2/_catalog?n=1000`)).json();
        const plain = catalog.repositories.filter((r: string) => r.startsWith("plain/"));
        assertEquals(plain.length, ALL_ENTRIES.length);
        assert(!plain.some((r: string) => r.startsWith("plain/charts/")), "no chart pushed as an image");
        const only = join(dir, "only-charts");
        const written = await airgapOk(["load", archive, "--charts-dir", only], { cwd: dir });
        assertStringIncludes(written.stdout, "wrote ");
        assertEquals(await Deno.readFile(join(only, "rancher-2.7.9.tgz")), rancherChart!);
      });

      const lockBefore = await Deno.readTextFile(lockPath);
      const failedSave = async (name: string, expected: string) => {
        const output = join(dir, `${name}.tar`);
        const result = await airgap(["save", "-o", output, "--cache", join(dir, `cache-${name}`)], { cwd: dir });
        assertEquals(result.code, 1, result.stderr);
        assertStringIncludes(result.stderr, expected);
        assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
        assert(await gone(output), `${output} must not exist`);
        assert(await gone(`${output}.partial`), `${output}.partial must not exist`);
        assertEquals(await Deno.readTextFile(lockPath), lockBefore, "the lock is unchanged");
        return result.stderr;
      };

      await t.step("a wrong checksum stops the save: one line, no archive, lock unchanged", async () => {
        server.files.set("/releases/v2.7.9/sha256sum.txt", sha256sums({ "rancher-images.txt": "something else\n" }));
        const stderr = await failedSave("wrong-sum", "rancher-images.txt from ");
        assertStringIncludes(stderr, "does not match sha256sum.txt");
        assertStringIncludes(stderr, "airgap.yaml:3:3: rancher v2.7.9:");
        server.files.set("/releases/v2.7.9/sha256sum.txt", sha256sums({ "rancher-images.txt": RELEASE_LIST }));
      });

      await t.step("a missing asset stops the save the same way", async () => {
        server.files.delete("/releases/v2.7.9/rancher-images.txt");
        await failedSave("missing-asset", "rancher-images.txt not found at");
        server.files.set("/releases/v2.7.9/rancher-images.txt", RELEASE_LIST);
      });

      await t.step("a tampered chart stops the save the same way", async () => {
        const tampered = certManager!.slice();
        tampered[100] ^= 0xff;
        server.files.set("/charts/cert-manager-v1.12.3.tgz", tampered);
        const stderr = await failedSave("tampered-chart", "chart cert-manager@v1.12.3:");
        assertStringIncludes(stderr, "index.yaml says");
        server.files.set("/charts/cert-manager-v1.12.3.tgz", certManager!);
        server.files.delete("/charts/rancher-2.7.9.tgz");
        await failedSave("missing-chart", "rancher-2.7.9.tgz not found (HTTP 404)");
        server.files.set("/charts/rancher-2.7.9.tgz", rancherChart!);
      });

      await t.step("--locked re-saves from the cache alone: the release server may be gone", async () => {
        await server.close();
        const out = await airgapOk(["save", "--locked", "-o", join(dir, "again.tar"), "--cache", cache], { cwd: dir });
        assertStringIncludes(out.stdout, "fetched nothing");
        assertEquals(await Deno.readFile(join(dir, "again.tar")), await Deno.readFile(archive), "same bytes");
      });
    } finally {
      await server.close().catch(() => {});
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "charts from an OCI registry, and a chart artifact listed as an image entry, round-trip with identical digests",
  ignore: !enabled || !certManager,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-oci-charts-" });
    const registries: TestRegistry[] = [];
    try {
      const upstream = await startRegistry();
      const target = await startRegistry();
      registries.push(upstream, target);
      const artifact = ociChart(certManager!);
      await pushCorpus(upstream.host, [artifact]); // skopeo: an independent client
      await seedStorage(upstream, CHART_IMAGES.filter((i) => i.includes("jetstack")).map(imageFor));
      await Deno.writeTextFile(
        join(dir, "airgap.yaml"),
        `sourceRegistry: ${upstream.host}
images:
  - helm/cert-manager:v1.12.3
charts:
  - name: cert-manager
    repo: oci://${upstream.host}/helm
    version: v1.12.3
`,
      );
      const cache = join(dir, "cache");
      const listed = await airgapOk(["images", "--why", "--cache", cache], { cwd: dir });
      assertStringIncludes(listed.stdout, "helm/cert-manager:v1.12.3\n  airgap.yaml:3:5\n");
      assertStringIncludes(listed.stdout, "chart cert-manager@v1.12.3: cert-manager/templates/deployment.yaml");
      const saved = await airgapOk(["save", "--cache", cache], { cwd: dir });
      assertStringIncludes(saved.stdout, "saved 6 images and 1 chart "); // with the ACME solver image (controller args)
      const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
      const source = lock.sources![0];
      assertEquals([source.url, source.digest], [
        `oci://${upstream.host}/helm/cert-manager:v1.12.3`,
        digestOf(certManager!),
      ]);
      assertEquals(
        lock.images.find((i) => i.entry === "helm/cert-manager:v1.12.3")!.digest,
        artifact.root.descriptor.digest,
      );

      // Charts pushed where an image of the archive lands: refused before anything is pushed.
      const clash = await airgap(
        ["load", "airgap-images.tar", "--registry", `${target.host}/clash`, "--push-charts", "helm"],
        { cwd: dir },
      );
      assertEquals(clash.code, 1, clash.stderr);
      assertStringIncludes(clash.stderr, `both map to ${target.host}/clash/helm/cert-manager:v1.12.3`);
      const catalog = await (await fetch(`http://${target.host}/v2/_catalog`)).json();
      assertEquals(catalog.repositories ?? [], [], "nothing was pushed");

      const chartsDir = join(dir, "charts");
      await airgapOk(["load", "airgap-images.tar", "--registry", target.host, "--charts-dir", chartsDir, "-q"], {
        cwd: dir,
      });
      // The artifact listed as an entry: copied like an image, same manifest digest as upstream.
      assertEquals(
        await skopeoDigest(`${target.host}/helm/cert-manager:v1.12.3`),
        await skopeoDigest(`${upstream.host}/helm/cert-manager:v1.12.3`),
      );
      assertEquals(await skopeoDigest(`${target.host}/helm/cert-manager:v1.12.3`), artifact.root.descriptor.digest);
      assertEquals(await Deno.readFile(join(chartsDir, "cert-manager-v1.12.3.tgz")), certManager!);
      // The chart's own artifact (charts/…) shares the .tgz blob with the listed one: stored once.
      const reader = await openArchive(join(dir, "airgap-images.tar"));
      try {
        assertEquals(reader.blobs.get(digestOf(certManager!))?.size, certManager!.byteLength);
        const names = new TextDecoder().decode(
          (await new Deno.Command("tar", { args: ["-tf", join(dir, "airgap-images.tar")], stdout: "piped" }).output())
            .stdout,
        ).split("\n");
        const hex = digestOf(certManager!).slice("sha256:".length);
        assertEquals(names.filter((n) => n === `blobs/sha256/${hex}`).length, 1);
      } finally {
        await reader.close?.();
      }
    } finally {
      for (const r of registries) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
