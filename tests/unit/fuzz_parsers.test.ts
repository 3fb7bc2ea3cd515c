/**
 * Fuzz: the parsers of what users write (issue 19, item 4) — the declaration
 * (`airgap.yaml`, checked whole as `airgap check` does, lists and all), the
 * lock and image lists. Cases come from a grammar (random documents of the
 * real keys and values, right and wrong types, hostile strings, anchors and
 * aliases) and from mutating real text (the example declaration, a lock the
 * writer formats, a Rancher-like list). Each case must end in success or an
 * `AirgapError` (one line), never another throw or a hang; a lock that
 * parses formats and parses back to itself; every list line is either an
 * entry or a problem.
 *
 * Seeded and fixed in CI; prints its case counts. A longer run:
 * `AIRGAP_FUZZ_CASES=20 AIRGAP_FUZZ_SEED=7 deno test -A tests/unit/fuzz_parsers.test.ts`
 * (the count is multiplied, the seed replaces 1). A failure names the seed
 * and case; each one found is kept below as a plain regression test.
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { assert, assertEquals } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { fuzzRun, mutateText, oneCase, type Rand, rand, YAML_SYNTAX } from "../helpers/fuzz.ts";
import { checkDeclaration } from "../../lib/commands/check/check.ts";
import { echo } from "../../lib/text.ts";
import { formatLock, parseLock } from "../../lib/lock.ts";
import { checkImageList, parseImageList } from "../../lib/sources/list.ts";
import { EXAMPLE_DECLARATION as EXAMPLE } from "../../lib/commands/init/example.ts";

const HEX = "0123456789abcdef";
const hex = (r: Rand, n: number) => Array.from({ length: n }, () => HEX[r.int(16)]).join("");
const digest = (r: Rand) =>
  r.chance(0.9)
    ? `sha256:${hex(r, 64)}`
    : r.pick(["sha256:", `sha512:${hex(r, 128)}`, "md5:x", `sha256:${hex(r, 63)}`]);

/** Strings users (and attackers) write: references right and wrong, paths, YAML-significant text, long and odd ones. */
function text(r: Rand): string {
  switch (r.int(10)) {
    case 0:
      return reference(r);
    case 1:
      return r.pick(["list.txt", "missing.txt", "../outside.txt", "/dev/null", ".", "", " ", "sub/dir/x.txt"]);
    case 2:
      return r.pick(["linux/amd64", "linux/arm64/v8", "windows/amd64", "all", "linux", "/", "a/b/c/d", "LINUX/AMD64"]);
    case 3:
      return r.pick([
        "*a",
        "&a",
        "!!binary",
        "? x",
        "- x",
        "{",
        "[",
        ":",
        "#",
        "|",
        ">",
        "%YAML 1.2",
        "---",
        "...",
        "\t",
        "'",
        '"',
      ]);
    case 4:
      return "x".repeat(r.pick([1, 255, 256, 1025, 5000]));
    case 5:
      return String.fromCharCode(...Array.from({ length: 1 + r.int(8) }, () => r.int(0x2fff)));
    case 6:
      return r.pick([
        "v2.7.9",
        "v2.8.0-rc1",
        "1809",
        "ltsc2022",
        "10.0.17763",
        "latest",
        "true",
        "null",
        "~",
        "0x10",
        "1e999",
      ]);
    case 7:
      return r.pick(["registry.local:5000", "mirror.example.com", "127.0.0.1:0", "[::1]:5000", "http://x", "a b"]);
    default:
      return hex(r, 1 + r.int(12));
  }
}

/** An image reference from a grammar of hosts, paths, tags and digests (often valid, sometimes not). */
function reference(r: Rand): string {
  const host = r.chance(0.4)
    ? `${
      r.pick([
        "quay.io",
        "registry.local:5000",
        "docker.io",
        "index.docker.io",
        "localhost",
        "a_b.c",
        "[::1]:5000",
        "UPPER.io",
        "x:99999",
      ])
    }/`
    : "";
  const path = Array.from(
    { length: 1 + r.int(3) },
    () => r.pick(["rancher", "library", "a", "b-c", "x.y", "a__b", "A", "", "-a", "a--b"]),
  ).join("/");
  const tag = r.chance(0.7)
    ? `:${r.pick(["v1", "latest", "v2.7.9", "1.0_rc-1", ".bad", "x".repeat(r.chance(0.1) ? 129 : 3), ""])}`
    : "";
  const pin = r.chance(0.2) ? `@${digest(r)}` : "";
  return `${host}${path}${tag}${pin}`;
}

/** A value of any type, a few levels deep. */
function anyValue(r: Rand, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 7)) {
    case 0:
      return text(r);
    case 1:
      return r.pick([0, 1, -1, 2, 1.5, 1e308, 2 ** 53 + 1]);
    case 2:
      return r.chance(0.5);
    case 3:
      return null;
    case 4:
      return reference(r);
    case 5:
      return Array.from({ length: r.int(4) }, () => anyValue(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [text(r), anyValue(r, depth + 1)]));
  }
}

/** A value for `key` of a declaration: mostly the right shape, sometimes anything. */
function declared(r: Rand, key: string): unknown {
  if (r.chance(0.15)) return anyValue(r);
  const list = <T>(f: () => T) => Array.from({ length: r.int(5) }, f);
  switch (key) {
    case "version":
      return r.pick([1, 2, "1"]);
    case "platforms":
      return list(() => text(r));
    case "sourceRegistry":
    case "output":
    case "cache":
      return text(r);
    case "images":
      return list(() =>
        r.chance(0.6) ? reference(r) : { ref: reference(r), ...(r.chance(0.5) ? { platforms: [text(r)] } : {}) }
      );
    case "lists":
      return list(() =>
        r.chance(0.5) ? "list.txt" : { path: r.pick(["list.txt", "missing.txt", text(r)]), platforms: [text(r)] }
      );
    case "windows":
      return { versions: list(() => r.pick(["1809", "ltsc2022", "nope", 1809])), images: list(() => reference(r)) };
    case "registries":
      return {
        [text(r)]: {
          insecure: r.chance(0.5),
          concurrency: r.pick([1, 0, -1, 4]),
          timeout: r.pick(["30s", "1m", "x", 5]),
          foreignLayers: r.pick(["include", "keep", "skip", "other"]),
          ...(r.chance(0.3) ? { username: "u", passwordEnv: "AIRGAP_FUZZ_NO_SUCH_VAR" } : {}),
          ...(r.chance(0.2) ? { ca: r.pick(["missing.pem", "list.txt"]) } : {}),
        },
      };
    case "target":
      return { registry: text(r), ...(r.chance(0.5) ? { prefix: text(r) } : {}) };
    case "rancher":
      return { version: r.pick(["v2.7.9", "v2.8.0-rc1", "2.7", text(r)]), ...(r.chance(0.3) ? { windows: true } : {}) };
    case "charts":
      return list(() => ({
        name: text(r),
        repo: r.pick(["./charts", "file:///nonexistent-airgap-fuzz", "ftp://x", "charts"]),
        version: text(r),
        ...(r.chance(0.3) ? { values: { image: { repository: text(r) } } } : {}),
        ...(r.chance(0.2) ? { set: [r.pick(["a=b", "a", "=", "a[0]=x", "a.b.c=1"])] } : {}),
        ...(r.chance(0.2) ? { valuesFiles: [r.pick(["missing.yaml", "values.yaml"])] } : {}),
        ...(r.chance(0.2) ? { extraImages: [reference(r)] } : {}),
      }));
    default:
      return anyValue(r);
  }
}

const KEYS = [
  "version",
  "platforms",
  "sourceRegistry",
  "images",
  "lists",
  "windows",
  "registries",
  "target",
  "rancher",
  "charts",
  "output",
  "cache",
  "keepGoing",
  "unknownKey",
  "imagse",
];
const YAML_TOKENS = [...YAML_SYNTAX, "#", "!!str ", "? ", "---\n", "|\n", "~", "\ufeff"];

/** A declaration from the grammar, as YAML (sometimes with an anchor and aliases). */
function declarationText(r: Rand): string {
  const doc: Record<string, unknown> = {};
  for (let i = 0; i < 1 + r.int(5); i++) {
    const key = r.pick(KEYS);
    doc[key] = declared(r, key);
  }
  let out = stringify(doc, { aliasDuplicateObjects: false });
  if (r.chance(0.2)) {
    out = `defaults: &d [linux/amd64, linux/arm64]\n${out}`.replace("platforms:", "platforms: *d\n_unused:");
  }
  return out;
}

function lockValue(r: Rand): Record<string, unknown> {
  const image = () => ({
    entry: reference(r),
    source: `docker.io/${reference(r)}`,
    digest: digest(r),
    mediaType: r.pick([
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.docker.distribution.manifest.v2+json",
      "",
    ]),
    size: r.pick([1, 0, 1234, -1, 1.5, 2 ** 53]),
    platforms: r.chance(0.9) ? [r.pick(["linux/amd64", "linux/arm64"])] : "linux/amd64",
    blobs: Object.fromEntries(Array.from({ length: r.int(4) }, () => [digest(r), r.pick([10, 0, -5, 99])])),
    ...(r.chance(0.1) ? { rewritten: { [digest(r)]: digest(r) } } : {}),
    ...(r.chance(0.1) ? { verified: { signatures: r.pick([1, 0]), keys: [digest(r)] } } : {}),
    ...(r.chance(0.05) ? { extra: 1 } : {}),
  });
  return {
    lockVersion: r.pick([1, 1, 1, 2]),
    images: Array.from({ length: r.int(4) }, image),
    ...(r.chance(0.2)
      ? {
        sources: [{
          kind: r.pick(["rancher", "chart", "x"]),
          name: text(r),
          version: "v1",
          url: "https://x/y",
          digest: digest(r),
          size: 10,
        }],
      }
      : {}),
  };
}

Deno.test("fuzz declaration: grammar-made and mutated airgap.yaml, checked whole, end in problems or an AirgapError", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "list.txt"), "rancher/rancher:v2.7.9\nbad ref\n# comment\n");
    await Deno.writeTextFile(join(dir, "values.yaml"), "image: {repository: a/b, tag: v1}\n");
    await Deno.mkdir(join(dir, "charts"));
    const { seed, cases } = fuzzRun(500);
    const r = rand(seed);
    const path = join(dir, "airgap.yaml");
    let clean = 0;
    let withProblems = 0;
    let refused = 0;
    for (let n = 0; n < cases; n++) {
      let yaml = r.chance(0.5) ? declarationText(r) : EXAMPLE;
      for (let k = r.chance(0.3) ? 0 : 1 + r.int(3); k > 0; k--) yaml = mutateText(r, yaml, YAML_TOKENS);
      await Deno.writeTextFile(path, yaml);
      const result = await oneCase(`fuzz declaration (seed ${seed}, case ${n})`, () => checkDeclaration(path));
      if (!result.ok) refused++;
      else if (result.value.length === 0) clean++;
      else {
        withProblems++;
        for (const p of result.value) assert(!p.includes("\n") && p.length < 1100, `case ${n}: ${echo(p, 400)}`);
      }
    }
    console.log(
      `fuzz declaration: ${cases} cases, seed ${seed}: ${clean} clean, ${withProblems} with problems, ${refused} refused`,
    );
  });
});

Deno.test("fuzz lock: grammar-made and mutated locks parse, or fail with an AirgapError; a parsed lock round-trips", async () => {
  const { seed, cases } = fuzzRun(2000);
  const r = rand(seed);
  const tokens = ["{", "}", "[", "]", ",", ":", '"', "null", "-1", "1e999", '"__proto__"', "\\u0000", "true"];
  let parsed = 0;
  for (let n = 0; n < cases; n++) {
    const value = lockValue(r);
    let json = r.chance(0.5) ? JSON.stringify(value, null, 2) : (() => {
      try {
        return formatLock(parseLock(JSON.stringify(value), "x"));
      } catch {
        return JSON.stringify(value);
      }
    })();
    for (let k = r.chance(0.4) ? 0 : 1 + r.int(3); k > 0; k--) json = mutateText(r, json, tokens);
    const result = await oneCase(
      `fuzz lock (seed ${seed}, case ${n})`,
      () => Promise.resolve(parseLock(json, "airgap.lock")),
    );
    if (result.ok) {
      parsed++;
      assertEquals(
        parseLock(formatLock(result.value), "again"),
        parseLock(formatLock(parseLock(formatLock(result.value), "a")), "b"),
      );
    }
  }
  console.log(`fuzz lock: ${cases} cases, seed ${seed}: ${parsed} parsed, ${cases - parsed} refused`);
});

Deno.test("fuzz image list: every line is an entry or a problem; parsing throws only AirgapErrors", async () => {
  const { seed, cases } = fuzzRun(2000);
  const r = rand(seed);
  const tokens = ["\r\n", "\r", "\n", "#", " # x", "\t", "@", ":", "/", "\ufeff", "\u0000", " "];
  let entries = 0;
  let problems = 0;
  for (let n = 0; n < cases; n++) {
    const lines = Array.from(
      { length: 1 + r.int(12) },
      () =>
        r.pick([
          () => reference(r),
          () => `# ${text(r)}`,
          () => "",
          () => `  ${reference(r)}  `,
          () => `${reference(r)} # pinned`,
          () => text(r),
        ])(),
    );
    let list = lines.join(r.pick(["\n", "\r\n"]));
    if (r.chance(0.5)) list = mutateText(r, list, tokens);
    const result = await oneCase(
      `fuzz image list (seed ${seed}, case ${n})`,
      () => Promise.resolve(checkImageList(list, "list.txt")),
    );
    if (!result.ok) continue;
    const found = result.value;
    const written = list.replace(/^\uFEFF/, "").split(/\r?\n|\r/).filter((l) =>
      l.replace(/(^|\s)#.*$/, "").trim() !== ""
    );
    assertEquals(found.entries.length + found.problems.length, written.length, `case ${n}: ${JSON.stringify(list)}`);
    for (const p of found.problems) assert(p.message.startsWith("list.txt:") && !p.message.includes("\n"), p.message);
    entries += found.entries.length;
    problems += found.problems.length;
    await oneCase(
      `fuzz image list parse (seed ${seed}, case ${n})`,
      () => Promise.resolve(parseImageList(list, "list.txt")),
    );
  }
  console.log(`fuzz image list: ${cases} cases, seed ${seed}: ${entries} entries, ${problems} problem lines`);
});

// Regressions the fuzzers found (each a plain test).

Deno.test("declaration regression: a long chart version or list path is echoed cut, not whole", async () => {
  // Found by fuzz declaration (seed 1): check printed a 5,000-character chart version whole, then an
  // 8,000-character list path (twice: in its text and in the system's error).
  await withTempDir(async (dir) => {
    const path = join(dir, "airgap.yaml");
    const long = "x".repeat(5000);
    await Deno.writeTextFile(path, `charts:\n  - {name: a, repo: ./charts, version: ${long}}\nlists: [${long}]\n`);
    await Deno.mkdir(join(dir, "charts"));
    const problems = await checkDeclaration(path);
    assert(problems.length >= 2, problems.join("\n"));
    for (const p of problems) assert(p.length < 1100 && p.includes("characters)"), echo(p, 300));
  });
});
