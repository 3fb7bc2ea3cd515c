/**
 * `deno task bench`: airgap against skopeo on the same images, same
 * registries, same machine. Measures save (registry → archive) and load
 * (archive → registry) throughput and airgap's peak memory.
 *
 *   deno task bench [--images 8] [--layers 3] [--layer-mib 48] [--json FILE]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { encodeJson } from "../lib/oci/manifest.ts";
import * as media from "../lib/oci/media.ts";
import { digestOf } from "../lib/oci/digest.ts";
import { encodeHeader, padding, TAR_END } from "../lib/tar.ts";
import { pseudoRandomBytes } from "../lib/corpus.ts";
import { createRegistryClient } from "../lib/store/registry/client.ts";
import { registryStore } from "../lib/store/registry/store.ts";
import { formatBytes } from "../lib/format.ts";
import { skopeo, startRegistry } from "../tests/helpers/registry.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    images: { type: "string", default: "8" },
    layers: { type: "string", default: "3" },
    "layer-mib": { type: "string", default: "48" },
    json: { type: "string" },
    "skip-skopeo": { type: "boolean", default: false },
    runs: { type: "string", default: "3" },
  },
});
const runs = Math.max(1, Number(values.runs));
const imageCount = Number(values.images);
const layerCount = Number(values.layers);
const layerSize = Number(values["layer-mib"]) * 1024 * 1024;
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** A layer: an uncompressed tar holding one file of pseudo-random bytes. */
function layer(seed: string, size: number): Uint8Array {
  const body = pseudoRandomBytes(seed, size);
  const header = encodeHeader({ name: `${seed}.bin`, size });
  const out = new Uint8Array(header.byteLength + size + padding(size).byteLength + TAR_END.byteLength);
  out.set(header, 0);
  out.set(body, header.byteLength);
  return out;
}

/** Flush dirty pages first: otherwise one run's writeback throttles the next run's writes. */
async function settle(): Promise<void> {
  await new Deno.Command("sync").output();
  await new Promise((r) => setTimeout(r, 500));
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  await settle();
  const started = performance.now();
  const result = await fn();
  return [result, (performance.now() - started) / 1000];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Run a command under /usr/bin/time; returns seconds and peak RSS in KiB. */
async function measure(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ seconds: number; maxRssKiB: number }> {
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "MAXRSS %M", cmd, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${stderr}`);
  return { seconds, maxRssKiB: Number(stderr.match(/MAXRSS (\d+)/)?.[1] ?? 0) };
}

const work = await Deno.makeTempDir({ prefix: "airgap-bench-" });
const upstream = await startRegistry();
const target = await startRegistry();
try {
  // Images: a shared base layer plus unique layers, OCI media types (skopeo's oci: layout needs them).
  console.error(
    `generating ${imageCount} images × ${layerCount} layers × ${values["layer-mib"]} MiB (+ a shared base)…`,
  );
  const store = registryStore(createRegistryClient(upstream.host));
  const base = layer("bench-base", layerSize);
  const baseDesc = { mediaType: media.OCI_LAYER, digest: digestOf(base), size: base.byteLength };
  await store.push("bench/base", baseDesc, base);
  let uniqueBytes = base.byteLength;
  const names: string[] = [];
  for (let i = 0; i < imageCount; i++) {
    const repo = `bench/image-${i}`;
    await store.push(repo, baseDesc, base); // mounted from bench/base
    const layers = [baseDesc];
    for (let l = 0; l < layerCount; l++) {
      const bytes = layer(`bench-${i}-${l}`, layerSize);
      const desc = { mediaType: media.OCI_LAYER, digest: digestOf(bytes), size: bytes.byteLength };
      await store.push(repo, desc, bytes);
      layers.push(desc);
      uniqueBytes += bytes.byteLength;
    }
    const config = encodeJson({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layers.map((d) => d.digest) },
    });
    const configDesc = { mediaType: media.OCI_CONFIG, digest: digestOf(config), size: config.byteLength };
    await store.push(repo, configDesc, config);
    const manifest = encodeJson({ schemaVersion: 2, mediaType: media.OCI_MANIFEST, config: configDesc, layers });
    const manifestDesc = { mediaType: media.OCI_MANIFEST, digest: digestOf(manifest), size: manifest.byteLength };
    await store.push(repo, manifestDesc, manifest);
    await store.tag(repo, "v1", manifestDesc, manifest);
    names.push(`${repo}:v1`);
  }
  await store.close?.();
  console.error(`corpus: ${names.length} images, ${formatBytes(uniqueBytes)} of unique blobs`);
  const list = join(work, "images.txt");
  await Deno.writeTextFile(list, names.join("\n") + "\n");
  const results: Record<string, unknown> = { images: imageCount, uniqueBytes };
  const rate = (seconds: number) => uniqueBytes / 1024 / 1024 / seconds;

  const skopeoSaves: number[] = [];
  const skopeoLoads: number[] = [];
  const saves: { seconds: number; maxRssKiB: number }[] = [];
  const loads: { seconds: number; maxRssKiB: number }[] = [];
  const warms: number[] = [];
  const deno = Deno.execPath();
  for (let run = 0; run < runs; run++) {
    if (!values["skip-skopeo"]) {
      // skopeo: every image into one shared OCI layout (deduplicated), then tar it — its closest equivalent of save.
      const layout = join(work, `skopeo-layout-${run}`);
      const [, saveSeconds] = await timed(async () => {
        for (const name of names) {
          await skopeo(
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--preserve-digests",
            `docker://${upstream.host}/${name}`,
            `oci:${layout}:${name}`,
          );
        }
        const tar = await new Deno.Command("tar", { args: ["-cf", join(work, "skopeo.tar"), "-C", layout, "."] })
          .output();
        if (!tar.success) throw new Error("tar failed");
      });
      const [, loadSeconds] = await timed(async () => {
        for (const name of names) {
          await skopeo(
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--preserve-digests",
            `oci:${layout}:${name}`,
            `docker://${target.host}/skopeo${run}/${name}`,
          );
        }
      });
      skopeoSaves.push(saveSeconds);
      skopeoLoads.push(loadSeconds);
      await Deno.remove(layout, { recursive: true });
      await Deno.remove(join(work, "skopeo.tar"));
      console.error(`run ${run + 1}: skopeo save ${saveSeconds.toFixed(2)}s, load ${loadSeconds.toFixed(2)}s`);
    }
    const archive = join(work, "airgap.tar");
    const cache = join(work, `cache-${run}`);
    const save = await measure(deno, [
      "run",
      "-A",
      CLI,
      "save",
      "-q",
      "-l",
      list,
      "-s",
      upstream.host,
      "-o",
      archive,
      "--cache",
      cache,
    ]);
    const load = await measure(deno, [
      "run",
      "-A",
      CLI,
      "load",
      "-q",
      archive,
      "--registry",
      `${target.host}/airgap${run}`,
    ]);
    const warm = await measure(deno, [
      "run",
      "-A",
      CLI,
      "save",
      "-q",
      "-l",
      list,
      "-s",
      upstream.host,
      "-o",
      join(work, "warm.tar"),
      "--cache",
      cache,
    ]);
    saves.push(save);
    loads.push(load);
    warms.push(warm.seconds);
    await Deno.remove(cache, { recursive: true });
    console.error(
      `run ${run + 1}: airgap save ${save.seconds.toFixed(2)}s (peak ${(save.maxRssKiB / 1024).toFixed(0)} MiB), load ${
        load.seconds.toFixed(2)
      }s (peak ${(load.maxRssKiB / 1024).toFixed(0)} MiB), warm save ${warm.seconds.toFixed(2)}s`,
    );
  }
  const save = median(saves.map((s) => s.seconds));
  const load = median(loads.map((s) => s.seconds));
  results.airgap = {
    saveSeconds: save,
    loadSeconds: load,
    warmSaveSeconds: median(warms),
    saveMiBps: rate(save),
    loadMiBps: rate(load),
    saveMaxRssMiB: Math.max(...saves.map((s) => s.maxRssKiB)) / 1024,
    loadMaxRssMiB: Math.max(...loads.map((s) => s.maxRssKiB)) / 1024,
  };
  console.error(
    `airgap (median of ${runs}): save ${save.toFixed(2)}s (${rate(save).toFixed(0)} MiB/s), load ${load.toFixed(2)}s (${
      rate(load).toFixed(0)
    } MiB/s)`,
  );
  if (skopeoSaves.length > 0) {
    const skopeoSave = median(skopeoSaves);
    const skopeoLoad = median(skopeoLoads);
    results.skopeo = {
      saveSeconds: skopeoSave,
      loadSeconds: skopeoLoad,
      saveMiBps: rate(skopeoSave),
      loadMiBps: rate(skopeoLoad),
    };
    results.ratios = { save: skopeoSave / save, load: skopeoLoad / load };
    console.error(
      `skopeo (median of ${runs}): save ${skopeoSave.toFixed(2)}s (${rate(skopeoSave).toFixed(0)} MiB/s), load ${
        skopeoLoad.toFixed(2)
      }s (${rate(skopeoLoad).toFixed(0)} MiB/s)`,
    );
    console.error(`airgap vs skopeo: save ${(skopeoSave / save).toFixed(2)}×, load ${(skopeoLoad / load).toFixed(2)}×`);
  }
  console.log(JSON.stringify(results, null, 2));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2) + "\n");
} finally {
  await upstream.stop();
  await target.stop();
  await Deno.remove(work, { recursive: true });
}
