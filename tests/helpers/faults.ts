/**
 * The fault suite's shared fixture: a real registry holding the standard
 * corpus behind a {@link startFaultProxy fault proxy}, seeded fault plans,
 * undisturbed baselines, and the checks every disturbed run must pass — a
 * result byte-identical to the baseline, or a clean failure (one-line error,
 * no archive presented as complete, a cache that verifies).
 */
import { join } from "node:path";
import { cacheVerify } from "../../lib/commands/cache/cache_care.ts";
import { type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import { createReporter, type Reporter } from "../../lib/report/progress.ts";
import { assert, assertEquals } from "./assert.ts";
import { V8_FLAGS } from "./cli.ts";
import {
  type BlobServer,
  type Fault,
  type FaultPlan,
  type FaultProxy,
  mulberry32,
  type RequestKind,
  startBlobServer,
  startFaultProxy,
} from "./fault_proxy.ts";
import { interopAvailable, type RegistryOptions, seedStorage, startRegistry, type TestRegistry } from "./registry.ts";

/** Backoff base for the runs (ms): retries are real, just not slow. */
export const RETRY_BASE_MS = "20";
/** How long one run of a fault test may take before it counts as hung. */
export const RUN_DEADLINE_MS = 90_000;
/** A reporter that prints nothing. */
export const silentReporter: Reporter = createReporter({ quiet: true, live: false, write: () => {} });

/** The world of one fault test file. */
export interface FaultWorld {
  dir: string;
  registry: TestRegistry;
  proxy: FaultProxy;
  blobs: BlobServer;
  images: GeneratedImage[];
  /** The image list (`repository:tag` lines) of the corpus. */
  list: string;
  close(): Promise<void>;
}

/** Start a registry seeded with the standard corpus, a blob server and a proxy with no faults. */
export async function startFaultWorld(options: RegistryOptions = {}): Promise<FaultWorld> {
  const dir = await Deno.makeTempDir({ prefix: "airgap-faults-" });
  const registry = await startRegistry(options);
  const images = standardCorpus(1);
  await seedStorage(registry, images);
  const blobs = startBlobServer();
  const proxy = startFaultProxy(registry.host, { seed: 0, rules: [] }, { redirectTo: blobs });
  const list = join(dir, "list.txt");
  await Deno.writeTextFile(list, images.map((i) => `${i.repository}:${i.tag}`).join("\n") + "\n");
  return {
    dir,
    registry,
    proxy,
    blobs,
    images,
    list,
    async close() {
      await proxy.close();
      await blobs.close();
      await registry.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A seeded mix of every fault that can be injected on these request kinds. */
export function seededPlan(seed: number, side: "save" | "load"): FaultPlan {
  const r = mulberry32(seed * 7919 + 1);
  const reads: RequestKind[] = ["blob-get", "manifest-get", "head", "other"];
  const writes: RequestKind[] = ["upload-post", "upload-patch", "upload-put", "manifest-put", "head", "manifest-get"];
  const kinds = side === "save" ? reads : writes;
  return {
    seed,
    rules: [
      { fault: "reset", kinds, probability: 0.04 + 0.08 * r() },
      { fault: "truncate", kinds: ["blob-get", "manifest-get"], probability: 0.04 + 0.08 * r() },
      { fault: "error500", kinds, probability: 0.03 + 0.06 * r() },
      // Every third seed: each 429 costs its Retry-After (1 s) of wall time.
      { fault: "rate429", kinds, probability: seed % 3 === 0 ? 0.02 + 0.03 * r() : 0 },
      { fault: "redirect", kinds: ["blob-get"], probability: 0.1 + 0.2 * r() },
      { fault: "latency", kinds, probability: 0.05 },
    ],
    maxFaultsPerKey: 2,
    latencyMs: 50 + Math.floor(150 * r()),
    retryAfter: 1,
  };
}

/** sha256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The cache verifies: every blob re-hashes to its digest. */
export async function assertCacheClean(cacheDir: string, label: string): Promise<void> {
  const result = await cacheVerify(cacheDir);
  assertEquals(result.bad, [], `${label}: cache verify`);
}

/** A clean failure: one line, and no archive presented as complete. */
export async function assertCleanFailure(message: string, output: string, label: string): Promise<void> {
  const text = message.trim();
  assert(text.length > 0 && !text.includes("\n"), `${label}: error is not one line: ${JSON.stringify(text)}`);
  assert(!(await exists(output)), `${label}: failed, yet ${output} exists`);
}

/** Race `promise` against a deadline, so a hang fails the test instead of blocking CI. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label}: still running after ${ms / 1000} s (hung)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A running CLI process. */
export interface CliProcess {
  child: Deno.ChildProcess;
  /** Exit code, stdout and stderr (after exit). */
  result: Promise<{ code: number; signal: Deno.Signal | null; stdout: string; stderr: string }>;
}

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** Start `airgap ARGS…` as a separate process (to kill it, or bound its run time). */
export function spawnAirgap(args: string[], env: Record<string, string> = {}, cwd?: string): CliProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", V8_FLAGS, CLI, ...args],
    env: { NO_COLOR: "1", AIRGAP_RETRY_BASE_MS: RETRY_BASE_MS, ...env },
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const text = async (stream: ReadableStream<Uint8Array>) =>
    new TextDecoder().decode(await new Response(stream).arrayBuffer());
  const result = Promise.all([child.status, text(child.stdout), text(child.stderr)]).then(([s, stdout, stderr]) => ({
    code: s.code,
    signal: s.signal,
    stdout,
    stderr,
  }));
  return { child, result };
}

/** Run the CLI, killing it (and failing) when it outlives `ms`. */
export async function runAirgap(
  args: string[],
  ms: number,
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = spawnAirgap(args, env, cwd);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    try {
      proc.child.kill("SIGKILL");
    } catch { /* exited */ }
  }, ms);
  const result = await proc.result;
  clearTimeout(timer);
  if (hung) throw new Error(`airgap ${args.join(" ")}: still running after ${ms / 1000} s (hung)\n${result.stderr}`);
  return result;
}

/** The error lines of a CLI run's stderr (`error: …`). */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("error"));
}

/** The manifest digest a registry serves for `repository:tag`, read directly (not through the proxy). */
export async function servedDigest(
  registry: TestRegistry,
  repository: string,
  tag: string,
  authorization?: string,
): Promise<string> {
  const response = await fetch(`http://${registry.host}/v2/${repository}/manifests/${tag}`, {
    headers: {
      ...(authorization ? { authorization } : {}),
      accept: [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
      ].join(", "),
    },
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (!response.ok) return `HTTP ${response.status}`;
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  return `sha256:${Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Every image of the corpus is in the target under `prefix` with the digest the archive holds. */
export async function assertLoaded(
  world: FaultWorld,
  prefix: string,
  label: string,
  authorization?: string,
): Promise<void> {
  for (const image of world.images) {
    const digest = await servedDigest(world.registry, `${prefix}/${image.repository}`, image.tag, authorization);
    assertEquals(digest, image.root.descriptor.digest, `${label}: ${prefix}/${image.repository}:${image.tag}`);
  }
}

/**
 * A fault test: skipped where the interop prerequisites are missing (failed
 * under CI=true by `interopAvailable`), given a fresh {@link FaultWorld}
 * (started with `options`) that is closed after it, however it ends.
 */
export function faultTest(
  name: string,
  fn: (world: FaultWorld) => Promise<void>,
  options: RegistryOptions = {},
): void {
  Deno.test({
    name,
    ignore: !interopAvailable(),
    sanitizeOps: false,
    async fn() {
      const world = await startFaultWorld(options);
      try {
        await fn(world);
      } finally {
        await world.close();
      }
    },
  });
}

/** Every fault in `faults` was injected at least once since the proxy's last reset. */
export function assertInjected(world: FaultWorld, faults: Fault[], label: string): void {
  const counts = world.proxy.counts();
  for (const f of faults) assert(counts[f] >= 1, `${label}: the proxy never injected ${f}: ${JSON.stringify(counts)}`);
}

/** A failed CLI run's one error line (asserted to be exactly one). */
export function oneErrorLine(run: { stderr: string }, label: string): string {
  const errors = errorLines(run.stderr);
  assertEquals(errors.length, 1, `${label}: one error line, got:\n${run.stderr}`);
  return errors[0];
}

/**
 * Run `airgap ARGS…` through a link slow enough that an undisturbed run
 * (`total` bytes) takes about 1.5 s, and `kill -9` it once `moved()` (bytes
 * through the proxy) has grown by a seeded share of `total` (5–95 %, from
 * `random`); asserts it had not ended by then and died of the signal. The
 * link is undisturbed again afterwards. Returns the kill point in bytes.
 */
export async function killMidway(
  world: FaultWorld,
  args: string[],
  { seed, random, total, moved, label }: {
    seed: number;
    random: () => number;
    total: number;
    moved: () => number;
    label: string;
  },
): Promise<number> {
  world.proxy.setPlan({ seed, rules: [], bandwidth: Math.ceil(total / 1.5) });
  const threshold = Math.floor(total * (0.05 + 0.9 * random()));
  const start = moved();
  const proc = spawnAirgap(args, {}, world.dir);
  let exited = false;
  proc.result.then(() => (exited = true));
  while (!exited && moved() - start < threshold) await new Promise((r) => setTimeout(r, 5));
  assert(!exited, `${label}: the ${args[0]} ended before the kill point (${threshold} of ${total} bytes)`);
  proc.child.kill("SIGKILL");
  assertEquals((await proc.result).signal, "SIGKILL", label);
  world.proxy.setPlan({ seed, rules: [] });
  return threshold;
}

/** Run `airgap ARGS…` undisturbed (asserting it succeeds); how much `moved()` grew meanwhile. */
export async function bytesOfRun(world: FaultWorld, args: string[], moved: () => number, ms: number): Promise<number> {
  const before = moved();
  const run = await runAirgap(args, ms, {}, world.dir);
  assertEquals(run.code, 0, run.stderr);
  return moved() - before;
}
