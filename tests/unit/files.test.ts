/**
 * Files (`files:` in airgap.yaml) without a registry: the entry rules
 * (one of url/path, safe names, the repository a name travels in, octal
 * modes, names declared twice), the artifact format (oras conventions,
 * deterministic, round-tripping name and mode), the server's `/files/NAME`
 * route, and resolution into a cache (a wrong sha256 names the entry's
 * line; a file the cache holds by its sha256 is not read again).
 *
 * The generator draws names and modes from a seeded PRNG: every name is
 * either refused with a one-line usage error naming its line, or becomes a
 * repository that parses as a reference and that `load` names
 * `REGISTRY/files/NAME` — and its artifact reads back the same name and
 * mode. Longer run: AIRGAP_FUZZ_FILES_CASES=100000.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { generatorRun, rand } from "../helpers/seeded.ts";
import { AirgapError } from "../../lib/errors.ts";
import { EMPTY_CONFIG_TYPE, FILE_ARTIFACT_TYPE, fileArtifact, readFileArtifact } from "../../lib/files/artifact.ts";
import { resolveFile } from "../../lib/plan/carry_files.ts";
import { declaredDistributions, distributionAssets } from "../../lib/files/distribution.ts";
import { declaredFiles, fileRepository } from "../../lib/files/spec.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { parseReference, targetReference } from "../../lib/ref.ts";
import { openCache } from "../../lib/store/cache.ts";
import { route } from "../../lib/server/routes.ts";
import { checkDeclaration } from "../../lib/commands/check/check.ts";

const locate = (path: readonly PropertyKey[]) => `airgap.yaml:${Number(path[1] ?? 0) + 2}:5`;
const ctx = { path: "/site/airgap.yaml", locate };

Deno.test("generated names and modes: refused in one line, or a repository load can name, read back exactly", () => {
  const { cases, seed, report } = generatorRun("fuzz files names", {
    cases: 3000,
    env: { cases: "AIRGAP_FUZZ_FILES_CASES" },
  });
  const r = rand(seed);
  const pick = r.pick;
  const valid = ["a", "b", "k", "Z", "0", "9", "a", "b", "k", "Z", "0", "9", ".", "_", "-", "__"];
  const alphabet = [...valid, ...valid, "/", " ", "..", "é", ":", "%", "--"];
  let accepted = 0;
  for (let i = 0; i < cases; i++) {
    const name = Array.from({ length: 1 + r.int(12) }, () => pick(alphabet)).join("");
    const mode = pick(["0755", "0644", "600", "4755", "0700", undefined]);
    const where = `case ${i} (seed ${seed}): ${JSON.stringify({ name, mode })}`;
    let spec;
    try {
      spec = declaredFiles({ files: [{ path: "x.bin", name, ...(mode ? { mode } : {}) }] }, ctx)[0];
    } catch (e) {
      assert(e instanceof AirgapError, where);
      assert(e.message.startsWith("airgap.yaml:2:5"), `${where}: ${e.message}`);
      assert(!e.message.includes("\n"), where);
      continue;
    }
    accepted++;
    assert(!spec.name.includes("/") && spec.name !== "." && spec.name !== "..", where);
    assertEquals(spec.repository, `files/${name.toLowerCase()}`, where);
    assertEquals(parseReference(spec.repository).repository, spec.repository, where);
    assertEquals(
      targetReference(spec.repository, "reg.example.com:5000", "site").repository,
      `site/${spec.repository}`,
    );
    const content = { digest: digestOf(new TextEncoder().encode(name)), size: name.length };
    const artifact = fileArtifact(spec.name, spec.mode, content);
    const read = readFileArtifact(artifact.manifest.bytes, where)!;
    assertEquals(read.name, spec.name, where);
    assertEquals(read.mode, spec.mode, where);
    assertEquals(read.layer.digest, content.digest, where);
    assertEquals(fileArtifact(spec.name, spec.mode, content).manifest.descriptor, artifact.manifest.descriptor, where);
  }
  report(`, ${accepted} accepted`);
});

Deno.test("files: entries — one of url/path, names, modes, twice-declared, the default name", () => {
  assertThrows(() => declaredFiles({ files: [{ name: "x" }] }, ctx), AirgapError, "exactly one of url: or path:");
  assertThrows(
    () => declaredFiles({ files: [{ url: "ftp://h/x" }] }, ctx),
    AirgapError,
    "expected an http(s) or file: URL",
  );
  assertThrows(() => declaredFiles({ files: [{ path: "a..b" }] }, ctx), AirgapError, "cannot name a repository");
  assertThrows(
    () => declaredFiles({ files: [{ path: "A.txt" }, { path: "dir/a.txt" }] }, ctx),
    AirgapError,
    "a.txt is declared twice (first at airgap.yaml:2:5)",
  );
  const [spec] = declaredFiles({ files: [{ url: "https://get.helm.sh/helm-v3.14.0-linux-amd64.tar.gz?x=1" }] }, ctx);
  assertEquals(spec.name, "helm-v3.14.0-linux-amd64.tar.gz");
  assertEquals(spec.mode, 0o644);
  const [local] = declaredFiles({ files: [{ path: "bin/install.sh", mode: "755", sha256: "AB".repeat(32) }] }, ctx);
  assertEquals(local.url, pathToFileURL("/site/bin/install.sh").href);
  assertEquals(local.mode, 0o755);
  assertEquals(local.sha256, `sha256:${"ab".repeat(32)}`);
  assertEquals(fileRepository("Helm.TAR.gz"), "files/helm.tar.gz");
});

Deno.test("file artifacts: oras conventions; other manifests are not files; unsafe titles refused", () => {
  const a = fileArtifact("install.sh", 0o755, { digest: digestOf(new Uint8Array(3)), size: 3 });
  const m = JSON.parse(new TextDecoder().decode(a.manifest.bytes));
  assertEquals(m.artifactType, FILE_ARTIFACT_TYPE);
  assertEquals(m.config, { mediaType: EMPTY_CONFIG_TYPE, digest: digestOf(new TextEncoder().encode("{}")), size: 2 });
  assertEquals(m.layers[0].annotations["org.opencontainers.image.title"], "install.sh");
  assertEquals(m.layers[0].annotations["io.airgap.file.mode"], "0755");
  assert(fileArtifact("install.sh", 0o644, a.layer).manifest.descriptor.digest !== a.manifest.descriptor.digest);
  assertEquals(readFileArtifact(new TextEncoder().encode('{"schemaVersion":2}'), "x"), undefined);
  const unsafe = new TextEncoder().encode(
    new TextDecoder().decode(a.manifest.bytes).replace('"install.sh"', '"../../etc/passwd"'),
  );
  assertThrows(() => readFileArtifact(unsafe, "x"), AirgapError, "safe name");
});

Deno.test("server routes: /files/NAME is a file; nothing deeper is", () => {
  assertEquals(route("/files/install.sh"), { kind: "file", file: "install.sh" });
  assertEquals(route("/files/a/b").kind, "unknown");
  assertEquals(route("/files/").kind, "unknown");
});

Deno.test("resolveFile: a wrong sha256 names the entry's line; a cached sha256 is not read again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-files-unit-" });
  try {
    const cache = await openCache(join(dir, "cache"));
    const bytes = new TextEncoder().encode("#!/bin/sh\n");
    await Deno.writeFile(join(dir, "install.sh"), bytes);
    const declaration = { path: join(dir, "airgap.yaml"), locate };
    const [wrong] = declaredFiles({ files: [{ path: "install.sh", sha256: "0".repeat(64) }] }, declaration);
    const error = await assertRejects(() => resolveFile(wrong, { cache }), AirgapError);
    assertStringIncludes(error.message, "airgap.yaml:2:5: file install.sh: sha256 mismatch: declared sha256:000");
    const [right] = declaredFiles({ files: [{ path: "install.sh", sha256: digestOf(bytes) }] }, declaration);
    const image = await resolveFile(right, { cache });
    assertEquals(image.file?.sha256, digestOf(bytes));
    assertEquals(image.request.entry, "files/install.sh");
    await Deno.remove(join(dir, "install.sh"));
    assertEquals((await resolveFile(right, { cache })).descriptor, image.descriptor);
    cache.close?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rke2:/k3s: tags, default and mirrored asset URLs, install script, assets per architecture", () => {
  const [rke2] = declaredDistributions(
    { rke2: { version: "v1.27.10+rke2r1", architectures: ["amd64", "arm64"] } },
    ctx,
  );
  assertEquals(rke2.url, "https://github.com/rancher/rke2/releases/download/v1.27.10%2Brke2r1/");
  assertEquals(rke2.installUrl, "https://raw.githubusercontent.com/rancher/rke2/v1.27.10%2Brke2r1/install.sh");
  assertEquals(rke2.architectures, ["amd64", "arm64"]);
  assertEquals(rke2.origin, "airgap.yaml:2:5");
  const [k3s] = declaredDistributions(
    { k3s: { version: "v1.27.10+k3s1", url: "https://mirror.example/k3s/{version}" } },
    ctx,
  );
  assertEquals(k3s.url, "https://mirror.example/k3s/v1.27.10+k3s1/");
  assertEquals(k3s.installUrl, "https://mirror.example/k3s/v1.27.10+k3s1/install.sh");
  assertEquals(k3s.architectures, ["amd64"]);
  assertThrows(
    () => declaredDistributions({ rke2: { version: "v1.27.10+k3s1" } }, ctx),
    AirgapError,
    "rke2 release tag",
  );
  assertThrows(() => declaredDistributions({ k3s: { version: "1.27" } }, ctx), AirgapError, "k3s release tag");
  assertEquals(distributionAssets("rke2", "arm64"), {
    sums: "sha256sum-arm64.txt",
    list: "rke2-images-all.linux-arm64.txt",
    binary: "rke2.linux-arm64.tar.gz",
    mode: 0o644,
  });
  assertEquals(distributionAssets("k3s", "arm").binary, "k3s-armhf");
  assertEquals(distributionAssets("k3s", "amd64").binary, "k3s");
  assertEquals(distributionAssets("k3s", "amd64").mode, 0o755);
});

Deno.test("check: files: entries offline — a missing path, a bad URL, both url and path, a bad mode, each on its line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-files-check-" });
  try {
    await Deno.writeTextFile(join(dir, "ok.sh"), "#!/bin/sh\n");
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      [
        "files:",
        "  - path: missing.sh",
        "  - url: ftp://h/x",
        "  - path: ok.sh",
        "    url: https://h/ok.sh",
        "  - path: ok.sh",
        '    mode: "999"',
        "  - path: ok.sh",
        "",
      ].join("\n"),
    );
    const problems = await checkDeclaration(join(dir, "airgap.yaml"));
    const lines = problems.map((p) => p.replace(/^.*airgap\.yaml:/, ""));
    assertEquals(lines.length, 4, problems.join("\n"));
    assertStringIncludes(lines[0], "2:5: file missing.sh: missing.sh does not exist");
    assertStringIncludes(lines[1], '3:10: files: "ftp://h/x": expected an http(s) or file: URL');
    assertStringIncludes(lines[2], "4:5: files: give exactly one of url: or path:");
    assertStringIncludes(lines[3], "7:11: files[3].mode: expected an octal mode");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
