/**
 * The copy engine's semaphore (also the per-host request bound): a slot a
 * finishing task frees goes to the next task in line. Freed and re-taken, a
 * caller arriving between the two would make one task too many — seen as 3
 * requests in flight under a bound of 2 in the concurrency interop test.
 */
import { assertEquals } from "../helpers/assert.ts";
import { limiter } from "../../lib/transport/limiter.ts";

Deno.test("limiter: a slot freed by a finishing task goes to the next in line, never to a caller arriving in between", async () => {
  for (let depth = 0; depth < 8; depth++) {
    const run = limiter(1);
    let inside = 0;
    let peak = 0;
    const task = (gate: Promise<void>) => async () => {
      peak = Math.max(peak, ++inside);
      await gate;
      inside--;
    };
    let release!: () => void;
    const first = run(task(new Promise<void>((r) => (release = r))));
    const waiting = run(task(Promise.resolve()));
    release();
    // A caller arriving `depth` microtasks later: somewhere between the first task's end and the waiter's start.
    let chain = Promise.resolve();
    for (let i = 0; i < depth; i++) chain = chain.then(() => {});
    const late = chain.then(() => run(task(Promise.resolve())));
    await Promise.all([first, waiting, late]);
    assertEquals(peak, 1, `a caller ${depth} microtasks after the release`);
  }
});

Deno.test("limiter: waiting tasks start by priority (lower first), in arrival order within one priority", async () => {
  const limit = limiter(1);
  const started: string[] = [];
  let release!: () => void;
  const first = limit(() => new Promise<void>((r) => (release = r)));
  const queued = [["a", 1], ["b", 1], ["c", 0], ["d", 2], ["e", 0], ["f", 1]].map(([name, priority]) =>
    limit(() => Promise.resolve(void started.push(name as string)), priority as number)
  );
  release();
  await Promise.all([first, ...queued]);
  assertEquals(started, ["c", "e", "a", "b", "f", "d"]);
});
