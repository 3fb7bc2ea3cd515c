/**
 * Run the airgap CLI as a user would: a separate `deno run` process.
 */
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
import { V8_FLAGS } from "../../tools/compile.ts";
/** The V8 settings the product runs with (deno.json tasks, compiled binaries): a small young generation keeps RSS low. */
export { V8_FLAGS };

/** Result of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `airgap save -l LIST -s SOURCE -o OUTPUT --cache CACHE`: the save most CLI tests start with. */
export function saveArgs(list: string, source: string, output: string, cache: string): string[] {
  return ["save", "-l", list, "-s", source, "-o", output, "--cache", cache];
}

/** Run `airgap ARGS…` in `cwd`, with every permission unless `permissions` names the ones to give. */
export async function airgap(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; permissions?: string[] } = {},
): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["-A"]), "--quiet", V8_FLAGS, CLI, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Run and insist on success, showing the output otherwise. */
export async function airgapOk(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const result = await airgap(args, options);
  if (result.code !== 0) {
    throw new Error(`airgap ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** A run of the CLI's main in a process of its own, with that process's peak RSS. */
export interface MeasuredRun {
  code: number;
  /** Stderr's lines before the peak line. */
  lines: string[];
  /** The same, joined. */
  stderr: string;
  /** Peak RSS in KiB (Linux: VmHWM); undefined off Linux. */
  peak?: number;
}

/**
 * Run the CLI's main in a fresh `deno run` (the product's V8 flags and
 * deno.json) writing its script to `dir/run.ts`; the script reports the
 * process's own peak RSS on stderr's last line, so a memory rule is asserted
 * on the process that did the work and nothing else.
 */
export async function measuredMain(dir: string, args: string[], options: { cwd?: string } = {}): Promise<MeasuredRun> {
  const script = join(dir, "run.ts");
  await Deno.writeTextFile(
    script,
    `import { main } from ${JSON.stringify(pathToFileURL(CLI).href)};
const code = await main(JSON.parse(Deno.args[0]));
let peak = "unknown";
try { peak = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\\s*(\\d+) kB/)?.[1] ?? "unknown"; } catch { /* not Linux */ }
console.error("peak-kib " + peak);
Deno.exit(code);
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      fileURLToPath(new URL("../../deno.json", import.meta.url)),
      V8_FLAGS,
      script,
      JSON.stringify(args),
    ],
    cwd: options.cwd,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const lines = new TextDecoder().decode(output.stderr).trim().split("\n");
  const peak = lines.pop()?.split(" ")[1];
  return {
    code: output.code,
    lines,
    stderr: lines.join("\n"),
    peak: peak && peak !== "unknown" ? Number(peak) : undefined,
  };
}

/** A running `airgap serve` process. */
export interface ServeProcess {
  /** Its URL as announced (no trailing slash). */
  url: string;
  /** `HOST:PORT` of {@link url}. */
  host: string;
  /** What it printed up to and including the URL, trimmed. */
  line: string;
  /** Send `signal` (SIGTERM by default; SIGKILL after 15 s if it does not stop) and wait: its exit code and stderr. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
}

/**
 * Start `airgap serve ARGS…` as a user runs it (a process of its own, the
 * product's V8 flags) and wait for the line announcing its URL. `shell` runs
 * first in bash (e.g. `ulimit -n 64`) and then execs the server. Stderr is
 * read as it comes, so a chatty server never blocks on a full pipe.
 */
export async function startServe(args: string[], options: { shell?: string } = {}): Promise<ServeProcess> {
  const deno = [Deno.execPath(), "run", "-A", "--quiet", V8_FLAGS, CLI, "serve", ...args];
  const quoted = deno.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command(options.shell ? "bash" : deno[0], {
    args: options.shell ? ["-c", `${options.shell}; exec ${quoted}`] : deno.slice(1),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ at (https?:\/\/\S+)/.test(text)) {
    const { done, value } = await stdout.read();
    if (done) throw new Error(`airgap serve exited: ${text}${await stderr}`);
    text += value;
  }
  const url = text.match(/ at (https?:\/\/\S+)/)![1].replace(/\/$/, "");
  return {
    url,
    host: new URL(url).host,
    line: text.trim(),
    async stop(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      await stdout.cancel().catch(() => {});
      // A server that no longer hears the signal is killed: the OS lets its locks and lease go.
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const { code } = await child.status;
      clearTimeout(timer);
      return { code, stderr: await stderr };
    },
  };
}
