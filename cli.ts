#!/usr/bin/env -S deno run -A --v8-flags=--max-semi-space-size=2,--heap-growing-percent=20
/**
 * The `airgap` command line: a table of contents. Each command has one home,
 * `lib/commands/<command>/`: its command-line module `cli.ts` (its options,
 * their resolution and its output) beside the operation it runs; this file
 * builds the program from them, runs it, maps errors to exit codes and
 * handles Ctrl-C.
 * @module
 */
import { Command, CommanderError } from "commander";
import { AirgapError, errorMessage } from "./lib/errors.ts";
import { InterruptedError } from "./lib/error_kinds.ts";
import { ResolveError } from "./lib/plan/planner.ts";
import { CheckError } from "./lib/commands/check/check.ts";
import { failureLines } from "./lib/report/failures.ts";
import { errorEvent } from "./lib/report/events.ts";
import { VERSION } from "./lib/version.ts";
import { run, startRun } from "./lib/commands/shared/context.ts";
import { acceptDebug } from "./lib/commands/shared/options.ts";
import { registerPlan } from "./lib/commands/plan/cli.ts";
import { registerSave } from "./lib/commands/save/cli.ts";
import { registerLoad } from "./lib/commands/load/cli.ts";
import { registerMirror } from "./lib/commands/mirror/cli.ts";
import { registerImages } from "./lib/commands/images/cli.ts";
import { registerServe } from "./lib/commands/serve/cli.ts";
import { registerVerify } from "./lib/commands/verify/cli.ts";
import { registerLs } from "./lib/commands/ls/cli.ts";
import { registerFiles } from "./lib/commands/files/cli.ts";
import { registerDiff } from "./lib/commands/diff/cli.ts";
import { registerCache } from "./lib/commands/cache/cli.ts";
import { registerDemo } from "./lib/commands/demo/cli.ts";
import { registerCheck } from "./lib/commands/check/cli.ts";
import { registerInit } from "./lib/commands/init/cli.ts";
import { registerCompletion } from "./lib/commands/completion/cli.ts";
import { registerSchema } from "./lib/commands/schema/cli.ts";
import { registerClusterConfig } from "./lib/commands/cluster_config/cli.ts";

/** The command tree (commander), for `main` and for tests that check documented command lines against it. */
export function program(): Command {
  const cli = new Command("airgap")
    .description("Carry container images into air-gapped Kubernetes and Rancher sites.")
    .version(VERSION, "-V, --version")
    .showHelpAfterError("run 'airgap --help' for usage")
    .exitOverride();
  // In the order `airgap --help` lists them.
  registerPlan(cli);
  registerSave(cli);
  registerLoad(cli);
  registerMirror(cli);
  registerImages(cli);
  registerServe(cli);
  registerVerify(cli);
  registerLs(cli);
  registerFiles(cli);
  registerDiff(cli);
  registerCache(cli);
  registerDemo(cli, main);
  registerCheck(cli);
  registerInit(cli);
  registerCompletion(cli);
  registerSchema(cli);
  registerClusterConfig(cli);
  acceptDebug(cli);
  shortUsageErrors(cli, "airgap");
  return cli;
}

/** A usage mistake prints the error and its suggestion, then where the help is — not the whole help. */
function shortUsageErrors(command: Command, path: string) {
  for (const sub of command.commands) {
    const name = `${path} ${sub.name()}`;
    sub.showHelpAfterError(`run '${name} --help' for usage`);
    shortUsageErrors(sub, name);
  }
}

/** Run the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const cli = program();
  let debug = false; // the --debug of the command that runs, read when its action starts
  cli.hook("preAction", (_cli, command) => {
    debug = command.optsWithGlobals().debug === true;
  });
  startRun();
  const stopListening = listenForInterrupts(args[0] === "serve");
  try {
    await cli.parseAsync(args, { from: "user" });
    return run.partialSuccess ? 3 : 0;
  } catch (e) {
    // When parsing failed, no action ran and debug is false: commander has said why, and the exit code is 2.
    const code = failed(e, debug);
    run.events?.(
      errorEvent(
        e,
        code,
        e instanceof CheckError ? e.problems : e instanceof ResolveError ? e.failures : undefined,
        e instanceof ResolveError ? e.details : undefined,
      ),
    );
    return code;
  } finally {
    stopListening();
  }
}

/** The line an interrupted run ends with (unless the command said more). */
const INTERRUPTED = "interrupted; run the same command again to resume";

/** Print a failed run's error lines on stderr; the exit code. */
function failed(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) return 0;
    return 2;
  }
  if (run.interruption.signal.aborted && !(e instanceof InterruptedError)) {
    console.error(INTERRUPTED);
    return 130;
  }
  if (e instanceof CheckError) {
    for (const problem of e.problems) console.error(`error: ${problem}`);
    console.error(`error: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof ResolveError) {
    // A few failures in full (their messages say what to do); many, grouped by cause.
    const lines = failureLines(e.details, e.failures);
    for (const line of lines) console.error(`error: ${line}`);
    console.error(`error: ${e.message}`);
    return 1;
  }
  if (debug) console.error(e);
  else if (e instanceof InterruptedError) console.error(errorMessage(e));
  else console.error(`error: ${errorMessage(e)}`);
  return e instanceof AirgapError ? e.exitCode : 1;
}

/**
 * After Ctrl-C or SIGTERM, how long a run has to stop by itself (a save says
 * what is cached) before the process exits anyway: a command that is parsing
 * or checking, and listens to no signal, still stops within a second. Every
 * write is atomic (a killed save resumes), so the exit loses nothing.
 */
const STOP_GRACE_MS = 500;

/**
 * Ctrl-C and SIGTERM cancel the run (transfers stop, the command reports
 * what is cached and exits 130); a second one, or {@link STOP_GRACE_MS}
 * later, exits at once. `serve` has its own shutdown. Windows has only
 * SIGINT and SIGBREAK. The handler can run only between synchronous steps:
 * lib/limits.ts bounds every input so that none parses for long.
 */
let listening = false;
function listenForInterrupts(skip: boolean): () => void {
  if (skip || listening) return () => {}; // serve has its own; the demo runs main inside main
  listening = true;
  run.interruption = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const handler = () => {
    if (run.interruption.signal.aborted) Deno.exit(130);
    run.interruption.abort(new InterruptedError());
    Deno.unrefTimer(setTimeout(() => {
      console.error(INTERRUPTED);
      Deno.exit(130);
    }, STOP_GRACE_MS));
  };
  const installed = signals.filter((s) => {
    try {
      Deno.addSignalListener(s, handler);
      return true;
    } catch {
      return false; // not available here
    }
  });
  return () => {
    // The program ends right after its run: a signal from here on exits at once (no window without a listener,
    // where the default action would end it with 143 and no line). A run inside a host (tests, the demo) just stops.
    const exit = () => Deno.exit(130);
    installed.forEach((s) => {
      if (import.meta.main) Deno.addSignalListener(s, exit);
      Deno.removeSignalListener(s, handler);
    });
    listening = false;
  };
}

if (import.meta.main) {
  const code = await main(Deno.args);
  Deno.exit(code);
}
