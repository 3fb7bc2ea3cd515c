/**
 * "Did you mean" for every key of airgap.yaml, in every section: a seeded
 * generator makes random single-edit typos (a letter inserted, deleted or
 * replaced) of each key the schema knows, writes the typo where the key
 * belongs, and checks that `check` suggests the key (or one as close).
 *
 * CI runs AIRGAP_TYPO_CASES (default 2000) cases with seed AIRGAP_TYPO_SEED
 * (default 1); set them for a longer run. Failures found are kept below as
 * plain regression tests.
 */
import { stringify } from "yaml";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { generatorRun, mulberry32 } from "../helpers/seeded.ts";
import { ConfigSchema } from "../../schemas/config.ts";
import { allowedKeys, checkYaml } from "../../lib/plan/yaml.ts";
import { editDistance } from "../../lib/suggest.ts";

// deno-lint-ignore no-explicit-any
type AnySchema = { _zod: { def: any } };

/** Every object of the schema: the path to it (array items as 0, records as one host) and its keys. */
function objectPaths(schema: AnySchema, path: PropertyKey[] = [], out: PropertyKey[][] = []): PropertyKey[][] {
  const def = schema._zod.def;
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
      return objectPaths(def.innerType, path, out);
    case "union":
      for (const option of def.options) objectPaths(option, path, out);
      return out;
    case "array":
      return objectPaths(def.element, [...path, 0], out);
    case "record":
      return objectPaths(def.valueType, [...path, "registry.example.com"], out);
    case "object":
      if (!out.some((p) => p.join("/") === path.join("/"))) out.push(path);
      for (const [key, value] of Object.entries(def.shape)) objectPaths(value as AnySchema, [...path, key], out);
      return out;
    default:
      return out;
  }
}

/** A document with `{[typo]: "x"}` at `path`. */
function documentWith(path: PropertyKey[], typo: string): string {
  let node: unknown = { [typo]: "x" };
  for (let i = path.length - 1; i >= 0; i--) {
    node = typeof path[i] === "number" ? [node] : { [path[i] as string]: node };
  }
  return stringify(node);
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

function typoOf(word: string, random: () => number): string {
  const at = Math.floor(random() * (word.length + 1));
  const letter = LETTERS[Math.floor(random() * LETTERS.length)];
  switch (Math.floor(random() * 3)) {
    case 0:
      return word.slice(0, at) + letter + word.slice(at);
    case 1:
      return word.slice(0, Math.min(at, word.length - 1)) + word.slice(Math.min(at, word.length - 1) + 1);
    default:
      return word.slice(0, Math.min(at, word.length - 1)) + letter + word.slice(Math.min(at, word.length - 1) + 1);
  }
}

function describe(path: PropertyKey[]): string {
  return path.map((p, i) => typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`).join("");
}

/** The lines `check` gives for a typo of `key` at `path` (undefined when the typo is not a typo: a known key, empty). */
function suggestionFor(
  path: PropertyKey[],
  key: string,
  typo: string,
): { lines: string[]; nearest: string[] } | undefined {
  const allowed = allowedKeys(ConfigSchema as unknown as AnySchema, path);
  if (typo === "" || allowed.some((k) => k.toLowerCase() === typo.toLowerCase())) return undefined;
  const best = Math.min(...allowed.map((k) => editDistance(typo, k)));
  assertEquals(best <= 1, true, `${typo} is one edit from ${key}`);
  const nearest = allowed.filter((k) => editDistance(typo, k) === best);
  return { lines: checkYaml(documentWith(path, typo), "airgap.yaml", ConfigSchema).problems, nearest };
}

Deno.test("did you mean: random single-edit typos of every key in every section suggest the key", () => {
  const { cases, seed } = generatorRun("did-you-mean typos", {
    cases: 2000,
    env: { cases: "AIRGAP_TYPO_CASES", seed: "AIRGAP_TYPO_SEED" },
  });
  const random = mulberry32(seed);
  const keys = objectPaths(ConfigSchema as unknown as AnySchema).flatMap((path) =>
    allowedKeys(ConfigSchema as unknown as AnySchema, path).map((key) => ({ path, key }))
  );
  assert(keys.length > 60, `${keys.length} keys`);
  let checked = 0;
  for (let n = 0; n < cases; n++) {
    const { path, key } = keys[n % keys.length]; // every key in turn, a random typo each time
    const typo = typoOf(key, random);
    const got = suggestionFor(path, key, typo);
    if (!got) continue;
    checked++;
    const where = `${describe([...path, typo])}: unknown key "${typo}"`;
    const line = got.lines.find((l) => l.includes(where));
    assert(line, `case ${n}: no "${where}" in:\n${got.lines.join("\n")}`);
    assert(
      got.nearest.some((k) => line.endsWith(`(did you mean "${k}"?)`)),
      `case ${n}: ${line} (expected one of ${got.nearest.join(", ")})`,
    );
  }
  console.log(`did-you-mean typos: ${cases} cases (${checked} real typos of ${keys.length} keys), seed ${seed}`);
});

Deno.test("did you mean: `pth:` in lists[0] suggests path, without a separate 'path: required'", () => {
  const { problems } = checkYaml("lists:\n  - pth: rancher-images.txt\n", "airgap.yaml", ConfigSchema);
  assertEquals(problems, ['airgap.yaml:2:5: lists[0].pth: unknown key "pth" (did you mean "path"?)']);
});

Deno.test("did you mean: a typo beside a missing required key in images[0] and windows.lists[0]", () => {
  const { problems } = checkYaml(
    "images:\n  - rf: busybox:1.36\nwindows:\n  lists:\n    - {pat: w.txt, versions: [1809]}\n",
    "airgap.yaml",
    ConfigSchema,
  );
  assertStringIncludes(problems.join("\n"), 'images[0].rf: unknown key "rf" (did you mean "ref"?)');
  assertStringIncludes(problems.join("\n"), 'windows.lists[0].pat: unknown key "pat" (did you mean "path"?)');
});

Deno.test("did you mean: `pth:` in a chart entry is one line, not also 'repo: required'", () => {
  const { problems } = checkYaml("charts:\n  - pth: ./charts/app.tgz\n", "airgap.yaml", ConfigSchema);
  assertEquals(problems, ['airgap.yaml:2:5: charts[0].pth: unknown key "pth" (did you mean "path"?)']);
  const plain = checkYaml("charts:\n  - name: app\n", "airgap.yaml", ConfigSchema).problems;
  assertStringIncludes(plain.join("\n"), "charts[0].repo: required (or path: a chart .tgz or directory)");
});
