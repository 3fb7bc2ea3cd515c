/**
 * Charts the operator already has, end to end through the CLI: a shared
 * chart `.tgz` named by path, a chart directory (a real chart unpacked by
 * `tar`), and a directory repository without `index.yaml` — `check`,
 * `images`, `plan` (pinned in the lock by digest, the directory's digest
 * stable from run to run), `save` (the charts in the archive byte for byte)
 * and `plan --locked`. And the failure the trial met: a `./charts`
 * repository with no index and no charts is reported by `check` at its line,
 * not by `plan` as an HTTP 404 of a local file.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { hasSharedChart, SHARED_CHARTS } from "../helpers/helm.ts";
import { entryImage, interopAvailable, seedStorage, startRegistry } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { parseLock } from "../../lib/lock.ts";
import { chartLayer, isChartEntry } from "../../lib/oci/chart.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { openArchive } from "../../lib/store/archive.ts";
import { packChartDirectory } from "../../lib/sources/local_charts.ts";

const CERT_MANAGER = "cert-manager-v1.12.3.tgz";
const TRAEFIK = "traefik-41.3.0.tgz";
const POSTGRES = "postgresql-17.1.0.tgz";
const charts = hasSharedChart(CERT_MANAGER, TRAEFIK, POSTGRES);

/** Unpack a shared chart with the system's tar (an independent reader). */
async function untar(tgz: string, into: string): Promise<void> {
  const out = await new Deno.Command("tar", { args: ["xzf", join(SHARED_CHARTS, tgz), "-C", into] }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
}

Deno.test({
  name: "local charts: a .tgz by path, a chart directory, a directory repository without index → plan, save, --locked",
  ignore: !interopAvailable() || !charts,
  async fn(t) {
    await withTempDir(async (dir) => {
      await untar(TRAEFIK, dir); // → dir/traefik
      await Deno.mkdir(join(dir, "repo"));
      await Deno.copyFile(join(SHARED_CHARTS, POSTGRES), join(dir, "repo", POSTGRES));
      const upstream = await startRegistry();
      try {
        const yaml = (registry: string) =>
          `sourceRegistry: ${registry}
charts:
  - path: ${join(SHARED_CHARTS, CERT_MANAGER)}
  - path: ./traefik
    version: 41.3.0
  - name: postgresql
    repo: ./repo
    version: 17.1.0
`;
        await Deno.writeTextFile(join(dir, "airgap.yaml"), yaml(upstream.host));
        const cache = join(dir, "cache");

        await t.step("check passes; images lists every chart's images", async () => {
          const checked = await airgapOk(["check"], { cwd: dir });
          assertStringIncludes(checked.stdout, "no problems found");
          const listed = await airgapOk(["images", "--cache", cache], { cwd: dir });
          const images = listed.stdout.trim().split("\n");
          for (
            const image of [
              "quay.io/jetstack/cert-manager-controller:v1.12.3",
              "docker.io/traefik:v3.7.11",
              "docker.io/bitnami/postgresql:17.6.0-debian-12-r4",
            ]
          ) assert(images.includes(image), `${image} in ${listed.stdout}`);
          await seedStorage(upstream, images.map(entryImage));
        });

        const lockPath = join(dir, "airgap.lock");
        await t.step("plan pins each chart by digest, a directory by its reproducible packing", async () => {
          const out = await airgapOk(["plan", "--cache", cache], { cwd: dir });
          assertStringIncludes(out.stdout, "chart traefik@41.3.0");
          assertStringIncludes(out.stdout, "local file, pinned by digest");
          const lock = parseLock(await Deno.readTextFile(lockPath), "airgap.lock");
          const byName = new Map(lock.sources!.map((s) => [s.name, s]));
          assertEquals(
            byName.get("cert-manager")!.digest,
            digestOf(await Deno.readFile(join(SHARED_CHARTS, CERT_MANAGER))),
          );
          assertEquals(byName.get("postgresql")!.digest, digestOf(await Deno.readFile(join(SHARED_CHARTS, POSTGRES))));
          assertEquals(byName.get("postgresql")!.url, "repo/postgresql-17.1.0.tgz");
          assertEquals(byName.get("traefik")!.url, "traefik");
          // The directory's digest is that of its reproducible packing (tests/unit/local_charts.test.ts).
          assertEquals(
            byName.get("traefik")!.digest,
            digestOf(await packChartDirectory(join(dir, "traefik"), "traefik")),
          );
        });

        await t.step("save carries the three charts: the .tgz files byte for byte", async () => {
          const out = await airgapOk(["save", "--cache", cache], { cwd: dir });
          assertStringIncludes(out.stdout, "and 3 charts");
          const reader = await openArchive(join(dir, "airgap-images.tar"));
          try {
            const carried = reader.images.filter(isChartEntry);
            assertEquals(carried.map((c) => c.entry).sort(), [
              "charts/cert-manager:v1.12.3",
              "charts/postgresql:17.1.0",
              "charts/traefik:41.3.0",
            ]);
            const pg = carried.find((c) => c.entry === "charts/postgresql:17.1.0")!;
            const manifest = JSON.parse(new TextDecoder().decode(await reader.readBytes(pg.descriptor)));
            assertEquals(
              await reader.readBytes(chartLayer(manifest)!, 1 << 20),
              await Deno.readFile(join(SHARED_CHARTS, POSTGRES)),
            );
          } finally {
            await reader.close?.();
          }
        });

        await t.step("--locked: a changed chart directory no longer matches the lock", async () => {
          await Deno.writeTextFile(join(dir, "traefik", "NOTES.extra"), "changed\n");
          const out = await airgap(["plan", "--locked", "--cache", join(dir, "other-cache")], { cwd: dir });
          assertEquals(out.code === 0, false, out.stdout);
          assertStringIncludes(out.stderr, "but airgap.lock pins");
        });
      } finally {
        await upstream.stop();
      }
    }, "airgap-local-charts-");
  },
});

Deno.test({
  name: "local charts: a directory repository with no index and no charts fails check at its line, plan the same",
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.mkdir(join(dir, "charts"));
      await Deno.writeTextFile(
        join(dir, "airgap.yaml"),
        "charts:\n  - name: cert-manager\n    repo: ./charts\n    version: v1.12.3\n  - path: ./missing.tgz\n",
      );
      for (const command of ["check", "plan"]) {
        const out = await airgap([command], { cwd: dir });
        assertEquals(out.code, 2, out.stderr);
        assertStringIncludes(
          out.stderr,
          "airgap.yaml:3:11: repo: ",
        );
        assertStringIncludes(out.stderr, "has no index.yaml and no chart cert-manager@v1.12.3 (it holds no charts)");
        assertStringIncludes(out.stderr, "airgap.yaml:5:11: path: ");
        assertStringIncludes(out.stderr, "missing.tgz does not exist");
        assertEquals(out.stderr.includes("HTTP 404"), false, out.stderr);
      }
    }, "airgap-local-charts-");
  },
});
