/**
 * The one counting semaphore: the per-host request bound of the registry
 * client, the copy engine's transfers, and the planner's and checks'
 * concurrent lookups all take turns through it. A freed slot is handed to
 * the next in line, so the bound holds however callers interleave.
 * @module
 */

/**
 * A small counting semaphore. Tasks with a lower `priority` number start
 * first (configs before layers, so sequential consumers never wait on them).
 */
export function limiter(concurrency: number) {
  let active = 0;
  const waiting: { priority: number; start: () => void }[] = [];
  return async <T>(task: () => Promise<T>, priority = 1): Promise<T> => {
    if (active >= concurrency) {
      // Wait for a finishing task to hand over its slot (`active` already counts it): a slot
      // freed and then taken would let a caller arriving in between make one too many.
      await new Promise<void>((start) => {
        // Most callers share one priority: appending is then O(1), where a scan for the place made
        // thousands of queued look-ups (a 2,848-image plan) quadratic.
        if (waiting.length === 0 || waiting[waiting.length - 1].priority <= priority) {
          waiting.push({ priority, start });
          return;
        }
        const at = waiting.findIndex((w) => w.priority > priority);
        waiting.splice(at, 0, { priority, start });
      });
    } else {
      active++;
    }
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next.start();
      else active--;
    }
  };
}
