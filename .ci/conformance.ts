/**
 * CI step: the OCI distribution-spec conformance suite (v1.1.1, see
 * ../shared/tools/oci-conformance/README.md) against `airgap serve` run as a
 * user runs it — `--writable` over an empty cache with all four workflows,
 * and read-only over an archive with the pull workflow (the suite is told
 * which image the archive holds, as it cannot push there).
 *
 * Prints each run's summary and ends with `conformance: N passed, N failed`.
 * A failed case, a run that did not finish, or a case skipped that is not
 * known to be skipped by design counts as a failure (exit 1); a missing
 * suite is a failure under CI=true.
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { singleImage } from "../lib/demo/corpus.ts";
import { writeCorpusArchive } from "../tests/interop/server_fixture.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SUITE = resolve(Deno.env.get("OCI_CONFORMANCE") ?? join(ROOT, "..", "shared", "tools", "oci-conformance", "run"));

/**
 * Cases the suite skips by design, whatever the registry: the "no push"
 * setups of pre-seeded registries, the mount-without-`from` case for
 * registries that do not mount automatically (ours does, and says so through
 * OCI_AUTOMATIC_CROSSMOUNT), and the answer-202 branch of a mount (ours
 * mounts: 201). In a pull-only run, every other workflow's cases and the
 * pull setup that pushes.
 */
const SKIPPED_BY_DESIGN: Record<"all" | "pull", RegExp[]> = {
  all: [
    /Pull Setup Get tag name from environment$/,
    /Content Discovery Setup Populate registry with test tags \(no push\)$/,
    /Cross-mounting of nonexistent blob should yield session id$/,
    /Cross-mounting without from, and automatic content discovery disabled should return a 202$/,
  ],
  pull: [/ (Push|Content Discovery|Content Management) /, /Pull (Setup Populate|Teardown)/],
};

interface Outcome {
  passed: number;
  failed: number;
}

/** Start `airgap serve ARGS…` and wait for the line announcing its URL. */
async function serve(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=20",
      join(ROOT, "cli.ts"),
      "serve",
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ at (https?:\/\/\S+)/.test(text)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`airgap serve ${args.join(" ")} exited: ${text}`);
    text += value;
  }
  return {
    url: text.match(/ at (https?:\/\/\S+)/)![1],
    async stop() {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** Run the suite; count its cases from junit.xml (skips not known by design count as failures). */
async function conformance(
  title: string,
  url: string,
  workflows: "all" | "pull",
  out: string,
  env: Record<string, string>,
): Promise<Outcome> {
  console.log(`\n== conformance: ${title}`);
  const run = await new Deno.Command("bash", {
    args: [SUITE, url, workflows, out],
    env: { OCI_AUTOMATIC_CROSSMOUNT: "true", ...env },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  let junit: string;
  try {
    junit = await Deno.readTextFile(join(out, "junit.xml"));
  } catch {
    console.log(`conformance: ${title}: the suite did not finish (exit ${run.code})`);
    return { passed: 0, failed: 1 };
  }
  const outcome: Outcome = { passed: 0, failed: 0 };
  for (const [, name, body] of junit.matchAll(/<testcase name="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const text = name.replaceAll("&#39;", "'").replaceAll("&quot;", '"').replaceAll("&amp;", "&");
    if (!text.startsWith("OCI Distribution Conformance Tests ")) continue; // the suite's own reporter nodes
    if (body?.includes("<failure") || body?.includes("<error")) {
      outcome.failed++;
    } else if (body?.includes("<skipped")) {
      if (!SKIPPED_BY_DESIGN[workflows].some((p) => p.test(text))) {
        console.log(`[SKIPPED, not by design] ${text}`);
        outcome.failed++;
      }
    } else {
      outcome.passed++;
    }
  }
  if (run.code !== 0 && outcome.failed === 0) outcome.failed = 1;
  console.log(`conformance: ${title}: ${outcome.passed} passed, ${outcome.failed} failed`);
  return outcome;
}

async function main(): Promise<number> {
  try {
    await Deno.stat(SUITE);
  } catch {
    console.log(`conformance: the suite is not at ${SUITE} (set OCI_CONFORMANCE)`);
    const required = Deno.env.get("CI") === "true";
    console.log(`conformance: 0 passed, ${required ? 1 : 0} failed`);
    return required ? 1 : 0;
  }
  const dir = await Deno.makeTempDir({ prefix: "airgap-conformance-" });
  const total: Outcome = { passed: 0, failed: 0 };
  const add = (o: Outcome) => {
    total.passed += o.passed;
    total.failed += o.failed;
  };
  try {
    const writable = await serve([join(dir, "cache"), "--writable", "--listen", "127.0.0.1:0", "-q"]);
    try {
      add(await conformance("serve --writable (all workflows)", writable.url, "all", join(dir, "writable"), {}));
    } finally {
      await writable.stop();
    }

    const image = singleImage("conformance/pull", "v1", {
      format: "oci",
      layers: [{ seed: "conformance", size: 4096 }],
    });
    (await writeCorpusArchive(join(dir, "pull.tar"), [image])).close?.();
    const readOnly = await serve([join(dir, "pull.tar"), "--listen", "127.0.0.1:0", "-q"]);
    try {
      add(
        await conformance("serve ARCHIVE, read-only (pull)", readOnly.url, "pull", join(dir, "read-only"), {
          OCI_NAMESPACE: image.repository,
          OCI_TAG_NAME: image.tag,
          OCI_MANIFEST_DIGEST: image.root.descriptor.digest,
          OCI_BLOB_DIGEST: image.blobs[0].descriptor.digest,
        }),
      );
    } finally {
      await readOnly.stop();
    }
  } catch (e) {
    console.log(`conformance: ${e instanceof Error ? e.message : String(e)}`);
    total.failed++;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log(`conformance: ${total.passed} passed, ${total.failed} failed`);
  return total.failed === 0 ? 0 : 1;
}

Deno.exit(await main());
