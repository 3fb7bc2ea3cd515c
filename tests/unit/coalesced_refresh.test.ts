/**
 * `coalesced` (lib/store/wrappers/pack_tee.ts): a save re-reads the cache's pack
 * journals after each download claim; concurrent asks share one read, and
 * every caller still gets a read that started after its call (so a blob
 * another save packed before the claim is seen).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { coalesced } from "../../lib/store/wrappers/pack_tee.ts";

Deno.test("coalesced: asks during a run share the one run after it; each caller's run starts after its call", async () => {
  const starts: number[] = [];
  const gates: (() => void)[] = [];
  let clock = 0;
  const refresh = coalesced(() => {
    starts.push(clock);
    return new Promise<void>((r) => gates.push(r));
  });
  const asked: number[] = [];
  const ask = () => {
    asked.push(++clock);
    return refresh();
  };
  const first = ask(); // starts run 1 at clock 1
  const during = [ask(), ask(), ask()]; // clocks 2..4: share run 2
  assertEquals(starts, [1]);
  gates[0]();
  await first;
  await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(starts.length, 2, "one run for the three that asked meanwhile");
  assert(starts[1] >= 4, "run 2 started after the last of them asked");
  const late = ask(); // during run 2: a run 3
  gates[1]();
  await Promise.all(during);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(starts.length, 3);
  gates[2]();
  await late;
  assertEquals(asked.length, 5);
});
