/**
 * Release builds: `deno task compile` turns cli.ts into one executable per
 * target in `dist/` (`airgap-<target>`, `.exe` on Windows) and writes
 * `dist/SHA256SUMS`, so the files that cross the air gap can be checked with
 * `sha256sum -c` on the other side.
 *
 * Why a script rather than one `deno compile` line: three targets, a checksum
 * file, and the runtime (`denort`) each target is stitched onto. `deno compile`
 * downloads denort from Deno's host on first use; a builder that cannot reach
 * it names a same-version denort per target (`DENORT_BIN_<TARGET>`, see
 * {@link denortVariable}). Plain `DENORT_BIN` applies only to a one-target
 * build: deno itself does not check that a runtime fits the `--target`, so one
 * variable for three targets would silently stitch two of them wrong.
 *
 * After building, the file for this machine's target is run with `--version`
 * and must print airgap's version ({@link smokeTest}): a stand-in runtime (a
 * full Deno, the only one some networks reach, e.g. from npm) also stitches
 * and gives the right headers, but the result is Deno, not airgap. Targets
 * this machine cannot run are said so in the output (their headers are
 * checked).
 *
 * The permissions are the program's own (not `-A`): the binary runs with
 * exactly these, so {@link PERMISSIONS} is the one place they are decided.
 *
 * ```sh
 * deno task compile                                   # all targets
 * deno task compile --target x86_64-pc-windows-msvc   # one
 * deno task compile --out /tmp/dist
 * ```
 * @module
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256File } from "../lib/format/checksums.ts";
import { writeFileAtomic } from "../lib/fsutil.ts";
import { VERSION } from "../lib/version.ts";

/** A release target: deno's `--target` name, the file it becomes, what its header must say. */
export interface Target {
  /** `deno compile --target` value. */
  target: string;
  /** File name in dist/. */
  file: string;
  /** What {@link executableKind} must report for the built file. */
  kind: ExecutableKind;
}

/** The release targets. */
export const TARGETS: readonly Target[] = [
  { target: "x86_64-unknown-linux-gnu", file: "airgap-x86_64-unknown-linux-gnu", kind: "elf-x86_64" },
  { target: "aarch64-unknown-linux-gnu", file: "airgap-aarch64-unknown-linux-gnu", kind: "elf-aarch64" },
  { target: "x86_64-pc-windows-msvc", file: "airgap-x86_64-pc-windows-msvc.exe", kind: "pe-x86_64" },
];

/**
 * The permissions the compiled program runs with, each with the reason it is
 * needed (docs/install.md lists the same).
 */
export const PERMISSIONS: readonly { flag: string; why: string }[] = [
  { flag: "--allow-net", why: "registries, release and chart downloads, and `serve`'s listener" },
  { flag: "--allow-read", why: "declarations, lists, archives, the cache, auth files and CA files" },
  { flag: "--allow-write", why: "archives, the cache, airgap.lock and extracted charts" },
  {
    flag: "--allow-env",
    why: "HOME/USERPROFILE/LOCALAPPDATA/XDG_* for the cache and auth files, passwordEnv, AIRGAP_*",
  },
  { flag: "--allow-run", why: "Docker credential helpers (docker-credential-*), as `docker login` set them up" },
  { flag: "--allow-sys=homedir", why: "the home directory when HOME/USERPROFILE is unset (e.g. a systemd unit)" },
];

/**
 * The V8 settings the product runs with: a small young generation keeps RSS low with many network chunks,
 * and a slow-growing old generation (20 % over the live set, not V8's default headroom) keeps peak RSS flat.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=20";

/** The `deno compile` arguments for one target. */
export function compileArgs(target: string, output: string, entry: string): string[] {
  return ["compile", ...PERMISSIONS.map((p) => p.flag), V8_FLAGS, "--target", target, "--output", output, entry];
}

/** The variable that names a target's denort: `DENORT_BIN_X86_64_PC_WINDOWS_MSVC`. */
export function denortVariable(target: string): string {
  return `DENORT_BIN_${target.toUpperCase().replaceAll(/[^A-Z0-9]/g, "_")}`;
}

/**
 * The denort for each target from the environment (undefined: deno downloads
 * it). Throws when plain DENORT_BIN is set for a build of several targets.
 */
export function denortFor(
  targets: readonly string[],
  env: (name: string) => string | undefined,
): Map<string, string | undefined> {
  const plain = env("DENORT_BIN");
  if (plain && targets.length > 1) {
    throw new Error(
      `DENORT_BIN names the runtime of one target; for several, set ${
        targets.map(denortVariable).join(", ")
      } (or build one with --target)`,
    );
  }
  return new Map(targets.map((t) => [t, env(denortVariable(t)) || plain || undefined]));
}

/** What a file's header says it is. */
export type ExecutableKind = "elf-x86_64" | "elf-aarch64" | "pe-x86_64" | "other";

/** Read the machine of an ELF (e_machine) or PE (COFF Machine) header. */
export function executableKind(head: Uint8Array): ExecutableKind {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 20 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) {
    const little = head[5] === 1;
    const machine = view.getUint16(18, little);
    if (head[4] === 2 && machine === 0x3e) return "elf-x86_64";
    if (head[4] === 2 && machine === 0xb7) return "elf-aarch64";
    return "other";
  }
  if (head.length >= 0x40 && head[0] === 0x4d && head[1] === 0x5a) {
    const pe = view.getUint32(0x3c, true);
    if (pe + 6 > head.length) return "other";
    const signature = view.getUint32(pe, true); // "PE\0\0"
    if (signature === 0x00004550 && view.getUint16(pe + 4, true) === 0x8664) return "pe-x86_64";
  }
  return "other";
}

/** The first 4 KiB of a file (enough for both headers). */
export async function fileHead(path: string): Promise<Uint8Array> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(4096);
    let n = 0;
    while (n < head.length) {
      const got = await file.read(head.subarray(n));
      if (got === null) break;
      n += got;
    }
    return head.subarray(0, n);
  } finally {
    file.close();
  }
}

/** What one build produced. */
export interface Built {
  path: string;
  size: number;
  sha256: string;
}

/** Options of {@link compileRelease}. */
export interface CompileOptions {
  /** Output directory (default `dist` next to cli.ts). */
  outDir: string;
  /** Targets to build (default: all). */
  targets?: readonly string[];
  /** The environment (DENORT_BIN*). */
  env?: (name: string) => string | undefined;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Stops the smoke test's run of the built program. */
  signal?: AbortSignal;
}

/** What a run of a built program printed. */
export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Why `--version`'s output shows the built file is not airgap, or undefined
 * when it printed airgap's version. A full Deno stitched in as the runtime
 * runs as Deno (`deno 2.x.y (…)`, or Deno's help).
 */
export function smokeProblem(path: string, run: RunOutput, denort?: string): string | undefined {
  const printed = run.stdout.trim();
  if (run.code === 0 && printed === VERSION) return undefined;
  const runtime = denort ? `the runtime ${denort}` : "the runtime deno downloaded";
  const first = (printed || run.stderr.trim()).split("\n")[0];
  if (/^deno \d/.test(printed) || /Usage: deno|A modern JavaScript and TypeScript runtime/.test(printed)) {
    return `${path} runs as Deno, not airgap (--version printed "${first}"): ${runtime} is a full Deno, not Deno's denort; use the denort-${Deno.build.target}.zip of Deno ${Deno.version.deno}'s release`;
  }
  return `${path} --version printed "${first}" (exit ${run.code}), not airgap's version ${VERSION}: check ${runtime}`;
}

/** Run the built program for this machine with `--version`; throws {@link smokeProblem}'s reason. */
export async function smokeTest(path: string, denort?: string, signal?: AbortSignal): Promise<void> {
  const out = await new Deno.Command(path, {
    args: ["--version"],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const problem = smokeProblem(
    path,
    { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) },
    denort,
  );
  if (problem) throw new Error(problem);
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Build the targets into `outDir`, check each header, write `outDir/SHA256SUMS`. */
export async function compileRelease(options: CompileOptions): Promise<Built[]> {
  const wanted = options.targets ?? TARGETS.map((t) => t.target);
  const targets = wanted.map((name) => {
    const found = TARGETS.find((t) => t.target === name);
    if (!found) throw new Error(`unknown target ${name} (known: ${TARGETS.map((t) => t.target).join(", ")})`);
    return found;
  });
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const denorts = denortFor(wanted, env);
  const log = options.log ?? ((line: string) => console.error(line));
  await Deno.mkdir(options.outDir, { recursive: true });
  const built: Built[] = [];
  // The target this machine runs first: a wrong runtime fails the build before the others are made.
  targets.sort((a, b) => Number(b.target === Deno.build.target) - Number(a.target === Deno.build.target));
  for (const t of targets) {
    const output = join(options.outDir, t.file);
    const denort = denorts.get(t.target);
    log(`compiling ${t.file}${denort ? ` (denort: ${denort})` : ""}`);
    const childEnv: Record<string, string> = { NO_COLOR: "1" };
    if (denort) childEnv.DENORT_BIN = denort;
    const out = await new Deno.Command(Deno.execPath(), {
      args: compileArgs(t.target, output, join(ROOT, "cli.ts")),
      env: childEnv,
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const text = new TextDecoder().decode(out.stderr).trim();
      throw new Error(
        `deno compile --target ${t.target} failed${
          denort
            ? ""
            : ` (without access to Deno's download host, set ${denortVariable(t.target)}; see docs/install.md)`
        }:\n${text}`,
      );
    }
    const kind = executableKind(await fileHead(output));
    if (kind !== t.kind) {
      await Deno.remove(output);
      throw new Error(
        `${output} is ${kind}, not ${t.kind}: ${denortVariable(t.target)} names another target's runtime`,
      );
    }
    if (t.target === Deno.build.target) {
      try {
        await smokeTest(output, denort, options.signal);
      } catch (e) {
        await Deno.remove(output);
        throw e;
      }
      log(`ran ${t.file} --version: ${VERSION}`);
    } else log(`not run: ${t.file} is for ${t.target}, this machine is ${Deno.build.target} (its header was checked)`);
    built.push({ path: output, size: (await Deno.stat(output)).size, sha256: await sha256File(output) });
  }
  // SHA256SUMS and the result list the targets in their usual order, whatever order they were built in.
  const rank = (b: Built) => TARGETS.findIndex((t) => b.path.endsWith(t.file));
  built.sort((a, b) => rank(a) - rank(b));
  const sums = built.map((b) => `${b.sha256}  ${basename(b.path)}\n`).join("");
  await writeFileAtomic(join(options.outDir, "SHA256SUMS"), sums);
  return built;
}

function parseArgs(args: string[]): { outDir: string; targets?: string[] } {
  let outDir = join(ROOT, "dist");
  const targets: string[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--target" && value) targets.push(value);
    else if (flag === "--out" && value) outDir = value;
    else throw new Error(`usage: deno task compile [--target TARGET]… [--out DIR] (unexpected "${flag}")`);
  }
  return { outDir, targets: targets.length > 0 ? targets : undefined };
}

if (import.meta.main) {
  try {
    const built = await compileRelease(parseArgs(Deno.args));
    for (const b of built) console.log(`${b.sha256}  ${b.path} (${(b.size / 1024 / 1024).toFixed(1)} MiB)`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
