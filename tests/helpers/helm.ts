/**
 * Helpers for the chart tests (the application's and packages/helm's): pack a
 * small chart into a real `.tgz` (modern-tar + gzip), and find the real charts
 * in the shared data directory beside the repository. (Rendering template text
 * in one call is packages/helm/tests/helpers/render.ts: it needs the engine's
 * private parts.)
 *
 * Test charts are packed by an independent tar implementation (modern-tar, a
 * test-only dependency, imported here by its npm: specifier and absent from
 * the program's import map), not by lib/format/tar.ts: a chart written and read
 * by the same code would not show that the reader reads what other tools
 * write.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
// deno-lint-ignore no-import-prefix -- test-only: kept out of deno.json, which maps what the program imports
import { packTar } from "npm:modern-tar@0.8.6";

/** Pack files (paths relative to the chart directory) into a chart `.tgz` under `dir/`. */
export async function packChart(dir: string, files: Record<string, string | Uint8Array>): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const tar = await packTar(
    Object.entries(files).map(([path, content]) => {
      const body = typeof content === "string" ? encoder.encode(content) : content;
      return { header: { name: `${dir}/${path}`, size: body.length, type: "file" as const }, body };
    }),
  );
  return new Uint8Array(gzipSync(tar));
}

/** The shared data directory (a sibling of the repository root): real lists and charts. */
export const SHARED_DATA = join(fileURLToPath(new URL("../../", import.meta.url)), "..", "shared", "data");
/** The shared chart data directory. */
export const SHARED_CHARTS = join(SHARED_DATA, "charts");

/**
 * Whether every file `paths` names (relative to the shared data directory) is
 * present. A missing one throws under `CI=true` (a prerequisite must be
 * present); otherwise it is announced loudly and the caller's test is
 * `ignore`d, so it shows as ignored, never as passed.
 */
export function hasShared(...paths: string[]): boolean {
  const missing = paths.map((p) => join(SHARED_DATA, p)).filter((path) => {
    try {
      return !Deno.statSync(path).isFile;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return true;
      throw e;
    }
  });
  if (missing.length === 0) return true;
  const message = `${missing.join(", ")} missing`;
  if (Deno.env.get("CI") === "true") throw new Error(`${message} (CI=true: a prerequisite must be present)`);
  console.warn(`\n!!! SKIPPING: ${message} (the shared data beside the repository) !!!\n`);
  return false;
}

/** Whether the shared charts `names` are present (see {@link hasShared}). */
export function hasSharedChart(...names: string[]): boolean {
  return hasShared(...names.map((n) => join("charts", n)));
}

/** The bytes of the shared chart `name` (check it with {@link hasSharedChart} first). */
export function readSharedChart(name: string): Promise<Uint8Array> {
  return Deno.readFile(join(SHARED_CHARTS, name));
}

/**
 * The real chart `name` from the shared data directory, or undefined — with a
 * note on the console — when absent. Under `CI=true` a missing chart fails.
 */
export async function sharedChart(name: string): Promise<Uint8Array | undefined> {
  return hasSharedChart(name) ? await readSharedChart(name) : undefined;
}
