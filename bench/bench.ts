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
 * - `tls`: `latency` with both registries serving TLS (a private CA given to
 *   airgap by `DENO_CERT`), airgap only: whether Deno's fetch negotiates
 *   HTTP/2 with distribution shows as the TCP connections the proxy counted
 *   (HTTP/2 multiplexes; HTTP/1.1 opens one per request in flight).
 * - `wide`: the Rancher list repeated to 2,848 images (`--wide-images N`),
 *   airgap only (plan, warm plan, save, load; peak RSS).
 * - `requests`: requests per image for a cold plan, a warm plan, save and
 *   load, counted by the recording proxy (tests/helpers/fault_proxy.ts, no
 *   faults) in front of the source and the target. Counts, not times: they
 *   do not depend on the machine's load.
 * - `memory`: peak RSS of plan, save and load of the Rancher corpus
 *   (`--images N`, 2,848 too) with and without the V8 flags the task and the
 *   binary pass, with the peak committed heap, live heap and external memory
 *   AIRGAP_TRACE=1 printed (where the RSS went).
 *
 * Every scenario with a plan also runs a warm plan (the same cache again).
 * Each run is cold: a fresh cache, a fresh target registry, dirty pages
 * flushed first. skopeo copies every image into one shared OCI layout and
 * tars it (save), then copies each image from the layout into the registry
 * (load), one image after another as the Rancher scripts do. The floor
 * (bench/floor.ts) is parallel GETs of every blob into files (small ones as
 * wide as the metadata bound), parallel monolithic PUTs of them into a fresh
 * registry, and for the warm plan parallel HEADs of every tag. airgap's peak RSS is the
 * child process's VmHWM. Results go to bench/results/latest.json.
 *
 *   deno task bench [--quick] [--scenario all|bulk,rancher,latency,tls,wide,requests,memory] [--runs N]
 *                   [--images N] [--wide-images N] [--bulk-images N] [--skip-skopeo] [--list FILE] [--json FILE]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { createRegistryClient } from "../lib/store/registry/client.ts";
import { registryStore } from "../lib/store/registry/store.ts";
import { singleImage } from "../lib/demo/corpus.ts";
import { parseImageList } from "../lib/sources/list.ts";
import { largeShapes, pushShapes } from "./corpus.ts";
import { corpusBlobs, floorGet, floorHead, floorPut } from "./floor.ts";
import { startLatencyProxy } from "./latency_proxy.ts";
import {
  type RegistryOptions,
  seedStorage,
  skopeo,
  startRegistry,
  type TestRegistry,
} from "../tests/helpers/registry.ts";
import { type RequestKind, startFaultProxy } from "../tests/helpers/fault_proxy.ts";
import { makeServerCertificate } from "../tests/helpers/tokenserver.ts";
import { V8_FLAGS } from "../tools/compile.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    scenario: { type: "string", default: "all" },
    runs: { type: "string" },
    images: { type: "string" },
    "bulk-images": { type: "string" },
    "wide-images": { type: "string", default: "2848" },
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
const wideCount = Number(values["wide-images"]);
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
async function airgap(
  args: string[],
  cwd: string,
  options: { v8Flags?: boolean; env?: Record<string, string> } = {},
): Promise<{ seconds: number; rssMiB: number; trace?: TracePeaks }> {
  await settle();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", ...(options.v8Flags === false ? [] : [V8_FLAGS]), CLI, ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
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
  return { seconds, rssMiB: peak / 1024, ...(options.env?.AIRGAP_TRACE === "1" ? { trace: tracePeaks(errors) } : {}) };
}

/** The largest of each figure `AIRGAP_TRACE=1` printed (every 250 ms): where the RSS went. */
interface TracePeaks {
  rssMiB: number;
  heapCommittedMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
}

function tracePeaks(stderr: string): TracePeaks {
  const peaks = { rssMiB: 0, heapCommittedMiB: 0, heapUsedMiB: 0, externalMiB: 0 };
  const line = /\(rss (\d+) MiB, heap (\d+) MiB committed, (\d+) MiB, external (\d+) MiB\)/g;
  for (const m of stderr.matchAll(line)) {
    const [rss, committed, used, external] = m.slice(1).map(Number);
    peaks.rssMiB = Math.max(peaks.rssMiB, rss);
    peaks.heapCommittedMiB = Math.max(peaks.heapCommittedMiB, committed);
    peaks.heapUsedMiB = Math.max(peaks.heapUsedMiB, used);
    peaks.externalMiB = Math.max(peaks.externalMiB, external);
  }
  return peaks;
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

/**
 * The real list, each entry a small single-layer image (4–64 KiB, by its
 * position) under its real name; past the list's end it repeats, each round
 * under tags of its own (`TAG-r2`…), as distinct images.
 */
async function rancherCorpus(upstream: TestRegistry, count = rancherCount): Promise<Corpus> {
  const text = await Deno.readTextFile(LIST).catch(() => {
    throw new Error(`${LIST}: the Rancher list is missing (give --list FILE, a rancher-images.txt)`);
  });
  const listed = parseImageList(text, LIST);
  const entries = Array.from({ length: Math.min(count, listed.length * 100) }, (_, i) => {
    const round = Math.floor(i / listed.length);
    const entry = listed[i % listed.length].entry;
    return { entry: round === 0 ? entry : `${entry}-r${round + 1}` };
  });
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
async function scenario(
  name: string,
  make: (r: TestRegistry) => Promise<Corpus>,
  delay: number,
  options: { tls?: boolean; baselines?: boolean } = {},
) {
  const work = await Deno.makeTempDir({ prefix: `airgap-bench-${name}-` });
  // TLS: both registries serve a certificate of a private CA that airgap is given through DENO_CERT.
  const certs = options.tls ? await makeServerCertificate(work) : undefined;
  const registryOptions: RegistryOptions = certs
    ? { tls: { certificate: certs.server.certPath, key: certs.server.keyPath } }
    : {};
  const env: Record<string, string> = certs ? { DENO_CERT: certs.ca.certPath } : {};
  const baselines = options.baselines !== false && !options.tls;
  const upstream = await startRegistry(registryOptions);
  const stops: (() => Promise<void>)[] = [];
  let counted = { source: () => 0, target: () => 0 };
  /** A host for a registry: through the latency proxy when the scenario has one. */
  const via = (registry: TestRegistry, role?: "source" | "target") => {
    if (delay === 0) return registry.host;
    const proxy = startLatencyProxy(registry.host, delay);
    stops.push(() => proxy.close());
    if (role) counted = { ...counted, [role]: () => proxy.connections() };
    return proxy.host;
  };
  try {
    console.error(`\n== ${name}: generating images…`);
    const corpus = await make(upstream);
    const source = via(upstream, "source");
    const list = join(work, "images.txt");
    await Deno.writeTextFile(list, corpus.names.join("\n") + "\n");
    const blobs = baselines ? await corpusBlobs(upstream.host, corpus.names) : [];
    console.error(
      `== ${name}: ${corpus.names.length} images, ${(corpus.bytes / MB).toFixed(1)} MB${
        delay ? `, ${delay} ms each way` : ""
      }`,
    );
    const t = {
      floorHead: [] as number[],
      floorGet: [] as number[],
      floorPut: [] as number[],
      skopeoSave: [] as number[],
      skopeoLoad: [] as number[],
      plan: [] as Timing[],
      warmPlan: [] as Timing[],
      save: [] as Timing[],
      load: [] as Timing[],
      connections: { save: 0, load: 0 },
    };
    for (let run = 1; run <= runs; run++) {
      // The floor.
      if (baselines) {
        const files = join(work, "floor");
        await settle();
        t.floorHead.push(await floorHead(source, corpus.names));
        await settle();
        t.floorGet.push(await floorGet(source, blobs, files));
        const floorTarget = await startRegistry();
        await settle();
        t.floorPut.push(await floorPut(via(floorTarget), blobs, files));
        await floorTarget.stop();
        await Deno.remove(files, { recursive: true });
      }
      // skopeo, one image after another.
      if (baselines && !skipSkopeo) {
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
      const plan = ["plan", "-q", "-l", list, "-s", source, "--no-write-lock", "--cache", cache];
      t.plan.push(await airgap(plan, work, { env }));
      t.warmPlan.push(await airgap(plan, work, { env }));
      await Deno.remove(cache, { recursive: true });
      const before = counted.source();
      t.save.push(
        await airgap(["save", "-q", "-l", list, "-s", source, "-o", archive, "--cache", cache], work, { env }),
      );
      t.connections.save = counted.source() - before;
      const agTarget = await startRegistry(registryOptions);
      const targetHost = via(agTarget, "target");
      t.load.push(await airgap(["load", "-q", archive, "--registry", targetHost], work, { env }));
      t.connections.load = counted.target();
      await agTarget.stop();
      await Deno.remove(cache, { recursive: true });
      await Deno.remove(archive);
      const last = (k: "plan" | "warmPlan" | "save" | "load") =>
        `${t[k].at(-1)!.seconds.toFixed(2)}s/${t[k].at(-1)!.rssMiB!.toFixed(0)}MiB`;
      console.error(
        `run ${run}: floor HEAD ${t.floorHead.at(-1)?.toFixed(2) ?? "-"}s GET ${
          t.floorGet.at(-1)?.toFixed(2) ?? "-"
        }s PUT ${t.floorPut.at(-1)?.toFixed(2) ?? "-"}s | skopeo save ${t.skopeoSave.at(-1)?.toFixed(2) ?? "-"}s load ${
          t.skopeoLoad.at(-1)?.toFixed(2) ?? "-"
        }s | airgap plan ${last("plan")} warm ${last("warmPlan")} save ${last("save")} load ${
          last("load")
        } | connections save ${t.connections.save} load ${t.connections.load}`,
      );
    }
    return { ...summarize(corpus, delay, t), tls: options.tls === true, connections: t.connections };
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
    floorHead: number[];
    floorGet: number[];
    floorPut: number[];
    skopeoSave: number[];
    skopeoLoad: number[];
    plan: Timing[];
    warmPlan: Timing[];
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
    warmPlan: command(t.warmPlan, undefined, opt(t.floorHead)),
    save: command(t.save, opt(t.skopeoSave), opt(t.floorGet)),
    load: command(t.load, opt(t.skopeoLoad), opt(t.floorPut)),
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
    for (const cmd of ["save", "load", "plan", "warmPlan"] as const) {
      const c = r[cmd];
      rows.push([
        `${name} (${r.images} images, ${(r.bytes / MB).toFixed(0)} MB${
          r.latencyMsEachWay ? `, +${r.latencyMsEachWay} ms` : ""
        }${r.tls ? ", TLS" : ""})`,
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

/**
 * Requests per image of a cold plan, a warm plan, save and load, counted by
 * the recording proxy in front of the source and of a fresh target.
 */
async function requestsScenario(count: number) {
  const work = await Deno.makeTempDir({ prefix: "airgap-bench-requests-" });
  const upstream = await startRegistry();
  const target = await startRegistry();
  const source = startFaultProxy(upstream.host, { seed: 0, rules: [] });
  const sink = startFaultProxy(target.host, { seed: 0, rules: [] });
  try {
    console.error(`\n== requests: generating ${count} images…`);
    const corpus = await rancherCorpus(upstream, count);
    const images = corpus.names.length;
    const list = join(work, "images.txt");
    await Deno.writeTextFile(list, corpus.names.join("\n") + "\n");
    const cache = join(work, "cache");
    const archive = join(work, "a.tar");
    const counted = async (proxy: typeof source, args: string[]) => {
      proxy.resetStats();
      await airgap(args, work);
      const byKind = proxy.requests();
      const total = Object.values(byKind).reduce((a, b) => a + b, 0);
      return { total, perImage: total / images, byKind };
    };
    const plan = ["plan", "-q", "-l", list, "-s", source.host, "--no-write-lock", "--cache", cache];
    const result: Record<string, { total: number; perImage: number; byKind: Record<RequestKind, number> }> = {};
    result.plan = await counted(source, plan);
    result.warmPlan = await counted(source, plan);
    await Deno.remove(cache, { recursive: true });
    result.save = await counted(source, ["save", "-q", "-l", list, "-s", source.host, "-o", archive, "--cache", cache]);
    result.load = await counted(sink, ["load", "-q", archive, "--registry", sink.host]);
    for (const [k, v] of Object.entries(result)) {
      console.error(`requests: ${k}: ${v.total} for ${images} images = ${v.perImage.toFixed(2)} per image`);
    }
    return { images, ...result };
  } finally {
    await source.close();
    await sink.close();
    await upstream.stop();
    await target.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Peak RSS of plan, save and load with and without the V8 flags (the same
 * corpus, cold each time), and where it went: the largest committed V8 heap,
 * live heap and external (ArrayBuffer) memory `AIRGAP_TRACE=1` saw.
 */
async function memoryScenario(count: number) {
  const work = await Deno.makeTempDir({ prefix: "airgap-bench-memory-" });
  const upstream = await startRegistry();
  try {
    console.error(`\n== memory: generating ${count} images…`);
    const corpus = await rancherCorpus(upstream, count);
    const list = join(work, "images.txt");
    await Deno.writeTextFile(list, corpus.names.join("\n") + "\n");
    const out: Record<string, { seconds: number; rssMiB: number; trace?: TracePeaks }> = {};
    const env = { AIRGAP_TRACE: "1" };
    for (const v8Flags of [true, false]) {
      const cache = join(work, "cache");
      const archive = join(work, "a.tar");
      const key = v8Flags ? "withFlags" : "withoutFlags";
      const plan = ["plan", "-q", "-l", list, "-s", upstream.host, "--no-write-lock", "--cache", cache];
      out[`plan ${key}`] = await airgap(plan, work, { v8Flags, env });
      await Deno.remove(cache, { recursive: true });
      const save = ["save", "-q", "-l", list, "-s", upstream.host, "-o", archive, "--cache", cache];
      out[`save ${key}`] = await airgap(save, work, { v8Flags, env });
      const target = await startRegistry();
      out[`load ${key}`] = await airgap(["load", "-q", archive, "--registry", target.host], work, { v8Flags, env });
      await target.stop();
      await Deno.remove(cache, { recursive: true });
      await Deno.remove(archive);
    }
    for (const [k, v] of Object.entries(out)) {
      const t = v.trace;
      console.error(
        `memory: ${k}: ${v.rssMiB.toFixed(0)} MiB peak${
          t
            ? ` (V8 heap ≤ ${t.heapCommittedMiB} MiB committed, ≤ ${t.heapUsedMiB} live; external ≤ ${t.externalMiB})`
            : ""
        }, ${v.seconds.toFixed(1)} s, load average ${Deno.loadavg()[0].toFixed(1)}`,
      );
    }
    return { images: corpus.names.length, loadAverage: Deno.loadavg(), ...out };
  } finally {
    await upstream.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

const chosen = new Set(values.scenario.split(",").map((s) => s.trim()));
const wanted = (s: string) => chosen.has("all") || chosen.has(s);
const results: Record<string, Result> = {};
const counts: Record<string, unknown> = {};
if (wanted("bulk")) results.bulk = await scenario("bulk", bulkCorpus, 0);
if (wanted("rancher")) results.rancher = await scenario("rancher", rancherCorpus, 0);
if (wanted("latency")) results.latency = await scenario("latency", rancherCorpus, latencyMs);
if (wanted("tls")) results.tls = await scenario("tls", rancherCorpus, latencyMs, { tls: true });
if (wanted("wide")) {
  results.wide = await scenario("wide", (r) => rancherCorpus(r, wideCount), 0, { baselines: false });
}
if (wanted("requests")) counts.requests = await requestsScenario(rancherCount);
if (wanted("memory")) counts.memory = await memoryScenario(rancherCount);
const machine = {
  date: new Date().toISOString(),
  cpus: navigator.hardwareConcurrency,
  memoryMiB: Math.round(Deno.systemMemoryInfo().total / MiB),
  os: `${Deno.build.os} ${Deno.osRelease()}`,
  deno: Deno.version.deno,
  loadAverage: Deno.loadavg(),
  quick,
};
if (Object.keys(results).length > 0) console.log(table(results));
if (counts.requests) console.log(`requests per image: ${JSON.stringify(counts.requests)}`);
if (counts.memory) console.log(`peak RSS: ${JSON.stringify(counts.memory)}`);
console.log(
  `(${machine.cpus} CPUs, ${machine.memoryMiB} MiB, ${machine.os}, ${machine.date}; load average at the end ${
    machine.loadAverage.map((x) => x.toFixed(1)).join(" ")
  })`,
);
await Deno.mkdir(join(JSON_OUT, ".."), { recursive: true });
await Deno.writeTextFile(JSON_OUT, JSON.stringify({ machine, results, ...counts }, null, 2) + "\n");
console.error(`results: ${JSON_OUT}`);
