/**
 * The package's boundary, checked on the source text: (1) inside the package,
 * only `src/host.ts` imports from outside `packages/helm/` (what the engine
 * takes from airgap, in one named place), and bare imports are npm packages
 * the import map names or `node:` modules; (2) the application (`lib/`,
 * `cli.ts`, `mod.ts`, `tools/`, `bench/`) and its tests reach the engine only
 * as `@airgap/helm`, never a file under `packages/helm/`.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = fileURLToPath(new URL("../", import.meta.url));
const ROOT = resolve(PACKAGE, "..", "..");
const BARE = new Set(["yaml", "smol-toml", "bcryptjs", "node-forge", "@airgap/helm"]);

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* tsFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Every `from "…"` / `import("…")` specifier of a file. */
function specifiers(text: string): string[] {
  return [...text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((m) => m[1]);
}

Deno.test("helm package: only src/host.ts imports from outside the package; bare imports are mapped npm or node:", async () => {
  const outside: string[] = [];
  const files = [join(PACKAGE, "mod.ts")];
  for await (const f of tsFiles(join(PACKAGE, "src"))) files.push(f);
  for (const file of files) {
    for (const s of specifiers(await Deno.readTextFile(file))) {
      const name = relative(PACKAGE, file);
      if (s.startsWith(".")) {
        const target = relative(PACKAGE, resolve(dirname(file), s));
        if (target.startsWith("..") && name !== join("src", "host.ts")) outside.push(`${name}: ${s}`);
      } else if (!s.startsWith("node:") && !BARE.has(s)) outside.push(`${name}: ${s}`);
    }
  }
  assertEquals(outside, []);
});

Deno.test("helm package: the application and its tests import the engine only as @airgap/helm", async () => {
  const reaching: string[] = [];
  const files = [join(ROOT, "cli.ts"), join(ROOT, "mod.ts")];
  for (const dir of ["lib", "tools", "bench", "tests"]) {
    for await (const f of tsFiles(join(ROOT, dir))) files.push(f);
  }
  for (const file of files) {
    for (const s of specifiers(await Deno.readTextFile(file))) {
      if (s.startsWith(".") && resolve(dirname(file), s).startsWith(PACKAGE)) {
        reaching.push(`${relative(ROOT, file)}: ${s}`);
      }
    }
  }
  assertEquals(reaching, []);
});
