/**
 * The state of one command-line run, shared by every command module: where
 * result lines go (stdout, or stderr when `--json` events own stdout), the
 * event sink, whether a `--keep-going` run left images out (exit code 3), and
 * the Ctrl-C signal every network operation listens to. It is set by
 * `cli.ts`'s `main` (which reads it to pick the exit code and the error
 * output) and by the commands; it lives here, not in `cli.ts`, so the command
 * modules never import the program that registers them.
 * @module
 */
import { displayPath } from "../../plan/declaration.ts";
import { groupFailures, type ImageFailure, retryFlags } from "../../report/failures.ts";
import { createReporter, networkEvents, type Reporter } from "../../report/progress.ts";
import { eventReporter, type EventSink, stdoutEvents } from "../../report/events.ts";
import type { NetworkOptions } from "../../store/registry/pool.ts";
import { parseTimeout } from "../../transport/http.ts";

/** What a run carries from its commands to `main`. */
export interface RunState {
  /** With `--json` (save, load, mirror): NDJSON events on stdout (lib/report/events.ts); `main` adds the error event. */
  events?: EventSink;
  /** Set when a --keep-going run left some images out: the exit code is then 3. */
  partialSuccess: boolean;
  /** Aborted by SIGINT/SIGTERM (see `main`): every network operation of the run listens. */
  interruption: AbortController;
}

/** The run in progress (one per process; the demo's nested runs share it, as they share the terminal). */
export const run: RunState = { partialSuccess: false, interruption: new AbortController() };

/** Forget what the previous run left: a new `main`, same interruption signal. */
export function startRun(): void {
  run.partialSuccess = false;
  run.events = undefined;
}

/** A result line on stdout — on stderr with --json events, so stdout carries nothing but the events. */
export function out(line = ""): void {
  if (run.events) console.error(line);
  else console.log(line);
}

/** `-q/--quiet` and `--verbose`, as the reporters take them. */
export interface ReporterFlags {
  quiet?: boolean;
  verbose?: boolean;
}

/** The run's reporter: progress and warnings on stderr. */
export function reporterFor(options: ReporterFlags): Reporter {
  return createReporter({ quiet: options.quiet, verbose: options.verbose, ...progressTestOptions() });
}

/** The reporter of a save, load or mirror: with `--json`, one that also emits the events. */
export function transferReporter(options: ReporterFlags & { json?: boolean }, command: "save" | "load" | "mirror") {
  const reporter = reporterFor(options);
  if (!options.json) return reporter;
  run.events = stdoutEvents();
  return eventReporter(reporter, run.events, command);
}

/** Tests shorten the plain-progress interval (AIRGAP_PROGRESS_INTERVAL, ms) instead of waiting 10 s. */
function progressTestOptions(): { interval?: number } {
  const interval = Number(Deno.env.get("AIRGAP_PROGRESS_INTERVAL"));
  return Number.isFinite(interval) && interval >= 0 && Deno.env.has("AIRGAP_PROGRESS_INTERVAL") ? { interval } : {};
}

/** The run's network options: `--timeout`, progress notices, Ctrl-C. */
export function network(options: { timeout?: string }, reporter: Reporter): NetworkOptions {
  return {
    timeouts: options.timeout ? parseTimeout(options.timeout) : undefined,
    events: networkEvents(reporter),
    signal: run.interruption.signal,
  };
}

/** The images a --keep-going run left out, grouped by cause, and the list that retries them (errors with --quiet). */
export function reportLeftOut(
  failed: ImageFailure[],
  list: string,
  reporter: Reporter,
  declaration?: string,
  quiet?: boolean,
): void {
  if (failed.length === 0) return;
  const report = quiet ? (line: string) => console.error(`error: ${line}`) : (line: string) => reporter.warn(line);
  for (const line of groupFailures(failed)) report(line);
  const shown = displayPath(list);
  const flags = retryFlags(shown, declaration && displayPath(declaration));
  report(`${failed.length} image(s) left out, listed in ${shown} (retry them with ${flags})`);
  run.partialSuccess = true;
}
