/**
 * Requests per image, counted by the recording proxy (tests/helpers/
 * fault_proxy.ts with no faults) in front of real distribution: a warm
 * `plan` is one HEAD per tag and nothing else; a load into an empty
 * registry stays within its request budget. Counts are deterministic (no
 * timing); docs/performance.md lists them before and after.
 */
import { join } from "node:path";
import { loadCommand } from "../../lib/commands/load/load.ts";
import { saveCommand } from "../../lib/commands/save/save.ts";
import { planCommand } from "../../lib/commands/plan/plan.ts";
import { declarationFromList } from "../../lib/plan/declaration.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import type { RequestKind } from "../helpers/fault_proxy.ts";
import { faultTest, type FaultWorld, silentReporter, startFaultWorld } from "../helpers/faults.ts";
import { interopAvailable, registryTest, seedStorage, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { writeImageList } from "../helpers/corpus.ts";
import { startFaultProxy } from "../helpers/fault_proxy.ts";
import { type GeneratedImage, singleImage } from "../../lib/demo/corpus.ts";
import { createRegistryClient } from "../../lib/store/registry/client.ts";
import { registryStore } from "../../lib/store/registry/store.ts";
import { makeCertificate, startTokenServer } from "../helpers/tokenserver.ts";

const enabled = interopAvailable();

function total(counts: Record<RequestKind, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function proxiedDeclaration(world: FaultWorld) {
  const declaration = await declarationFromList(world.list, { sourceRegistry: world.proxy.host, platforms: ["all"] });
  declaration.registries = new Map([[world.proxy.host, { noAuthFiles: true }]]);
  return declaration;
}

faultTest(
  "requests: a warm plan is one HEAD per tag (plus the registry's ping), nothing fetched again",
  async (world) => {
    const declaration = await proxiedDeclaration(world);
    const cacheDir = join(world.dir, "cache");
    await planCommand({ declaration, cacheDir, reporter: silentReporter });
    const cold = world.proxy.requests();
    world.proxy.resetStats();
    await planCommand({ declaration, cacheDir, reporter: silentReporter });
    const warm = world.proxy.requests();
    const n = world.images.length;
    console.log(`requests: ${n} images; cold plan ${JSON.stringify(cold)}; warm plan ${JSON.stringify(warm)}`);
    assertEquals(warm.head, n, "one HEAD per tag");
    assertEquals(total(warm), n + 1, "the HEADs and one GET /v2/");
  },
);

faultTest(
  "requests: a warm plan of 40 tags has more HEADs in flight than the old image bound of 16 (up to the metadata bound)",
  async (world) => {
    // 40 tags: every image of the corpus under extra tags.
    const store = registryStore(createRegistryClient(world.registry.host, { noAuthFiles: true }));
    const entries: string[] = [];
    for (let k = 0; entries.length < 40; k++) {
      for (const image of world.images) {
        if (entries.length >= 40) break;
        await store.tag(image.repository, `${image.tag}-x${k}`, image.root.descriptor, image.root.bytes);
        entries.push(`${image.repository}:${image.tag}-x${k}`);
      }
    }
    await store.close?.();
    await Deno.writeTextFile(world.list, entries.join("\n") + "\n");
    const declaration = await proxiedDeclaration(world);
    const cacheDir = join(world.dir, "cache");
    await planCommand({ declaration, cacheDir, reporter: silentReporter });
    // Each HEAD waits 300 ms at the proxy: what the client lets be in flight at once is what the proxy sees.
    world.proxy.setPlan({ seed: 1, rules: [{ fault: "latency", kinds: ["head"], probability: 1 }], latencyMs: 300 });
    world.proxy.resetStats();
    await planCommand({ declaration, cacheDir, reporter: silentReporter });
    const peak = world.proxy.peakInFlight("metadata");
    console.log(`requests: warm plan of 40 tags: ${world.proxy.requests().head} HEADs, ${peak} in flight at most`);
    assertEquals(world.proxy.requests().head, 40);
    assert(peak > 16 && peak <= 32, `peak ${peak}`);
  },
);

/** `n` single-platform images (`rancher/imgN:v1`, one 4 KiB layer each) in `registry`, and their list in `dir`. */
async function seededSingles(registry: TestRegistry, dir: string, n: number) {
  const images = Array.from(
    { length: n },
    (_, i) => singleImage(`rancher/img${i}`, "v1", { format: "oci", layers: [{ seed: `l${i}`, size: 4096 }] }),
  );
  await seedStorage(registry, images);
  return { images, list: await writeImageList(dir, images) };
}

/** Save `images` from `source`, load the archive into a fresh registry through the recording proxy: its counts. */
async function loadCounts(dir: string, source: string, list: string, held: GeneratedImage[] = []) {
  const declaration = await declarationFromList(list, { sourceRegistry: source, platforms: ["all"] });
  declaration.registries = new Map([[source, { noAuthFiles: true }]]);
  const archivePath = join(dir, "corpus.tar");
  await saveCommand({ declaration, output: archivePath, cacheDir: join(dir, "c"), reporter: silentReporter });
  const target = await startRegistry();
  await seedStorage(target, held);
  const proxy = startFaultProxy(target.host, { seed: 0, rules: [] });
  try {
    await loadCommand({
      archivePath,
      registry: proxy.host,
      prefix: "loaded",
      registries: new Map([[proxy.host, { noAuthFiles: true }]]),
      reporter: silentReporter,
    });
    return proxy.requests();
  } finally {
    await proxy.close();
    await target.stop();
  }
}

registryTest(
  "requests: a load into an empty registry: 5 per single-platform image (POST+PUT per blob, one manifest PUT by tag)",
  enabled,
  async (dir, start) => {
    const registry = await start();
    const n = 40;
    const { list } = await seededSingles(registry, dir, n);
    const counts = await loadCounts(dir, registry.host, list);
    const perImage = total(counts) / n;
    console.log(
      `requests: load of ${n} single-platform images: ${JSON.stringify(counts)} = ${perImage.toFixed(2)} per image`,
    );
    // Was 11.08 per image (5 HEADs each), then 7.25 (a HEAD of the root, a PUT by digest and one by tag). Now the
    // catalog (one GET per run) proves every repository new, so nothing is probed, and the tag PUT carries the
    // manifest: two per blob and one per image, plus the registry's GET /v2/ and the catalog.
    assertEquals(counts.head, 0, "no probe into a repository the catalog proved empty");
    assertEquals(counts["manifest-put"], n, "one manifest PUT per image: its tag");
    assertEquals(counts["upload-post"], 2 * n, "one POST per blob (no mount question: nothing needs probing)");
    assertEquals(total(counts), 5 * n + 2, `load made ${perImage} requests per image`);
  },
  { sanitizeOps: false },
);

registryTest(
  "requests: a load into a registry that holds some of the images probes only the repositories its catalog lists",
  enabled,
  async (dir, start) => {
    const registry = await start();
    const n = 12, held = 4;
    const { images, list } = await seededSingles(registry, dir, n);
    // The target already holds the first images under the names the load gives them.
    const loaded = images.slice(0, held).map((i) => ({ ...i, repository: `loaded/${i.repository}` }));
    const counts = await loadCounts(dir, registry.host, list, loaded);
    console.log(`requests: load of ${n} images, ${held} already held: ${JSON.stringify(counts)}`);
    assertEquals(counts.head, held, "one HEAD per root in a listed repository, none elsewhere");
    assertEquals(counts["manifest-put"], n, "the held images' tags are PUT again, the others' once");
    assertEquals(counts["upload-post"], 2 * (n - held), "nothing uploaded for the held images");
  },
  { sanitizeOps: false },
);

faultTest(
  "requests: a load of the standard corpus (indexes, shared layers) stays within its budget",
  async (world) => {
    const counts = await loadCounts(world.dir, world.registry.host, world.list);
    const n = world.images.length;
    const perImage = total(counts) / n;
    console.log(`requests: load of ${n} images: ${JSON.stringify(counts)} = ${perImage.toFixed(2)} per image`);
    // Was 18 per image (57 HEADs for 7 images), then 12.86 (20 HEADs).
    assertEquals(counts.head, 0, "no probe into a repository the catalog proved empty");
    assert(perImage <= 9.2, `load made ${perImage} requests per image`);
  },
);

Deno.test({
  name:
    "requests: a load behind token auth asks the token service once per repository (a push token serves its probes)",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const world = await startFaultWorld();
    const cert = await makeCertificate(world.dir, "token-signer");
    const tokens = startTokenServer(cert, "bob", "s3cret");
    const secure = await startRegistry({
      extraConfig: tokens.registryConfig,
    });
    try {
      const declaration = await declarationFromList(world.list, {
        sourceRegistry: world.registry.host,
        platforms: ["all"],
      });
      declaration.registries = new Map([[world.registry.host, { noAuthFiles: true }]]);
      const archivePath = join(world.dir, "corpus.tar");
      await saveCommand({ declaration, output: archivePath, cacheDir: join(world.dir, "c"), reporter: silentReporter });
      await loadCommand({
        archivePath,
        registry: secure.host,
        prefix: "loaded",
        registries: new Map([[secure.host, { credential: { username: "bob", password: "s3cret", origin: "test" } }]]),
        reporter: silentReporter,
      });
      const repos = new Set(world.images.map((i) => i.repository)).size;
      const asked = tokens.requests.map((r) => r.scopes.join(" "));
      console.log(
        `requests: load of ${world.images.length} images in ${repos} repositories: ${asked.length} token requests`,
      );
      const single = tokens.requests.filter((r) => r.scopes.length === 1).map((r) => r.scopes[0]);
      // Every single-scope token is a repository's own; a repository never gets two (mounts ask for a pair).
      assertEquals(single.length, new Set(single.map((s) => s.split(":")[1])).size, `tokens: ${asked.join(" | ")}`);
      assert(single.length <= repos + 1, `tokens: ${asked.join(" | ")}`);
    } finally {
      await secure.stop();
      await tokens.close();
      await world.close();
    }
  },
});
