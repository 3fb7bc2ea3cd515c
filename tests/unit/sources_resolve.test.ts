/**
 * `rancher:` and `charts:` in airgap.yaml: checked when read (every problem
 * at its line and column), then fetched from servers started here and
 * merged into the image requests with their origins; the lock pins them.
 */
import { join, sep } from "node:path";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { chartIndex, serveFiles, sha256sums } from "../helpers/fileserver.ts";
import { hasSharedChart, readSharedChart } from "../helpers/helm.ts";
import { displayPath, loadDeclaration } from "../../lib/plan/declaration.ts";
import { AirgapError } from "../../lib/errors.ts";
import { formatLock, parseLock, withSources } from "../../lib/lock.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { formatSelector } from "../../lib/oci/platform.ts";
import { formatReference } from "../../lib/ref.ts";
import { resolveSources } from "../../lib/plan/fetch_sources.ts";
import { openCache } from "../../lib/store/cache.ts";
import { withTempDir } from "../helpers/tempdir.ts";

async function declarationError(dir: string, yaml: string): Promise<string> {
  await Deno.writeTextFile(join(dir, "airgap.yaml"), yaml);
  const e = await assertRejects(() => loadDeclaration(join(dir, "airgap.yaml")), AirgapError);
  assert(!e.message.includes("\n"), e.message);
  assertEquals((e as AirgapError).exitCode, 2, e.message);
  return e.message;
}

Deno.test("airgap.yaml: rancher and charts are checked where they are written", () =>
  withTempDir(async (dir) => {
    const file = join(dir, "airgap.yaml");
    const at = (text: string, line: number, col: number) =>
      assert(text.includes(`airgap.yaml:${line}:${col}:`), `expected airgap.yaml:${line}:${col} in: ${text}`);

    let message = await declarationError(dir, "rancher:\n  version: v2.8.0-rc3\n");
    at(message, 2, 12);
    assertStringIncludes(message, "v2.8.0-rc3 is a pre-release");
    assertStringIncludes(message, "not stable enough for production");

    message = await declarationError(dir, "rancher:\n  version: v2.7.9\n  windoes: true\n");
    at(message, 3, 3);
    assertStringIncludes(message, 'unknown key "windoes"');

    const chart = (extra: string) =>
      `charts:\n  - name: cert-manager\n    repo: https://charts.jetstack.io\n    version: v1.12.3\n${extra}`;
    // A chart entry's own problems: [what it adds, line, column, what the message says].
    const chartCases: [string, number, number, string][] = [
      ["    vaules: {}\n", 5, 5, 'unknown key "vaules"'],
      ["    extraImages:\n      - ok/image:v1\n      - Not An Image\n", 7, 9, "extraImages: invalid image reference"],
      ["    valuesFiles: [missing.yaml]\n", 5, 19, "cannot read missing.yaml"],
      ["    set: [installCRDs]\n", 5, 11, "has no value"],
    ];
    for (const [extra, line, column, says] of chartCases) {
      message = await declarationError(dir, chart(extra));
      at(message, line, column);
      assertStringIncludes(message, says);
    }
    message = await declarationError(dir, chart("") + chart("").replace("charts:\n", ""));
    at(message, 5, 5);
    assertStringIncludes(message, "declared twice");
    message = await declarationError(dir, chart("").replace("https://charts.jetstack.io", "ftp://x"));
    assertStringIncludes(message, "ftp://x");

    await Deno.writeTextFile(join(dir, "values.yaml"), "auditLog:\n  level: 1\n  destination: sidecar\n");
    // A local repository is read when the declaration is (check reads what plan reads): it must list the chart.
    await Deno.mkdir(join(dir, "charts"));
    await Deno.writeTextFile(
      join(dir, "charts", "index.yaml"),
      "apiVersion: v1\nentries:\n  rancher:\n    - version: 2.7.9\n      urls: [rancher-2.7.9.tgz]\n",
    );
    await Deno.writeTextFile(
      file,
      `platforms: [linux/amd64]
rancher:
  version: 2.7.9
  url: mirror/{version}
  allowPrerelease: false
charts:
  - name: rancher
    repo: ./charts/
    version: 2.7.9
    valuesFiles: [values.yaml]
    values:
      auditLog:
        level: 2
    set: [hostname=rancher.example.com]
    platforms: [linux/arm64]
  - name: cert-manager
    repo: oci://registry.example.com:5000/charts/
    version: v1.12.3
`,
    );
    const decl = await loadDeclaration(file);
    const [rancher, r, cm] = decl.sources!;
    assert(rancher.kind === "rancher" && r.kind === "chart" && cm.kind === "chart");
    assertEquals(rancher.version, "v2.7.9");
    assert(rancher.url.startsWith("file:///") && rancher.url.endsWith("/mirror/v2.7.9/"), rancher.url);
    assert(r.repo.startsWith("file:///") && r.repo.endsWith("/charts"), r.repo);
    assertEquals(r.values, { auditLog: { level: 2, destination: "sidecar" } });
    assertEquals(r.set, ["hostname=rancher.example.com"]);
    assertEquals(r.platforms, { all: false, platforms: [{ os: "linux", architecture: "arm64", variant: "v8" }] });
    assertEquals(r.origin, `${displayPath(file)}:7:5`);
    assertEquals(cm.repo, "oci://registry.example.com:5000/charts");
  }));

Deno.test({
  name: "resolveSources: release list and charts become requests with origins; the lock pins them",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz", "rancher-2.7.9.tgz"),
}, () =>
  withTempDir(async (dir) => {
    const certManager = await readSharedChart("cert-manager-v1.12.3.tgz");
    const rancherChart = await readSharedChart("rancher-2.7.9.tgz");
    const list = "# Rancher v2.7.9\nrancher/rancher:v2.7.9\nrancher/fleet:v0.8.0\n";
    const server = serveFiles({
      "/releases/v2.7.9/rancher-images.txt": list,
      "/releases/v2.7.9/sha256sum.txt": sha256sums({ "rancher-images.txt": list }),
      "/charts/index.yaml": chartIndex([
        { name: "cert-manager", version: "v1.12.3", url: "cert-manager-v1.12.3.tgz", bytes: certManager },
        { name: "rancher", version: "2.7.9", url: "rancher-2.7.9.tgz", bytes: rancherChart },
      ]),
      "/charts/cert-manager-v1.12.3.tgz": certManager,
      "/charts/rancher-2.7.9.tgz": rancherChart,
    });
    try {
      const file = join(dir, "airgap.yaml");
      await Deno.writeTextFile(
        file,
        `sourceRegistry: mirror.local:5000
images:
  - rancher/shell:v0.1.21
rancher:
  version: v2.7.9
  url: ${server.url}/releases/{version}/
charts:
  - name: cert-manager
    repo: ${server.url}/charts
    version: v1.12.3
    extraImages:
      - quay.io/jetstack/cert-manager-acmesolver:v1.12.3
  - name: rancher
    repo: ${server.url}/charts
    version: 2.7.9
    set: [auditLog.level=1]
`,
      );
      const decl = await loadDeclaration(file);
      const cache = await openCache(join(dir, "cache"));
      const warnings: string[] = [];
      const sources = await resolveSources(decl, { cache, reporter: { warn: (w) => warnings.push(w) } });
      assertEquals(warnings, []);
      // Origins name the declaration as the user sees it; here, relative to this test's directory.
      const strip = (origin: string) => origin.replace(`${displayPath(dir)}${sep}`, "");
      const byEntry = new Map(sources.requests.map((r) => [
        r.entry,
        { ...r, origin: strip(r.origin), origins: r.origins?.map(strip) },
      ]));
      assertEquals([...byEntry.keys()].sort(), [
        "quay.io/jetstack/cert-manager-acmesolver:v1.12.3",
        "quay.io/jetstack/cert-manager-cainjector:v1.12.3",
        "quay.io/jetstack/cert-manager-controller:v1.12.3",
        "quay.io/jetstack/cert-manager-ctl:v1.12.3",
        "quay.io/jetstack/cert-manager-webhook:v1.12.3",
        "rancher/fleet:v0.8.0",
        "rancher/mirrored-bci-micro:15.4.14.3",
        "rancher/rancher:v2.7.9",
        "rancher/shell:v0.1.21",
      ]);
      assertEquals(byEntry.get("rancher/fleet:v0.8.0")!.origin, "rancher-images.txt@v2.7.9:3");
      assertEquals(byEntry.get("rancher/rancher:v2.7.9")!.origins, [
        "rancher-images.txt@v2.7.9:2",
        "chart rancher@2.7.9: rancher/templates/deployment.yaml (values rancherImage)",
      ]);
      assertEquals(byEntry.get("rancher/shell:v0.1.21")!.origins, [
        "airgap.yaml:3:5",
        "chart rancher@2.7.9: rancher/templates/post-delete-hook-job.yaml (values postDelete.image.repository)",
      ]);
      assertEquals(
        byEntry.get("quay.io/jetstack/cert-manager-ctl:v1.12.3")!.origin,
        "chart cert-manager@v1.12.3: cert-manager/templates/startupapicheck-job.yaml (values startupapicheck.image.repository)",
      );
      assertEquals(
        byEntry.get("quay.io/jetstack/cert-manager-acmesolver:v1.12.3")!.origins,
        [
          "chart cert-manager@v1.12.3: cert-manager/templates/deployment.yaml: args of container cert-manager-controller (values acmesolver.image.repository)",
          "airgap.yaml:12:9 (chart cert-manager@v1.12.3 extraImages)",
        ],
      );
      // The source registry applies to every source, as to the declaration's own images.
      assertEquals(
        formatReference(byEntry.get("rancher/mirrored-bci-micro:15.4.14.3")!.source),
        "mirror.local:5000/rancher/mirrored-bci-micro:15.4.14.3",
      );

      assertEquals(sources.charts.map((c) => c.entry), ["charts/cert-manager:v1.12.3", "charts/rancher:2.7.9"]);
      for (const c of sources.charts) {
        for (const blob of [c.manifest, c.config, c.chart]) assert(await cache.has(blob.descriptor.digest), c.entry);
      }
      assertEquals(sources.locked, [
        {
          kind: "rancher-images",
          name: "rancher-images.txt",
          version: "v2.7.9",
          url: `${server.url}/releases/v2.7.9/rancher-images.txt`,
          digest: digestOf(new TextEncoder().encode(list)),
          size: list.length,
        },
        {
          kind: "chart",
          name: "cert-manager",
          version: "v1.12.3",
          url: `${server.url}/charts/cert-manager-v1.12.3.tgz`,
          digest: digestOf(certManager),
          size: certManager.byteLength,
          artifact: sources.charts[0].manifest.descriptor.digest,
        },
        {
          kind: "chart",
          name: "rancher",
          version: "2.7.9",
          url: `${server.url}/charts/rancher-2.7.9.tgz`,
          digest: digestOf(rancherChart),
          size: rancherChart.byteLength,
          artifact: sources.charts[1].manifest.descriptor.digest,
        },
      ]);
      assertEquals(sources.summaries.map((s) => [s.label, s.status, s.images, s.verified]), [
        ["rancher-images.txt@v2.7.9", "new", 2, "sha256sum.txt"],
        ["chart cert-manager@v1.12.3", "new", 5, "index.yaml digest"], // acmesolver twice: found and extraImages
        ["chart rancher@2.7.9", "new", 3, "index.yaml digest"],
      ]);

      // The lock: sources first, sorted, stable; parsed back unchanged.
      const lock = withSources({ lockVersion: 1, images: [] }, [...sources.locked].reverse());
      const text = formatLock(lock);
      assertEquals(formatLock(parseLock(text, "airgap.lock")), text);
      assertEquals(parseLock(text, "airgap.lock").sources!.map((s) => s.name), [
        "cert-manager",
        "rancher",
        "rancher-images.txt",
      ]);
      assert(!formatLock({ lockVersion: 1, images: [] }).includes("sources"), "no sources: no section");

      // Compared with the lock: unchanged; a re-published list is "changed"; --locked refuses it.
      const previousLock = parseLock(text, "airgap.lock");
      const again = await resolveSources(decl, { cache, previousLock });
      assertEquals(again.summaries.map((s) => s.status), ["unchanged", "unchanged", "unchanged"]);
      const changed = list + "rancher/extra:v1\n";
      server.files.set("/releases/v2.7.9/rancher-images.txt", changed);
      server.files.set("/releases/v2.7.9/sha256sum.txt", sha256sums({ "rancher-images.txt": changed }));
      const moved = await resolveSources(decl, { cache, previousLock });
      assertEquals(moved.summaries[0].status, "changed");
      // --locked takes the pinned list from the cache; with an empty cache it fetches and refuses the new one.
      const pinned = await resolveSources(decl, { cache, previousLock, locked: true });
      assertEquals(pinned.summaries.map((s) => [s.status, s.images, s.verified]), [
        ["unchanged", 2, "lock"],
        ["unchanged", 5, "lock"],
        ["unchanged", 3, "lock"],
      ]);
      const empty = await openCache(join(dir, "empty-cache"));
      const e = await assertRejects(
        () => resolveSources(decl, { cache: empty, previousLock, locked: true }),
        AirgapError,
        "airgap.lock pins",
      );
      assert(strip(e.message).startsWith("airgap.yaml:5:3: rancher v2.7.9: rancher-images.txt from "), e.message);
    } finally {
      await server.close();
    }
  }));

Deno.test({
  name:
    "resolveSources: a chart whose archive holds another chart is refused; a declaration without sources is unchanged",
  ignore: !hasSharedChart("cert-manager-v1.12.3.tgz"),
}, () =>
  withTempDir(async (dir) => {
    const certManager = await readSharedChart("cert-manager-v1.12.3.tgz");
    const server = serveFiles({
      "/index.yaml": chartIndex([{ name: "impostor", version: "1.0.0", url: "x.tgz", bytes: certManager }]),
      "/x.tgz": certManager,
    });
    try {
      const file = join(dir, "airgap.yaml");
      await Deno.writeTextFile(file, `charts:\n  - name: impostor\n    repo: ${server.url}\n    version: 1.0.0\n`);
      const impostor = await loadDeclaration(file);
      const e = await assertRejects(() => resolveSources(impostor), AirgapError);
      assertStringIncludes(
        e.message,
        `${sep}airgap.yaml:2:5: chart impostor@1.0.0: the archive holds chart "cert-manager"`,
      );
      await Deno.writeTextFile(file, "images: [busybox]\n");
      const plain = await loadDeclaration(file);
      assertEquals(plain.sources, undefined);
      const same = await resolveSources(plain);
      assertEquals(same.requests, plain.requests);
      assertEquals([same.locked, same.charts], [[], []]);
    } finally {
      await server.close();
    }
  }));

Deno.test("resolveSources: rancher.windows adds the Windows list for Windows platforms; shared entries get both", () =>
  withTempDir(async (dir) => {
    const linux = "rancher/rancher-agent:v2.7.9\nrancher/shell:v0.1.21\n";
    const windows = "rancher/wins:v0.4.11\nrancher/rancher-agent:v2.7.9\n";
    const server = serveFiles({
      "/v2.7.9/rancher-images.txt": linux,
      "/v2.7.9/rancher-windows-images.txt": windows,
      "/v2.7.9/sha256sum.txt": sha256sums({ "rancher-images.txt": linux, "rancher-windows-images.txt": windows }),
    });
    try {
      const file = join(dir, "airgap.yaml");
      await Deno.writeTextFile(file, `rancher:\n  version: v2.7.9\n  url: ${server.url}/{version}/\n  windows: true\n`);
      const sources = await resolveSources(await loadDeclaration(file), { cache: await openCache(join(dir, "cache")) });
      const byEntry = new Map(sources.requests.map((r) => [r.entry, r]));
      const platforms = (entry: string) => formatSelector(byEntry.get(entry)!.platforms);
      assertEquals(platforms("rancher/wins:v0.4.11"), "windows/amd64:10.0.17763");
      assertEquals(platforms("rancher/shell:v0.1.21"), "linux/amd64");
      assertEquals(platforms("rancher/rancher-agent:v2.7.9"), "linux/amd64,windows/amd64:10.0.17763");
      const agent = byEntry.get("rancher/rancher-agent:v2.7.9")!;
      assertEquals(agent.origins, ["rancher-images.txt@v2.7.9:1", "rancher-windows-images.txt@v2.7.9:2"]);
      assertEquals(sources.locked.map((s) => s.kind), ["rancher-images", "rancher-windows-images"]);
    } finally {
      await server.close();
    }
  }));
