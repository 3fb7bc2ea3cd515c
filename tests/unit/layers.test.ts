/**
 * The import direction of `lib/` (issue 23): every area has a rank, and an
 * import may only point at its own area or a lower one. The few imports that
 * run up are listed in {@link ALLOWED}, each with its reason, and
 * docs/ARCHITECTURE.md lists the same ones; a new upward import fails here
 * (the synthetic cases below show that it does), and so does an entry that
 * no longer happens (the list stays true). Type-only imports count too: they
 * are structure, even if they vanish at run time.
 *
 * The test reads the repository's sources; the program itself never does.
 * @module
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The areas from the bottom up. `leaves` is `lib/*.ts` (the shared vocabulary:
 * `AirgapError` and the error kinds, the lock format, references, limits, text)
 * and `schemas/`. An area not listed here fails the test, so a new folder
 * under lib/ has to be placed.
 */
export const RANKS: readonly string[] = [
  "leaves",
  "oci", // the OCI model: no I/O
  "transport", // the run's network session
  "format", // bytes on disk: tar, volumes, archive checks, checksums, streams
  "cluster", // containerd names and mirror rules (the archive names images with them)
  "store", // the Store contract, the stores, their wrappers
  "packages", // workspace members (packages/*: the Helm engine; its src/host.ts imports leaves, format and store)
  "copy", // the copy engine and the target names load and mirror share
  "report", // progress, events, failure reports (they name copy events and stores)
  "sources", // where image names come from: lists, Rancher releases, charts, downloads
  "files", // `files:` and RKE2/K3s releases as artifacts
  "artifacts", // signatures, attestations, SBOMs, referrers, charts in archives
  "plan", // declaration, planner passes, plan-time steps (sources, files, artifacts)
  "demo", // the generated corpus of `airgap demo`, the tests and the benchmarks
  "server", // the embedded registry: serves stores
  "commands", // one home per command: its command line and its operation
];

/** An import that runs up, kept on purpose. */
export interface AllowedImport {
  from: string;
  to: string;
  reason: string;
}

/** The upward imports left, each with why (the same list is in docs/ARCHITECTURE.md, "Imports"). */
export const ALLOWED: readonly AllowedImport[] = [
  {
    from: "lib/transport/session.ts",
    to: "lib/store/registry/client.ts",
    reason: "type only: a host's `RegistrySettings` are declared beside the registry client that reads them",
  },
];

/** The area of a repository path (`lib/store/wrappers/x.ts` → `store`; `lib/ref.ts` → `leaves`). */
export function areaOf(path: string): string {
  if (path.startsWith("schemas/")) return "leaves";
  if (path.startsWith("packages/")) return "packages";
  const parts = path.split("/");
  if (parts[0] !== "lib") return "outside";
  return parts.length === 2 ? "leaves" : parts[1];
}

/** The imports that run up and are not allowed: `[from, to]` pairs of repository paths. */
export function upwardImports(
  imports: readonly (readonly [string, string])[],
  allowed: readonly AllowedImport[] = ALLOWED,
  ranks: readonly string[] = RANKS,
): string[] {
  const rank = (path: string) => {
    const r = ranks.indexOf(areaOf(path));
    if (r < 0) throw new Error(`${path}: area "${areaOf(path)}" has no rank in layers.test.ts`);
    return r;
  };
  const ok = new Set(allowed.map((a) => `${a.from} → ${a.to}`));
  return imports
    .filter(([from, to]) => rank(to) > rank(from))
    .map(([from, to]) => `${from} → ${to}`)
    .filter((edge) => !ok.has(edge));
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;

/** Every relative import of `lib/**\/*.ts` and `packages/**\/*.ts`, as `[from, to]` repository paths. */
function libImports(): [string, string][] {
  const edges: [string, string][] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const full = join(dir, entry.name);
      if (entry.isDirectory) {
        if (entry.name !== "tests") walk(full); // a package's own tests may use the repository's test helpers
      } else if (entry.name.endsWith(".ts")) {
        const from = relative(ROOT, full).replaceAll("\\", "/");
        for (const m of Deno.readTextFileSync(full).matchAll(SPECIFIER)) {
          const to = relative(ROOT, normalize(join(dirname(full), m[1]))).replaceAll("\\", "/");
          edges.push([from, to]);
        }
      }
    }
  };
  walk(join(ROOT, "lib"));
  walk(join(ROOT, "packages"));
  return edges;
}

Deno.test("layers: no import in lib/ or packages/ runs up except the allowed ones", () => {
  const edges = libImports();
  assert(edges.length > 500, `only ${edges.length} imports read: the scan is broken`);
  console.log(`layers: ${edges.length} imports, ${ALLOWED.length} allowed upward`);
  assertEquals(upwardImports(edges), []);
});

Deno.test("layers: every allowed upward import still happens, has a reason and is in ARCHITECTURE.md", () => {
  const edges = new Set(libImports().map(([from, to]) => `${from} → ${to}`));
  const doc = Deno.readTextFileSync(join(ROOT, "docs", "ARCHITECTURE.md"));
  for (const a of ALLOWED) {
    assert(edges.has(`${a.from} → ${a.to}`), `stale allowlist entry: ${a.from} → ${a.to}`);
    assert(a.reason.length > 20, `${a.from} → ${a.to}: give a reason`);
    assert(doc.includes(`\`${a.from}\` → \`${a.to}\``), `docs/ARCHITECTURE.md does not list ${a.from} → ${a.to}`);
  }
});

Deno.test("layers: a new upward import fails, an allowed one passes (synthetic table)", () => {
  const table: [string, string][] = [
    ["lib/commands/save/save.ts", "lib/copy/engine.ts"], // down
    ["lib/store/cache.ts", "lib/store/types.ts"], // same area
    ["lib/oci/digest.ts", "lib/error_kinds.ts"], // to a leaf
    ["lib/store/wrappers/pack_tee.ts", "lib/format/tar.ts"], // down, from a sub-folder
    ["lib/sources/charts.ts", "packages/helm/mod.ts"], // to a workspace member
    ["lib/oci/digest.ts", "lib/transport/errors.ts"], // up: the model importing the transport
    ["lib/store/archive.ts", "lib/plan/lock.ts"], // up
    ["lib/ref.ts", "lib/report/progress.ts"], // up: a leaf importing an area
  ];
  assertEquals(upwardImports(table, []), [
    "lib/oci/digest.ts → lib/transport/errors.ts",
    "lib/store/archive.ts → lib/plan/lock.ts",
    "lib/ref.ts → lib/report/progress.ts",
  ]);
  const allowed = [{ from: "lib/store/archive.ts", to: "lib/plan/lock.ts", reason: "synthetic" }];
  assertEquals(upwardImports(table, allowed).length, 2);
  let unranked = "";
  try {
    upwardImports([["lib/newarea/x.ts", "lib/ref.ts"]], []);
  } catch (e) {
    unranked = String(e);
  }
  assert(unranked.includes('area "newarea" has no rank'), unranked);
});
