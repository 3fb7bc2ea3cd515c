/**
 * The fault suite, save side: real distribution behind the seeded fault
 * proxy. Every disturbed save ends with an archive byte-identical to an
 * undisturbed one, or fails cleanly; `kill -9` mid-save and a re-run give
 * the same archive; a slow link and a stalled body neither fail nor hang.
 * Tests whose success needs the transport (retries, Range resume, idle
 * timeouts, `--timeout`) say so in their names.
 */
import { join } from "node:path";
import { saveCommand } from "../../lib/commands/save/save.ts";
import { declarationFromList } from "../../lib/plan/declaration.ts";
import type { Timeouts } from "../../lib/transport/http.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { mulberry32 } from "../helpers/fault_proxy.ts";
import {
  assertCacheClean,
  assertCleanFailure,
  assertInjected,
  bytesOfRun,
  errorLines,
  exists,
  faultTest,
  type FaultWorld,
  killMidway,
  oneErrorLine,
  RETRY_BASE_MS,
  RUN_DEADLINE_MS,
  runAirgap,
  seededPlan,
  sha256File,
  silentReporter,
  withDeadline,
} from "../helpers/faults.ts";
// In-process runs read the retry policy from the environment, as the CLI does.
Deno.env.set("AIRGAP_RETRY_BASE_MS", RETRY_BASE_MS);

const IN_PROCESS_SEEDS = 30;
const CLI_SEEDS = 6;
const KILL_SEEDS = 10;

async function saveInProcess(world: FaultWorld, output: string, cacheDir: string, timeouts?: Partial<Timeouts>) {
  const declaration = await declarationFromList(world.list, { sourceRegistry: world.proxy.host, platforms: ["all"] });
  declaration.registries = new Map([[world.proxy.host, { noAuthFiles: true, timeouts }]]);
  return await saveCommand({ declaration, output, cacheDir, reporter: silentReporter });
}

function saveArgs(world: FaultWorld, output: string, cache: string, list = world.list): string[] {
  return ["save", "-l", list, "-s", world.proxy.host, "-o", output, "--cache", cache, "--platform", "all"];
}

faultTest(
  `faults: ${IN_PROCESS_SEEDS} seeded saves (resets, truncation, 500, 429, redirects, latency) match an ` +
    "undisturbed save [needs transport: retries, Range resume]",
  async (world) => {
    await saveInProcess(world, join(world.dir, "baseline.tar"), join(world.dir, "baseline-cache"));
    const baseline = await sha256File(join(world.dir, "baseline.tar"));
    world.proxy.resetStats();
    const failures: string[] = [];
    for (let seed = 1; seed <= IN_PROCESS_SEEDS; seed++) {
      world.proxy.setPlan(seededPlan(seed, "save"));
      const before = world.proxy.events().length;
      const output = join(world.dir, `s${seed}.tar`);
      const cache = join(world.dir, `c${seed}`);
      const label = `seed ${seed}`;
      try {
        await withDeadline(saveInProcess(world, output, cache), RUN_DEADLINE_MS, label);
        assertEquals(await sha256File(output), baseline, `${label}: archive sha256`);
      } catch (e) {
        const message = (e as Error).message;
        if (message.includes("hung") || message.includes("archive sha256")) throw e;
        await assertCleanFailure(message, output, label);
        const injected = world.proxy.events().slice(before).map((ev) => `${ev.fault} ${ev.method} ${ev.path}`);
        failures.push(`${label}: ${message} (faults: ${injected.slice(0, 4).join("; ")}…)`);
      }
      await assertCacheClean(cache, label);
      await Deno.remove(cache, { recursive: true });
      await Deno.remove(output).catch(() => {});
    }
    assertInjected(world, ["reset", "truncate", "error500", "rate429", "redirect", "latency"], "seeded saves");
    assertEquals(failures, [], "every seeded save succeeds (faults are bounded to 2 per request; retries are 6)");
  },
);

faultTest(
  `faults: ${CLI_SEEDS} seeded saves through the CLI match an undisturbed save, or fail in one line ` +
    "[needs transport: retries]",
  async (world) => {
    const base = join(world.dir, "baseline.tar");
    const first = await runAirgap(saveArgs(world, base, join(world.dir, "bc")), RUN_DEADLINE_MS, {}, world.dir);
    assertEquals(first.code, 0, first.stderr);
    const baseline = await sha256File(base);
    world.proxy.resetStats();
    const failures: string[] = [];
    for (let seed = 101; seed < 101 + CLI_SEEDS; seed++) {
      world.proxy.setPlan(seededPlan(seed, "save"));
      const output = join(world.dir, `s${seed}.tar`);
      const cache = join(world.dir, `c${seed}`);
      const label = `CLI seed ${seed}`;
      const run = await runAirgap(saveArgs(world, output, cache), RUN_DEADLINE_MS, {}, world.dir);
      if (run.code === 0) {
        assertEquals(await sha256File(output), baseline, `${label}: archive sha256`);
      } else {
        const error = oneErrorLine(run, label);
        await assertCleanFailure(error, output, label);
        failures.push(`${label}: exit ${run.code}: ${error}`);
      }
      await assertCacheClean(cache, label);
    }
    assertInjected(world, ["reset", "truncate", "error500", "redirect", "latency"], "CLI saves");
    assertEquals(failures, [], "every seeded CLI save succeeds");
  },
);

faultTest(
  `faults: kill -9 of save at ${KILL_SEEDS} seeded points, then a re-run gives the same archive`,
  async (world) => {
    const base = join(world.dir, "baseline.tar");
    const sent = () => world.proxy.traffic().sent;
    const total = await bytesOfRun(world, saveArgs(world, base, join(world.dir, "bc")), sent, RUN_DEADLINE_MS);
    const baseline = await sha256File(base);
    const random = mulberry32(424242);
    for (let seed = 1; seed <= KILL_SEEDS; seed++) {
      const label = `kill seed ${seed}`;
      const output = join(world.dir, "images.tar");
      const cache = join(world.dir, `c${seed}`);
      const args = saveArgs(world, output, cache);
      const threshold = await killMidway(world, args, { seed, random, total, moved: sent, label });
      assert(!(await exists(output)), `${label}: a killed save left ${output} as if complete`);
      const verify = await runAirgap(["cache", "verify", "--cache", cache], RUN_DEADLINE_MS, {}, world.dir);
      assertEquals(verify.code, 0, `${label}: airgap cache verify after the kill: ${verify.stdout}${verify.stderr}`);
      const again = await runAirgap(args, RUN_DEADLINE_MS, {}, world.dir);
      assertEquals(again.code, 0, `${label}: re-run after kill at ${threshold}/${total} bytes: ${again.stderr}`);
      assertEquals(await sha256File(output), baseline, `${label}: archive sha256 after re-run`);
      await assertCacheClean(cache, label);
      await Deno.remove(cache, { recursive: true });
      await Deno.remove(output);
    }
  },
);

/** One image (busybox: a 96 KiB base layer and a small one) and its undisturbed archives, in-process and CLI. */
async function busybox(world: FaultWorld): Promise<{ list: string; baseline: { inProcess: string; cli: string } }> {
  const list = join(world.dir, "busybox.txt");
  await Deno.writeTextFile(list, "library/busybox:1.36\n");
  const viaCli = join(world.dir, "busybox-cli.tar");
  const run = await runAirgap(saveArgs(world, viaCli, join(world.dir, "bb"), list), RUN_DEADLINE_MS, {}, world.dir);
  assertEquals(run.code, 0, run.stderr);
  const inProcess = join(world.dir, "busybox-lib.tar");
  await saveInProcess({ ...world, list }, inProcess, join(world.dir, "bb2"));
  return { list, baseline: { inProcess: await sha256File(inProcess), cli: await sha256File(viaCli) } };
}

/**
 * busybox behind a link capped at 24 KB/s — about 120 KB: five seconds of
 * steady bytes, each gap far below the 1.5 s (or 2 s) timeouts — and
 * `passed()`, which asserts the 96 KiB layer went through the capped link,
 * so it streamed for four seconds or more.
 */
async function slowBusybox(world: FaultWorld) {
  const { list, baseline } = await busybox(world);
  world.proxy.setPlan({ seed: 1, rules: [], bandwidth: 24_000 });
  const before = world.proxy.traffic().sent;
  const passed = () =>
    assert(world.proxy.traffic().sent - before >= 96 * 1024, "the layer went through the capped link");
  return { list, baseline, output: join(world.dir, "slow.tar"), cache: join(world.dir, "slow-cache"), passed };
}

faultTest(
  "faults: a layer that streams slowly for longer than the timeouts is saved",
  async (world) => {
    const { list, baseline, output, cache, passed } = await slowBusybox(world);
    const timeouts = { headersMs: 1500, idleMs: 1500 };
    await withDeadline(saveInProcess({ ...world, list }, output, cache, timeouts), RUN_DEADLINE_MS, "slow link");
    passed();
    assertEquals(await sha256File(output), baseline.inProcess, "archive sha256");
    await assertCacheClean(cache, "slow link");
  },
);

faultTest(
  "faults: with --timeout 2, a layer that streams for five seconds is saved [needs transport: --timeout]",
  async (world) => {
    const { list, baseline, output, cache, passed } = await slowBusybox(world);
    const run = await runAirgap(
      [...saveArgs(world, output, cache, list), "--timeout", "2"],
      RUN_DEADLINE_MS,
      {},
      world.dir,
    );
    assertEquals(run.code, 0, run.stderr);
    passed();
    assertEquals(await sha256File(output), baseline.cli, "archive sha256");
    await assertCacheClean(cache, "slow link");
  },
);

const stallPlan = {
  seed: 7,
  rules: [{ fault: "stall" as const, kinds: ["blob-get" as const], probability: 1 }],
  maxFaultsPerKey: 1,
  stallMs: 120_000,
};

const STALL_SEEDS = 5;

faultTest(
  `faults: bodies that stall longer than the idle timeout are resumed, never waited for forever (${STALL_SEEDS} ` +
    "seeds)",
  async (world) => {
    const { list, baseline } = await busybox(world);
    // Several seeds, each stalling every blob at a different byte: a race between the idle timeout and a
    // waiting body read hung about one run in fifteen.
    for (let seed = 1; seed <= STALL_SEEDS; seed++) {
      world.proxy.setPlan({ ...stallPlan, seed });
      world.proxy.resetStats();
      const output = join(world.dir, `stall${seed}.tar`);
      const cache = join(world.dir, `stall-cache${seed}`);
      const label = `stall seed ${seed}`;
      await withDeadline(
        saveInProcess({ ...world, list }, output, cache, { headersMs: 1500, idleMs: 1500 }),
        RUN_DEADLINE_MS,
        label,
      );
      assert(world.proxy.counts().stall >= 1, `${label}: the proxy stalled a body`);
      assertEquals(await sha256File(output), baseline.inProcess, `${label}: archive sha256`);
      await assertCacheClean(cache, label);
    }
  },
);

faultTest(
  "faults: with --timeout 2, a stalled body is resumed or fails in one line naming the timeout, never hangs " +
    "[needs transport: --timeout]",
  async (world) => {
    const { list, baseline } = await busybox(world);
    world.proxy.setPlan(stallPlan);
    world.proxy.resetStats();
    const output = join(world.dir, "stall.tar");
    const cache = join(world.dir, "stall-cache");
    const run = await runAirgap(
      [...saveArgs(world, output, cache, list), "--timeout", "2"],
      RUN_DEADLINE_MS,
      {},
      world.dir,
    );
    if (run.code === 0) {
      assertEquals(await sha256File(output), baseline.cli, "archive sha256");
    } else {
      const errors = errorLines(run.stderr);
      assertEquals(errors.length, 1, run.stderr);
      assert(/timed out|no .* for \d+ s/i.test(errors[0]), `the error names the timeout: ${run.stderr}`);
      await assertCleanFailure(errors[0], output, "stall");
    }
    assert(world.proxy.counts().stall >= 1, "the proxy stalled a body");
    await assertCacheClean(cache, "stall");
    assertEquals(run.code, 0, `the stalled blob is fetched again: ${run.stderr}`);
  },
);
