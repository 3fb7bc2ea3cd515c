/**
 * Running on Windows: the home and cache directories Docker and Windows
 * users expect, credential helpers found through PATH and PATHEXT (a real
 * helper program is run), files replaced while they are open, long paths,
 * drive-letter, UNC and backslash paths, CRLF lists, and no terminal escapes
 * when stderr is not a console. Every test runs on Linux too; .ci/run also
 * runs this directory under the Windows Deno (../shared/tools/wine-deno),
 * where the Windows branches are the real ones.
 */
import { join, win32 } from "node:path";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { findProgram, homeDirectory } from "../../lib/host.ts";
import { authFilePaths, lookupCredential } from "../../lib/store/registry/auth.ts";
import { defaultCacheDir, openCache } from "../../lib/store/cache.ts";
import { replaceFile, type ReplaceOps, writeFileAtomic } from "../../lib/fsutil.ts";
import { normaliseRepo } from "../../lib/sources/charts.ts";
import { declarationFromList, displayPath, loadDeclaration } from "../../lib/plan/declaration.ts";
import { partName } from "../../lib/format/volumes.ts";
import { createReporter } from "../../lib/report/progress.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { readAll } from "../../lib/store/types.ts";

const windows = Deno.build.os === "windows";
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("home: %USERPROFILE% on Windows (Docker's choice, whatever HOME says), HOME elsewhere", () => {
  const env = envOf({
    USERPROFILE: "C:\\Users\\ops",
    HOME: "/c/Users/ops",
    LOCALAPPDATA: "C:\\Users\\ops\\AppData\\Local",
  });
  assertEquals(homeDirectory(env, "windows"), "C:\\Users\\ops");
  assertEquals(homeDirectory(envOf({ HOME: "C:\\home" }), "windows"), "C:\\home");
  assertEquals(homeDirectory(env, "linux"), "/c/Users/ops");
  assertEquals(authFilePaths(env, "windows").at(-1), join("C:\\Users\\ops", ".docker", "config.json"));
  assertEquals(defaultCacheDir(env, "windows"), join("C:\\Users\\ops\\AppData\\Local", "airgap"));
  assertEquals(
    defaultCacheDir(envOf({ USERPROFILE: "C:\\Users\\ops" }), "windows"),
    join("C:\\Users\\ops", "AppData", "Local", "airgap"),
  );
  if (windows) {
    assertEquals(authFilePaths(env).at(-1), "C:\\Users\\ops\\.docker\\config.json");
    assertEquals(defaultCacheDir(env), "C:\\Users\\ops\\AppData\\Local\\airgap");
  }
});

Deno.test("credential helpers: found through PATH and PATHEXT on Windows, PATH order elsewhere", () => {
  const docker = "C:\\Program Files\\Docker\\Docker\\resources\\bin";
  const files = new Set([
    win32.join(docker, "docker-credential-wincred.exe"),
    win32.join("C:\\tools", "docker-credential-pass.CMD"),
    win32.join("C:\\tools", "docker-credential-pass.exe"),
  ]);
  const exists = (p: string) => [...files].some((f) => f.toLowerCase() === p.toLowerCase());
  const env = envOf({ PATH: `C:\\Windows\\system32;"${docker}";;C:\\tools`, PATHEXT: ".COM;.EXE;.BAT;.CMD" });
  assertEquals(
    findProgram("docker-credential-wincred", env, "windows", exists),
    `${docker}\\docker-credential-wincred.exe`,
  );
  // PATHEXT order: .EXE before .CMD in the same directory
  assertEquals(findProgram("docker-credential-pass", env, "windows", exists), "C:\\tools\\docker-credential-pass.exe");
  assertEquals(
    findProgram("docker-credential-pass.cmd", env, "windows", exists),
    "C:\\tools\\docker-credential-pass.cmd",
  );
  assertEquals(
    findProgram("docker-credential-pass", envOf({ PATH: "C:\\tools" }), "windows", exists),
    "C:\\tools\\docker-credential-pass.exe",
    "default PATHEXT",
  );
  assertEquals(findProgram("docker-credential-osxkeychain", env, "windows", exists), undefined);
  const posix = new Set(["/usr/local/bin/docker-credential-pass", "/usr/bin/docker-credential-pass"]);
  assertEquals(
    findProgram("docker-credential-pass", envOf({ PATH: "/usr/local/bin:/usr/bin" }), "linux", (p) => posix.has(p)),
    "/usr/local/bin/docker-credential-pass",
  );
});

Deno.test("credsStore: a real helper program on PATH answers for the registry (a .cmd on Windows)", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const profile = join(dir, "profile");
    await Deno.mkdir(bin);
    await Deno.mkdir(join(profile, ".docker"), { recursive: true });
    if (windows) {
      await Deno.writeTextFile(
        join(bin, "docker-credential-airgaptest.cmd"),
        '@echo off\r\nset /p server=\r\necho {"Username":"ci","Secret":"for-%server%"}\r\n',
      );
    } else {
      const helper = join(bin, "docker-credential-airgaptest");
      await Deno.writeTextFile(
        helper,
        '#!/bin/sh\nread -r server\nprintf \'{"Username":"ci","Secret":"for-%s"}\' "$server"\n',
      );
      await Deno.chmod(helper, 0o755);
    }
    await Deno.writeTextFile(join(profile, ".docker", "config.json"), JSON.stringify({ credsStore: "airgaptest" }));
    const env = envOf({ USERPROFILE: profile, HOME: profile, PATH: bin, XDG_CONFIG_HOME: join(dir, "none") });
    const found = await lookupCredential("registry.example.com:5000", env);
    assertEquals(found?.username, "ci");
    // Wine's cmd.exe `set /p` drops the last byte of input that ends without a newline (the helper protocol
    // sends none); the helper still proves it was asked for this registry.
    assert(found?.password?.startsWith(windows ? "for-registry.example.com:500" : "for-registry.example.com:5000"));
    await Deno.writeTextFile(join(profile, ".docker", "config.json"), JSON.stringify({ credsStore: "wincred" }));
    await assertRejects(
      () => lookupCredential("registry.example.com:5000", env),
      Error,
      "credential helper docker-credential-wincred (named in",
    );
  });
});

Deno.test("replacing a file another reader holds open: the reader keeps its bytes, the path gets the new ones", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "airgap.lock");
    await Deno.writeTextFile(target, "old");
    const reader = await Deno.open(target, { read: true });
    try {
      await writeFileAtomic(target, "new");
      assertEquals(await Deno.readTextFile(target), "new");
      const buffer = new Uint8Array(3);
      assertEquals(await reader.read(buffer), 3);
      assertEquals(new TextDecoder().decode(buffer), "old");
    } finally {
      reader.close();
    }
    await writeFileAtomic(target, "newer");
    assertEquals(await Deno.readTextFile(target), "newer");
    // the old bytes were deleted (on Windows: once their reader closed them)
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["airgap.lock"]);
  });
});

Deno.test("replaceFile: Windows waits for a holder that forbids even a rename, then names the file", async () => {
  const denied = () => Promise.reject(new Deno.errors.PermissionDenied("Access is denied. (os error 5)"));
  const waits: number[] = [];
  const ops = (os: string, rename: ReplaceOps["rename"]): ReplaceOps => ({
    os,
    rename,
    remove: () => Promise.resolve(),
    sleep: (ms) => (waits.push(ms), Promise.resolve()),
  });
  await assertRejects(
    () => replaceFile("C:\\a\\x.tar.partial", "C:\\a\\x.tar", ops("windows", denied)),
    Error,
    "cannot replace C:\\a\\x.tar: another program has it open (Access is denied. (os error 5)); close it and run again",
  );
  assert(waits.length >= 5 && waits.reduce((a, b) => a + b, 0) < 3000, `bounded waits: ${waits}`);
  // POSIX: a rename error is the error, at once
  waits.length = 0;
  await assertRejects(() => replaceFile("/a/x.partial", "/a/x", ops("linux", denied)), Deno.errors.PermissionDenied);
  assertEquals(waits, []);
  // a holder that lets go: the second attempt succeeds
  let calls = 0;
  const moves: string[] = [];
  await replaceFile(
    "C:\\a\\x.partial",
    "C:\\a\\x",
    ops("windows", (from, to) => {
      moves.push(`${from} -> ${to}`);
      return ++calls <= 2 ? denied() : Promise.resolve();
    }),
  );
  assertEquals(moves.length, 3);
  assertEquals(moves[2], "C:\\a\\x.partial -> C:\\a\\x");
});

Deno.test("long paths: the cache and atomic writes work below a directory deeper than 260 characters", async () => {
  await withTempDir(async (dir) => {
    let deep = dir;
    while (deep.length < 300) deep = join(deep, "a-rather-long-directory-name-for-MAX_PATH");
    const cache = await openCache(join(deep, "cache"));
    const bytes = new TextEncoder().encode("a blob below a long path");
    const desc = { mediaType: "application/octet-stream", digest: digestOf(bytes), size: bytes.length };
    assertEquals(await cache.push("", desc, bytes), "pushed");
    assertEquals(await readAll(await cache.fetch("", desc), 1024), bytes);
    await writeFileAtomic(join(deep, "airgap.lock"), "{}");
    assertEquals(await Deno.readTextFile(join(deep, "airgap.lock")), "{}");
  });
});

Deno.test("paths: drive letters, UNC shares and backslashes in lists, declarations, chart directories, parts", async () => {
  assertEquals(partName("D:\\media\\rancher-images.tar", 1), "D:\\media\\rancher-images.tar.002");
  if (windows) {
    assertEquals(normaliseRepo("charts\\", "C:\\site"), "file:///C:/site/charts");
    assertEquals(normaliseRepo("\\\\fileserver\\share\\charts", "C:\\site"), "file://fileserver/share/charts");
    assertEquals(normaliseRepo("D:/charts/", "C:\\site"), "file:///D:/charts");
    assertEquals(displayPath("Q:\\elsewhere\\list.txt"), "Q:\\elsewhere\\list.txt");
  }
  await withTempDir(async (dir) => {
    const sep = windows ? "\\" : "/";
    await Deno.mkdir(join(dir, "lists"));
    await Deno.writeTextFile(
      join(dir, "lists", "rancher-images.txt"),
      "rancher/rancher:v2.7.9\r\n\r\nbusybox:1.36\r\n",
    );
    await Deno.writeTextFile(join(dir, "lists", "windows.txt"), "rancher/wins:v0.4.11\r\n");
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      `version: 1\r\nlists: ['lists${sep}rancher-images.txt']\r\nwindows:\r\n  lists: ['lists${sep}windows.txt']\r\n`,
    );
    const declaration = await loadDeclaration(`${dir}${sep}airgap.yaml`);
    assertEquals(declaration.requests.map((r) => r.entry), [
      "rancher/rancher:v2.7.9",
      "busybox:1.36",
      "rancher/wins:v0.4.11",
    ]);
    const origins = declaration.requests.map((r) => r.origin);
    assert(origins[1].endsWith(`rancher-images.txt:3`), origins[1]);
    // the seed's way: a list named on the command line, with a mixed-separator or long-path prefix on Windows
    const listed = `${dir}${sep}lists/rancher-images.txt`;
    const fromList = await declarationFromList(listed, { windowsImageLists: [join(dir, "lists", "windows.txt")] });
    assertEquals(fromList.requests.length, 3);
    if (windows) {
      // the long-path form takes backslashes only (Windows does not normalise it)
      const verbatim = await declarationFromList(`\\\\?\\${dir}\\lists\\rancher-images.txt`);
      assertEquals(verbatim.requests.length, 2);
    }
  });
});

Deno.test("output: no terminal escapes when stderr is not a console", () => {
  let text = "";
  const reporter = createReporter({ write: (t) => text += t });
  const phase = reporter.phase("save", { bytes: 100 });
  phase.bytes(50);
  phase.tick();
  reporter.info("a message");
  phase.end();
  assert(!Deno.stderr.isTerminal(), "tests run with stderr piped");
  assert(!text.includes("\x1b") && !text.includes("\r"), JSON.stringify(text));
  assert(text.includes("a message\n"));
});
