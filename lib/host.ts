/**
 * What differs between the systems airgap runs on, decided here once:
 * the home directory, and how a helper program is found on PATH. Docker on
 * Windows keeps its config in `%USERPROFILE%\.docker` whatever HOME says (Git
 * Bash sets HOME), and finds `docker-credential-wincred.exe` — or a `.cmd` —
 * through PATH and PATHEXT, as Go's exec.LookPath does; Deno's spawn only
 * appends `.exe`, so the lookup is ours.
 * @module
 */
import { homedir } from "node:os";
import { posix, win32 } from "node:path";

/** An environment lookup (injectable so Windows rules can be tested anywhere). */
export type Env = (name: string) => string | undefined;

const processEnv: Env = (name) => Deno.env.get(name);

/** The user's home: `%USERPROFILE%` on Windows, else `$HOME` (the OS's idea when unset). */
export function homeDirectory(env: Env = processEnv, os: string = Deno.build.os): string {
  const first = os === "windows" ? env("USERPROFILE") || env("HOME") : env("HOME");
  return first || homedir();
}

/** Does `path` name a file this process could run? (POSIX: an execute bit.) */
function isProgram(path: string, os: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && (os === "windows" || info.mode === null || (info.mode & 0o111) !== 0);
  } catch {
    return false;
  }
}

/**
 * The path of program `name` on PATH, or undefined. On Windows each PATH
 * directory is tried with each PATHEXT extension (default
 * `.COM;.EXE;.BAT;.CMD`), unless the name has one already.
 */
export function findProgram(
  name: string,
  env: Env = processEnv,
  os: string = Deno.build.os,
  exists: (path: string) => boolean = (p) => isProgram(p, os),
): string | undefined {
  const windows = os === "windows";
  const sep = windows ? ";" : ":";
  const path = windows ? win32 : posix;
  const extensions = windows
    ? (env("PATHEXT") || ".COM;.EXE;.BAT;.CMD").split(";").filter((e) => e !== "").map((e) => e.toLowerCase())
    : [""];
  const hasExtension = windows && extensions.some((e) => name.toLowerCase().endsWith(e));
  const candidates = (dir: string) =>
    [...(hasExtension ? [""] : []), ...extensions].map((e) => path.join(dir, name + e));
  if (path.isAbsolute(name)) {
    return [...(hasExtension ? [""] : []), ...extensions].map((e) => name + e).find(exists);
  }
  // Windows environment names are case-insensitive: Deno's env.get("PATH") finds "Path".
  for (const dir of (env("PATH") ?? "").split(sep)) {
    if (dir === "") continue;
    const found = candidates(dir.replace(/^"(.*)"$/, "$1")).find(exists);
    if (found) return found;
  }
  return undefined;
}
