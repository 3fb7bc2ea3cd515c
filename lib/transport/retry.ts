/**
 * The one retry policy of every network operation: which failures are
 * retried (what {@link isTemporary} says: 5xx, 408, 429, resets, timeouts,
 * truncated bodies — never 401/403/404), how often (`attempts`), and how long
 * to wait between tries (exponential backoff with full jitter, so many
 * clients that failed together do not come back together; a server's
 * `Retry-After` wins when it is longer). Tests shorten the waits with
 * `AIRGAP_RETRY_BASE_MS`.
 * @module
 */
import { InterruptedError, isTemporary, TransientError } from "../error_kinds.ts";

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** Tries in all, the first included (default 6). */
  attempts: number;
  /** The first backoff step in ms (default 500; doubles each try). */
  baseMs: number;
  /** The longest wait between tries in ms (default 30 000), also the cap on `Retry-After`. */
  maxMs: number;
}

/** Defaults: 6 attempts, 0.5 s doubling, at most 30 s between attempts. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = { attempts: 6, baseMs: 500, maxMs: 30_000 };

function envNumber(name: string): number | undefined {
  try {
    const text = Deno.env.get(name);
    const value = text === undefined || text === "" ? NaN : Number(text);
    return Number.isFinite(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined; // no env permission: defaults
  }
}

/** The policy in effect: the defaults, with `AIRGAP_RETRY_BASE_MS`/`AIRGAP_RETRY_ATTEMPTS` for tests. */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const baseMs = envNumber("AIRGAP_RETRY_BASE_MS");
  const attempts = envNumber("AIRGAP_RETRY_ATTEMPTS");
  return {
    ...DEFAULT_RETRY_POLICY,
    ...(baseMs !== undefined
      ? { baseMs, maxMs: Math.max(baseMs, Math.min(DEFAULT_RETRY_POLICY.maxMs, baseMs * 60)) }
      : {}),
    ...(attempts !== undefined && attempts >= 1 ? { attempts: Math.floor(attempts) } : {}),
    ...overrides,
  };
}

/**
 * The wait before retry number `retry` (0 for the first retry): full jitter,
 * a uniform draw in [0, min(maxMs, baseMs·2^retry)].
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * ceiling);
}

/**
 * A `Retry-After` header in milliseconds: delay-seconds or an HTTP-date
 * (RFC 9110 §10.2.3). Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^[a-z]{3}/i.test(text)) return undefined; // an HTTP-date starts with the day's name
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** How long to wait before the next try, given the failure and the policy. */
export function retryDelay(retry: number, error: unknown, policy: RetryPolicy, random?: () => number): number {
  const backoff = backoffDelay(retry, policy, random);
  const asked = error instanceof TransientError ? error.retryAfterMs : undefined;
  return asked === undefined ? backoff : Math.max(backoff, Math.min(asked, policy.maxMs));
}

/** Sleep, waking early (with an {@link InterruptedError}) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new InterruptedError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new InterruptedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Options of {@link withRetries}. */
export interface RetryOptions {
  /** The policy (default {@link retryPolicy}()). */
  policy?: RetryPolicy;
  /** Stop waiting and trying when this aborts. */
  signal?: AbortSignal;
  /** Hears each failure that will be retried, with the wait before the next try. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Decide retryability (default {@link isTemporary}). */
  retryable?: (error: unknown) => boolean;
}

/** Run `attempt` until it succeeds, fails for good, or the attempts are spent. */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = options.policy ?? retryPolicy();
  const retryable = options.retryable ?? isTemporary;
  for (let n = 0;; n++) {
    if (options.signal?.aborted) throw new InterruptedError();
    try {
      return await attempt(n);
    } catch (e) {
      if (options.signal?.aborted) throw new InterruptedError(undefined, {}, { cause: e });
      if (n + 1 >= policy.attempts || !retryable(e)) throw e;
      const delay = retryDelay(n, e, policy);
      options.onRetry?.(e, n, delay);
      await sleep(delay, options.signal);
    }
  }
}
