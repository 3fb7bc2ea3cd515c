/**
 * `deno task bench`: what users feel, side by side in one run — airgap,
 * skopeo (as a script built on it would use it) and the physical floor, on
 * the same images, the same real registries (Debian's docker-registry), the
 * same machine.
 *
 * Scenarios:
 * - `bulk`: a few images with large layers (raw streaming throughput).
 * - `rancher`: the real rancher-images.txt of v2.7.9 (712 entries, the
 *   project's shared data beside the repository, or `--list FILE`), each a
 *   small stand-in image under its real name.
 * - `latency`: the same through a loopback proxy adding 25 ms each way
 *   (bench/latency_proxy.ts), in front of the source and the target.
 *
 * Each run is cold: a fresh cache, a fresh target registry, dirty pages
 * flushed first. skopeo copies every image into one shared OCI layout and
 * tars it (save), then copies each image from the layout into the registry
 * (load), one image after another as the Rancher scripts do. The floor
 * (bench/floor.ts) is parallel GETs of every blob into files and parallel
 * monolithic PUTs of them into a fresh registry. airgap's peak RSS is the
 * child process's VmHWM. Results go to bench/results/latest.json.
 *
 *   deno task bench [--quick] [--scenario bulk|rancher|latency|all] [--runs N] [--images N]
 *                   [--bulk-images N] [--skip-skopeo] [--list FILE] [--json FILE]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { createRegistryClient } from "../lib/store/registry/client.ts";
import { registryStore } from "../lib/store/registry/store.ts";
import { singleImage } from "../lib/demo/corpus.ts";
import { parseImageList } from "../lib/sources/list.ts";
import { largeShapes, pushShapes } from "./corpus.ts";
import { corpusBlobs, floorGet, floorPut } from "./floor.ts";
import { startLatencyProxy } from "./latency_proxy.ts";
import { seedStorage, skopeo, startRegistry, type TestRegistry } from "../tests/helpers/registry.ts";
import { V8_FLAGS } from "../tools/compile.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    scenario: { type: "string", default: "all" },
    runs: { type: "string" },
    images: { type: "string" },
    "bulk-images": { type: "string" },
    "latency-ms": { type: "string", default: "25" },
    json: { type: "string" },
    "skip-skopeo": { type: "boolean", default: false },
    list: { type: "string" },
  },
});
const quick = values.quick;
const runs = Math.max(1, Number(values.runs ?? 1));
const rancherCount = Number(values.images ?? (quick ? 100 : 712));
const bulkCount = Number(values["bulk-images"] ?? (quick ? 2 : 6));
const latencyMs = Number(values["latency-ms"]);
const skipSkopeo = values["skip-skopeo"];
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLI = join(ROOT, "cli.ts");
const JSON_OUT = values.json ?? join(ROOT, "bench", "results", "latest.json");
// The shared data set beside the repository (used by path, never copied in).
const LIST = values.list ?? join(ROOT, "..", "shared", "data", "rancher-images-v2.7.9.txt");
const MB = 1e6;
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

/** VmHWM of a live process in KiB (0 once it is gone). */
function peakKiB(pid: number): number {
  try {
    return Number(Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmHWM:\s+(\d+)/)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Run airgap in a child; seconds and the child's peak RSS (VmHWM, polled until it exits). */
async function airgap(args: string[], cwd: string): Promise<{ seconds: number; rssMiB: number }> {
  await settle();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", V8_FLAGS, CLI, ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let peak = 0;
  let errors = "";
  const poll = setInterval(() => (peak = Math.max(peak, peakKiB(child.pid))), 50);
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (text) => void (errors += text) }),
  );
  const status = await child.status;
  const seconds = (performance.now() - started) / 1000;
  clearInterval(poll);
  await stderr;
  if (!status.success) throw new Error(`airgap ${args.join(" ")} failed:\n${errors}`);
  return { seconds, rssMiB: peak / 1024 };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  await settle();
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

/** Images of a scenario in a source registry. */
interface Corpus {
  names: string[];
  /** Unique bytes of blobs (configs and layers) and manifests. */
  bytes: number;
}

async function bulkCorpus(upstream: TestRegistry): Promise<Corpus> {
  const store = registryStore(createRegistryClient(upstream.host));
  const { names, uniqueBytes } = await pushShapes(store, largeShapes(bulkCount));
  await store.close?.();
  return { names, bytes: uniqueBytes };
}

/** The real list, each entry a small single-layer image (4–64 KiB, by its position) under its real name. */
async function rancherCorpus(upstream: TestRegistry): Promise<Corpus> {
  const text = await Deno.readTextFile(LIST).catch(() => {
    throw new Error(`${LIST}: the Rancher list is missing (give --list FILE, a rancher-images.txt)`);
  });
  const entries = parseImageList(text, LIST).slice(0, rancherCount);
  const images = entries.map(({ entry }, i) => {
    const colon = entry.lastIndexOf(":");
    const size = 4096 * (1 + (i * 7) % 16);
    return singleImage(entry.slice(0, colon), entry.slice(colon + 1), {
      format: "oci",
      layers: [{ seed: entry, size }],
      label: entry,
    });
  });
  await seedStorage(upstream, images);
  const unique = new Map<string, number>();
  for (const image of images) {
    unique.set(image.root.descriptor.digest, image.root.descriptor.size);
    for (const b of image.blobs) unique.set(b.descriptor.digest, b.descriptor.size);
  }
  return { names: entries.map((e) => e.entry), bytes: [...unique.values()].reduce((a, b) => a + b, 0) };
}

interface Timing {
  seconds: number;
  rssMiB?: number;
}

/** One scenario: corpus, then `runs` cold runs of floor, skopeo and airgap; medians. */
async function scenario(name: string, make: (r: TestRegistry) => Promise<Corpus>, delay: number) {
  const work = await Deno.makeTempDir({ prefix: `airgap-bench-${name}-` });
  const upstream = await startRegistry();
  const stops: (() => Promise<void>)[] = [];
  /** A host for a registry: through the latency proxy when the scenario has one. */
  const via = (registry: TestRegistry) => {
    if (delay === 0) return registry.host;
    const proxy = startLatencyProxy(registry.host, delay);
    stops.push(() => proxy.close());
    return proxy.host;
  };
  try {
    console.error(`\n== ${name}: generating images…`);
    const corpus = await make(upstream);
    const source = via(upstream);
    const list = join(work, "images.txt");
    await Deno.writeTextFile(list, corpus.names.join("\n") + "\n");
    const blobs = await corpusBlobs(upstream.host, corpus.names);
    console.error(
      `== ${name}: ${corpus.names.length} images, ${(corpus.bytes / MB).toFixed(1)} MB${
        delay ? `, ${delay} ms each way` : ""
      }`,
    );
    const t = {
      floorGet: [] as number[],
      floorPut: [] as number[],
      skopeoSave: [] as number[],
      skopeoLoad: [] as number[],
      plan: [] as Timing[],
      save: [] as Timing[],
      load: [] as Timing[],
    };
    for (let run = 1; run <= runs; run++) {
      // The floor.
      const files = join(work, "floor");
      await settle();
      t.floorGet.push(await floorGet(source, blobs, files));
      const floorTarget = await startRegistry();
      await settle();
      t.floorPut.push(await floorPut(via(floorTarget), blobs, files));
      await floorTarget.stop();
      await Deno.remove(files, { recursive: true });
      // skopeo, one image after another.
      if (!skipSkopeo) {
        const layout = join(work, "skopeo-layout");
        t.skopeoSave.push(
          await timed(async () => {
            for (const n of corpus.names) {
              await skopeo(
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--preserve-digests",
                `docker://${source}/${n}`,
                `oci:${layout}:${n}`,
              );
            }
            const tar = await new Deno.Command("tar", { args: ["-cf", join(work, "skopeo.tar"), "-C", layout, "."] })
              .output();
            if (!tar.success) throw new Error("tar failed");
          }),
        );
        const skTarget = await startRegistry();
        const skHost = via(skTarget);
        t.skopeoLoad.push(
          await timed(async () => {
            for (const n of corpus.names) {
              await skopeo(
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--preserve-digests",
                `oci:${layout}:${n}`,
                `docker://${skHost}/${n}`,
              );
            }
          }),
        );
        await skTarget.stop();
        await Deno.remove(layout, { recursive: true });
        await Deno.remove(join(work, "skopeo.tar"));
      }
      // airgap: a cold plan, a cold save, a load into a fresh registry.
      const archive = join(work, "airgap.tar");
      const cache = join(work, "cache");
      t.plan.push(await airgap(["plan", "-q", "-l", list, "-s", source, "--no-write-lock", "--cache", cache], work));
      await Deno.remove(cache, { recursive: true });
      t.save.push(await airgap(["save", "-q", "-l", list, "-s", source, "-o", archive, "--cache", cache], work));
      const agTarget = await startRegistry();
      t.load.push(await airgap(["load", "-q", archive, "--registry", via(agTarget)], work));
      await agTarget.stop();
      await Deno.remove(cache, { recursive: true });
      await Deno.remove(archive);
      const last = (k: "plan" | "save" | "load") =>
        `${t[k].at(-1)!.seconds.toFixed(2)}s/${t[k].at(-1)!.rssMiB!.toFixed(0)}MiB`;
      console.error(
        `run ${run}: floor GET ${t.floorGet.at(-1)!.toFixed(2)}s PUT ${t.floorPut.at(-1)!.toFixed(2)}s | skopeo save ${
          t.skopeoSave.at(-1)?.toFixed(2) ?? "-"
        }s load ${t.skopeoLoad.at(-1)?.toFixed(2) ?? "-"}s | airgap plan ${last("plan")} save ${last("save")} load ${
          last("load")
        }`,
      );
    }
    return summarize(corpus, delay, t);
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    await upstream.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

function summarize(
  corpus: Corpus,
  delay: number,
  t: {
    floorGet: number[];
    floorPut: number[];
    skopeoSave: number[];
    skopeoLoad: number[];
    plan: Timing[];
    save: Timing[];
    load: Timing[];
  },
) {
  const images = corpus.names.length;
  const opt = (xs: number[]) => (xs.length ? median(xs) : undefined);
  const command = (runs: Timing[], skopeoSeconds: number | undefined, floorSeconds: number | undefined) => {
    const seconds = median(runs.map((r) => r.seconds));
    return {
      seconds,
      MBps: corpus.bytes / MB / seconds,
      imagesPerSecond: images / seconds,
      msPerImage: (seconds * 1000) / images,
      peakRssMiB: Math.max(...runs.map((r) => r.rssMiB ?? 0)),
      skopeoSeconds,
      vsSkopeo: skopeoSeconds !== undefined ? skopeoSeconds / seconds : undefined,
      floorSeconds,
      vsFloor: floorSeconds !== undefined ? seconds / floorSeconds : undefined,
    };
  };
  return {
    images,
    bytes: corpus.bytes,
    latencyMsEachWay: delay,
    runs: t.plan.length,
    plan: command(t.plan, undefined, undefined),
    save: command(t.save, opt(t.skopeoSave), median(t.floorGet)),
    load: command(t.load, opt(t.skopeoLoad), median(t.floorPut)),
  };
}

type Result = Awaited<ReturnType<typeof scenario>>;

function table(results: Record<string, Result>): string {
  const rows = [[
    "scenario",
    "command",
    "airgap",
    "skopeo",
    "floor",
    "airgap MB/s",
    "images/s",
    "× skopeo",
    "÷ floor",
    "ms/image",
    "peak RSS",
  ]];
  const f = (x: number | undefined, digits = 2) => (x === undefined ? "–" : x.toFixed(digits));
  for (const [name, r] of Object.entries(results)) {
    for (const cmd of ["save", "load", "plan"] as const) {
      const c = r[cmd];
      rows.push([
        `${name} (${r.images} images, ${(r.bytes / MB).toFixed(0)} MB${
          r.latencyMsEachWay ? `, +${r.latencyMsEachWay} ms` : ""
        })`,
        cmd,
        `${f(c.seconds)} s`,
        c.skopeoSeconds === undefined ? "–" : `${f(c.skopeoSeconds)} s`,
        c.floorSeconds === undefined ? "–" : `${f(c.floorSeconds)} s`,
        f(c.MBps, 0),
        f(c.imagesPerSecond, 1),
        c.vsSkopeo === undefined ? "–" : `${f(c.vsSkopeo, 1)}×`,
        c.vsFloor === undefined ? "–" : `${f(c.vsFloor)}×`,
        f(c.msPerImage, 1),
        `${f(c.peakRssMiB, 0)} MiB`,
      ]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(rows[0]), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.slice(1).map(line)].join("\n");
}

const wanted = (s: string) => values.scenario === "all" || values.scenario === s;
const results: Record<string, Result> = {};
if (wanted("bulk")) results.bulk = await scenario("bulk", bulkCorpus, 0);
if (wanted("rancher")) results.rancher = await scenario("rancher", rancherCorpus, 0);
if (wanted("latency")) results.latency = await scenario("latency", rancherCorpus, latencyMs);
const machine = {
  date: new Date().toISOString(),
  cpus: navigator.hardwareConcurrency,
  memoryMiB: Math.round(Deno.systemMemoryInfo().total / MiB),
  os: `${Deno.build.os} ${Deno.osRelease()}`,
  deno: Deno.version.deno,
  loadAverage: Deno.loadavg(),
  quick,
};
console.log(table(results));
console.log(
  `(${machine.cpus} CPUs, ${machine.memoryMiB} MiB, ${machine.os}, ${machine.date}; load average at the end ${
    machine.loadAverage.map((x) => x.toFixed(1)).join(" ")
  })`,
);
await Deno.mkdir(join(JSON_OUT, ".."), { recursive: true });
await Deno.writeTextFile(JSON_OUT, JSON.stringify({ machine, results }, null, 2) + "\n");
console.error(`results: ${JSON_OUT}`);
