/**
 * Windows in CI: the unit tests (tests/unit/, packages/helm/tests/) and the save → load round trip
 * (tests/windows/) under the Windows Deno, through ../shared/tools/wine-deno,
 * in ONE Wine run (Wine's start-up costs ~1 s a process). The Linux side
 * starts two real distribution registries on 127.0.0.1 (Debian
 * docker-registry), puts the images into one with skopeo, and hands their
 * addresses to the Windows side in AIRGAP_WINDOWS_FIXTURE.
 *
 *   deno run -A tests/windows/run.ts WINE_DENO [deno test args…]
 *
 * Exits with the Windows test run's code; its output (Deno's summary line
 * included) is passed through.
 * @module
 */
import { fileURLToPath } from "node:url";
import { pushCorpus } from "../helpers/corpus.ts";
import { interopAvailable, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function main(wineDeno: string, extra: string[]): Promise<number> {
  if (!interopAvailable()) return 1;
  const registries: TestRegistry[] = [];
  try {
    const upstream = await startRegistry();
    const target = await startRegistry();
    registries.push(upstream, target);
    const images = standardCorpus(6).filter((i) =>
      ["rancher/rancher", "rancher/shell", "rancher/mirrored-pause"].includes(i.repository)
    );
    await pushCorpus(upstream.host, images);
    const fixture = {
      upstream: upstream.host,
      target: target.host,
      images: images.map((i) => ({ name: `${i.repository}:${i.tag}`, digest: i.root.descriptor.digest })),
    };
    const child = new Deno.Command("bash", {
      args: [
        wineDeno,
        "test",
        "-A",
        ...extra,
        // The Helm engine's unit tests too; its differential test needs the Go oracle, a Linux-side tool.
        "--ignore=packages/helm/tests/helm_differential.test.ts",
        "tests/unit/",
        "packages/helm/tests/",
        "tests/windows/",
      ],
      cwd: ROOT,
      env: { AIRGAP_WINDOWS_FIXTURE: JSON.stringify(fixture) },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  } finally {
    for (const r of registries) await r.stop();
  }
}

if (import.meta.main) {
  const [wineDeno, ...extra] = Deno.args;
  if (!wineDeno) {
    console.error("usage: deno run -A tests/windows/run.ts WINE_DENO [deno test args…]");
    Deno.exit(2);
  }
  Deno.exit(await main(wineDeno, extra));
}
