/**
 * The shared seeded generator (tests/helpers/seeded.ts) is pinned: every
 * generator's recorded seeds replay only while mulberry32 draws exactly these
 * numbers and `int`/`pick`/`chance` each take exactly one draw.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { generatorRun, mulberry32, rand } from "../helpers/seeded.ts";

Deno.test("mulberry32: seed 1 draws the recorded sequence", () => {
  const next = mulberry32(1);
  assertEquals(Array.from({ length: 4 }, () => Math.floor(next() * 2 ** 32)), PINNED);
});

Deno.test("rand: int, pick and chance take one draw each, as the bare PRNG would", () => {
  const bare = mulberry32(7);
  const r = rand(7);
  const items = ["a", "b", "c", "d", "e"];
  for (let i = 0; i < 100; i++) {
    assertEquals(r.int(10), Math.floor(bare() * 10));
    assertEquals(r.pick(items), items[Math.floor(bare() * items.length)]);
    assertEquals(r.chance(0.3), bare() < 0.3);
  }
});

Deno.test("rand: shuffle is a permutation and leaves its input alone", () => {
  const r = rand(3);
  const items = Array.from({ length: 50 }, (_, i) => i);
  const shuffled = r.shuffle(items);
  assertEquals([...shuffled].sort((a, b) => a - b), items);
  assert(shuffled.some((x, i) => x !== i), "some item moved");
  assertEquals(items, Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("generatorRun: the CI defaults, the env vars over them, and one count line", () => {
  const [casesVar, seedVar] = ["AIRGAP_SEEDED_TEST_CASES", "AIRGAP_SEEDED_TEST_SEED"];
  const env = { cases: casesVar, seed: seedVar };
  assertEquals(pick(generatorRun("x", { cases: 5, env })), { cases: 5, seed: 1 });
  Deno.env.set(casesVar, "12");
  Deno.env.set(seedVar, "9");
  try {
    const run = generatorRun("fuzz x", { cases: 5, env });
    assertEquals(pick(run), { cases: 12, seed: 9 });
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      run.report(", 3 accepted");
      run.report("", 36);
    } finally {
      console.log = log;
    }
    assertEquals(lines, ["fuzz x: 12 cases, seed 9, 3 accepted", "fuzz x: 36 cases, seed 9"]);
    assertEquals(pick(generatorRun("y", { cases: 5, seed: 4, env: { cases: casesVar } })), { cases: 12, seed: 4 });
  } finally {
    Deno.env.delete(casesVar);
    Deno.env.delete(seedVar);
  }
});

const pick = ({ cases, seed }: { cases: number; seed: number }) => ({ cases, seed });

/** mulberry32(1)'s first four outputs × 2^32 (the first is the reference 0.6270739405881613). */
const PINNED = [2693262067, 11749833, 2265367787, 4213581821];
