/**
 * Partial failure against a real distribution registry that holds only some
 * of the listed images: without --keep-going one grouped line per cause and
 * the full list in a file; with it, an archive and a lock of exactly what was
 * saved, NAME.save-failed.txt re-usable as --image-list, and exit code 3.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";
import {
  interopAvailable,
  refusedPort,
  REGISTRY_BIN,
  registryTest,
  seedStorage,
  startRegistry,
} from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { type GeneratedImage, singleImage } from "../../lib/demo/corpus.ts";
import { parseLock } from "../../lib/lock.ts";
import { parseImageList } from "../../lib/sources/list.ts";

const enabled = interopAvailable(REGISTRY_BIN);

function image(name: string): GeneratedImage {
  return singleImage(`rancher/${name}`, "v1", {
    format: "oci",
    layers: [{ seed: `layer ${name}`, size: 2048 }],
    label: name,
  });
}

/** Ten entries; the registry holds the first three. */
const NAMES = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
const PRESENT = NAMES.slice(0, 3);
const LIST = "# test list\n" + NAMES.map((n) => `rancher/${n}:v1`).join("\n") + "\n";

function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("error: "));
}

registryTest(
  "save without --keep-going: one grouped line per registry and cause, sorted, the full list in a file",
  enabled,
  async (dir, start) => {
    const registry = await start();
    await seedStorage(registry, PRESENT.map(image));
    const dead = `127.0.0.1:${await refusedPort()}`; // nothing listens: connection refused
    await Deno.writeTextFile(join(dir, "rancher-images.txt"), LIST);
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      `lists: [{path: rancher-images.txt, sourceRegistry: "${registry.host}"}]\nimages:\n` +
        ["x", "y", "z", "w"].map((n) => `  - ${dead}/rancher/${n}:v1\n`).join(""),
    );
    const result = await airgap(["save", "--cache", join(dir, "cache"), "-o", "out.tar"], { cwd: dir });
    assertEquals(result.code, 1, result.stderr);
    const lines = errorLines(result.stderr);
    assertEquals(lines.length, 3, result.stderr);
    // Groups in list order: the declaration's images come first, then the list's.
    assertStringIncludes(lines[0], `${dead}: 4 images connection refused: airgap.yaml:`);
    assertStringIncludes(
      lines[1],
      `${registry.host}: 7 images not found (manifest unknown): rancher-images.txt:5 rancher/d:v1, :6 rancher/e:v1, :7 rancher/f:v1, … (4 more)`,
    );
    assertStringIncludes(lines[2], "11 of 14 images could not be resolved; nothing was saved");
    assertStringIncludes(lines[2], "out.save-failed.txt");
    const failed = parseImageList(await Deno.readTextFile(join(dir, "out.save-failed.txt")), "out.save-failed.txt");
    assertEquals(failed.length, 11);
    await assertMissing(join(dir, "out.tar"));
    await assertMissing(join(dir, "airgap.lock"));
  },
);

registryTest(
  "save --keep-going: archive and lock cover what was saved, save-failed.txt retries the rest, exit 3",
  enabled,
  async (dir, start) => {
    const registry = await start();
    await seedStorage(registry, PRESENT.map(image));
    await Deno.writeTextFile(join(dir, "rancher-images.txt"), LIST);
    const cache = join(dir, "cache");
    const common = ["--source-registry", registry.host, "--cache", cache];
    const saved = await airgap(["save", "--keep-going", "-l", "rancher-images.txt", ...common], { cwd: dir });
    assertEquals(saved.code, 3, saved.stderr);
    assertStringIncludes(saved.stdout, "saved 3 images");
    assertStringIncludes(saved.stderr, "7 image(s) left out, listed in rancher-images.save-failed.txt");
    const listed = await airgap(["ls", "--json", "rancher-images.tar"], { cwd: dir });
    const entries = JSON.parse(listed.stdout).images.map((i: { entry: string }) => i.entry).sort();
    assertEquals(entries, PRESENT.map((n) => `rancher/${n}:v1`));
    const verified = await airgap(["verify", "rancher-images.tar"], { cwd: dir });
    assertEquals(verified.code, 0, verified.stderr);

    const failedText = await Deno.readTextFile(join(dir, "rancher-images.save-failed.txt"));
    assertStringIncludes(failedText, "# rancher-images.txt:5: ");
    assertStringIncludes(failedText, "not found");
    const failed = parseImageList(failedText, "failed").map((e) => e.entry);
    assertEquals(failed, NAMES.slice(3).map((n) => `rancher/${n}:v1`));

    // The missing images appear upstream: the failed list retries just those.
    await seedStorage(registry, NAMES.slice(3).map(image));
    const retry = await airgap(
      ["save", "--keep-going", "-l", "rancher-images.save-failed.txt", "-o", "retry.tar", ...common],
      { cwd: dir },
    );
    assertEquals(retry.code, 0, retry.stderr);
    assertStringIncludes(retry.stdout, "saved 7 images");
    await assertMissing(join(dir, "retry.save-failed.txt"));
  },
);

registryTest(
  "save --keep-going: an image whose layer the registry lost is left out after resolving; plan via keepGoing",
  enabled,
  async (dir, start) => {
    const registry = await start();
    const images = PRESENT.map(image);
    await seedStorage(registry, images);
    // The manifest resolves, but the registry has lost b's layer.
    const layer = images[1].blobs.find((b) => b.descriptor.mediaType.includes("layer"))!;
    const hex = layer.descriptor.digest.slice("sha256:".length);
    await Deno.remove(join(registry.dir, "data/docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex), {
      recursive: true,
    });
    const list = PRESENT.map((n) => `rancher/${n}:v1`).join("\n") + "\n";
    await Deno.writeTextFile(join(dir, "list.txt"), list);
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      `sourceRegistry: ${registry.host}\nlists: [list.txt]\nkeepGoing: true\n`,
    );
    const cache = join(dir, "cache");
    const saved = await airgap(["save", "--cache", cache, "-o", "images.tar"], { cwd: dir });
    assertEquals(saved.code, 3, saved.stderr);
    assertStringIncludes(saved.stdout, "saved 2 images");
    const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
    assertEquals(lock.images.map((i) => i.entry).sort(), ["rancher/a:v1", "rancher/c:v1"]);
    const failed = parseImageList(await Deno.readTextFile(join(dir, "images.save-failed.txt")), "f");
    assertEquals(failed.map((e) => e.entry), ["rancher/b:v1"]);
    const verified = await airgap(["verify", "images.tar"], { cwd: dir });
    assertEquals(verified.code, 0, verified.stderr);
    const listed = JSON.parse((await airgap(["ls", "--json", "images.tar"], { cwd: dir })).stdout);
    assertEquals(listed.images.length, 2);

    // The registry gets the layer back: the declaration, for just the failed entries.
    await seedStorage(registry, [images[1]]);
    const lockBefore = await Deno.readTextFile(join(dir, "airgap.lock"));
    const retry = await airgap(
      ["save", "-f", "airgap.yaml", "-l", "images.save-failed.txt", "--cache", cache, "-o", "retry.tar"],
      { cwd: dir },
    );
    assertEquals(retry.code, 0, retry.stderr);
    assertStringIncludes(retry.stdout, "saved 1 image ");
    assertEquals(await Deno.readTextFile(join(dir, "airgap.lock")), lockBefore, "a partial retry leaves the lock");
    const retried = JSON.parse((await airgap(["ls", "--json", "retry.tar"], { cwd: dir })).stdout);
    assertEquals(retried.images.map((i: { entry: string }) => i.entry), ["rancher/b:v1"]);
  },
);

registryTest(
  "plan and load --keep-going: what can be done is done, the rest listed, exit 3",
  enabled,
  async (dir, start) => {
    const source = await start();
    const target = await start();
    const images = PRESENT.map(image);
    await seedStorage(source, images);
    await Deno.writeTextFile(join(dir, "list.txt"), LIST);
    await Deno.writeTextFile(join(dir, "airgap.yaml"), `sourceRegistry: ${source.host}\nlists: [list.txt]\n`);
    const cache = join(dir, "cache");
    const plan = await airgap(["plan", "--keep-going", "--cache", cache], { cwd: dir });
    assertEquals(plan.code, 3, plan.stderr);
    assertStringIncludes(plan.stdout, "3 images");
    const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
    assertEquals(lock.images.length, 3);
    assertEquals(parseImageList(await Deno.readTextFile(join(dir, "airgap.plan-failed.txt")), "f").length, 7);

    await Deno.writeTextFile(join(dir, "list.txt"), PRESENT.map((n) => `rancher/${n}:v1`).join("\n") + "\n");
    const saved = await airgap(["save", "--cache", cache, "-o", "images.tar"], { cwd: dir });
    assertEquals(saved.code, 0, saved.stderr);
    // Damage b's layer in the archive: its push fails, a and c still load.
    const layer = images[1].blobs.find((b) => b.descriptor.mediaType.includes("layer"))!;
    const archive = await Deno.readFile(join(dir, "images.tar"));
    const at = indexOf(archive, layer.bytes.subarray(0, 256));
    assert(at > 0, "layer found in the archive");
    archive[at + 100] ^= 0xff;
    await Deno.writeFile(join(dir, "images.tar"), archive);
    const loaded = await airgap(["load", "images.tar", "--registry", target.host, "--keep-going"], { cwd: dir });
    assertEquals(loaded.code, 3, loaded.stderr);
    assertStringIncludes(loaded.stdout, `${target.host}/rancher/a:v1@`);
    assertStringIncludes(loaded.stdout, `${target.host}/rancher/c:v1@`);
    // The summary counts what was loaded, not what was tried (as --json's images and failed do).
    assertStringIncludes(loaded.stdout, "loaded 2 images");
    assertStringIncludes(loaded.stdout, "; 1 image failed");
    const failed = parseImageList(await Deno.readTextFile(join(dir, "images.load-failed.txt")), "f");
    assertEquals(failed.map((e) => e.entry), ["rancher/b:v1"]);
  },
);

Deno.test({
  name: "save --locked --keep-going: a registry gone after planning fails only its own images, grouped by cause",
  ignore: !enabled,
  async fn() {
    await withTempDir(async (dir) => {
      const kept = await startRegistry();
      const gone = await startRegistry();
      let goneStopped = false;
      try {
        await seedStorage(kept, ["a", "b"].map(image));
        await seedStorage(gone, ["c", "d", "e"].map(image));
        const entries = [
          ...["a", "b"].map((n) => `${kept.host}/rancher/${n}:v1`),
          ...["c", "d", "e"].map((n) => `${gone.host}/rancher/${n}:v1`),
        ];
        await Deno.writeTextFile(join(dir, "list.txt"), entries.join("\n") + "\n");
        await Deno.writeTextFile(join(dir, "airgap.yaml"), "lists: [list.txt]\n");
        const cache = join(dir, "cache");
        // plan caches the manifests (not the layers): a locked save resolves from the cache alone.
        const plan = await airgap(["plan", "--cache", cache], { cwd: dir });
        assertEquals(plan.code, 0, plan.stderr);
        await gone.stop();
        goneStopped = true;
        const saved = await airgap(["save", "--locked", "--keep-going", "--cache", cache, "-o", "x.tar"], { cwd: dir });
        assertEquals(saved.code, 3, saved.stderr);
        assertStringIncludes(saved.stdout, "saved 2 images");
        assertStringIncludes(saved.stderr, `warning: ${gone.host}: 3 images connection refused: list.txt:3 `);
        const listed = JSON.parse((await airgap(["ls", "--json", "x.tar"], { cwd: dir })).stdout);
        assertEquals(listed.images.map((i: { entry: string }) => i.entry).sort(), entries.slice(0, 2));
        const lock = parseLock(await Deno.readTextFile(join(dir, "airgap.lock")), "airgap.lock");
        assertEquals(lock.images.map((i) => i.entry).sort(), entries.slice(0, 2));
        const failed = parseImageList(await Deno.readTextFile(join(dir, "x.save-failed.txt")), "f");
        assertEquals(failed.map((e) => e.entry), entries.slice(2));
        const verified = await airgap(["verify", "x.tar"], { cwd: dir });
        assertEquals(verified.code, 0, verified.stderr);
      } finally {
        await kept.stop();
        if (!goneStopped) await gone.stop();
      }
    });
  },
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function assertMissing(path: string) {
  const exists = await Deno.stat(path).then(() => true, () => false);
  assert(!exists, `${path} should not exist`);
}
