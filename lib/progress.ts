/**
 * Messages and progress on stderr: one live line on a terminal, a line every
 * few seconds otherwise (CI logs). stdout stays for results.
 * @module
 */
import { formatBytes, formatRate } from "./format.ts";
import type { NetworkEvents } from "./transport/http.ts";

/** Where commands report to. */
export interface Reporter {
  /** A line of information (stderr). */
  info(line: string): void;
  /** A warning (stderr, prefixed). */
  warn(line: string): void;
  /** Start a byte-progress phase. */
  phase(label: string, totalBytes: number, totalItems: number): Phase;
}

/** A running progress phase. */
export interface Phase {
  /** Count `n` more bytes done. */
  addBytes(n: number): void;
  /** Count one more item (blob) done. */
  addItem(): void;
  /** Finish the phase: clear the live line, if any. */
  end(): void;
}

const encoder = new TextEncoder();

/** Options for {@link createReporter}. */
export interface ReporterOptions {
  quiet?: boolean;
  /** Force (true) or forbid (false) the live line; default: stderr is a terminal. */
  live?: boolean;
  write?: (text: string) => void;
}

/** A reporter on stderr. */
export function createReporter(options: ReporterOptions = {}): Reporter {
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const live = options.live ?? Deno.stderr.isTerminal();
  let liveLine = false;
  const clear = () => {
    if (liveLine) write("\r\x1b[K");
    liveLine = false;
  };
  return {
    info(line) {
      if (options.quiet) return;
      clear();
      write(`${line}\n`);
    },
    warn(line) {
      clear();
      write(`warning: ${line}\n`);
    },
    phase(label, totalBytes, totalItems) {
      const started = performance.now();
      let bytes = 0;
      let items = 0;
      let lastDraw = 0;
      const render = () => {
        const elapsed = performance.now() - started;
        const percent = totalBytes > 0 ? ` (${Math.min(100, Math.floor((bytes * 100) / totalBytes))}%)` : "";
        return `${label}: ${formatBytes(bytes)} / ${formatBytes(totalBytes)}${percent}, ${items}/${totalItems} blobs, ${
          formatRate(bytes, elapsed)
        }`;
      };
      const draw = (force = false) => {
        if (options.quiet) return;
        const now = performance.now();
        if (live) {
          if (!force && now - lastDraw < 200) return;
          lastDraw = now;
          write(`\r\x1b[K${render()}`);
          liveLine = true;
        } else if (force || now - lastDraw > 10_000) {
          lastDraw = now;
          write(`${render()}\n`);
        }
      };
      lastDraw = live ? 0 : performance.now();
      return {
        addBytes(n) {
          bytes += n;
          draw();
        },
        addItem() {
          items++;
          draw();
        },
        end() {
          if (live) clear();
        },
      };
    },
  };
}

/**
 * The network's waiting and retry notices as reporter lines:
 * "waiting for HOST (N s): WHAT" while a request is silent, and each retry
 * with its reason and wait.
 */
export function networkEvents(reporter: Reporter): NetworkEvents {
  return {
    waiting: (e) => reporter.info(`waiting for ${e.host} (${e.seconds} s): ${e.what}`),
    retrying: (e) =>
      reporter.info(`${e.message}; retrying in ${(e.delayMs / 1000).toFixed(1)} s (attempt ${e.attempt + 1})`),
  };
}

const traceStart = performance.now();
const tracing = (() => {
  try {
    return Deno.env.get("AIRGAP_TRACE") === "1";
  } catch {
    return false;
  }
})();

/** With AIRGAP_TRACE=1, print a timestamped line on stderr (for performance work). */
export function trace(label: string): void {
  if (tracing) console.error(`[trace ${(performance.now() - traceStart).toFixed(0).padStart(6)} ms] ${label}`);
}
