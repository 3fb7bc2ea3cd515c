/** The README's first command: the whole job on the embedded default. */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";

Deno.test({
  name: "airgap demo runs plan, save, load and verify on embedded registries and carries every image intact",
  async fn() {
    const out = await airgap(["demo"]);
    assertEquals(out.code, 0, out.stdout + out.stderr);
    for (const step of ["$ airgap plan", "$ airgap save", "$ airgap ls", "$ airgap load", "$ airgap verify"]) {
      assertStringIncludes(out.stdout, step);
    }
    const lines = out.stdout.split("\n").filter((l) => l.includes(" -> "));
    assertEquals(lines.length > 0 && lines.every((l) => l.endsWith("identical")), true, lines.join("\n"));
    assertStringIncludes(out.stdout, "-> 127.0.0.1:");
    assertStringIncludes(out.stdout, "/rancher/mirrored-pause:3.6"); // the no-slash rule
    assertStringIncludes(out.stdout, "/rancher/wins:v0.4.11"); // Linux + Windows 1809 under one tag
    assertStringIncludes(out.stdout, "came from the foreign host (1 request(s))");
    assertStringIncludes(out.stdout, "fetched nothing: everything came from the cache");
    assertStringIncludes(out.stdout, "done: ");
  },
});
