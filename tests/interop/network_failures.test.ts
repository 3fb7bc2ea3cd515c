/**
 * Failures worth one line (issue 21, item 7, the network part), as the
 * operator sees them: an unreachable registry prints one retry notice and
 * one error line per registry and cause — not a line per attempt plus one
 * per image — and a registry on a port the runtime blocks (Deno's fetch
 * refuses the fetch standard's "bad ports", e.g. 6000) is reported at once,
 * never retried. Subprocesses; no registry is needed (nothing listens).
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, saveArgs } from "../helpers/cli.ts";
import { refusedPort } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";

/** A list of `n` images (the same registry, so one cause). */
async function listOf(dir: string, n: number): Promise<string> {
  const list = join(dir, "list.txt");
  await Deno.writeTextFile(list, Array.from({ length: n }, (_, i) => `acme/app${i}:v1`).join("\n") + "\n");
  return list;
}

Deno.test("an unreachable registry: one retry notice and one error line for all its images", async () => {
  await withTempDir(async (dir) => {
    const host = `127.0.0.1:${await refusedPort()}`;
    const list = await listOf(dir, 12);
    const run = await airgap(["save", "-l", list, "-s", host, "-o", join(dir, "x.tar"), "--cache", join(dir, "c")]);
    assertEquals(run.code, 1, run.stderr);
    const lines = run.stderr.trim().split("\n");
    assertEquals(lines.filter((l) => l.includes("retrying")).length, 1, run.stderr);
    const grouped = lines.filter((l) => l.startsWith(`error: ${host}: 12 images connection refused`));
    assertEquals(grouped.length, 1, run.stderr);
    assert(lines.length <= 5, `12 images behind one refused connection took ${lines.length} lines:\n${run.stderr}`);
  }, "airgap-netfail-");
});

Deno.test("a registry on a port the runtime blocks: said at once, never retried", async () => {
  await withTempDir(async (dir) => {
    const list = await listOf(dir, 3);
    const run = await airgap([
      ...saveArgs(list, "127.0.0.1:6000", join(dir, "x.tar"), join(dir, "c")),
    ]);
    assertEquals(run.code, 1, run.stderr);
    assert(!run.stderr.includes("retrying"), run.stderr);
    assertStringIncludes(run.stderr, "error: 127.0.0.1:6000: 3 images port blocked by the runtime (use another port)");
  }, "airgap-netfail-");
});
