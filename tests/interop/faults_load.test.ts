/**
 * The fault suite, load side: an archive loaded into real distribution
 * through the seeded fault proxy (resets before the registry sees a request,
 * 500 and 429 on uploads and manifest PUTs, latency, a capped link). Every
 * run ends with every tag at the archive's digest, or fails cleanly with no
 * tag pointing anywhere else; `kill -9` mid-load and a re-run complete it.
 */
import { join } from "node:path";
import { loadCommand } from "../../lib/transfer/load.ts";
import { saveCommand } from "../../lib/transfer/save.ts";
import { declarationFromList } from "../../lib/plan/declaration.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type Fault, mulberry32 } from "../helpers/fault_proxy.ts";
import {
  assertLoaded,
  errorLines,
  type FaultWorld,
  RETRY_BASE_MS,
  runAirgap,
  seededPlan,
  servedDigest,
  silentReporter,
  spawnAirgap,
  startFaultWorld,
  withDeadline,
} from "../helpers/faults.ts";
import { interopAvailable } from "../helpers/registry.ts";

const enabled = interopAvailable();
Deno.env.set("AIRGAP_RETRY_BASE_MS", RETRY_BASE_MS);

const IN_PROCESS_SEEDS = 16;
const CLI_SEEDS = 4;
const KILL_SEEDS = 10;
const RUN_DEADLINE_MS = 90_000;

/** The corpus archive, saved undisturbed straight from the registry. */
async function corpusArchive(world: FaultWorld): Promise<string> {
  const declaration = await declarationFromList(world.list, {
    sourceRegistry: world.registry.host,
    platforms: ["all"],
  });
  declaration.registries = new Map([[world.registry.host, { noAuthFiles: true }]]);
  const output = join(world.dir, "corpus.tar");
  await saveCommand({ declaration, output, cacheDir: join(world.dir, "save-cache"), reporter: silentReporter });
  return output;
}

/** After a failed load, a tag is either absent or at the archive's digest — never anything else. */
async function assertNothingWrong(world: FaultWorld, prefix: string, label: string) {
  for (const image of world.images) {
    const digest = await servedDigest(world.registry, `${prefix}/${image.repository}`, image.tag);
    assert(
      digest === image.root.descriptor.digest || digest === "HTTP 404",
      `${label}: ${prefix}/${image.repository}:${image.tag} is at ${digest}`,
    );
  }
}

function assertInjected(world: FaultWorld, faults: Fault[], label: string) {
  const counts = world.proxy.counts();
  for (const f of faults) assert(counts[f] >= 1, `${label}: the proxy never injected ${f}: ${JSON.stringify(counts)}`);
}

Deno.test({
  name: `faults: ${IN_PROCESS_SEEDS} seeded loads (resets, 500 and 429 on uploads and manifest PUTs, latency) put ` +
    "every tag at the archive's digest [needs transport: retries of uploads and manifest PUTs]",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const world = await startFaultWorld();
    try {
      const archivePath = await corpusArchive(world);
      world.proxy.resetStats();
      const failures: string[] = [];
      for (let seed = 1; seed <= IN_PROCESS_SEEDS; seed++) {
        world.proxy.setPlan(seededPlan(seed, "load"));
        const prefix = `seed${seed}`;
        const label = `load seed ${seed}`;
        try {
          await withDeadline(
            loadCommand({
              archivePath,
              registry: world.proxy.host,
              prefix,
              registries: new Map([[world.proxy.host, { noAuthFiles: true }]]),
              reporter: silentReporter,
            }),
            RUN_DEADLINE_MS,
            label,
          );
          await assertLoaded(world, prefix, label);
        } catch (e) {
          const message = (e as Error).message;
          if (message.includes("hung") || message.includes(`${label}: ${prefix}/`)) throw e;
          assert(!message.trim().includes("\n"), `${label}: error is not one line: ${message}`);
          await assertNothingWrong(world, prefix, label);
          failures.push(`${label}: ${message}`);
        }
      }
      assertInjected(world, ["reset", "error500", "rate429", "latency"], "seeded loads");
      assertEquals(failures, [], "every seeded load succeeds (faults are bounded to 2 per request; retries are 6)");
    } finally {
      await world.close();
    }
  },
});

Deno.test({
  name:
    `faults: ${CLI_SEEDS} seeded loads through the CLI put every tag at the archive's digest, or fail in one line ` +
    "[needs transport: retries]",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const world = await startFaultWorld();
    try {
      const archivePath = await corpusArchive(world);
      world.proxy.resetStats();
      const failures: string[] = [];
      for (let seed = 201; seed < 201 + CLI_SEEDS; seed++) {
        world.proxy.setPlan(seededPlan(seed, "load"));
        const prefix = `cli${seed}`;
        const label = `CLI load seed ${seed}`;
        const run = await runAirgap(
          ["load", archivePath, "--registry", `${world.proxy.host}/${prefix}`],
          RUN_DEADLINE_MS,
          {},
          world.dir,
        );
        if (run.code === 0) {
          await assertLoaded(world, prefix, label);
        } else {
          const errors = errorLines(run.stderr);
          assertEquals(errors.length, 1, `${label}: one error line, got:\n${run.stderr}`);
          await assertNothingWrong(world, prefix, label);
          failures.push(`${label}: exit ${run.code}: ${errors[0]}`);
        }
      }
      assertInjected(world, ["reset", "error500", "latency"], "CLI loads");
      assertEquals(failures, [], "every seeded CLI load succeeds");
    } finally {
      await world.close();
    }
  },
});

Deno.test({
  name: `faults: kill -9 of load at ${KILL_SEEDS} seeded points, then a re-run puts every tag at the archive's digest`,
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const world = await startFaultWorld();
    try {
      const archivePath = await corpusArchive(world);
      const before = world.proxy.traffic().received;
      const first = await runAirgap(
        ["load", archivePath, "--registry", `${world.proxy.host}/measure`],
        RUN_DEADLINE_MS,
        {},
        world.dir,
      );
      assertEquals(first.code, 0, first.stderr);
      const total = world.proxy.traffic().received - before;
      const random = mulberry32(171717);
      for (let seed = 1; seed <= KILL_SEEDS; seed++) {
        const label = `load kill seed ${seed}`;
        const target = `${world.proxy.host}/kill${seed}`;
        // Uploads through a link that makes the load take about 1.5 s; kill after a seeded share of its bytes.
        world.proxy.setPlan({ seed, rules: [], bandwidth: Math.ceil(total / 1.5) });
        const threshold = Math.floor(total * (0.05 + 0.9 * random()));
        const start = world.proxy.traffic().received;
        const proc = spawnAirgap(["load", archivePath, "--registry", target], {}, world.dir);
        let exited = false;
        proc.result.then(() => (exited = true));
        while (!exited && world.proxy.traffic().received - start < threshold) {
          await new Promise((r) => setTimeout(r, 5));
        }
        assert(!exited, `${label}: the load ended before the kill point (${threshold} of ${total} bytes)`);
        proc.child.kill("SIGKILL");
        assertEquals((await proc.result).signal, "SIGKILL", label);
        world.proxy.setPlan({ seed, rules: [] });
        const again = await runAirgap(["load", archivePath, "--registry", target], RUN_DEADLINE_MS, {}, world.dir);
        assertEquals(again.code, 0, `${label}: re-run after kill at ${threshold}/${total} bytes: ${again.stderr}`);
        await assertLoaded(world, `kill${seed}`, label);
      }
    } finally {
      await world.close();
    }
  },
});
