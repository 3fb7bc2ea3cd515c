import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { parseImageList } from "../../lib/sources/list.ts";
import { declarationFromList, loadDeclaration } from "../../lib/plan/declaration.ts";
import { formatReference } from "../../lib/ref.ts";
import { parseYaml } from "../../lib/plan/yaml.ts";
import { configJsonSchema, ConfigSchema } from "../../schemas/config.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { hasShared, SHARED_DATA } from "../helpers/helm.ts";

Deno.test("image lists: comments, blank lines, CRLF, BOM", () => {
  const text =
    "\uFEFF# Rancher images\r\nrancher/rancher:v2.7.9\r\n\r\n  busybox  # trailing comment\r\nquay.io/x/y:v1\r\n";
  assertEquals(parseImageList(text, "list.txt"), [
    { entry: "rancher/rancher:v2.7.9", line: 2 },
    { entry: "busybox", line: 4 },
    { entry: "quay.io/x/y:v1", line: 5 },
  ]);
});

Deno.test("a malformed list entry names file and line", () => {
  assertThrows(
    () => parseImageList("ok:1\nBad Entry\n", "rancher-images.txt"),
    Error,
    "rancher-images.txt:2: invalid image reference",
  );
});

Deno.test("airgap.yaml: images, lists relative to the file, platforms, de-duplication", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "list.txt"), "rancher/shell:v0.1.21\nbusybox:1.36\n");
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      `platforms: [linux/amd64]
images:
  - rancher/rancher:v2.7.9
  - ref: busybox:1.36
    platforms: [linux/arm64]
lists:
  - list.txt
target:
  registry: https://reg.local:5000/
  prefix: mirror
output: out.tar
`,
    );
    const decl = await loadDeclaration(join(dir, "airgap.yaml"));
    assertEquals(decl.requests.map((r) => r.entry), [
      "rancher/rancher:v2.7.9",
      "busybox:1.36",
      "rancher/shell:v0.1.21",
    ]);
    const busybox = decl.requests[1];
    assertEquals(formatReference(busybox.source), "docker.io/library/busybox:1.36");
    assert(!busybox.platforms.all);
    assertEquals(busybox.platforms.platforms.map((p) => p.architecture), ["arm64", "amd64"]);
    assert(decl.requests[0].origin.endsWith("airgap.yaml:3:5"), decl.requests[0].origin);
    assert(decl.requests[2].origin.endsWith("list.txt:1"), decl.requests[2].origin);
    assertEquals(decl.target, { registry: "reg.local:5000", prefix: "mirror" });
    assertEquals(decl.output, join(dir, "out.tar"));
    assertEquals(decl.lockPath, join(dir, "airgap.lock"));
  }));

Deno.test("airgap.yaml errors name file, line and column", () =>
  withTempDir(async (dir) => {
    const cases: [string, string][] = [
      [
        "images:\n  - rancher/rancher:v2.7.9\n  - ref: x\n    platfroms: [all]\n",
        "airgap.yaml:4:5: images[1].platfroms: unknown key",
      ],
      ["imagez: []\n", "airgap.yaml:1:1: imagez: unknown key"],
      ["images: [rancher/rancher:v2.7.9, 'Bad Ref']\n", 'airgap.yaml:1:34: invalid image reference "Bad Ref"'],
      ["images:\n  - a\n  b: c\n", "airgap.yaml:3:"],
      ["platforms: [linux]\n", 'platforms: invalid platform "linux"'],
      ["lists: [missing.txt]\n", "missing.txt does not exist"],
      ["registries:\n  reg.local:\n    username: u\n", "username needs passwordEnv or passwordFile"],
      [
        "registries:\n  reg.local:\n    username: u\n    passwordEnv: AIRGAP_TEST_UNSET_VAR\n",
        "AIRGAP_TEST_UNSET_VAR is not set",
      ],
    ];
    // No Deno.chdir: parallel test modules share the process's working directory.
    for (const [text, expected] of cases) {
      await Deno.writeTextFile(join(dir, "airgap.yaml"), text);
      await assertRejects(() => loadDeclaration(join(dir, "airgap.yaml")), Error, expected);
    }
  }));

Deno.test("seed mode: list plus source registry", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "rancher-images.txt"), "rancher/rancher:v2.7.9\nbusybox\n");
    const decl = await declarationFromList(join(dir, "rancher-images.txt"), { sourceRegistry: "mirror.local:5000" });
    assertEquals(decl.requests.map((r) => formatReference(r.source)), [
      "mirror.local:5000/rancher/rancher:v2.7.9",
      "mirror.local:5000/busybox:latest",
    ]);
  }));

Deno.test({
  name: "the real rancher-images.txt of v2.7.9 parses: 712 entries",
  ignore: !hasShared("rancher-images-v2.7.9.txt"),
}, async () => {
  const text = await Deno.readTextFile(join(SHARED_DATA, "rancher-images-v2.7.9.txt"));
  const entries = parseImageList(text, "rancher-images-v2.7.9.txt");
  assertEquals(entries.length, 712);
  assertEquals(new Set(entries.map((e) => e.entry)).size, 712);
});

Deno.test("airgap.example.yaml is valid against the schema", async () => {
  const text = await Deno.readTextFile(new URL("../../airgap.example.yaml", import.meta.url));
  const config = parseYaml(text, "airgap.example.yaml", ConfigSchema);
  assertEquals(config.images?.length, 4);
  assertEquals(config.target?.registry, "registry.example.com:5000");
  assertEquals(config.rancher?.version, "v2.7.9");
  assertEquals(config.charts?.map((c) => `${c.name}@${c.version}`), ["cert-manager@v1.12.3", "rancher@2.7.9"]);
  assertEquals(config.charts?.[0].extraImages, ["quay.io/jetstack/cert-manager-acmesolver:v1.12.3"]);
});

Deno.test("editor support: every key of airgap schema has a description; the example points at the schema file", async () => {
  const schema = configJsonSchema() as Record<string, unknown>;
  const missing: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== "object") return;
    const n = node as Record<string, unknown>;
    for (const [key, child] of Object.entries((n.properties ?? {}) as Record<string, Record<string, unknown>>)) {
      if (typeof child.description !== "string" || child.description.length < 5) missing.push(`${path}.${key}`);
      walk(child, `${path}.${key}`);
    }
    for (const key of ["items", "additionalProperties"]) walk(n[key], `${path}[]`);
    for (const key of ["anyOf", "oneOf", "allOf"]) for (const item of (n[key] ?? []) as unknown[]) walk(item, path);
  };
  walk(schema, "");
  assertEquals(missing, []);
  const example = await Deno.readTextFile(new URL("../../airgap.example.yaml", import.meta.url));
  assertEquals(example.split("\n")[0], "# yaml-language-server: $schema=schemas/airgap.schema.json");
  assert(/^\s*#?\s*passwordFile: /m.test(example), "the example shows passwordFile");
  // The committed schema file is what `airgap schema` prints (regenerate: airgap schema > schemas/airgap.schema.json).
  const committed = await Deno.readTextFile(new URL("../../schemas/airgap.schema.json", import.meta.url));
  assertEquals(JSON.parse(committed), schema);
});
