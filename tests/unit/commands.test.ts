/**
 * The command modules' option resolution (lib/commands/), called directly —
 * no subprocess: which declaration and archive a command reads, the lock it
 * writes, the target registry with --insecure/--ca-file, the charts-only
 * load, save's output and --split, images' chart flags, and --debug on
 * every command.
 */
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { AirgapError } from "../../lib/errors.ts";
import { program } from "../../cli.ts";
import {
  declaration,
  declarationSource,
  defaultArchive,
  firstPart,
  lockPathOf,
  lockToWrite,
  previousLockOf,
  targetName,
  targetOf,
  targetText,
} from "../../lib/commands/shared/resolve_options.ts";
import { checkOutputOptions, gzipNameWarning, partSizeOf, saveOutput } from "../../lib/commands/save/cli.ts";
import {
  archiveArgument,
  chartsOnly,
  chartsOption,
  loadArchive,
  loadDeclarationOf,
} from "../../lib/commands/load/cli.ts";
import { chartFileOptions, checkDeclarationFlags } from "../../lib/commands/images/cli.ts";
import { serveOptions } from "../../lib/commands/serve/cli.ts";
import { formatDiff } from "../../lib/commands/diff/cli.ts";
import { cacheVerifyLine, formatPrune } from "../../lib/commands/cache/cli.ts";
import { schemaOf } from "../../lib/commands/schema/cli.ts";

/** A usage mistake: an AirgapError with exit code 2 whose message includes `includes`. */
function assertUsage(fn: () => unknown, includes: string) {
  const e = assertThrows(fn, AirgapError, includes) as AirgapError;
  assertEquals(e.exitCode, 2);
}

Deno.test("commands: the default archive is written once — declaration output, airgap-images.tar, or rancher-images.tar", () => {
  assertEquals(defaultArchive(undefined), "rancher-images.tar");
  assertEquals(defaultArchive({}), "rancher-images.tar"); // an image list: no declaration file
  assertEquals(defaultArchive({ configPath: "/x/airgap.yaml" }), "airgap-images.tar");
  assertEquals(defaultArchive({ configPath: "/x/airgap.yaml", output: "/x/site.tar" }), "/x/site.tar");
});

Deno.test("commands: save's archive is -o, -i, or the default; -o and -i together are a usage error", () => {
  const decl = { configPath: "/x/airgap.yaml", output: "/x/site.tar" };
  assertEquals(saveOutput({ output: "a.tar" }, decl), resolve("a.tar"));
  assertEquals(saveOutput({ images: "b.tar" }, decl), resolve("b.tar"));
  assertEquals(saveOutput({}, decl), resolve("/x/site.tar"));
  assertEquals(saveOutput({}, {}), resolve("rancher-images.tar"));
  checkOutputOptions({ output: "a.tar" });
  assertUsage(() => checkOutputOptions({ output: "a.tar", images: "b.tar" }), "either -o/--output or -i/--images");
});

Deno.test("commands: --split sizes in bytes, at least 1MiB; a bad size is a usage error", () => {
  assertEquals(partSizeOf(undefined), undefined);
  assertEquals(partSizeOf("4GiB"), 4 * 1024 ** 3);
  assertEquals(partSizeOf("1MiB"), 1024 ** 2);
  assertUsage(() => partSizeOf("1KiB"), "--split: parts must be at least 1MiB");
  assertUsage(() => partSizeOf("lots"), "--split: ");
});

Deno.test("commands: an archive named .tar.gz or .tgz gets a warning that it is a plain tar", () => {
  assertEquals(gzipNameWarning("/x/a.tar"), undefined);
  assert(gzipNameWarning("/x/a.tar.gz")?.includes("will be a plain tar, not gzip"));
  assert(gzipNameWarning("/x/a.TGZ")?.includes("consider a .tar name"));
});

Deno.test("commands: the lock — --lock or the declaration's; none written for a -f -l subset unless --lock names it", () => {
  assertEquals(lockPathOf({ lock: "my.lock" }, { lockPath: "/x/airgap.lock" }), resolve("my.lock"));
  assertEquals(lockPathOf({}, { lockPath: "/x/airgap.lock" }), "/x/airgap.lock");
  assertEquals(lockPathOf({}, {}), undefined);
  assertEquals(lockToWrite({}, undefined, "/x/airgap.lock"), "/x/airgap.lock");
  assertEquals(lockToWrite({ only: ["a:1"] }, undefined, "/x/airgap.lock"), undefined);
  assertEquals(lockToWrite({ only: ["a:1"] }, "my.lock", resolve("my.lock")), resolve("my.lock"));
});

Deno.test("commands: --locked without an existing lock is a usage error; without --locked a missing lock is none", async () => {
  await withTempDir(async (dir) => {
    const decl = { lockPath: join(dir, "airgap.lock") };
    assertEquals(await previousLockOf({}, decl), { lockPath: decl.lockPath, previousLock: undefined });
    const e = await assertRejects(() => previousLockOf({ locked: true }, decl), AirgapError, "--locked needs");
    assertEquals((e as AirgapError).exitCode, 2);
  });
});

Deno.test("commands: the target — --registry's prefix, --prefix over it, target.prefix only with target.registry", () => {
  const decl = {
    target: { registry: "harbor.local", prefix: "rancher" },
    registries: new Map([["harbor.local", { noAuthFiles: true }]]),
  };
  assertEquals(targetText({}, decl), "harbor.local");
  assertEquals(targetText({ registry: "r:5000" }, decl), "r:5000");
  assertEquals(targetText({}, undefined), undefined);
  const fromDecl = targetOf({}, decl);
  assertEquals([fromDecl.registry, fromDecl.prefix], ["harbor.local", "rancher"]);
  const named = targetOf({ registry: "r:5000/team" }, decl);
  assertEquals([named.registry, named.prefix], ["r:5000", "team"]);
  assertEquals(targetOf({ registry: "r:5000" }, decl).prefix, "", "--registry without a prefix: none");
  assertEquals(targetOf({ registry: "r:5000/team", prefix: "other" }, decl).prefix, "other");
  assertEquals(targetName(named), "r:5000/team");
  assertEquals(targetName({ registry: "r:5000", prefix: "" }), "r:5000");
  assertUsage(() => targetOf({}, undefined), "no target registry");
});

Deno.test("commands: --insecure and --ca-file are merged into the target's settings, the others untouched", () => {
  const registries = new Map([["harbor.local", { noAuthFiles: true }], ["docker.io", { insecure: false }]]);
  const decl = { target: { registry: "harbor.local", prefix: "" }, registries };
  const target = targetOf({ insecure: true, caFile: "ca.pem" }, decl);
  assertEquals(target.registries.get("harbor.local"), { noAuthFiles: true, insecure: true, caFile: resolve("ca.pem") });
  assertEquals(target.registries.get("docker.io"), { insecure: false });
  assertEquals(registries.get("harbor.local"), { noAuthFiles: true }, "the declaration's map is not changed");
  assertEquals(targetOf({}, decl).registries.get("harbor.local"), { noAuthFiles: true });
  assertEquals(targetOf({ registry: "new:5000", insecure: true }, decl).registries.get("new:5000"), { insecure: true });
});

Deno.test("commands: several archive arguments must be the parts of one split archive", () => {
  assertEquals(firstPart(["a.tar"]), "a.tar");
  assertEquals(firstPart(["a.tar.002", "a.tar.001", "a.tar.003"]), "a.tar.001");
  // A gap is named when the parts are opened (tests/interop/media.test.ts), not refused as a usage error.
  assertEquals(firstPart(["a.tar.001", "a.tar.003"]), "a.tar.001");
  assertUsage(() => firstPart(["a.tar.002", "a.tar.003"]), "all parts of one split archive");
  assertUsage(() => firstPart(["a.tar", "b.tar"]), "give one archive");
});

Deno.test("commands: load's archive — the argument or -i (not both), else the one save writes by default", () => {
  assertEquals(archiveArgument([], {}), undefined);
  assertEquals(archiveArgument(["x.tar"], {}), "x.tar");
  assertEquals(archiveArgument([], { images: "y.tar" }), "y.tar");
  assertUsage(() => archiveArgument(["x.tar"], { images: "y.tar" }), "either as an argument or with -i");
  const decl = { configPath: "/x/airgap.yaml", output: "/x/site.tar" };
  assertEquals(loadArchive("x.tar", {}, decl), resolve("x.tar"));
  assertEquals(loadArchive(undefined, {}, decl), resolve("/x/site.tar"));
  assertEquals(loadArchive(undefined, {}, { configPath: "/x/airgap.yaml" }), resolve("airgap-images.tar"));
  assertEquals(loadArchive(undefined, {}, undefined), resolve("rancher-images.tar"));
  // An image list says what to load, as it said what to save: rancher-images.tar, whatever the declaration.
  assertEquals(loadArchive(undefined, { imageList: "l.txt" }, decl), resolve("rancher-images.tar"));
  assertEquals(loadArchive(undefined, { windowsImageList: ["w.txt"] }, decl), resolve("rancher-images.tar"));
});

Deno.test("commands: load's charts — --charts-dir and --push-charts [path]; a directory and no registry extracts only", () => {
  assertEquals(chartsOption({}), undefined);
  assertEquals(chartsOption({ chartsDir: "out" }), { dir: resolve("out"), push: undefined });
  assertEquals(chartsOption({ pushCharts: true }), { dir: undefined, push: "charts" });
  assertEquals(chartsOption({ pushCharts: "helm" }), { dir: undefined, push: "helm" });
  assert(chartsOnly(undefined, chartsOption({ chartsDir: "out" })));
  assert(!chartsOnly("r:5000", chartsOption({ chartsDir: "out" })), "a registry: a load");
  assert(!chartsOnly(undefined, chartsOption({ chartsDir: "out", pushCharts: true })), "pushing needs a registry");
  assert(!chartsOnly(undefined, undefined));
});

Deno.test("commands: which declaration a command reads — -f, -l, both (a retry), or Windows lists alone", async () => {
  assertEquals(await declarationSource({ file: "a.yaml" }), { file: resolve("a.yaml") });
  assertEquals(await declarationSource({ imageList: "l.txt" }), { list: resolve("l.txt") });
  assertEquals(await declarationSource({ file: "a.yaml", imageList: "l.txt" }), {
    file: resolve("a.yaml"),
    list: resolve("l.txt"),
  });
  assertEquals(await declarationSource({ windowsImageList: ["w.txt"] }), { list: undefined });
  assertEquals(await declarationSource({ file: "a.yaml", windowsImageList: ["w.txt"] }), { file: resolve("a.yaml") });
});

Deno.test("commands: -f with -l reads the declaration for just the list's entries; load reads -f for push", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "airgap.yaml");
    await Deno.writeTextFile(file, "version: 1\nimages:\n  - busybox:1.36\n  - alpine:3.19\noutput: site.tar\n");
    const list = join(dir, "failed.txt");
    await Deno.writeTextFile(list, "alpine:3.19\n");
    const whole = await declaration({ file, quiet: true });
    assertEquals(whole.only, undefined);
    assertEquals(whole.lockPath, join(dir, "airgap.lock"));
    const retry = await declaration({ file, imageList: list, quiet: true });
    assertEquals(retry.only, ["alpine:3.19"]);
    assertEquals(lockToWrite(retry, undefined, retry.lockPath), undefined);
    const forLoad = await loadDeclarationOf({ file });
    assertEquals(forLoad?.configPath, file);
    assertEquals(loadArchive(undefined, {}, forLoad), join(dir, "site.tar"));
  });
});

Deno.test("commands: images --chart takes -f files as values files first; chart flags need --chart", () => {
  const options = chartFileOptions({ chart: "c.tgz", file: ["a.yaml"], values: ["b.yaml"], set: ["x=1"] });
  assertEquals(options.path, resolve("c.tgz"));
  assertEquals(options.valuesFiles, [resolve("a.yaml"), resolve("b.yaml")]);
  assertEquals(options.set, ["x=1"]);
  assertUsage(() => chartFileOptions({ chart: "c.tgz", imageList: "l.txt" }), "either --chart or -l");
  checkDeclarationFlags({ file: ["airgap.yaml"] });
  assertUsage(() => checkDeclarationFlags({ set: ["x=1"] }), "--set needs --chart");
  assertUsage(() => checkDeclarationFlags({ kubeVersion: "1.29" }), "--kube-version needs --chart");
  assertUsage(() => checkDeclarationFlags({ setString: ["a=b"] }), "--set-string needs --chart");
  assertUsage(() => checkDeclarationFlags({ file: ["a.yaml", "b.yaml"] }), "give one declaration with -f");
});

Deno.test("commands: serve resolves its paths and logs requests unless --quiet", () => {
  const logged: string[] = [];
  const reporter = { info: (line: string) => logged.push(line) };
  const options = serveOptions("a.tar", { listen: ":5000", tlsCert: "c.pem", tlsKey: "k.pem" }, reporter);
  assertEquals([options.source, options.tlsCert, options.tlsKey], [
    resolve("a.tar"),
    resolve("c.pem"),
    resolve("k.pem"),
  ]);
  assertEquals(options.baseCache, undefined);
  options.onRequest?.({ method: "GET", path: "/v2/", status: 200, bytes: 0, ms: 1 });
  assertEquals(logged, ["GET /v2/ 200 0 B 1ms"]);
  assertEquals(serveOptions("a.tar", { listen: ":5000", quiet: true }, reporter).onRequest, undefined);
});

Deno.test("commands: --debug is declared once and accepted by every command that runs, cache's included", () => {
  const leaves = (c: Command): Command[] => c.commands.length ? c.commands.flatMap(leaves) : [c];
  const cli = program();
  const all = leaves(cli);
  assert(all.length >= 17, `${all.length} commands`);
  for (const command of all) {
    assertEquals(command.options.filter((o) => o.long === "--debug").length, 1, command.name());
  }
  assertEquals(cli.options.some((o) => o.long === "--debug"), false, "not a program option");
  const cache = cli.commands.find((c) => c.name() === "cache")!;
  assertEquals(cache.commands.map((c) => c.name()), ["ls", "verify", "prune"]);
});

Deno.test("commands: output of diff, cache verify and prune, and schema", () => {
  const image = (entry: string, digest: string) => ({ entry, digest }) as never;
  const lines = formatDiff({
    added: [image("a:1", "sha256:" + "1".repeat(64))],
    removed: [],
    changed: [],
    retagged: [],
    unchanged: 2,
    newBlobs: 3,
    newBytes: 2048,
  } as never, "old.lock");
  assertEquals(lines[0], `+ a:1  sha256:${"1".repeat(12)}`);
  assertEquals(lines[1], "1 added, 0 removed, 0 changed, 0 re-tagged, 2 unchanged");
  assertEquals(lines.length, 3);
  assertEquals(cacheVerifyLine({ checked: 4, bytes: 0, bad: [], repaired: 0 }), "4 blobs, 0 B verified");
  const bad = { checked: 4, bytes: 0, bad: [{ digest: "d", where: "w", message: "m" }], repaired: 0 };
  assertThrows(() => cacheVerifyLine(bad), AirgapError, "1 of 4 blobs failed verification");
  assertEquals(cacheVerifyLine({ ...bad, repaired: 1 }, true), "4 blobs, 0 B verified; 1 bad ones dropped");
  const pruned = { removedBlobs: 2, removedPacks: 0, freedBytes: 0, keptPacks: [], skippedInUse: 0, runningSaves: 0 };
  assertEquals(formatPrune(pruned, true), ["would remove 2 blobs and 0 packs, 0 B"]);
  assertEquals(formatPrune(pruned)[0].startsWith("removed 2 blobs"), true);
  assert(JSON.stringify(schemaOf("lock")).includes("images"));
  assert(JSON.stringify(schemaOf("config")).includes("platforms"));
});
