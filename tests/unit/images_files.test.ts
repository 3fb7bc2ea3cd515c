/**
 * `imagesCommand` (the library behind `airgap images`) lists a
 * declaration's files beside its images — name, where from (a path as
 * written, a URL without its query), declared sha256, origin — without
 * fetching them: a declared file that does not exist yet is still listed.
 */
import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { loadDeclaration } from "../../lib/plan/declaration.ts";
import { imagesCommand } from "../../lib/commands/images/images.ts";

Deno.test("imagesCommand lists the declaration's files, unfetched", async () => {
  await withTempDir(async (dir) => {
    const sha = "ab".repeat(32);
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      [
        "images: [busybox:1.36]",
        "files:",
        "  - url: http://127.0.0.1:9/helm.tgz?token=secret",
        `    sha256: "${sha}"`,
        "  - path: scripts/install.sh",
        "",
      ].join("\n"),
    );
    const declaration = await loadDeclaration(join(dir, "airgap.yaml"));
    const listed = await imagesCommand({ declaration, cacheDir: join(dir, "cache") });
    assertEquals(listed.images.map((i) => i.entry), ["busybox:1.36"]);
    assertEquals(listed.files.map((f) => [f.name, f.from, f.sha256]), [
      ["helm.tgz", "http://127.0.0.1:9/helm.tgz", `sha256:${sha}`],
      ["install.sh", "scripts/install.sh", undefined],
    ]);
    assertEquals(listed.files.map((f) => f.origin.replace(/^.*airgap\.yaml/, "airgap.yaml")), [
      "airgap.yaml:3:5",
      "airgap.yaml:5:5",
    ]);
  });
});
