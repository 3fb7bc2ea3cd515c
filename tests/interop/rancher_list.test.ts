/**
 * The real `rancher-images.txt` of v2.7.9 (712 entries), served as a release
 * asset and planned against a real registry holding a tiny image under every
 * one of its names: every entry is accounted for, with its line as origin.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { airgapOk } from "../helpers/cli.ts";
import { serveFiles, sha256sums } from "../helpers/fileserver.ts";
import { hasShared, SHARED_DATA } from "../helpers/helm.ts";
import { interopAvailable, REGISTRY_BIN, seedStorage, startRegistry } from "../helpers/registry.ts";
import { singleImage } from "../../lib/demo/corpus.ts";
import { parseLock } from "../../lib/lock.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { parseImageList } from "../../lib/sources/list.ts";

const LIST = join(SHARED_DATA, "rancher-images-v2.7.9.txt");
const text = hasShared("rancher-images-v2.7.9.txt") ? Deno.readTextFileSync(LIST) : undefined;
const enabled = text !== undefined && interopAvailable(REGISTRY_BIN);

Deno.test({
  name:
    "rancher-images.txt v2.7.9: 712 entries fetched as a release asset, planned against a registry, each accounted for",
  ignore: !enabled,
  async fn() {
    const entries = parseImageList(text!, "rancher-images-v2.7.9.txt");
    assertEquals(entries.length, 712);
    const dir = await Deno.makeTempDir({ prefix: "airgap-rancher712-" });
    const registry = await startRegistry();
    const assets = serveFiles({
      "/v2.7.9/rancher-images.txt": text!,
      "/v2.7.9/sha256sum.txt": sha256sums({ "rancher-images.txt": text! }),
    });
    try {
      // One tiny single-layer image under every name, as --source-registry will ask for it.
      await seedStorage(
        registry,
        entries.map(({ entry }) => {
          const colon = entry.lastIndexOf(":");
          return singleImage(entry.slice(0, colon), entry.slice(colon + 1), {
            format: "oci",
            layers: [{ seed: entry, size: 64 }],
            label: entry,
          });
        }),
      );
      await Deno.writeTextFile(
        join(dir, "airgap.yaml"),
        `sourceRegistry: ${registry.host}\nrancher:\n  version: v2.7.9\n  url: ${assets.url}/{version}/\n`,
      );
      const cache = join(dir, "cache");
      const plan = JSON.parse((await airgapOk(["plan", "--json", "--cache", cache, "-q"], { cwd: dir })).stdout);
      assertEquals(plan.images.length, 712);
      const planned = new Map<string, { origin: string; source: string }>(
        plan.images.map((i: { entry: string; origin: string; source: string }) => [i.entry, i]),
      );
      for (const { entry, line } of entries) {
        const image = planned.get(entry);
        assert(image, `${entry} is planned`);
        assertEquals(image.origin, `rancher-images.txt@v2.7.9:${line}`);
        assertEquals(image.source, `${registry.host}/${entry}`);
      }
      assertEquals(plan.sources.length, 1);
      assertEquals(plan.sources[0].digest, digestOf(new TextEncoder().encode(text!)));
      assertEquals(plan.sources[0].images, 712);

      const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
      assertEquals(lock.images.length, 712);
      assertEquals(lock.sources?.map((s) => [s.kind, s.name, s.version, s.url]), [
        ["rancher-images", "rancher-images.txt", "v2.7.9", `${assets.url}/v2.7.9/rancher-images.txt`],
      ]);

      // The seed-compatible form plans the same 712.
      await Deno.writeTextFile(join(dir, "list.txt"), text!);
      const seed = JSON.parse(
        (await airgapOk(
          ["plan", "-l", "list.txt", "-s", registry.host, "--json", "--no-write-lock", "--cache", cache],
          {
            cwd: dir,
          },
        )).stdout,
      );
      assertEquals(seed.images.length, 712);
      assertEquals(seed.fetchBlobs, 2 * 712, "a config and a layer per image, none shared, none cached by a plan");

      // `airgap images` is the seed's `sort -u` of the list.
      const listed = (await airgapOk(["images", "--cache", cache], { cwd: dir })).stdout.split("\n").filter(Boolean);
      const sortU = [...new Set(entries.map((e) => e.entry))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      assertEquals(listed, sortU);
    } finally {
      await assets.close();
      await registry.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
