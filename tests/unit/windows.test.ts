/**
 * Windows: the version table, platform wants with os.version, foreign-layer
 * rewriting, per-OS tag assembly, Windows lists in declarations (CRLF) and
 * airgap.yaml. Pure functions and files only: these run under the Windows
 * Deno too (see README).
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  DEFAULT_WINDOWS_VERSIONS,
  describeOsVersion,
  osVersionMatches,
  parseWindowsVersion,
  parseWindowsVersions,
  WINDOWS_RELEASES,
  windowsTagSuffixes,
} from "../../lib/oci/windows.ts";
import {
  filterIndex,
  formatPlatform,
  parsePlatform,
  parsePlatformSelector,
  platformMatches,
  platformWants,
  unmetWants,
  windowsPlatform,
} from "../../lib/oci/platform.ts";
import { isExternalLayer, makeDistributable, parseForeignLayerPolicy } from "../../lib/oci/foreign.ts";
import { withForeignLayers } from "../../lib/store/wrappers/foreign_layers.ts";
import { leavingOut } from "../../lib/store/wrappers/leaving_out.ts";
import { encodeJson, type ImageManifest, parseManifest, storedChildren } from "../../lib/oci/manifest.ts";
import * as media from "../../lib/oci/media.ts";
import { assembleIndex, findPlatforms, platformFromConfig } from "../../lib/plan/assemble.ts";
import { multiPlatformImage, singleImage, WINDOWS_1809, WINDOWS_LTSC2022 } from "../../lib/demo/corpus.ts";
import { declarationFromList, loadDeclaration } from "../../lib/plan/declaration.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { openCache } from "../../lib/store/cache.ts";
import { readAll, type ResolvedManifest } from "../../lib/store/types.ts";
import { withTempDir } from "../helpers/tempdir.ts";

Deno.test("windows versions: the seed's names, aliases and build prefixes map through one table", () => {
  const builds: [string, string][] = [
    ["1809", "10.0.17763"],
    ["ltsc2019", "10.0.17763"],
    ["LTSC2022", "10.0.20348"],
    ["1903", "10.0.18362"],
    ["1909", "10.0.18363"],
    ["2004", "10.0.19041"],
    ["20H2", "10.0.19042"],
    ["20h2", "10.0.19042"],
    // 2009 is the ReleaseId a 20H2 host reports: the same build, not a build "2009".
    ["2009", "10.0.19042"],
    ["ltsc2025", "10.0.26100"],
    ["10.0.17763", "10.0.17763"],
    ["10.0.17763.5206", "10.0.17763.5206"],
  ];
  for (const [name, build] of builds) assertEquals(parseWindowsVersion(name).build, build, name);
  assertEquals(parseWindowsVersion("10.0.20348.1").release?.names[0], "ltsc2022");
  assertThrows(() => parseWindowsVersion("21H2"), Error, "ambiguous");
  assertThrows(() => parseWindowsVersion("2022"), Error, "say ltsc2022");
  assertThrows(() => parseWindowsVersion("xp"), Error, 'unknown Windows version "xp"');
  assertThrows(() => parseWindowsVersion("10.0.1"), Error, "unknown Windows version");
  // one build per table row, no name twice
  assertEquals(new Set(WINDOWS_RELEASES.map((r) => r.build)).size, WINDOWS_RELEASES.length);
  const names = WINDOWS_RELEASES.flatMap((r) => r.names.map((n) => n.toLowerCase()));
  assertEquals(new Set(names).size, names.length);
  assertEquals(DEFAULT_WINDOWS_VERSIONS, ["1809"]);
  assertEquals(parseWindowsVersions(undefined).map((v) => v.build), ["10.0.17763"]);
  assertEquals(parseWindowsVersions(["1809,ltsc2022", "ltsc2019", " "]).map((v) => v.build), [
    "10.0.17763",
    "10.0.20348",
  ]);
  assert(osVersionMatches("10.0.17763", "10.0.17763.5206"));
  assert(osVersionMatches("10.0.17763", "10.0.17763"));
  assert(!osVersionMatches("10.0.17763", "10.0.177630"));
  assert(!osVersionMatches("10.0.17763", undefined));
  assertEquals(describeOsVersion("10.0.19042.1000"), "10.0.19042.1000 (20H2)");
  assertEquals(windowsTagSuffixes("10.0.19042"), ["windows-20H2", "windows-2009"]);
  assertEquals(windowsTagSuffixes("10.0.17763"), ["windows-1809", "windows-ltsc2019"]);
  assertEquals(windowsTagSuffixes("10.0.99999"), ["windows-10.0.99999"]);
});

Deno.test("platforms: os.version in specs, wants that must be met, formatting", () => {
  assertEquals(parsePlatform("windows/amd64:1809"), {
    os: "windows",
    architecture: "amd64",
    variant: undefined,
    osVersions: ["10.0.17763"],
  });
  assertEquals(parsePlatform("windows/amd64:10.0.20348").osVersions, ["10.0.20348"]);
  assertThrows(() => parsePlatform("windows/amd64:21H2"), Error, 'invalid platform "windows/amd64:21H2"');
  assertThrows(() => parsePlatform("windows/amd64:"), Error, "empty os.version");
  const spec = windowsPlatform(parseWindowsVersions(["1809", "ltsc2022"]));
  assertEquals(formatPlatform(spec), "windows/amd64:10.0.17763|10.0.20348");
  assertEquals(formatPlatform(WINDOWS_1809), "windows/amd64:10.0.17763.5206");
  assert(platformMatches(spec, WINDOWS_1809));
  assert(platformMatches(spec, WINDOWS_LTSC2022));
  assert(!platformMatches(spec, { os: "windows", architecture: "amd64", "os.version": "10.0.19042.1" }));
  assert(!platformMatches(spec, { os: "windows", architecture: "amd64" }), "no os.version: not the wanted build");
  assert(!platformMatches(spec, { os: "linux", architecture: "amd64" }));
  const selector = { all: false as const, platforms: [parsePlatform("linux/amd64"), spec] };
  const wants = platformWants(selector);
  assertEquals(wants.map((w) => [formatPlatform(w.spec), w.versioned]), [
    ["linux/amd64", false],
    ["windows/amd64:10.0.17763", true],
    ["windows/amd64:10.0.20348", true],
  ]);
  assertEquals(
    unmetWants(wants, [WINDOWS_1809, { os: "linux", architecture: "amd64" }]).map((w) => w.spec.osVersions),
    [
      ["10.0.20348"],
    ],
  );
  assertEquals(platformWants({ all: true }), []);
  // arm64 ≡ arm64/v8 in wants too
  assertEquals(
    unmetWants(platformWants(parsePlatformSelector(["linux/arm64"])), [{ os: "linux", architecture: "arm64" }]),
    [],
  );
});

Deno.test("filterIndex picks Windows children by os.version and keeps their exact descriptors", () => {
  const image = multiPlatformImage("a", "b", "docker", [
    { format: "docker", platform: { os: "linux", architecture: "amd64" }, layers: [{ seed: "l", size: 5 }] },
    { format: "docker", platform: WINDOWS_1809, layers: [{ seed: "w1", size: 5 }] },
    { format: "docker", platform: WINDOWS_LTSC2022, layers: [{ seed: "w2", size: 5 }] },
  ]);
  const index = parseManifest(image.root.bytes, undefined, "t");
  if (index.kind !== "index") throw new Error("expected an index");
  const selector = {
    all: false as const,
    platforms: [parsePlatform("linux/amd64"), windowsPlatform(parseWindowsVersions(["ltsc2022"]))],
  };
  const kept = filterIndex(index, image.root.bytes, selector, "t");
  assertEquals(kept.changed, true);
  assertEquals(kept.kept, [index.manifests[0], index.manifests[2]]);
  const reparsed = JSON.parse(new TextDecoder().decode(kept.bytes));
  assertEquals(reparsed.mediaType, media.DOCKER_MANIFEST_LIST);
  assertEquals(reparsed.manifests[1].platform["os.version"], "10.0.20348.2113");
});

function foreignImage(format: "docker" | "oci") {
  return singleImage("w", "1", {
    format,
    platform: WINDOWS_1809,
    layers: [{ seed: "app", size: 100 }],
    foreignBase: { seed: "base", size: 200, urlBases: ["https://mcr.example/a", "https://mcr.example/b"] },
  });
}

Deno.test("foreign layers: made distributable without urls; other fields and layers untouched", () => {
  for (const format of ["docker", "oci"] as const) {
    const image = foreignImage(format);
    const manifest = parseManifest(image.root.bytes, undefined, "t") as ImageManifest;
    assert(isExternalLayer(manifest.layers[0]));
    assertEquals(storedChildren(manifest).length, 2, "config and the ordinary layer: the foreign one is at its URLs");
    const made = makeDistributable(manifest, image.root.bytes);
    assert(made.changed);
    const rewritten = parseManifest(made.bytes, undefined, "t") as ImageManifest;
    const expectedType = format === "docker" ? media.DOCKER_LAYER : media.OCI_LAYER_GZIP;
    assertEquals(rewritten.layers[0], {
      mediaType: expectedType,
      digest: manifest.layers[0].digest,
      size: manifest.layers[0].size,
    });
    assertEquals(rewritten.layers[1], manifest.layers[1]);
    assertEquals(rewritten.config, manifest.config);
    assertEquals(rewritten.mediaType, manifest.mediaType);
    assertEquals(storedChildren(rewritten).length, 3);
    assertEquals(
      made.layers[0].urls,
      ["https://mcr.example/a", "https://mcr.example/b"].map((u) => `${u}/${manifest.layers[0].digest.slice(7)}`),
    );
    // nothing foreign: the very same bytes
    const plain = singleImage("p", "1", { format, layers: [{ seed: "x", size: 10 }] });
    const untouched = makeDistributable(
      parseManifest(plain.root.bytes, undefined, "t") as ImageManifest,
      plain.root.bytes,
    );
    assertEquals(untouched.changed, false);
    assert(untouched.bytes === plain.root.bytes);
  }
  assertEquals(parseForeignLayerPolicy("Keep"), "keep");
  assertThrows(() => parseForeignLayerPolicy("drop"), Error, "include, keep or skip");
});

Deno.test("foreign layers: a URL source verifies bytes and falls back; left-out blobs are never read", async () => {
  const image = foreignImage("oci");
  const layer = image.foreign![0];
  const served = new Map<string, Uint8Array>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const bytes = served.get(new URL(req.url).pathname);
    return bytes ? new Response(bytes as Uint8Array<ArrayBuffer>) : new Response("no", { status: 404 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    served.set("/good", layer.bytes);
    served.set("/bad", new TextEncoder().encode("not the layer"));
    const registry = {
      description: "nowhere",
      concurrency: 1,
      exists: () => Promise.resolve(false),
      fetch: () => Promise.reject(new Error("not in the registry")),
      push: () => Promise.reject(new Error("read-only")),
      tag: () => Promise.reject(new Error("read-only")),
      resolve: () => Promise.reject(new Error("read-only")),
    };
    const desc = { ...layer.descriptor, mediaType: media.OCI_LAYER_GZIP, urls: undefined };
    const store = withForeignLayers(
      registry,
      new Map([[desc.digest, { descriptor: desc, foreignType: "x", urls: [`${base}/missing`, `${base}/good`] }]]),
    );
    assertEquals(await readAll(await store.fetch("r", desc), 1 << 20), layer.bytes);
    const wrong = withForeignLayers(
      registry,
      new Map([[desc.digest, { descriptor: desc, foreignType: "x", urls: [`${base}/missing`] }]]),
    );
    await assertRejects(() => wrong.fetch("r", desc), Error, "cannot fetch foreign layer");
    const lying = withForeignLayers(
      registry,
      new Map([[desc.digest, { descriptor: { ...desc, size: 13 }, foreignType: "x", urls: [`${base}/bad`] }]]),
    );
    await assertRejects(
      async () => await readAll(await lying.fetch("r", { ...desc, size: 13 }), 1 << 20),
      Error,
      "digest mismatch",
    );
    const dir = await Deno.makeTempDir();
    try {
      const cache = leavingOut(await openCache(dir), new Set([desc.digest]));
      assertEquals(await cache.push("r", desc, () => Promise.reject(new Error("must not open"))), "exists");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("per-OS tags: assembled into one list with platforms from the configs", async () => {
  const linux = singleImage("a", "v2", { format: "docker", layers: [{ seed: "l", size: 9 }] });
  const w1809 = singleImage("a", "v2-windows-1809", {
    format: "docker",
    platform: WINDOWS_1809,
    layers: [{ seed: "w", size: 9 }],
  });
  const w2022 = singleImage("a", "v2-windows-ltsc2022", {
    format: "docker",
    platform: WINDOWS_LTSC2022,
    layers: [{ seed: "w2", size: 9 }],
  });
  const tags = new Map([["v2", linux], ["v2-windows-1809", w1809], ["v2-windows-ltsc2022", w2022]]);
  const blobs = new Map([linux, w1809, w2022].flatMap((i) => i.blobs).map((b) => [b.descriptor.digest, b.bytes]));
  const asked: string[] = [];
  const context = (versions: string[], present = tags) => ({
    what: "a:v2",
    tag: "v2",
    selector: {
      all: false as const,
      platforms: [parsePlatform("linux/amd64"), windowsPlatform(parseWindowsVersions(versions))],
    },
    resolveTag: (tag: string): Promise<ResolvedManifest | undefined> => {
      asked.push(tag);
      const image = present.get(tag);
      return Promise.resolve(image && { descriptor: image.root.descriptor, bytes: image.root.bytes });
    },
    read: (d: { digest: string }) => Promise.resolve(blobs.get(d.digest)!),
  });
  const found = await findPlatforms(context(["1809", "ltsc2022"]));
  assertEquals(found.plain?.descriptor.digest, linux.root.descriptor.digest);
  assertEquals(found.combined!.sources, {
    "v2": linux.root.descriptor.digest,
    "v2-windows-1809": w1809.root.descriptor.digest,
    "v2-windows-ltsc2022": w2022.root.descriptor.digest,
  });
  assertEquals(found.combined!.entries.map((e) => e.platform), [
    { architecture: "amd64", os: "linux" },
    WINDOWS_1809,
    WINDOWS_LTSC2022,
  ]);
  const assembled = assembleIndex(found.combined!.entries);
  assertEquals(assembled.mediaType, media.DOCKER_MANIFEST_LIST);
  assertEquals(digestOf(assembleIndex(found.combined!.entries).bytes), digestOf(assembled.bytes), "deterministic");
  const index = parseManifest(assembled.bytes, undefined, "t");
  assertEquals(index.kind, "index");
  // 20H2 tries both names of the build, then fails naming them.
  asked.length = 0;
  await assertRejects(
    () => findPlatforms(context(["20H2"])),
    Error,
    "a:v2: no image for windows/amd64:10.0.19042 (found: linux/amd64; tags tried: v2, v2-windows-20H2, v2-windows-2009)",
  );
  // No plain tag at all: Windows-only from per-OS tags.
  const windowsOnly = new Map([["v2-windows-1809", w1809]]);
  const onlyWindows = await findPlatforms({
    ...context(["1809"], windowsOnly),
    selector: { all: false, platforms: [windowsPlatform(parseWindowsVersions(["1809"]))] },
  });
  assertEquals(onlyWindows.plain, undefined);
  assertEquals(Object.keys(onlyWindows.combined!.sources), ["v2-windows-1809"]);
  // Everything under the plain tag: nothing to assemble.
  const multi = multiPlatformImage("m", "v1", "oci", [
    { format: "oci", platform: { os: "linux", architecture: "amd64" }, layers: [{ seed: "a", size: 3 }] },
    { format: "oci", platform: WINDOWS_1809, layers: [{ seed: "b", size: 3 }] },
  ]);
  const single = await findPlatforms({ ...context(["1809"], new Map([["v2", multi]])) });
  assertEquals(single.combined, undefined);
  assertEquals(
    platformFromConfig(encodeJson({ os: "windows", architecture: "amd64", "os.version": "10.0.1.2" }), "c"),
    { architecture: "amd64", os: "windows", "os.version": "10.0.1.2" },
  );
  assertThrows(() => platformFromConfig(encodeJson({}), "cfg"), Error, "cfg: image config names no os/architecture");
});

Deno.test("Windows lists (CRLF): one request per entry; an entry in both lists wants both platform sets", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "rancher-images.txt"), "rancher/rancher-agent:v2.7.9\r\nrancher/shell:v1\r\n");
    await Deno.writeTextFile(
      join(dir, "rancher-windows-images.txt"),
      "# windows\r\nrancher/rancher-agent:v2.7.9\r\nrancher/wins:v0.4.11\r\n",
    );
    const decl = await declarationFromList(join(dir, "rancher-images.txt"), {
      windowsImageLists: [join(dir, "rancher-windows-images.txt")],
      windowsVersions: ["1809,ltsc2022"],
      foreignLayers: "keep",
    });
    assertEquals(decl.foreignLayers, "keep");
    assertEquals(decl.requests.map((r) => r.entry), [
      "rancher/rancher-agent:v2.7.9",
      "rancher/shell:v1",
      "rancher/wins:v0.4.11",
    ]);
    const [agent, shell, wins] = decl.requests;
    assert(!agent.platforms.all && !shell.platforms.all && !wins.platforms.all);
    assertEquals(agent.platforms.platforms.map(formatPlatform), [
      "linux/amd64",
      "windows/amd64:10.0.17763|10.0.20348",
    ]);
    assertEquals(shell.platforms.platforms.map(formatPlatform), ["linux/amd64"]);
    assertEquals(wins.platforms.platforms.map(formatPlatform), ["windows/amd64:10.0.17763|10.0.20348"]);
    assert(wins.origin.endsWith("rancher-windows-images.txt:3"), wins.origin);
    const windowsOnly = await declarationFromList(undefined, {
      windowsImageLists: [join(dir, "rancher-windows-images.txt")],
    });
    assertEquals(windowsOnly.requests.length, 2);
    assertEquals(windowsOnly.requests[0].platforms, {
      all: false,
      platforms: [{ os: "windows", architecture: "amd64", osVersions: ["10.0.17763"] }],
    });
    await assertRejects(
      () =>
        declarationFromList(undefined, {
          windowsImageLists: [join(dir, "rancher-windows-images.txt")],
          windowsVersions: ["21H2"],
        }),
      Error,
      '--windows-versions: Windows version "21H2" is ambiguous',
    );
  }));

Deno.test("airgap.yaml windows: lists, images, versions (numbers or names), foreign-layer policy of the target", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "win.txt"), "rancher/wins:v0.4.11\r\n");
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      `images: [rancher/rancher-agent:v2.7.9]
windows:
  versions: [1809, ltsc2022]
  lists:
    - win.txt
  images:
    - rancher/rancher-agent:v2.7.9
    - ref: rancher/flannel:v3
      versions: [20H2]
target:
  registry: reg.local:5000
registries:
  reg.local:5000:
    foreignLayers: skip
`,
    );
    const decl = await loadDeclaration(join(dir, "airgap.yaml"));
    assertEquals(decl.foreignLayers, "skip");
    const byEntry = new Map(decl.requests.map((r) => [r.entry, r]));
    const platforms = (entry: string) => {
      const selector = byEntry.get(entry)!.platforms;
      return selector.all ? ["all"] : selector.platforms.map(formatPlatform);
    };
    assertEquals(platforms("rancher/rancher-agent:v2.7.9"), ["linux/amd64", "windows/amd64:10.0.17763|10.0.20348"]);
    assertEquals(platforms("rancher/flannel:v3"), ["windows/amd64:10.0.19042"]);
    assertEquals(platforms("rancher/wins:v0.4.11"), ["windows/amd64:10.0.17763|10.0.20348"]);
    assert(byEntry.get("rancher/flannel:v3")!.origin.includes("airgap.yaml:"), "inline entries name file and line");
    const overridden = await loadDeclaration(join(dir, "airgap.yaml"), {
      windowsVersions: ["ltsc2025"],
      foreignLayers: "include",
    });
    assertEquals(overridden.foreignLayers, "include");
    assertEquals(
      overridden.requests.find((r) => r.entry === "rancher/wins:v0.4.11")!.platforms,
      { all: false, platforms: [{ os: "windows", architecture: "amd64", osVersions: ["10.0.26100"] }] },
    );
    for (
      const [text, expected] of [
        ["windows:\n  versions: [xp]\n", 'windows.versions: unknown Windows version "xp"'],
        ["windows:\n  list: [a.txt]\n", "windows.list: unknown key"],
        ["registries:\n  r.local:\n    foreignLayers: drop\n", "registries.r.local.foreignLayers"],
      ]
    ) {
      await Deno.writeTextFile(join(dir, "airgap.yaml"), text);
      await assertRejects(() => loadDeclaration(join(dir, "airgap.yaml")), Error, expected);
    }
  }));
