/**
 * The assertions the tests use (jsr:@std/assert is unreachable here; these
 * are the same few, with the same names and semantics).
 */
import { deepStrictEqual } from "node:assert";

/** Deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  try {
    deepStrictEqual(actual, expected);
  } catch (e) {
    throw new Error(`${message ? `${message}: ` : ""}${(e as Error).message}`);
  }
}

/** Strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  let equal = true;
  try {
    deepStrictEqual(actual, expected);
  } catch {
    equal = false;
  }
  if (equal) throw new Error(message ?? `expected values to differ: ${JSON.stringify(actual)}`);
}

/** Truthiness. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

/** `fn` throws an instance of `type` whose message includes `includes`. */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => Error = Error,
  includes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof type)) throw new Error(`expected ${type.name}, got ${e}`);
    if (includes && !e.message.includes(includes)) {
      throw new Error(`expected message to include "${includes}", got "${e.message}"`);
    }
    return e;
  }
  throw new Error("expected function to throw");
}

/** `fn` rejects with an instance of `type` whose message includes `includes`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => Error = Error,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof type)) throw new Error(`expected ${type.name}, got ${e}`);
    if (includes && !e.message.includes(includes)) {
      throw new Error(`expected message to include "${includes}", got "${e.message}"`);
    }
    return e;
  }
  throw new Error("expected promise to reject");
}

/** `actual` includes `expected`. */
export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  if (!actual.includes(expected)) {
    throw new Error(message ?? `expected "${actual}" to include "${expected}"`);
  }
}
