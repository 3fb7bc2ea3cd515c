/**
 * The release build's pure parts: which runtime each target is stitched onto,
 * the permissions the binary gets, and the header check that catches a
 * runtime of the wrong target; and the smoke test that runs the built
 * program for this machine and refuses a stand-in runtime (a full Deno).
 */
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  compileArgs,
  denortFor,
  denortVariable,
  executableKind,
  PERMISSIONS,
  smokeProblem,
  smokeTest,
  TARGETS,
} from "../../tools/compile.ts";
import { VERSION } from "../../lib/version.ts";
import { withTempDir } from "../helpers/tempdir.ts";

function elf(machine: number, bits64 = true): Uint8Array {
  const head = new Uint8Array(64);
  head.set([0x7f, 0x45, 0x4c, 0x46, bits64 ? 2 : 1, 1, 1]);
  new DataView(head.buffer).setUint16(18, machine, true);
  return head;
}

function pe(machine: number): Uint8Array {
  const head = new Uint8Array(0x100);
  head.set([0x4d, 0x5a]);
  const view = new DataView(head.buffer);
  view.setUint32(0x3c, 0x80, true);
  view.setUint32(0x80, 0x00004550, true);
  view.setUint16(0x84, machine, true);
  return head;
}

Deno.test("release: ELF and PE headers name the machine", () => {
  assertEquals(executableKind(elf(0x3e)), "elf-x86_64");
  assertEquals(executableKind(elf(0xb7)), "elf-aarch64");
  assertEquals(executableKind(elf(0x28, false)), "other"); // 32-bit ARM
  assertEquals(executableKind(elf(0x3e, false)), "other"); // ELF32
  assertEquals(executableKind(pe(0x8664)), "pe-x86_64");
  assertEquals(executableKind(pe(0xaa64)), "other"); // Windows on ARM
  assertEquals(executableKind(pe(0x8664).subarray(0, 0x60)), "other"); // header past the bytes read
  assertEquals(executableKind(new TextEncoder().encode("#!/bin/sh\necho hi\n")), "other");
  assertEquals(TARGETS.map((t) => t.kind), ["elf-x86_64", "elf-aarch64", "pe-x86_64"]);
  assert(TARGETS[2].file.endsWith(".exe"));
});

Deno.test("release: one runtime variable per target; plain DENORT_BIN only for a one-target build", () => {
  assertEquals(denortVariable("x86_64-pc-windows-msvc"), "DENORT_BIN_X86_64_PC_WINDOWS_MSVC");
  const targets = TARGETS.map((t) => t.target);
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const per = denortFor(targets, env({ DENORT_BIN_AARCH64_UNKNOWN_LINUX_GNU: "/opt/denort-arm" }));
  assertEquals([...per.values()], [undefined, "/opt/denort-arm", undefined]);
  assertThrows(
    () => denortFor(targets, env({ DENORT_BIN: "/opt/denort" })),
    Error,
    "DENORT_BIN_X86_64_UNKNOWN_LINUX_GNU, DENORT_BIN_AARCH64_UNKNOWN_LINUX_GNU, DENORT_BIN_X86_64_PC_WINDOWS_MSVC",
  );
  assertEquals([...denortFor([targets[2]], env({ DENORT_BIN: "C:\\denort.exe" })).values()], ["C:\\denort.exe"]);
});

Deno.test("release: named permissions, never -A; the product's V8 flags", () => {
  const args = compileArgs("x86_64-unknown-linux-gnu", "dist/a", "cli.ts");
  assert(!args.includes("-A") && !args.includes("--allow-all"));
  for (const flag of ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run"]) {
    assert(args.includes(flag), flag);
  }
  assert(args.includes("--allow-sys=homedir") && !args.includes("--allow-sys"), "only the home directory");
  assert(args.includes("--v8-flags=--max-semi-space-size=2,--heap-growing-percent=20"));
  assert(PERMISSIONS.every((p) => p.why.length > 10));
  assertEquals(args.slice(-5), ["--target", "x86_64-unknown-linux-gnu", "--output", "dist/a", "cli.ts"]);
});

Deno.test("release: the program reads nothing of the repository and imports nothing the compiler cannot see", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const files: string[] = [join(root, "cli.ts"), join(root, "mod.ts")];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  };
  walk(join(root, "lib"));
  walk(join(root, "schemas"));
  assert(files.length > 50, `${files.length} source files`);
  const forbidden = /import\.meta\.(url|resolve|dirname|filename)|\bimport\s*\(|\brequire\s*\(/;
  const found = files.flatMap((file) =>
    Deno.readTextFileSync(file).split("\n").flatMap((line, i) =>
      forbidden.test(line) ? [`${relative(root, file)}:${i + 1}: ${line.trim()}`] : []
    )
  );
  assertEquals(found, []);
});

Deno.test("release: the smoke test wants airgap's version and names a full Deno stitched in as the runtime", () => {
  assertEquals(smokeProblem("dist/a", { code: 0, stdout: `${VERSION}\n`, stderr: "" }), undefined);
  const deno = smokeProblem(
    "dist/a",
    { code: 0, stdout: "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)\nv8 15.0\n", stderr: "" },
    "/opt/deno",
  )!;
  assert(deno.startsWith(`dist/a runs as Deno, not airgap (--version printed "deno 2.9.6`), deno);
  assert(deno.includes("the runtime /opt/deno is a full Deno, not Deno's denort"), deno);
  const help = smokeProblem("dist/a", { code: 0, stdout: "A modern JavaScript and TypeScript runtime\n", stderr: "" });
  assert(help?.includes("the runtime deno downloaded is a full Deno"), help);
  const other = smokeProblem("dist/a", { code: 70, stdout: "", stderr: "Segmentation fault\n" })!;
  assertEquals(
    other,
    `dist/a --version printed "Segmentation fault" (exit 70), not airgap's version ${VERSION}: check the runtime deno downloaded`,
  );
});

Deno.test({
  name: "release: the smoke test runs the program: a script printing the version passes, a full Deno fails",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withTempDir(async (dir) => {
      const good = join(dir, "airgap");
      await Deno.writeTextFile(good, `#!/bin/sh\necho ${VERSION}\n`, { mode: 0o755 });
      await smokeTest(good);
      // The running Deno is exactly the stand-in the issue met: a full Deno.
      const error = await smokeTest(Deno.execPath(), Deno.execPath()).then(() => undefined, (e: Error) => e);
      assert(error?.message.includes("runs as Deno, not airgap"), String(error));
    });
  },
});
