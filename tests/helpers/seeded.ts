/**
 * The one seeded generator the tests share, and the one way a generator
 * test reads its case count and seed and says them.
 *
 * Why one: a generator's failure is only useful if its seed replays it, so
 * every generator must draw from the same well-known algorithm (mulberry32)
 * and print the count and seed it ran with. Each test keeps its own env var
 * names (documented in its header comment) and its own count line; this
 * module only does the reading and the printing. {@link rand}'s helpers
 * consume exactly one draw each (`int`, `pick`, `chance`), so a test written
 * against a bare `() => number` draws the same sequence through them.
 */

/** A seeded PRNG (mulberry32): floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded source of choices. */
export interface Rand {
  /** [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** One of `items`. */
  pick<T>(items: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A shuffled copy of `items` (Fisher–Yates, from the end). */
  shuffle<T>(items: readonly T[]): T[];
}

/** A {@link Rand} from a seed (or from a PRNG already drawn from). */
export function rand(seed: number | (() => number)): Rand {
  const next = typeof seed === "number" ? mulberry32(seed) : seed;
  const r: Rand = {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (items) => items[r.int(items.length)],
    chance: (p) => next() < p,
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    },
  };
  return r;
}

/** How a generator test is sized: its CI defaults and the env vars that override them. */
export interface GeneratorOptions {
  /** Cases in CI. */
  cases: number;
  /** The seed in CI (1 when left out). */
  seed?: number;
  /** Env vars for a longer run; a test without a seed var always runs its fixed seed. */
  env?: { cases?: string; seed?: string };
  /** What the count line counts ("cases" when left out). */
  unit?: string;
}

/** A generator run's size, and its count line. */
export interface GeneratorRun {
  cases: number;
  seed: number;
  /**
   * Print the count line, `NAME: COUNT UNIT, seed SEED` followed by `tail`
   * as given (e.g. `, 12 accepted`); `count` defaults to the run's cases.
   */
  report(tail?: string, count?: number): void;
}

/** The count and seed of the generator `name` (see {@link GeneratorOptions}). */
export function generatorRun(name: string, options: GeneratorOptions): GeneratorRun {
  const read = (key: string | undefined, fallback: number) => {
    const text = key === undefined ? undefined : Deno.env.get(key);
    return text === undefined ? fallback : Number(text);
  };
  const cases = read(options.env?.cases, options.cases);
  const seed = read(options.env?.seed, options.seed ?? 1);
  const unit = options.unit ?? "cases";
  return {
    cases,
    seed,
    report: (tail = "", count = cases) => console.log(`${name}: ${count} ${unit}, seed ${seed}${tail}`),
  };
}
