/**
 * Messages and progress on stderr; stdout stays for results.
 *
 * Progress counts what is *at the destination*, each thing once: an image is
 * done when its root is tagged, a blob when its digest is stored (pushed,
 * mounted or already there), bytes are the sizes of stored blobs plus the
 * bytes in flight. Totals come from the same graphs, so no counter can pass
 * its total — the copy engine reports per (repository, digest), and a layer
 * shared by ten repositories must still count once.
 *
 * On a terminal one live status line is redrawn (cut to the terminal width);
 * elsewhere (CI logs) a plain status line is printed every `interval`
 * (10 s), and with `verbose` one line per finished image. When nothing has
 * moved for a few seconds the line says what it is waiting for.
 * @module
 */
import type { CopyEvent } from "../copy/engine.ts";
import { formatBytes, formatRate, terminalWidth, truncateEnd } from "../text.ts";
import type { Descriptor } from "../oci/manifest.ts";
import type { NetworkEvents } from "../transport/http.ts";
import { failureCause } from "./failures.ts";

/** Where commands report to. */
export interface Reporter {
  /** A line of information (stderr; not with `quiet`). */
  info(line: string): void;
  /** A line only shown with `verbose`. */
  detail(line: string): void;
  /** A warning (stderr, prefixed; not with `quiet`, which prints only results and errors). */
  warn(line: string): void;
  /** Start a progress phase over the given images (or just a byte count). */
  phase(label: string, plan: PhasePlan): Phase;
  /**
   * Something is waited on (a registry that does not answer, a retry's
   * back-off): shown as `waiting for WHAT (N s)` until progress resumes.
   * Callers may repeat it as `seconds` grows.
   */
  waiting(what: string, seconds: number): void;
}

/** What a phase will move. */
export interface PhasePlan {
  /** The images, each with every descriptor the destination must end up holding (root included). */
  images?: { label: string; graph: readonly Descriptor[] }[];
  /** Further blobs that count in blobs and bytes but are not images (chart artifacts). */
  extra?: readonly Descriptor[];
  /** A byte total for phases that count only bytes (verify). */
  bytes?: number;
  /** What is waited on when nothing moves (a registry host, a file). */
  source?: string;
  /** The verb for finished-image lines with `verbose` (default: the label). */
  done?: string;
}

/** A running progress phase. */
export interface Phase {
  /** `n` more bytes of a blob are in flight (`label`: the image it is for). */
  bytes(n: number, descriptor?: Descriptor, label?: string): void;
  /** A blob is at the destination. */
  blobDone(descriptor: Descriptor): void;
  /** An image is complete at the destination (so is every descriptor of its graph). */
  imageDone(label: string): void;
  /** Redraw now (a timer does it every second, so stalls and the ETA show without events). */
  tick(): void;
  /** Feed a copy engine event to the phase. */
  copyEvent(event: CopyEvent): void;
  /** Finish the phase: clear the live line, if any. */
  end(): void;
}

/** Options for {@link createReporter}. */
export interface ReporterOptions {
  /** Only results and errors: no information, no progress. */
  quiet?: boolean;
  /** One line per finished image, and {@link Reporter.detail} lines. */
  verbose?: boolean;
  /** Force (true) or forbid (false) the live line; default: stderr is a terminal. */
  live?: boolean;
  /** ANSI escapes on the live line (default: unless NO_COLOR is set). */
  ansi?: boolean;
  /** Columns of the live line (default: the terminal's). */
  width?: number;
  /** Milliseconds between plain status lines without a terminal (default 10 000). */
  interval?: number;
  /** Seconds without progress before the line says it is waiting (default 5). */
  stallSeconds?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  /** Where the text goes (default: stderr). */
  write?: (text: string) => void;
}

/** Counters of a phase; `done` never exceeds `total`. */
export interface ProgressCounts {
  images: { done: number; total: number };
  blobs: { done: number; total: number };
  bytes: { done: number; total: number };
  /** Bytes actually transferred (the rate), not those found already there. */
  moved: number;
  /** Labels of images with bytes in flight. */
  inFlight: string[];
}

/** The bookkeeping of one phase: pure, so it can be tested without a terminal. */
export class ProgressTracker {
  #sizes = new Map<string, number>();
  #graphs = new Map<string, Descriptor[]>();
  #doneBlobs = new Set<string>();
  #doneImages = new Set<string>();
  #flight = new Map<string, { bytes: number; label?: string }>();
  #doneBytes = 0;
  #bytesOnly = 0;
  #bytesTotal = 0;
  moved = 0;

  constructor(plan: PhasePlan) {
    for (const image of plan.images ?? []) {
      const graph = this.#graphs.get(image.label) ?? [];
      graph.push(...image.graph);
      this.#graphs.set(image.label, graph);
      for (const d of image.graph) this.#sizes.set(d.digest, d.size);
    }
    for (const d of plan.extra ?? []) this.#sizes.set(d.digest, d.size);
    for (const size of this.#sizes.values()) this.#bytesTotal += size;
    if (this.#sizes.size === 0) this.#bytesTotal = plan.bytes ?? 0;
  }

  /** Bytes in flight; returns false when they are for nothing this phase counts. */
  bytes(n: number, descriptor?: Descriptor, label?: string): boolean {
    this.moved += n;
    if (!descriptor) {
      this.#bytesOnly += n;
      return true;
    }
    const size = this.#sizes.get(descriptor.digest);
    if (size === undefined || this.#doneBlobs.has(descriptor.digest)) return false;
    const flight = this.#flight.get(descriptor.digest) ?? { bytes: 0, label };
    // A retried download starts again: never count more than the blob's size.
    flight.bytes = Math.min(size, flight.bytes + n);
    this.#flight.set(descriptor.digest, flight);
    return true;
  }

  /** A blob is stored; returns false when it was counted already (or is not counted here). */
  blobDone(digest: string): boolean {
    const size = this.#sizes.get(digest);
    if (size === undefined || this.#doneBlobs.has(digest)) return false;
    this.#doneBlobs.add(digest);
    this.#flight.delete(digest);
    this.#doneBytes += size;
    return true;
  }

  /** An image is complete; returns false when it was counted already. */
  imageDone(label: string): boolean {
    const graph = this.#graphs.get(label);
    if (!graph || this.#doneImages.has(label)) return false;
    this.#doneImages.add(label);
    for (const d of graph) this.blobDone(d.digest);
    return true;
  }

  /** The counters now. */
  counts(): ProgressCounts {
    let flying = 0;
    const inFlight = new Set<string>();
    for (const f of this.#flight.values()) {
      flying += f.bytes;
      if (f.label) inFlight.add(f.label);
    }
    return {
      images: { done: this.#doneImages.size, total: this.#graphs.size },
      blobs: { done: this.#doneBlobs.size, total: this.#sizes.size },
      bytes: { done: this.#doneBytes + flying + this.#bytesOnly, total: this.#bytesTotal },
      moved: this.moved,
      inFlight: [...inFlight].filter((l) => !this.#doneImages.has(l)),
    };
  }
}

/** A phase over images that are only counted (resolving tags): `resolving: 120/712 images`. */
export function countingPlan(labels: readonly string[], source?: string): PhasePlan {
  return { images: labels.map((label) => ({ label, graph: [] })), source };
}

/** `ETA 1m 05s`-style remaining time, or "" when it cannot be estimated yet. */
export function formatEta(remainingBytes: number, movedBytes: number, elapsedMs: number): string {
  if (remainingBytes <= 0 || movedBytes <= 0 || elapsedMs < 2000) return "";
  const seconds = Math.ceil((remainingBytes / movedBytes) * (elapsedMs / 1000));
  if (seconds < 60) return `ETA ${seconds}s`;
  if (seconds < 3600) return `ETA ${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`;
  return `ETA ${Math.floor(seconds / 3600)}h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

/** One status line: `saving: 3/12 images, 45/167 blobs, 120 MiB / 817 MiB (14%), 25 MiB/s, ETA 28s; rancher/x`. */
export function formatStatus(label: string, counts: ProgressCounts, elapsedMs: number, waiting?: string): string {
  const { images, blobs, bytes } = counts;
  const parts: string[] = [];
  if (images.total > 0) parts.push(`${images.done}/${images.total} images`);
  if (blobs.total > 0) parts.push(`${blobs.done}/${blobs.total} blobs`);
  if (bytes.total > 0 || counts.moved > 0) {
    const percent = bytes.total > 0 ? ` (${Math.floor((bytes.done * 100) / bytes.total)}%)` : "";
    parts.push(`${formatBytes(bytes.done)} / ${formatBytes(bytes.total)}${percent}`);
    parts.push(formatRate(counts.moved, elapsedMs));
    const eta = formatEta(bytes.total - bytes.done, counts.moved, elapsedMs);
    if (eta) parts.push(eta);
  }
  let line = `${label}: ${parts.join(", ")}`;
  if (waiting) line += `; ${waiting}`;
  else if (counts.inFlight.length > 0) {
    const shown = counts.inFlight.slice(0, 3).join(", ");
    line += `; ${shown}${counts.inFlight.length > 3 ? ` +${counts.inFlight.length - 3}` : ""}`;
  }
  return line;
}

const encoder = new TextEncoder();

function noColor(): boolean {
  try {
    return Deno.env.get("NO_COLOR") !== undefined;
  } catch {
    return false;
  }
}

/** A reporter on stderr. */
export function createReporter(options: ReporterOptions = {}): Reporter {
  const screen = new Screen(options);
  return {
    info(line) {
      if (!options.quiet) screen.println(line);
    },
    detail(line) {
      if (options.verbose && !options.quiet) screen.println(line);
    },
    warn(line) {
      if (!options.quiet) screen.println(`warning: ${line}`);
    },
    waiting(what, seconds) {
      if (!options.quiet) screen.waiting(what, seconds);
    },
    phase(label, plan) {
      const phase = new PhaseProgress(screen, label, plan, options);
      screen.current = phase;
      phase.tick();
      return phase;
    },
  };
}

/**
 * The stderr side of a reporter: a live line redrawn in place on a terminal
 * (cut to its width), plain lines elsewhere; the running phase, and what the
 * network is waiting for.
 */
class Screen {
  readonly write: (text: string) => void;
  readonly live: boolean;
  readonly ansi: boolean;
  readonly now: () => number;
  /** The running phase, redrawn after a line is printed above it. */
  current: PhaseProgress | undefined;
  /** What a silent request waits for (until bytes move again). */
  waitingFor: { what: string; seconds: number } | undefined;
  #shown = 0; // length of the live line on screen

  constructor(readonly options: ReporterOptions) {
    this.write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
    this.live = !options.quiet && (options.live ?? Deno.stderr.isTerminal());
    this.ansi = options.ansi ?? !noColor();
    this.now = options.now ?? (() => performance.now());
  }

  clear() {
    if (this.#shown === 0) return;
    this.write(this.ansi ? "\r\x1b[K" : `\r${" ".repeat(this.#shown)}\r`);
    this.#shown = 0;
  }

  drawLive(line: string) {
    const width = this.options.width ?? terminalWidth();
    const cut = truncateEnd(line, Math.max(10, width - 1));
    const pad = !this.ansi && cut.length < this.#shown ? " ".repeat(this.#shown - cut.length) : "";
    this.write(`\r${this.ansi ? "\x1b[K" : ""}${cut}${pad}`);
    this.#shown = cut.length;
  }

  println(line: string) {
    this.clear();
    this.write(`${line}\n`);
    if (this.live) this.current?.tick();
  }

  waitingText(): string {
    return this.waitingFor ? `waiting for ${this.waitingFor.what} (${this.waitingFor.seconds} s)` : "";
  }

  waiting(what: string, seconds: number) {
    this.waitingFor = { what, seconds: Math.round(seconds) };
    if (this.current) this.current.tick();
    else if (this.live) this.drawLive(this.waitingText());
    else this.write(`${this.waitingText()}\n`);
  }
}

/** One phase's progress: counts from the tracker, drawn at most every 100 ms live or every `interval` plain. */
class PhaseProgress implements Phase {
  readonly #tracker: ProgressTracker;
  readonly #started: number;
  readonly #stallMs: number;
  readonly #interval: number;
  readonly #ticker: ReturnType<typeof setInterval> | undefined;
  #lastMove: number;
  #lastDraw = -Infinity;
  #lastPlain: number;
  #printed = false;

  constructor(
    readonly screen: Screen,
    readonly label: string,
    readonly plan: PhasePlan,
    readonly options: ReporterOptions,
  ) {
    this.#tracker = new ProgressTracker(plan);
    this.#started = this.#lastMove = this.#lastPlain = screen.now();
    this.#stallMs = (options.stallSeconds ?? 5) * 1000;
    this.#interval = options.interval ?? 10_000;
    if (!options.quiet) {
      this.#ticker = setInterval(
        () => this.#draw(),
        screen.live ? 1000 : Math.max(250, Math.min(1000, this.#interval)),
      );
      Deno.unrefTimer(this.#ticker);
    }
  }

  #stalled(): string {
    if (this.screen.waitingFor) return this.screen.waitingText();
    const idle = this.screen.now() - this.#lastMove;
    if (idle < this.#stallMs) return "";
    return `waiting for ${this.plan.source ?? "data"} (${Math.floor(idle / 1000)} s)`;
  }

  #line(): string {
    return formatStatus(this.label, this.#tracker.counts(), this.screen.now() - this.#started, this.#stalled());
  }

  #draw(force = false) {
    if (this.options.quiet) return;
    const t = this.screen.now();
    if (this.screen.live) {
      if (!force && t - this.#lastDraw < 100) return;
      this.#lastDraw = t;
      this.screen.drawLive(this.#line());
    } else if (force || t - this.#lastPlain >= this.#interval) {
      this.#lastPlain = t;
      this.#printed = true;
      this.screen.write(`${this.#line()}\n`);
    }
  }

  #moved() {
    this.#lastMove = this.screen.now();
    this.screen.waitingFor = undefined;
  }

  bytes(n: number, descriptor?: Descriptor, imageLabel?: string) {
    this.#moved();
    if (this.#tracker.bytes(n, descriptor, imageLabel)) this.#draw();
  }

  blobDone(descriptor: Descriptor) {
    this.#moved();
    if (this.#tracker.blobDone(descriptor.digest)) this.#draw();
  }

  imageDone(imageLabel: string) {
    this.#moved();
    if (!this.#tracker.imageDone(imageLabel)) return;
    const { images } = this.#tracker.counts();
    if (this.options.verbose && !this.options.quiet) {
      this.screen.println(`${this.plan.done ?? this.label} ${imageLabel} (${images.done}/${images.total})`);
    }
    this.#draw();
  }

  tick() {
    this.#draw(this.screen.live);
  }

  copyEvent(event: CopyEvent) {
    if (event.type === "bytes") this.bytes(event.bytes, event.descriptor, event.label);
    else if (event.type === "blob" || event.type === "manifest") this.blobDone(event.descriptor);
    else if (event.type === "image") this.imageDone(event.label);
  }

  end() {
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    if (this.screen.current === this) this.screen.current = undefined;
    if (this.screen.live) this.screen.clear();
    // A CI log that showed this phase under way also shows where it ended.
    else if (this.#printed && !this.options.quiet) this.screen.write(`${this.#line()}\n`);
  }
}

/**
 * The network's waiting and retry notices as reporter lines:
 * "waiting for HOST (N s): WHAT" while a request is silent, and a retry
 * once per registry and cause — an unreachable registry is one line, not a
 * line per attempt and image (the later attempts say nothing new).
 */
export function networkEvents(reporter: Reporter): NetworkEvents {
  const told = new Set<string>();
  return {
    waiting: (e) => reporter.info(`waiting for ${e.host} (${e.seconds} s): ${e.what}`),
    retrying: (e) => {
      const key = `${e.host}\0${failureCause(new Error(e.message), e.host).cause}`;
      if (told.has(key)) return;
      told.add(key);
      reporter.info(`${e.message}; retrying (next in ${(e.delayMs / 1000).toFixed(1)} s; further retries not shown)`);
    },
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

if (tracing) {
  // Memory every two seconds, on a timer that does not keep the process alive.
  const timer = setInterval(() => trace("memory"), 250);
  Deno.unrefTimer(timer);
}

/** With AIRGAP_TRACE=1, print a timestamped line on stderr (for performance work). */
export function trace(label: string): void {
  if (!tracing) return;
  const { rss, heapTotal, heapUsed, external } = Deno.memoryUsage();
  const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
  console.error(
    `[trace ${(performance.now() - traceStart).toFixed(0).padStart(6)} ms] ${label} (rss ${mib(rss)}, heap ${
      mib(heapTotal)
    } committed, ${mib(heapUsed)}, external ${mib(external)})`,
  );
}
