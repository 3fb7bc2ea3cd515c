/**
 * Issue 11, `--json`: plan, ls, verify, diff and images print one JSON
 * document on stdout, valid against the JSON Schema `airgap schema --of
 * COMMAND` prints (checked with Ajv, an independent validator).
 */
import { join } from "node:path";
// deno-lint-ignore no-import-prefix -- test-only (an independent JSON Schema validator): kept out of deno.json
import Ajv2020 from "npm:ajv@8.17.1/dist/2020.js";
import { assert, assertEquals } from "../helpers/assert.ts";
import { airgap, airgapOk } from "../helpers/cli.ts";
import { pushCorpus, writeImageList } from "../helpers/corpus.ts";
import { interopAvailable, withRegistries } from "../helpers/registry.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";

const enabled = interopAvailable();

async function validator(command: string) {
  const schema = JSON.parse((await airgapOk(["schema", "--of", command])).stdout);
  const ajv = new Ajv2020.default({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  return (document: unknown) => {
    const ok = validate(document);
    assert(ok, `${command} --json: ${JSON.stringify(validate.errors)}`);
  };
}

Deno.test({
  name: "--json: plan, ls, verify, diff and images print one document each that validates against its schema",
  ignore: !enabled,
  async fn(t) {
    await withTempDir(async (dir) => {
      await withRegistries(async (start) => {
        const upstream = await start();
        const v1 = standardCorpus(2);
        await pushCorpus(upstream.host, v1);
        const list = await writeImageList(dir, v1);
        const common = ["-l", list, "-s", upstream.host, "--platform", "all", "--cache", join(dir, "cache")];
        const archive = join(dir, "a.tar");
        await airgapOk(["save", ...common, "-o", archive, "--lock", join(dir, "v1.lock"), "-q"]);
        const v2 = standardCorpus(2, ["rancher/shell"]);
        await pushCorpus(upstream.host, v2.filter((i) => i.repository === "rancher/shell"));

        await t.step("plan --json (with a changed image and --since)", async () => {
          const out = await airgapOk([
            "plan",
            ...common,
            ...["--lock", join(dir, "v1.lock"), "--no-write-lock", "--since", join(dir, "v1.lock"), "--json"],
          ]);
          const plan = JSON.parse(out.stdout);
          (await validator("plan"))(plan);
          const shell = plan.images.find((i: { entry: string }) => i.entry === "rancher/shell:v0.1.21");
          assertEquals(shell.lock, "changed");
          assert(shell.previousDigest && shell.previousDigest !== shell.digest, "old and new digest");
          assert(plan.delta.blobs > 0, "the delta carries the new layers");
        });

        await t.step("ls --json", async () => {
          (await validator("ls"))(JSON.parse((await airgapOk(["ls", archive, "--json"])).stdout));
        });

        await t.step("verify --json, sound and damaged", async () => {
          const check = await validator("verify");
          const ok = JSON.parse((await airgapOk(["verify", archive, "--json"])).stdout);
          check(ok);
          assertEquals(ok.ok, true);
          const bytes = await Deno.readFile(archive);
          bytes[bytes.length - 4096] ^= 0xff; // inside the last blob's data
          const damaged = join(dir, "damaged.tar");
          await Deno.writeFile(damaged, bytes);
          const bad = await airgap(["verify", damaged, "--json"]);
          assertEquals(bad.code, 1, bad.stderr);
          const report = JSON.parse(bad.stdout);
          check(report);
          assertEquals(report.ok, false);
        });

        await t.step("diff --json", async () => {
          await airgapOk(["plan", ...common, "--lock", join(dir, "v2.lock"), "-q"]);
          const diff = JSON.parse(
            (await airgapOk(["diff", join(dir, "v1.lock"), join(dir, "v2.lock"), "--json"])).stdout,
          );
          (await validator("diff"))(diff);
          assertEquals(diff.changed.length, 1);
        });

        await t.step("images --json", async () => {
          (await validator("images"))(JSON.parse((await airgapOk(["images", "-l", list, "--json"])).stdout));
        });
      });
    }, "airgap-json-");
  },
});
