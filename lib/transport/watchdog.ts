/**
 * The silence timer of one HTTP exchange: aborts it after `headersMs` without
 * response headers or `idleMs` without a body byte, reports waiting, and
 * turns what the aborted fetch throws into the right typed error. Only
 * silence on the network side counts: not a consumer that has not asked for
 * more yet, nor a source an upload is still reading from (the timer is armed
 * only while the network is what we wait for).
 * @module
 */
import { AirgapError, errorMessage } from "../errors.ts";
import { classifyFetchError, InterruptedError, TimeoutError, TransientError } from "../error_kinds.ts";
import type { NetworkEvents, Timeouts } from "./http.ts";

/** Watches one exchange; {@link signal} is what its fetch listens to. */
export class Watchdog {
  /** Aborted on a timeout, or when the outer (run) signal is. */
  readonly signal: AbortSignal;
  readonly #local = new AbortController();
  readonly #forward = () => this.#local.abort(this.outer!.reason);
  readonly #timer: ReturnType<typeof setInterval>;
  #running = true;
  #last = Date.now();
  #limit: number;
  #phase = "response";
  #reported = 0;
  #armed = true;
  #timedOut: TimeoutError | undefined;
  #sourceError: unknown;

  /** Starts the timer for an exchange with `host` about `what`. */
  constructor(
    readonly host: string,
    readonly what: string,
    readonly timeouts: Timeouts,
    readonly events: NetworkEvents,
    readonly outer: AbortSignal | undefined,
    readonly waitingAfterMs: number,
  ) {
    // Not AbortSignal.any: a run-long outer signal would keep every exchange's signal, and with it the
    // listeners and bodies below, alive to the end of the run (memory grew with each image). A listener
    // removed in stop() forwards it instead.
    if (outer?.aborted) this.#forward();
    else outer?.addEventListener("abort", this.#forward, { once: true });
    this.signal = this.#local.signal;
    this.#limit = timeouts.headersMs;
    const tickMs = Math.max(20, Math.min(1000, Math.floor(Math.min(timeouts.headersMs, timeouts.idleMs) / 4)));
    this.#timer = setInterval(() => this.#tick(), tickMs);
  }

  #tick() {
    if (!this.#armed) return;
    const silent = Date.now() - this.#last;
    if (silent >= this.#limit) {
      this.#timedOut = new TimeoutError(
        `${this.what}: no ${this.#phase} from ${this.host} for ${Math.round(silent / 1000)} s`,
        { where: this.host },
      );
      this.stop();
      this.#local.abort(this.#timedOut);
      return;
    }
    const every = this.#reported ? 2 * this.waitingAfterMs : 0;
    if (this.events.waiting && silent >= this.waitingAfterMs && silent - this.#reported >= every) {
      this.#reported = silent;
      this.events.waiting({ host: this.host, seconds: Math.round(silent / 1000), what: this.what });
    }
  }

  /** The exchange is over (or failed): no more timer, no more listening to the outer signal. */
  stop(): void {
    if (this.#running) clearInterval(this.#timer);
    this.outer?.removeEventListener("abort", this.#forward);
    this.#running = false;
  }

  #arm(on: boolean) {
    this.#last = Date.now();
    this.#reported = 0;
    this.#armed = on;
  }

  /** What the exchange failed with, as a typed error: timeout, the upload's own source, interrupt, network. */
  failure(e: unknown): AirgapError {
    if (this.#timedOut) return this.#timedOut;
    if (this.#sourceError instanceof AirgapError) return this.#sourceError;
    if (this.#sourceError !== undefined) {
      return new AirgapError(`${this.what}: ${errorMessage(this.#sourceError)}`, {}, { cause: e });
    }
    if (this.outer?.aborted) {
      return new InterruptedError(`${this.what}: interrupted`, { where: this.host }, { cause: e });
    }
    return classifyFetchError(e, `${this.what}: ${this.host}`, { where: this.host });
  }

  /** The response headers came: from now on the body's silence counts, against `idleMs`. */
  headersArrived(): void {
    this.#arm(false);
    this.#limit = this.timeouts.idleMs;
    this.#phase = "data";
  }

  /** An upload body whose every chunk handed to the network counts as life. */
  observeUpload(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    this.#limit = this.timeouts.idleMs;
    const reader = stream.getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        this.#arm(false);
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          this.#sourceError = e; // the content failed, not the network
          throw e;
        }
        const { done, value } = chunk;
        if (done) {
          this.#limit = this.timeouts.headersMs;
          controller.close();
        } else controller.enqueue(value);
        this.#arm(true);
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  /** A response body whose every byte counts as life; one that ends short of `length` is a transient failure. */
  observeDownload(stream: ReadableStream<Uint8Array>, length?: number): ReadableStream<Uint8Array> {
    // Deno's fetch bodies hand out a fresh 64 KiB buffer per default read (a 4 KiB blob costs 64 KiB of external
    // memory until a GC); a BYOB read into a buffer sized to what is left of the body costs only that (issue 24).
    const byob = length !== undefined ? byobReader(stream) : undefined;
    const reader = byob ?? stream.getReader();
    let received = 0;
    const read = abortableReads(
      reader,
      this.signal,
      byob && (() => byob.read(new Uint8Array(Math.max(1, Math.min(BODY_READ, length! - received))))),
    );
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          this.#arm(true);
          const { done, value } = await read();
          this.#arm(false);
          if (done) {
            this.stop();
            if (length !== undefined && received < length) {
              throw new TransientError(
                `${this.what}: ${this.host} ended the body after ${received} of ${length} bytes`,
                {
                  where: this.host,
                },
              );
            }
            controller.close();
            return;
          }
          received += value.byteLength;
          controller.enqueue(value);
        } catch (e) {
          this.stop();
          controller.error(e instanceof AirgapError ? e : this.failure(e));
        }
      },
      cancel: (reason) => {
        this.stop();
        return reader.cancel(reason);
      },
    });
  }
}

/** The largest buffer of one body read (Deno's own chunk size). */
const BODY_READ = 64 * 1024;

/** A BYOB reader of a body when its stream offers one (Deno's fetch bodies do). */
function byobReader(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return stream.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
}

/**
 * Reads that settle when `signal` aborts. Aborting the fetch does not always settle a body read already
 * waiting (seen with a stalled body: the timeout fired, the read never returned, the connection stayed open):
 * settle it here, and drop the body. Not a race with one long-lived promise: each race would leave a reaction
 * on it holding its chunk, keeping a whole layer in memory while it streams.
 */
function abortableReads(
  reader: ReadableStreamDefaultReader<Uint8Array> | ReadableStreamBYOBReader,
  signal: AbortSignal,
  next: () => Promise<ReadableStreamReadResult<Uint8Array>> = () =>
    (reader as ReadableStreamDefaultReader<Uint8Array>).read(),
): () => Promise<ReadableStreamReadResult<Uint8Array>> {
  let abortRead: ((reason: unknown) => void) | undefined;
  signal.addEventListener("abort", () => {
    abortRead?.(signal.reason);
    reader.cancel(signal.reason).catch(() => {});
  }, { once: true });
  return () =>
    signal.aborted ? Promise.reject(signal.reason) : new Promise((resolve, reject) => {
      abortRead = reject;
      next().then(resolve, reject).finally(() => {
        if (abortRead === reject) abortRead = undefined;
      });
    });
}
