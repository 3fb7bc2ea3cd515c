/**
 * `save`, `load` and `mirror --json`: the run as NDJSON events on stdout
 * (schema: {@link EventSchema}, `airgap schema --of events`), for CI. The
 * commands keep talking to a {@link Reporter}; {@link eventReporter} wraps
 * it, so no command knows about JSON: warnings become `warning` events (and
 * still go to stderr), the transfer phase's start and each blob it lands
 * become `start` and `blob` events, and progress stays on stderr. The CLI
 * adds the `image`, `summary` and `error` events from the result.
 * @module
 */
import type { Event } from "../../schemas/output.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { failureCause, type ImageFailure, isTypedFailure } from "./failures.ts";
import type { Descriptor } from "../oci/manifest.ts";
import type { Phase, Reporter } from "./progress.ts";

/** Where events go: one JSON document per line. */
export type EventSink = (event: Event) => void;

/** Events as lines on stdout. */
export function stdoutEvents(): EventSink {
  const encoder = new TextEncoder();
  return (event) => {
    const bytes = encoder.encode(JSON.stringify(event) + "\n");
    for (let written = 0; written < bytes.length;) written += Deno.stdout.writeSync(bytes.subarray(written));
  };
}

/** The reporter a `--json` run uses: `reporter` for stderr, plus the events. */
export function eventReporter(
  reporter: Reporter,
  emit: EventSink,
  command: "save" | "load" | "mirror",
): Reporter {
  let started = false;
  const seen = new Set<string>(); // once per digest for the run (a save after a --keep-going failure writes again)
  return {
    info: (line) => reporter.info(line),
    detail: (line) => reporter.detail(line),
    waiting: (what, seconds) => reporter.waiting(what, seconds),
    warn(line) {
      reporter.warn(line);
      emit({ event: "warning", message: line });
    },
    phase(label, plan) {
      const inner = reporter.phase(label, plan);
      // Resolution is not the transfer: its phase has no graphs.
      const unique = new Map<string, number>();
      for (const d of [...(plan.images ?? []).flatMap((i) => i.graph), ...(plan.extra ?? [])]) {
        unique.set(d.digest, d.size);
      }
      if (!started && unique.size > 0) {
        started = true;
        const total = [...unique.values()].reduce((s, n) => s + n, 0);
        emit({ event: "start", command, images: plan.images?.length ?? 0, blobs: unique.size, bytes: total });
      }
      const blob = (d: Descriptor, kind: "blob" | "manifest", outcome: "pushed" | "mounted" | "exists") => {
        if (seen.has(d.digest)) return;
        seen.add(d.digest);
        emit({ event: "blob", digest: d.digest, size: d.size, kind, outcome });
      };
      return {
        ...inner,
        bytes: (n, d, l) => inner.bytes(n, d, l),
        blobDone: (d) => inner.blobDone(d),
        imageDone: (l) => inner.imageDone(l),
        tick: () => inner.tick(),
        end: () => inner.end(),
        copyEvent(event) {
          inner.copyEvent(event);
          if (event.type === "blob" || event.type === "manifest") blob(event.descriptor, event.type, event.outcome);
        },
      } satisfies Phase;
    },
  };
}

/** An `image` event for an image left out by --keep-going. */
export function failedImageEvent(failure: ImageFailure): Event {
  const { cause, registry } = failureCause(failure.error, failure.registry);
  return {
    event: "image",
    entry: failure.entry,
    outcome: "failed",
    error: errorMessage(failure.error),
    cause,
    registry,
  };
}

/**
 * The `error` event of a failed run: its line, the problems, and — for the
 * transport's typed errors, or failures that all share one — the cause and registry.
 */
export function errorEvent(
  e: unknown,
  exitCode: number,
  problems?: readonly string[],
  failures?: ImageFailure[],
): Event {
  const registryOf = (x: unknown) => {
    const r = x instanceof AirgapError ? x.context.where : undefined;
    return typeof r === "string" ? r : undefined;
  };
  let found: { cause: string; registry: string } | undefined;
  if (isTypedFailure(e)) found = failureCause(e, registryOf(e) ?? "");
  else if (failures && failures.length > 0) {
    const causes = failures.map((f) => failureCause(f.error, f.registry));
    if (causes.every((c) => c.cause === causes[0].cause && c.registry === causes[0].registry)) found = causes[0];
  }
  return {
    event: "error",
    message: errorMessage(e).split("\n")[0],
    exitCode,
    ...(problems && problems.length > 0 ? { problems: [...problems] } : {}),
    ...(found?.cause ? { cause: found.cause } : {}),
    ...(found?.registry ? { registry: found.registry } : {}),
  };
}
