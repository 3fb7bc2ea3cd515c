/**
 * Charts from chart repositories served over HTTP (the real charts from the
 * shared data directory), and charts as OCI artifacts.
 */
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { chartIndex, serveFiles } from "../helpers/fileserver.ts";
import { hasSharedChart, packChart, readSharedChart } from "../helpers/helm.ts";
import { AirgapError } from "../../lib/errors.ts";
import { chartArtifact, chartConfigJson, chartEntry, chartLayer, isChartEntry } from "../../lib/oci/chart.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { parseManifest } from "../../lib/oci/manifest.ts";
import { HELM_CHART_CONFIG, HELM_CHART_LAYER } from "../../lib/oci/media.ts";
import { fetchChart, normaliseRepo } from "../../lib/sources/charts.ts";
import { loadChart } from "@airgap/helm";
import { openCache } from "../../lib/store/cache.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { loadDeclaration } from "../../lib/plan/declaration.ts";
import { portableUrl, resolveSources } from "../../lib/plan/fetch_sources.ts";

Deno.test({
  name: "chart repositories: relative and absolute urls, digest-verified, cached, version 1.10 stays 1.10",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz", "rancher-2.7.9.tgz"),
}, () =>
  withTempDir(async (dir) => {
    const certManager = await readSharedChart("cert-manager-v1.12.3.tgz");
    const rancher = await readSharedChart("rancher-2.7.9.tgz");
    const small = await packChart("small", { "Chart.yaml": "apiVersion: v2\nname: small\nversion: 1.10.0\n" });
    const smallOld = await packChart("small", { "Chart.yaml": "apiVersion: v2\nname: small\nversion: 1.1\n" });
    const server = serveFiles({});
    server.files.set(
      "/repo/index.yaml",
      chartIndex([
        { name: "cert-manager", version: "v1.12.3", url: "charts/cert-manager-v1.12.3.tgz", bytes: certManager },
        { name: "rancher", version: "2.7.9", url: `${server.url}/elsewhere/rancher-2.7.9.tgz`, bytes: rancher },
        { name: "small", version: "1.10", url: "small-1.10.tgz", bytes: small },
        { name: "small", version: "1.1", url: "small-1.1.tgz", bytes: smallOld },
      ]),
    );
    server.files.set("/repo/charts/cert-manager-v1.12.3.tgz", certManager);
    server.files.set("/elsewhere/rancher-2.7.9.tgz", rancher);
    server.files.set("/repo/small-1.10.tgz", small);
    server.files.set("/repo/small-1.1.tgz", smallOld);
    try {
      const cache = await openCache(join(dir, "cache"));
      const repo = `${server.url}/repo/`;
      const cm = await fetchChart({ name: "cert-manager", repo: normaliseRepo(repo, dir), version: "v1.12.3" }, {
        cache,
      });
      assertEquals(cm.bytes, certManager);
      assertEquals(cm.digest, digestOf(certManager));
      assertEquals(cm.url, `${server.url}/repo/charts/cert-manager-v1.12.3.tgz`);
      assert(await cache.has(cm.digest), "cached");
      const r = await fetchChart({ name: "rancher", repo: `${server.url}/repo`, version: "2.7.9" }, { cache });
      assertEquals(r.bytes, rancher);
      assertEquals(r.url, `${server.url}/elsewhere/rancher-2.7.9.tgz`);
      const s = await fetchChart({ name: "small", repo: `${server.url}/repo`, version: "1.10" }, { cache });
      assertEquals(s.bytes, small);
      // "1.12.3" finds "v1.12.3"; the cached chart is not downloaded again.
      server.requests.length = 0;
      const again = await fetchChart({ name: "cert-manager", repo: `${server.url}/repo`, version: "1.12.3" }, {
        cache,
      });
      assertEquals([again.cached, again.version], [true, "v1.12.3"]);
      assertEquals(server.requests, ["/repo/index.yaml"]);
      // Locked and cached: nothing is asked of the repository.
      server.requests.length = 0;
      const pinned = { digest: cm.digest, url: cm.url };
      const locked = await fetchChart({ name: "cert-manager", repo: `${server.url}/repo`, version: "v1.12.3" }, {
        cache,
        pinned,
        locked: true,
      });
      assertEquals([locked.cached, locked.url, server.requests.length], [true, cm.url, 0]);
    } finally {
      await server.close();
    }
  }));

Deno.test({
  name: "chart repositories: a tampered chart, a missing version, a missing file, no digest are one-line errors",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz"),
}, () =>
  withTempDir(async (dir) => {
    const certManager = await readSharedChart("cert-manager-v1.12.3.tgz");
    const tampered = certManager.slice();
    tampered[tampered.length - 1] ^= 0xff;
    const index = chartIndex([
      { name: "cert-manager", version: "v1.12.3", url: "cert-manager-v1.12.3.tgz", bytes: certManager },
      { name: "cert-manager", version: "v1.12.2", url: "cert-manager-v1.12.2.tgz", bytes: certManager },
    ]);
    const server = serveFiles({
      "/tampered/index.yaml": index,
      "/tampered/cert-manager-v1.12.3.tgz": tampered,
      "/missing/index.yaml": index,
      "/nodigest/index.yaml": index.replace(/ {4}digest: .*\n/g, ""),
      "/nodigest/cert-manager-v1.12.3.tgz": certManager,
    });
    try {
      const cache = await openCache(join(dir, "cache"));
      const spec = (path: string, version = "v1.12.3") => ({
        name: "cert-manager",
        repo: `${server.url}/${path}`,
        version,
      });
      const e = await assertRejects(() => fetchChart(spec("tampered"), { cache }), AirgapError, "but ");
      assert(e.message.startsWith("chart cert-manager@v1.12.3: "), e.message);
      assert(e.message.includes("index.yaml says sha256:"), e.message);
      assert(!(await cache.has(digestOf(tampered))), "a tampered chart is not cached");
      await assertRejects(
        () => fetchChart(spec("tampered", "v9.9.9"), { cache }),
        AirgapError,
        "has no version v9.9.9",
      );
      await assertRejects(() => fetchChart(spec("missing"), { cache }), AirgapError, "not found (HTTP 404)");
      await assertRejects(() => fetchChart(spec("nowhere"), { cache }), AirgapError, "no chart repository at");
      await assertRejects(() => fetchChart(spec("nodigest"), { cache }), AirgapError, "cannot be verified");
      await assertRejects(
        () => fetchChart({ ...spec("tampered"), name: "other" }, { cache }),
        AirgapError,
        "has no chart named other",
      );
    } finally {
      await server.close();
    }
  }));

Deno.test("a chart repository in a local directory (file:)", () =>
  withTempDir(async (dir) => {
    const chart = await packChart("local", { "Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.1.0\n" });
    await Deno.mkdir(join(dir, "repo"));
    await Deno.writeFile(join(dir, "repo", "local-0.1.0.tgz"), chart);
    await Deno.writeTextFile(
      join(dir, "repo", "index.yaml"),
      chartIndex([{ name: "local", version: "0.1.0", url: "local-0.1.0.tgz", bytes: chart }]),
    );
    const repo = normaliseRepo("repo/", dir);
    assert(repo.startsWith("file:///") && repo.endsWith("/repo"), repo);
    const got = await fetchChart({ name: "local", repo, version: "0.1.0" });
    assertEquals(got.bytes, chart);
  }));

Deno.test({
  name: "chart artifacts: Helm's media types, Chart.yaml as JSON in Helm's field order, the exact .tgz",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz"),
}, async () => {
  const certManager = await readSharedChart("cert-manager-v1.12.3.tgz");
  const chart = await loadChart(certManager);
  const artifact = chartArtifact(certManager, chart.metadata);
  assertEquals(artifact.entry, "charts/cert-manager:v1.12.3");
  assertEquals(artifact.chart.bytes, certManager);
  assertEquals(artifact.chart.descriptor, {
    mediaType: HELM_CHART_LAYER,
    digest: digestOf(certManager),
    size: certManager.byteLength,
  });
  const manifest = parseManifest(artifact.manifest.bytes, undefined, "chart");
  assert(manifest.kind === "manifest");
  assertEquals(manifest.config, artifact.config.descriptor);
  assertEquals(manifest.config.mediaType, HELM_CHART_CONFIG);
  assertEquals(chartLayer(JSON.parse(new TextDecoder().decode(artifact.manifest.bytes))), artifact.chart.descriptor);
  const config = JSON.parse(new TextDecoder().decode(artifact.config.bytes));
  assertEquals(Object.keys(config).slice(0, 4), ["name", "home", "sources", "version"]);
  assertEquals([config.name, config.version, config.appVersion, config.apiVersion], [
    "cert-manager",
    "v1.12.3",
    "v1.12.3",
    "v1",
  ]);
  assert(isChartEntry({ annotations: artifact.annotations }));
  assert(!isChartEntry({ annotations: {} }));
  // The same chart gives the same bytes: archives stay reproducible.
  assertEquals(chartArtifact(certManager, chart.metadata).manifest.descriptor, artifact.manifest.descriptor);
  // The layer is the chart, byte for byte: helm can install it as is.
  const tar = gunzipSync(artifact.chart.bytes);
  assert(new TextDecoder().decode(tar.subarray(0, 100)).startsWith("cert-manager/"));
});

Deno.test("chart config JSON: empty fields left out, annotations sorted, HTML characters escaped like Go", () => {
  const json = new TextDecoder().decode(chartConfigJson({
    apiVersion: "v2",
    name: "x",
    version: "1.0.0+build.1",
    description: "a <b> & c",
    annotations: { "z.io/b": "2", "a.io/a": "1" },
    dependencies: [{ name: "sub", repository: "", condition: "sub.enabled" }],
    deprecated: false,
    keywords: [],
  }));
  assertEquals(
    json,
    '{"name":"x","version":"1.0.0+build.1","description":"a \\u003cb\\u003e \\u0026 c","apiVersion":"v2",' +
      '"annotations":{"a.io/a":"1","z.io/b":"2"},"dependencies":[{"name":"sub","repository":"","condition":"sub.enabled"}]}',
  );
  assertEquals(chartEntry("x", "1.0.0+build.1"), "charts/x:1.0.0_build.1");
});

Deno.test("a local chart repository is pinned in the lock relative to the declaration, not as file:///…", () =>
  withTempDir(async (dir) => {
    const chart = await packChart("local", { "Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.1.0\n" });
    await Deno.mkdir(join(dir, "site", "charts"), { recursive: true });
    await Deno.writeFile(join(dir, "site", "charts", "local-0.1.0.tgz"), chart);
    await Deno.writeTextFile(
      join(dir, "site", "charts", "index.yaml"),
      chartIndex([{ name: "local", version: "0.1.0", url: "local-0.1.0.tgz", bytes: chart }]),
    );
    const config = join(dir, "site", "airgap.yaml");
    await Deno.writeTextFile(config, "charts:\n  - name: local\n    repo: ./charts\n    version: 0.1.0\n");
    const decl = await loadDeclaration(config);
    const sources = await resolveSources(decl, { cache: await openCache(join(dir, "cache")) });
    assertEquals(sources.locked.map((s) => s.url), ["charts/local-0.1.0.tgz"]);
    assertEquals(portableUrl(`file://${join(dir, "shared", "x.tgz")}`, config), "../shared/x.tgz");
    assertEquals(portableUrl("https://charts.example/x.tgz", config), "https://charts.example/x.tgz");
  }));
