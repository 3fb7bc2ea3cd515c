/**
 * The fault suite, load side: an archive loaded into real distribution
 * through the seeded fault proxy (resets before the registry sees a request,
 * 500 and 429 on uploads and manifest PUTs, latency, a capped link). Every
 * run ends with every tag at the archive's digest, or fails cleanly with no
 * tag pointing anywhere else; `kill -9` mid-load and a re-run complete it.
 */
import { join } from "node:path";
import { loadCommand } from "../../lib/commands/load/load.ts";
import { saveCommand } from "../../lib/commands/save/save.ts";
import { declarationFromList } from "../../lib/plan/declaration.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { mulberry32 } from "../helpers/fault_proxy.ts";
import {
  assertInjected,
  assertLoaded,
  bytesOfRun,
  faultTest,
  type FaultWorld,
  killMidway,
  oneErrorLine,
  RETRY_BASE_MS,
  RUN_DEADLINE_MS,
  runAirgap,
  seededPlan,
  servedDigest,
  silentReporter,
  withDeadline,
} from "../helpers/faults.ts";

Deno.env.set("AIRGAP_RETRY_BASE_MS", RETRY_BASE_MS);

const IN_PROCESS_SEEDS = 16;
const CLI_SEEDS = 4;
const KILL_SEEDS = 10;

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

faultTest(
  `faults: ${IN_PROCESS_SEEDS} seeded loads (resets, 500 and 429 on uploads and manifest PUTs, latency) put ` +
    "every tag at the archive's digest [needs transport: retries of uploads and manifest PUTs]",
  async (world) => {
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
  },
);

faultTest(
  `faults: ${CLI_SEEDS} seeded loads through the CLI put every tag at the archive's digest, or fail in one line ` +
    "[needs transport: retries]",
  async (world) => {
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
        const error = oneErrorLine(run, label);
        await assertNothingWrong(world, prefix, label);
        failures.push(`${label}: exit ${run.code}: ${error}`);
      }
    }
    assertInjected(world, ["reset", "error500", "latency"], "CLI loads");
    assertEquals(failures, [], "every seeded CLI load succeeds");
  },
);

faultTest(
  `faults: kill -9 of load at ${KILL_SEEDS} seeded points, then a re-run puts every tag at the archive's digest`,
  async (world) => {
    const archivePath = await corpusArchive(world);
    const received = () => world.proxy.traffic().received;
    const measure = ["load", archivePath, "--registry", `${world.proxy.host}/measure`];
    const total = await bytesOfRun(world, measure, received, RUN_DEADLINE_MS);
    const random = mulberry32(171717);
    for (let seed = 1; seed <= KILL_SEEDS; seed++) {
      const label = `load kill seed ${seed}`;
      const target = `${world.proxy.host}/kill${seed}`;
      const args = ["load", archivePath, "--registry", target];
      const threshold = await killMidway(world, args, { seed, random, total, moved: received, label });
      const again = await runAirgap(args, RUN_DEADLINE_MS, {}, world.dir);
      assertEquals(again.code, 0, `${label}: re-run after kill at ${threshold}/${total} bytes: ${again.stderr}`);
      await assertLoaded(world, `kill${seed}`, label);
    }
  },
);
