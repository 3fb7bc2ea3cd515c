/**
 * A download body that survives a broken connection: when the body fails
 * with a temporary error (reset, stall, early end) it asks again with
 * `Range: bytes=N-` from the last byte it passed on, checks the `206` and
 * its `Content-Range`, and carries on — the consumer (which hashes as it
 * reads) sees one continuous stream, so the digest covers both parts. A
 * server that ignores ranges answers `200`: its first N bytes are skipped,
 * which is a full fetch. A `416` (range not satisfiable) at the content's
 * full size means every byte already arrived: the body ends there and the
 * consumer's digest check decides; a `416` anywhere else restarts from byte
 * 0 (the first N bytes skipped again). Consecutive failures without a byte
 * of progress are bounded by the retry policy.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { isTemporary, TransientError } from "../error_kinds.ts";
import { retryDelay, type RetryPolicy, sleep } from "./retry.ts";

/** Options of {@link resumableBody}. */
export interface ResumeOptions {
  /** The retry policy (attempts and waits between resumptions). */
  policy: RetryPolicy;
  /** Names the content in messages. */
  what: string;
  /** Stops waiting and resuming. */
  signal?: AbortSignal;
  /** Hears each resumption. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Where `first` starts in the whole content (a body that is itself a resumed part). */
  startsAt?: number;
}

/**
 * The body of `first`, continued through `reopen(offset)` (a request with
 * `Range: bytes=offset-`, offset counted in the whole content, whose answer
 * may be 206 or 200) until `size` bytes have passed.
 */
export function resumableBody(
  first: ReadableStream<Uint8Array>,
  size: number,
  reopen: (offset: number) => Promise<Response>,
  options: ResumeOptions,
): ReadableStream<Uint8Array> {
  let reader = first.getReader();
  let offset = 0;
  let failures = 0;

  const startsAt = options.startsAt ?? 0;
  async function continueAt(offset: number): Promise<ReadableStreamDefaultReader<Uint8Array>> {
    const at = startsAt + offset;
    let response = await reopen(at);
    if (response.status === 416) {
      await response.body?.cancel();
      if (offset >= size) return ended().getReader();
      response = await reopen(0); // the server knows no such range: start over, skipping what was passed on
      if (response.status === 206 && response.headers.get("content-range")?.startsWith("bytes 0-") && response.body) {
        return skipping(response.body, at).getReader();
      }
    }
    const range = response.headers.get("content-range");
    if (response.status === 206 && response.body && range?.startsWith(`bytes ${at}-`)) return response.body.getReader();
    if (response.status === 200 && response.body) return skipping(response.body, at).getReader();
    await response.body?.cancel();
    throw new TransientError(
      `${options.what}: resuming at byte ${at} got HTTP ${response.status}${range ? ` (${range})` : ""}`,
    );
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            if (offset >= size) return controller.close();
            throw new TransientError(`${options.what}: the body ended after ${offset} of ${size} bytes`);
          }
          if (value.byteLength === 0) continue;
          offset += value.byteLength;
          failures = 0;
          controller.enqueue(value);
          return;
        } catch (e) {
          reader.cancel().catch(() => {});
          if (!isTemporary(e) || options.signal?.aborted || ++failures >= options.policy.attempts) {
            controller.error(e instanceof AirgapError ? e : new AirgapError(`${options.what}: ${String(e)}`));
            return;
          }
          const delay = retryDelay(failures - 1, e, options.policy);
          options.onRetry?.(e, failures - 1, delay);
          try {
            await sleep(delay, options.signal);
            reader = await continueAt(offset);
          } catch (again) {
            if (!isTemporary(again) || failures + 1 >= options.policy.attempts) {
              controller.error(again);
              return;
            }
            reader = erroring(again).getReader(); // counts as one more failure on the next turn
          }
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** A stream without its first `skip` bytes. */
function skipping(stream: ReadableStream<Uint8Array>, skip: number): ReadableStream<Uint8Array> {
  let left = skip;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left >= chunk.byteLength) {
          left -= chunk.byteLength;
          return;
        }
        controller.enqueue(left > 0 ? chunk.subarray(left) : chunk);
        left = 0;
      },
    }),
  );
}

function ended(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.close() });
}

function erroring(e: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.error(e) });
}
