/**
 * The Helm rendering oracle: `../shared/tools/helm-oracle` (Go's own
 * text/template and the Sprig Helm ships, built from Debian's packages), built
 * once into `.tmp/helm-oracle/` (keyed by its source's hash) and run on a chart
 * directory, giving each template's rendered text or error. Under `CI=true` a
 * missing Go toolchain or a failed build fails the caller; elsewhere it is
 * announced and the caller's test is ignored.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const ORACLE_DIR = join(REPO, "..", "shared", "tools", "helm-oracle");

/** One template's result: its rendered text, or its error. */
export interface OracleTemplate {
  output?: string;
  error?: string;
}

function missing(message: string): undefined {
  if (Deno.env.get("CI") === "true") throw new Error(`${message} (CI=true: a prerequisite must be present)`);
  console.warn(`\n!!! SKIPPING: ${message} !!!\n`);
  return undefined;
}

/** Build the oracle if needed; its path, or undefined (announced) when it cannot be had outside CI. */
export async function helmOracle(): Promise<string | undefined> {
  // A Linux tool built from Debian's packages; the Windows test run (under Wine) has no oracle to compare with.
  if (Deno.build.os === "windows") {
    console.warn("\n!!! SKIPPING: the Helm oracle is built and run on Linux only !!!\n");
    return undefined;
  }
  let source: Uint8Array;
  try {
    source = await Deno.readFile(join(ORACLE_DIR, "main.go"));
  } catch {
    return missing(`${ORACLE_DIR}/main.go not found`);
  }
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const out = join(REPO, ".tmp", "helm-oracle", `helm-oracle-${hash}`);
  try {
    await Deno.stat(out);
    return out;
  } catch {
    // not built yet
  }
  await Deno.mkdir(join(REPO, ".tmp", "helm-oracle"), { recursive: true });
  const build = await new Deno.Command("bash", {
    args: [join(ORACLE_DIR, "build.sh"), `${out}.partial`],
    // Go needs a build cache; CI's environment may have no HOME to put it in.
    env: { GOCACHE: join(REPO, ".tmp", "helm-oracle", "gocache") },
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
  if (!build.success) {
    return missing(`building the Helm oracle failed: ${new TextDecoder().decode(build.stderr).trim().slice(-400)}`);
  }
  await Deno.rename(`${out}.partial`, out);
  return out;
}

/** Render a chart directory with the oracle: every template's output or error, by Helm's template name. */
export async function oracleRender(oracle: string, chartDir: string): Promise<Record<string, OracleTemplate>> {
  const json = join(chartDir, "..", `${crypto.randomUUID()}.json`);
  const run = await new Deno.Command(oracle, {
    args: [chartDir, "--templates-out", json],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!run.success) throw new Error(`helm-oracle ${chartDir}: ${new TextDecoder().decode(run.stderr).slice(0, 400)}`);
  try {
    return JSON.parse(await Deno.readTextFile(json)).templates;
  } finally {
    await Deno.remove(json);
  }
}
