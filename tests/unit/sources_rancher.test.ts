/**
 * Rancher release lists: versions and pre-releases, sha256sum.txt, fetching
 * from a release-assets directory served over HTTP, the cache and the lock.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { serveFiles, sha256sums } from "../helpers/fileserver.ts";
import { AirgapError } from "../../lib/errors.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import {
  fetchRancherLists,
  isPrerelease,
  parseSha256Sums,
  rancherAssetsUrl,
  rancherReleaseTag,
} from "../../lib/sources/rancher.ts";
import { openCache } from "../../lib/store/cache.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { createSession, type NetworkSession } from "../../lib/transport/session.ts";

const LIST = "# images\r\nrancher/rancher:v2.7.9\r\n\r\nrancher/shell:v0.1.21\r\nbusybox\r\n";
const WINDOWS = "rancher/wins:v0.4.11\nrancher/rancher-agent:v2.7.9\n";

Deno.test("rancher versions: tags, and pre-releases refused with the guide's warning unless allowed", () => {
  assertEquals(rancherReleaseTag("v2.7.9"), "v2.7.9");
  assertEquals(rancherReleaseTag("2.7.9"), "v2.7.9");
  for (const pre of ["v2.8.0-rc1", "v2.8.0-alpha3", "v2.7.10-beta.1", "v2.8.0-hotfix-1"]) {
    assert(isPrerelease(pre), pre);
    const e = assertThrows(() => rancherReleaseTag(pre), AirgapError, "is a pre-release");
    assert(e.message.includes("not stable enough for production"), e.message);
    assert(e.message.includes("allowPrerelease"), e.message);
    assertEquals(rancherReleaseTag(pre, true), pre);
  }
  assert(!isPrerelease("v2.7.9"));
  assertThrows(() => rancherReleaseTag("latest"), AirgapError, "not a Rancher release version");
  assertEquals(
    rancherAssetsUrl("v2.7.9"),
    "https://github.com/rancher/rancher/releases/download/v2.7.9/",
  );
  assertEquals(rancherAssetsUrl("v2.7.9", "https://mirror/rancher/{version}"), "https://mirror/rancher/v2.7.9/");
});

Deno.test("sha256sum.txt: plain, ./ and binary-mode names; malformed lines name the line", () => {
  const a = "a".repeat(64);
  const b = "B".repeat(64);
  const sums = parseSha256Sums(`${a}  rancher-images.txt\n\n${b} *./rancher-windows-images.txt\n`, "sums");
  assertEquals(sums.get("rancher-images.txt"), `sha256:${a}`);
  assertEquals(sums.get("rancher-windows-images.txt"), `sha256:${"b".repeat(64)}`);
  assertThrows(() => parseSha256Sums(`${a}  x\nnot a sum\n`, "sha256sum.txt"), AirgapError, "sha256sum.txt:2:");
});

Deno.test("rancher lists: fetched, verified against sha256sum.txt, cached, and pinned", () =>
  withTempDir(async (dir) => {
    const server = serveFiles({
      "/v2.7.9/rancher-images.txt": LIST,
      "/v2.7.9/rancher-windows-images.txt": WINDOWS,
      "/v2.7.9/sha256sum.txt": sha256sums({
        "rancher-images.txt": LIST,
        "rancher-windows-images.txt": WINDOWS,
        "rancher-save-images.sh": "#!/bin/sh\n",
      }),
    });
    try {
      const cache = await openCache(join(dir, "cache"));
      const url = `${server.url}/{version}/`;
      const [list] = await fetchRancherLists({ version: "v2.7.9", url, cache });
      assertEquals(list.file, "rancher-images.txt");
      assertEquals(list.url, `${server.url}/v2.7.9/rancher-images.txt`);
      assertEquals(list.digest, digestOf(new TextEncoder().encode(LIST)));
      assertEquals(list.verified, "sha256sum.txt");
      assertEquals(list.cached, false);
      assertEquals(list.entries.map((e) => `${e.line}:${e.entry}`), [
        "2:rancher/rancher:v2.7.9",
        "4:rancher/shell:v0.1.21",
        "5:busybox",
      ]);
      assert(await cache.has(list.digest), "the list is cached by digest");

      // Known digest (sha256sum.txt) and cached: the list is not downloaded again.
      server.requests.length = 0;
      const again = await fetchRancherLists({ version: "v2.7.9", url, cache, windows: true });
      assertEquals(again.map((l) => [l.file, l.cached]), [
        ["rancher-images.txt", true],
        ["rancher-windows-images.txt", false],
      ]);
      assertEquals(server.requests, ["/v2.7.9/sha256sum.txt", "/v2.7.9/rancher-windows-images.txt"]);
      assertEquals(again[1].entries.length, 2);

      // Locked and cached: no network at all.
      await server.close();
      const pinned = new Map([["rancher-images.txt", list.digest]]);
      const locked = await fetchRancherLists({ version: "v2.7.9", url, cache, pinned, locked: true });
      assertEquals([locked[0].verified, locked[0].cached, locked[0].digest], ["lock", true, list.digest]);
    } finally {
      await server.close().catch(() => {});
    }
  }));

Deno.test("rancher lists: a wrong checksum, a missing asset, an unlisted file, a changed pin are one-line errors", () =>
  withTempDir(async (dir) => {
    const server = serveFiles({
      "/good/rancher-images.txt": LIST,
      "/good/sha256sum.txt": sha256sums({ "rancher-images.txt": LIST }),
      "/tampered/rancher-images.txt": LIST + "evil/miner:latest\n",
      "/tampered/sha256sum.txt": sha256sums({ "rancher-images.txt": LIST }),
      "/missing/sha256sum.txt": sha256sums({ "rancher-images.txt": LIST }),
      "/unlisted/rancher-images.txt": LIST,
      "/unlisted/sha256sum.txt": sha256sums({ "other.txt": "x" }),
      "/nosums/rancher-images.txt": LIST,
    });
    try {
      const cache = await openCache(join(dir, "cache"));
      const fetchFrom = (path: string, extra = {}) =>
        fetchRancherLists({ version: "v2.7.9", url: `${server.url}/${path}/`, cache, ...extra });
      const tampered = await assertRejects(() => fetchFrom("tampered"), AirgapError, "does not match sha256sum.txt");
      assert(!tampered.message.includes("\n"));
      assert(tampered.message.includes(`${server.url}/tampered/rancher-images.txt`), tampered.message);
      assert(!(await cache.has(digestOf(new TextEncoder().encode(LIST + "evil/miner:latest\n")))), "not cached");
      const missing = await assertRejects(() => fetchFrom("missing"), AirgapError, "rancher-images.txt not found");
      assert(missing.message.includes("HTTP 404"), missing.message);
      await assertRejects(() => fetchFrom("unlisted"), AirgapError, "sha256sum.txt at");
      await assertRejects(() => fetchFrom("missing", { windows: true, linux: false }), AirgapError, "does not list");
      const [unverified] = await fetchFrom("nosums");
      assertEquals(unverified.verified, "unverified");
      const pinned = new Map([["rancher-images.txt", `sha256:${"0".repeat(64)}`]]);
      await assertRejects(() => fetchFrom("good", { pinned, locked: true }), AirgapError, "airgap.lock pins");
      await assertRejects(() => fetchFrom("good", { locked: true }), AirgapError, "not in airgap.lock");
    } finally {
      await server.close();
    }
  }));

Deno.test("rancher lists: credentials go to their host only; plain HTTP elsewhere needs insecure", () =>
  withTempDir(async (dir) => {
    const credential = { username: "robot", password: "s3cret" };
    const secured = serveFiles({ "/v2.7.9/rancher-images.txt": LIST }, { basicAuth: credential });
    const plain = serveFiles({ "/v2.7.9/rancher-images.txt": LIST });
    const front = serveFiles({ "/v2.7.9/rancher-images.txt": { redirect: `${plain.url}/v2.7.9/rancher-images.txt` } }, {
      basicAuth: credential,
    });
    try {
      const cache = await openCache(join(dir, "cache"));
      const settingsFor = (url: string) =>
        new Map([[new URL(url).host, { credential: { ...credential, origin: "t" } }]]);
      const fetchFrom = (url: string, settings?: ReturnType<typeof settingsFor>) =>
        fetchRancherLists({ version: "v2.7.9", url: `${url}/v2.7.9/`, cache, settings });
      assertEquals((await fetchFrom(secured.url, settingsFor(secured.url)))[0].entries.length, 3);
      await assertRejects(() => fetchFrom(secured.url), AirgapError, "HTTP 401");
      // A redirect to another host does not take the credentials along.
      assertEquals((await fetchFrom(front.url, settingsFor(front.url)))[0].entries.length, 3);
      assertEquals(plain.authorizations, [""]);
      await assertRejects(
        () => fetchRancherLists({ version: "v2.7.9", url: "http://mirror.invalid/v2.7.9/" }),
        AirgapError,
        "plain HTTP to mirror.invalid is not allowed",
      );
    } finally {
      for (const server of [secured, plain, front]) await server.close();
    }
  }));

Deno.test("rancher lists: downloads go through the session they are given (the run's one), not one of their own", () =>
  withTempDir(async (dir) => {
    const server = serveFiles({
      "/v2.7.9/rancher-images.txt": LIST,
      "/v2.7.9/sha256sum.txt": sha256sums({ "rancher-images.txt": LIST }),
    });
    const session = createSession();
    const sent: string[] = [];
    const transport = session.transport;
    let closed = false;
    const spy: NetworkSession = {
      ...session,
      transport(host) {
        const real = transport(host);
        return { ...real, send: (url, init) => (sent.push(String(url)), real.send(url, init)) };
      },
      close() {
        closed = true;
        session.close();
      },
    };
    try {
      const cache = await openCache(join(dir, "cache"));
      await fetchRancherLists({ version: "v2.7.9", url: `${server.url}/{version}/`, cache, session: spy });
      assertEquals(sent.map((u) => new URL(u).pathname).sort(), [
        "/v2.7.9/rancher-images.txt",
        "/v2.7.9/sha256sum.txt",
      ]);
      assert(!closed, "the run's session outlives the download");
    } finally {
      spy.close();
      await server.close();
    }
  }));
