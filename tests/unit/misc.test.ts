import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { loadBase } from "../../lib/plan/delta.ts";
import { authFilePaths, basicAuthorization, lookupCredential, parseChallenges } from "../../lib/store/registry/auth.ts";
import { isLoopbackHost } from "../../lib/store/registry/client.ts";
import { formatBytes, parseSize } from "../../lib/text.ts";
import { formatLock, lockBlobs, parseLock } from "../../lib/lock.ts";
import { defaultCacheDir } from "../../lib/store/cache.ts";

Deno.test("WWW-Authenticate challenges, including commas inside quoted scopes", () => {
  assertEquals(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"',
    ),
    [{
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:a/b:pull,push",
      },
    }],
  );
  assertEquals(parseChallenges('Basic realm="Registry Realm"'), [{
    scheme: "basic",
    params: { realm: "Registry Realm" },
  }]);
  assertEquals(parseChallenges(""), []);
});

Deno.test("credentials come from Docker/Podman auth files; secrets stay out of messages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = (name: string) => ({ HOME: dir, DOCKER_CONFIG: join(dir, "docker") } as Record<string, string>)[name];
    await Deno.mkdir(join(dir, "docker"));
    await Deno.writeTextFile(
      join(dir, "docker", "config.json"),
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: btoa("hubuser:hubpass") },
          "reg.local:5000": { username: "u", password: "p" },
          "https://token.local": { identitytoken: "refresh" },
        },
      }),
    );
    const hub = await lookupCredential("docker.io", env);
    assertEquals([hub?.username, hub?.password], ["hubuser", "hubpass"]);
    assert(!hub!.origin.includes("hubpass"));
    assertEquals((await lookupCredential("reg.local:5000", env))?.password, "p");
    assertEquals((await lookupCredential("token.local", env))?.identityToken, "refresh");
    assertEquals(await lookupCredential("other.local", env), undefined);
    assertEquals(authFilePaths(env).at(-1), join(dir, "docker", "config.json"));
    assertEquals(basicAuthorization("a", "b"), `Basic ${btoa("a:b")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loopback hosts are the only ones allowed plain HTTP by default", () => {
  assert(isLoopbackHost("127.0.0.1:5000"));
  assert(isLoopbackHost("localhost"));
  assert(isLoopbackHost("[::1]:5000"));
  assert(!isLoopbackHost("registry.local:5000"));
  assert(!isLoopbackHost("128.0.0.1"));
});

Deno.test("sizes and bytes", () => {
  assertEquals(parseSize("4GiB"), 4 * 1024 ** 3);
  assertEquals(parseSize("4.7GB"), 4_700_000_000);
  assertEquals(parseSize("7MiB"), 7 * 1024 * 1024);
  assertEquals(parseSize("512"), 512);
  assertThrows(() => parseSize("lots"), Error, "invalid size");
  assertEquals(formatBytes(1536), "1.5 KiB");
});

Deno.test("cache directory default per platform", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assertEquals(defaultCacheDir(env({ HOME: "/home/u" }), "linux"), join("/home/u", ".cache", "airgap"));
  assertEquals(defaultCacheDir(env({ HOME: "/home/u", XDG_CACHE_HOME: "/x" }), "linux"), join("/x", "airgap"));
  assertEquals(defaultCacheDir(env({ AIRGAP_CACHE: "/c" }), "linux"), "/c");
  assertEquals(
    defaultCacheDir(env({ LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" }), "windows"),
    join("C:\\Users\\u\\AppData\\Local", "airgap"),
  );
});

Deno.test("lock: stable ordering, validation with a clear message", () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  const lock = {
    lockVersion: 1 as const,
    images: [
      {
        entry: "z:1",
        source: "docker.io/library/z:1",
        digest: d("b"),
        mediaType: "m",
        size: 1,
        platforms: [],
        blobs: { [d("2")]: 2, [d("1")]: 1 },
      },
      {
        entry: "a:1",
        source: "docker.io/library/a:1",
        digest: d("a"),
        upstreamDigest: d("a"),
        mediaType: "m",
        size: 1,
        platforms: ["linux/amd64"],
        blobs: {},
      },
    ],
  };
  const text = formatLock(lock);
  assert(text.indexOf('"a:1"') < text.indexOf('"z:1"'));
  assert(text.indexOf(d("1")) < text.indexOf(d("2")));
  assert(!text.includes("upstreamDigest"), "an upstream digest equal to the digest is dropped");
  assertEquals(formatLock(parseLock(text, "airgap.lock")), text);
  assertEquals(lockBlobs(lock).size, 4);
  assertThrows(
    () => parseLock('{"lockVersion":1,"images":[{"entry":"x"}]}', "airgap.lock"),
    Error,
    "airgap.lock: images[0].source",
  );
  assertThrows(() => parseLock("{", "airgap.lock"), Error, "airgap.lock: not valid JSON");
});

Deno.test("a base that is neither a lock nor an archive is named as such", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "notes.txt"), "hello\n");
    await assertRejects(
      () => loadBase(join(dir, "notes.txt"), "notes.txt"),
      Error,
      "notes.txt is neither an airgap.lock nor an archive",
    );
    await assertRejects(() => loadBase(join(dir, "missing.lock"), "missing.lock"), Error, "missing.lock");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
