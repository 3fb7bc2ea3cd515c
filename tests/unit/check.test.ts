/**
 * `airgap check` and `airgap init`: every problem of a declaration in one run,
 * without the network; the starter declaration passes its own check. Also the
 * pure parts of failure reports: causes, groups, retry lists.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { airgap } from "../helpers/cli.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { AirgapError } from "../../lib/errors.ts";
import { EXAMPLE_DECLARATION } from "../../lib/commands/init/example.ts";
import { failedListPath, failureCause, formatFailedList, groupFailures } from "../../lib/report/failures.ts";
import { closest, editDistance } from "../../lib/suggest.ts";
import { parseImageList } from "../../lib/sources/list.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Five different problems: a typo'd key, an unknown platform, a missing list, an unset password, a bad chart version. */
const FIVE_PROBLEMS = `platfroms: [linux/amd64]
images:
  - ref: rancher/shell:v0.1.21
    platforms: [linux/amd65]
lists: [missing-list.txt]
registries:
  mirror.example.com:
    username: robot
    passwordEnv: AIRGAP_TEST_UNSET_PASSWORD
charts:
  - name: cert-manager
    repo: https://charts.jetstack.io
    version: ">=1.12"
`;

/** Run the CLI with no network permission at all: any network access would fail the run differently. */
function offline(args: string[], cwd: string) {
  return airgap(args, { cwd, permissions: ["--allow-read", "--allow-write", "--allow-env", "--allow-sys"] });
}

Deno.test("airgap check: five different problems reported in one run, without the network, exit 2", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "airgap.yaml"), FIVE_PROBLEMS);
    const result = await offline(["check"], dir);
    assertEquals(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split("\n");
    assertEquals(lines.length, 6, result.stderr);
    assertStringIncludes(lines[0], 'airgap.yaml:1:1: platfroms: unknown key "platfroms" (did you mean "platforms"?)');
    assertStringIncludes(lines[1], 'airgap.yaml:4:16: invalid platform "linux/amd65": unknown architecture "amd65"');
    assertStringIncludes(lines[1], '(did you mean "amd64"?)');
    assertStringIncludes(lines[2], "airgap.yaml:5:9: image list missing-list.txt does not exist");
    assertStringIncludes(lines[3], "AIRGAP_TEST_UNSET_PASSWORD is not set");
    assertStringIncludes(lines[4], 'airgap.yaml:13:14: charts[0].version: ">=1.12" is not an exact chart version');
    assertEquals(lines[5], "error: 5 problems in airgap.yaml; nothing was done");
  });
});

Deno.test("plan and save check the whole declaration first; a target password plan does not need is not asked", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "airgap.yaml"), FIVE_PROBLEMS);
    const save = await offline(["save", "--cache", join(dir, "cache")], dir);
    assertEquals(save.code, 2, save.stderr);
    assertStringIncludes(save.stderr, "error: 5 problems in airgap.yaml; nothing was done");
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      `images: [rancher/shell:v0.1.21]\ntarget: {registry: reg.example.com}\nregistries:\n  reg.example.com:\n    username: robot\n    passwordEnv: AIRGAP_TEST_UNSET_PASSWORD\n`,
    );
    const pull = await offline(["check"], dir);
    assertEquals(pull.code, 0, pull.stderr);
    assertStringIncludes(pull.stdout, "airgap.yaml: no problems found");
    const push = await offline(["check", "--for", "push"], dir);
    assertEquals(push.code, 2);
    assertStringIncludes(push.stderr, "airgap.yaml:5:5: registries.reg.example.com.passwordEnv");
  });
});

Deno.test("airgap check: a malformed list line and an unknown Windows version; --platform checked up front", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "list.txt"), "rancher/a:v1\nNot A Valid/Ref\nrancher/b:v1\n");
    await Deno.writeTextFile(join(dir, "airgap.yaml"), `lists: [list.txt]\nwindows:\n  versions: [1810]\n`);
    const result = await offline(["check", "--platform", "linux/amd65"], dir);
    assertEquals(result.code, 2, result.stderr);
    assertStringIncludes(result.stderr, "--platform: invalid platform");
    assertStringIncludes(result.stderr, "list.txt:2: ");
    assertStringIncludes(result.stderr, 'airgap.yaml:3:13: unknown Windows version "1810"');
    assertStringIncludes(result.stderr, "3 problems");
  });
});

Deno.test("airgap init: the embedded example, for a Rancher version; passes check; never overwrites", async () => {
  assertEquals(EXAMPLE_DECLARATION, await Deno.readTextFile(join(ROOT, "airgap.example.yaml")));
  await withTempDir(async (dir) => {
    const init = await offline(["init", "--rancher", "v2.8.5"], dir);
    assertEquals(init.code, 0, init.stderr);
    const text = await Deno.readTextFile(join(dir, "airgap.yaml"));
    assertStringIncludes(text, "rancher:\n  version: v2.8.5");
    assert(!text.includes("v2.7.9"), "every example version replaced");
    const check = await offline(["check"], dir);
    assertEquals(check.code, 0, check.stderr);
    const again = await offline(["init"], dir);
    assertEquals(again.code, 2);
    assertStringIncludes(again.stderr, "airgap.yaml already exists: not overwritten");
    assertEquals(await Deno.readTextFile(join(dir, "airgap.yaml")), text);
    const bad = await airgap(["init", "-f", "other.yaml", "--rancher", "v2.9.0-rc1"], { cwd: dir });
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, "pre-release");
  });
});

/** Whether this machine reaches the Internet: the acceptance below is about an offline machine. */
const online = await Deno.resolveDns("github.com", "A").then(() => true, () => false);

Deno.test({
  name:
    "acceptance (issue 11): the example in a fresh clone, offline: check passes, plan fails with one line about the network",
  ignore: online, // with a network, plan would download: the case is about offline machines
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.copyFile(join(ROOT, "airgap.example.yaml"), join(dir, "airgap.example.yaml"));
      const check = await offline(["check", "-f", "airgap.example.yaml"], dir); // no --allow-net at all
      assertEquals(check.code, 0, check.stderr);
      assertEquals(check.stdout.trim(), "airgap.example.yaml: no problems found");
      const env = { HOME: dir, XDG_CACHE_HOME: join(dir, "cache") }; // a fresh cache
      const plan = await airgap(["plan", "-f", "airgap.example.yaml"], { cwd: dir, env });
      assertEquals(plan.code, 1, plan.stderr);
      const lines = plan.stderr.trim().split("\n");
      assertEquals(lines.length, 1, plan.stderr);
      assert(lines[0].startsWith("error: airgap.example.yaml:"), lines[0]);
      assert(/dns error|failed to lookup address|network|unreachable/i.test(lines[0]), lines[0]);
      assertEquals(plan.stdout, "");
    });
  },
});

Deno.test("did you mean: edit distance and the closest known word", () => {
  assertEquals(editDistance("platfroms", "platforms"), 2);
  assertEquals(closest("platform", ["platforms", "images", "lists"]), "platforms");
  assertEquals(closest("amd65", ["amd64", "arm64", "386"]), "amd64");
  assertEquals(closest("zzzzzz", ["platforms", "images"]), undefined);
});

Deno.test("failures: causes from status and code, connection failures make a registry unreachable", () => {
  const notFound = new AirgapError("x", { status: 404, code: "MANIFEST_UNKNOWN" });
  assertEquals(failureCause(notFound, "docker.io"), {
    registry: "docker.io",
    cause: "not found (manifest unknown)",
    unreachable: false,
  });
  assertEquals(failureCause(new AirgapError("x", { status: 401 }), "r").cause, "unauthorized (HTTP 401)");
  assertEquals(failureCause(new AirgapError("x", { status: 503 }), "r").cause, "HTTP 503");
  const refused = new AirgapError("cannot reach registry r: error sending request: Connection refused (os error 111)");
  assertEquals(failureCause(refused, "r"), { registry: "r", cause: "connection refused", unreachable: true });
  const dns = new AirgapError("fetch: r", {}, {
    cause: new TypeError("client error (Connect): dns error: failed to lookup address information"),
  });
  assertEquals(failureCause(dns, "r"), { registry: "r", cause: "DNS lookup failed", unreachable: true });
  assertEquals(failureCause(new AirgapError("blob: connection reset by peer"), "r").unreachable, false);
});

Deno.test("failures: grouped by registry and cause, sorted by list line; the full list parses as an image list", () => {
  const missing = (n: number) => ({
    entry: `rancher/img${n}:v1`,
    origin: `rancher-images.txt:${n}`,
    registry: "docker.io",
    error: new AirgapError(`rancher/img${n}:v1: not here`, { status: 404, code: "MANIFEST_UNKNOWN" }),
  });
  const denied = {
    entry: "quay.io/x/y:1",
    origin: "rancher-images.txt:7",
    registry: "quay.io",
    error: new AirgapError("denied", { status: 403 }),
  };
  const failures = [missing(12), missing(3), denied, missing(5), missing(40), missing(10)];
  assertEquals(groupFailures(failures), [
    "docker.io: 5 images not found (manifest unknown): rancher-images.txt:3 rancher/img3:v1, :5 rancher/img5:v1, :10 rancher/img10:v1, … (2 more)",
    "quay.io: 1 image forbidden (HTTP 403): rancher-images.txt:7 quay.io/x/y:1",
  ]);
  const text = formatFailedList(failures, "airgap save: 6 of 50 images failed");
  assertStringIncludes(
    text,
    "# rancher-images.txt:3: docker.io: not found (manifest unknown): rancher/img3:v1: not here\n",
  );
  assertEquals(
    parseImageList(text, "x.failed.txt").map((e) => e.entry),
    [3, 5].map((n) => `rancher/img${n}:v1`).concat(["quay.io/x/y:1"], [10, 12, 40].map((n) => `rancher/img${n}:v1`)),
  );
  assertEquals(failedListPath(join("a", "rancher-images.tar"), "save"), join("a", "rancher-images.save-failed.txt"));
  assertEquals(failedListPath(join("a", "rancher-images.001"), "load"), join("a", "rancher-images.load-failed.txt"));
  assertEquals(failedListPath(join("a", "airgap.lock"), "plan"), join("a", "airgap.plan-failed.txt"));
  assertEquals(failedListPath(join("a", "airgap.lock"), "mirror"), join("a", "airgap.mirror-failed.txt"));
});

Deno.test("usage mistakes: the error, the suggestion and where the help is, exit 2", async () => {
  const flag = await airgap(["load", "--regsitry", "x"]);
  assertEquals(flag.code, 2);
  assertEquals(flag.stderr.trim().split("\n"), [
    "error: unknown option '--regsitry'",
    "(Did you mean --registry?)",
    "run 'airgap load --help' for usage",
  ]);
  const command = await airgap(["lod"]);
  assertEquals(command.code, 2);
  assertStringIncludes(command.stderr, "(Did you mean load?)\nrun 'airgap --help' for usage");
});
