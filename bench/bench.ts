/**
 * `deno task bench`: airgap against skopeo on the same images, the same
 * registries (real distribution), the same machine.
 *
 * Scenarios:
 * - `rancher`: many images on a few shared base layers with small-to-medium
 *   layers of their own — the shape of rancher-images.txt.
 * - `large`: a few images with large layers — raw streaming throughput.
 *
 * skopeo does what a script built on it would: copy each image into one
 * shared OCI layout (deduplicated) and tar it (save); copy each image from
 * the layout into the registry (load). Every run starts from a cold cache
 * and a fresh target registry, after flushing dirty pages (`sync`), so no
 * run inherits another's work. Medians of `--runs` runs are reported.
 *
 *   deno task bench [--scenario rancher|large|all] [--runs 3] [--images N] [--json FILE]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { createRegistryClient } from "../lib/store/registry/client.ts";
import { registryStore } from "../lib/store/registry/store.ts";
import { type ImageShape, largeShapes, pushShapes, rancherShapes } from "./corpus.ts";
import { formatBytes } from "../lib/format.ts";
import { skopeo, startRegistry, type TestRegistry } from "../tests/helpers/registry.ts";
import { V8_FLAGS } from "../tests/helpers/cli.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    scenario: { type: "string", default: "all" },
    runs: { type: "string", default: "3" },
    images: { type: "string" },
    json: { type: "string" },
    "skip-skopeo": { type: "boolean", default: false },
  },
});
const skipSkopeo = values["skip-skopeo"];
const runs = Math.max(1, Number(values.runs));
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const MiB = 1024 * 1024;

/** Flush dirty pages first: otherwise one run's writeback throttles the next run's writes. */
async function settle(): Promise<void> {
  await new Deno.Command("sync").output();
  await new Promise((r) => setTimeout(r, 500));
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Run a command under /usr/bin/time; seconds and peak RSS in MiB. */
async function measure(cmd: string, args: string[]): Promise<{ seconds: number; rssMiB: number }> {
  await settle();
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "MAXRSS %M", cmd, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", AIRGAP_TRACE: Deno.env.get("AIRGAP_TRACE") ?? "" },
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  if (Deno.env.get("AIRGAP_TRACE") === "1") {
    console.error(stderr.split("\n").filter((l) => l.startsWith("[trace")).join("\n"));
  }
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${stderr}`);
  return { seconds, rssMiB: Number(stderr.match(/MAXRSS (\d+)/)?.[1] ?? 0) / 1024 };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  await settle();
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

async function scenario(name: string, shapes: ImageShape[]) {
  const work = await Deno.makeTempDir({ prefix: `airgap-bench-${name}-` });
  const upstream = await startRegistry();
  const targets: TestRegistry[] = [];
  try {
    console.error(`\n== ${name}: generating ${shapes.length} images…`);
    const store = registryStore(createRegistryClient(upstream.host));
    const { names, uniqueBytes } = await pushShapes(store, shapes);
    await store.close?.();
    console.error(`== ${name}: ${names.length} images, ${formatBytes(uniqueBytes)} of unique blobs`);
    const list = join(work, "images.txt");
    await Deno.writeTextFile(list, names.join("\n") + "\n");
    const rate = (s: number) => uniqueBytes / MiB / s;
    const sk = { save: [] as number[], load: [] as number[] };
    const ag = { save: [] as number[], load: [] as number[], rss: [] as number[] };
    for (let run = 1; run <= runs; run++) {
      // skopeo
      const layout = join(work, "skopeo-layout");
      const skTarget = await startRegistry();
      targets.push(skTarget);
      if (!skipSkopeo) {
        sk.save.push(
          await timed(async () => {
            for (const n of names) {
              await skopeo(
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--preserve-digests",
                `docker://${upstream.host}/${n}`,
                `oci:${layout}:${n}`,
              );
            }
            const tar = await new Deno.Command("tar", { args: ["-cf", join(work, "skopeo.tar"), "-C", layout, "."] })
              .output();
            if (!tar.success) throw new Error("tar failed");
          }),
        );
        sk.load.push(
          await timed(async () => {
            for (const n of names) {
              await skopeo(
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--preserve-digests",
                `oci:${layout}:${n}`,
                `docker://${skTarget.host}/${n}`,
              );
            }
          }),
        );
        await Deno.remove(layout, { recursive: true });
        await Deno.remove(join(work, "skopeo.tar"));
      }
      await skTarget.stop();
      // airgap
      const agTarget = await startRegistry();
      targets.push(agTarget);
      const archive = join(work, "airgap.tar");
      const cache = join(work, "cache");
      const save = await measure(Deno.execPath(), [
        "run",
        "-A",
        V8_FLAGS,
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
      const load = await measure(Deno.execPath(), [
        "run",
        "-A",
        V8_FLAGS,
        CLI,
        "load",
        "-q",
        archive,
        "--registry",
        agTarget.host,
      ]);
      ag.save.push(save.seconds);
      ag.load.push(load.seconds);
      ag.rss.push(save.rssMiB, load.rssMiB);
      await agTarget.stop();
      await Deno.remove(cache, { recursive: true });
      await Deno.remove(archive);
      console.error(
        `run ${run}: skopeo save ${sk.save.at(-1)?.toFixed(2)}s load ${sk.load.at(-1)?.toFixed(2)}s | airgap save ${
          save.seconds.toFixed(2)
        }s (peak ${save.rssMiB.toFixed(0)} MiB) load ${load.seconds.toFixed(2)}s (peak ${load.rssMiB.toFixed(0)} MiB)`,
      );
    }
    const result = {
      images: names.length,
      uniqueBytes,
      skopeo: {
        saveSeconds: median(sk.save),
        loadSeconds: median(sk.load),
        saveMiBps: rate(median(sk.save)),
        loadMiBps: rate(median(sk.load)),
      },
      airgap: {
        saveSeconds: median(ag.save),
        loadSeconds: median(ag.load),
        saveMiBps: rate(median(ag.save)),
        loadMiBps: rate(median(ag.load)),
        peakRssMiB: Math.max(...ag.rss),
      },
      ratio: { save: median(sk.save) / median(ag.save), load: median(sk.load) / median(ag.load) },
    };
    console.error(
      `== ${name} (median of ${runs}): save ${result.airgap.saveMiBps.toFixed(0)} vs ${
        result.skopeo.saveMiBps.toFixed(0)
      } MiB/s (${result.ratio.save.toFixed(2)}×), load ${result.airgap.loadMiBps.toFixed(0)} vs ${
        result.skopeo.loadMiBps.toFixed(0)
      } MiB/s (${result.ratio.load.toFixed(2)}×), airgap peak ${result.airgap.peakRssMiB.toFixed(0)} MiB`,
    );
    return result;
  } finally {
    for (const t of targets) await t.stop().catch(() => {});
    await upstream.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

const results: Record<string, unknown> = {};
if (values.scenario === "all" || values.scenario === "rancher") {
  results.rancher = await scenario("rancher", rancherShapes(Number(values.images ?? 120)));
}
if (values.scenario === "all" || values.scenario === "large") {
  results.large = await scenario("large", largeShapes(Number(values.images ?? 6)));
}
console.log(JSON.stringify(results, null, 2));
if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2) + "\n");
