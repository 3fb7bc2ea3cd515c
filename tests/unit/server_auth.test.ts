/**
 * The embedded registry's access rules as pure logic: the htpasswd file as
 * distribution reads it (bcrypt only here, FILE:LINE errors that never echo
 * the line), Basic headers, who a header identifies, the exposures refused
 * at start and which requests need a user.
 */
import bcrypt from "bcryptjs";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { AirgapError } from "../../lib/errors.ts";
import { checkExposure, type Exposure, isLoopbackAddress, needsUser } from "../../lib/server/access.ts";
import { createAuthenticator, parseBasic, parseHtpasswd } from "../../lib/server/htpasswd.ts";
import { route } from "../../lib/server/routes.ts";

const HASH = bcrypt.hashSync("s3cret", 4);
const basic = (text: string) => `Basic ${btoa(text)}`;

Deno.test("parseHtpasswd: bcrypt entries (2a, 2b, 2y), comments and blanks skipped, the last entry of a user wins", () => {
  const y = HASH.replace(/^\$2[ab]\$/, "$2y$");
  const users = parseHtpasswd(`# site users\n\nalice:${HASH}\r\n  bob:${y}  \ncarol:${HASH}\ncarol:${y}\n`, "ht");
  assertEquals([...users.keys()], ["alice", "bob", "carol"]);
  assertEquals(users.get("bob"), y);
  assertEquals(users.get("carol"), y);
});

Deno.test("parseHtpasswd: non-bcrypt lines refused with FILE:LINE, never echoing the line", () => {
  const cases: [string, string][] = [
    ["alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "users.htpasswd:2: not a bcrypt entry"],
    ["alice:$apr1$abcdefgh$0123456789012345678901", "users.htpasswd:2: not a bcrypt entry"],
    ["alice:plaintextpassword", "users.htpasswd:2: not a bcrypt entry"],
    ["alice:$2y$03$" + "a".repeat(53), "users.htpasswd:2: not a bcrypt entry"],
    ["alice:" + HASH.slice(0, -1), "users.htpasswd:2: not a bcrypt entry"],
    ["plaintextpassword", "users.htpasswd:2: expected USER:BCRYPT-HASH"],
    [`:${HASH}`, "users.htpasswd:2: expected USER:BCRYPT-HASH"],
  ];
  for (const [line, message] of cases) {
    const e = assertThrows(() => parseHtpasswd(`# users\n${line}\n`, "users.htpasswd"), AirgapError, message);
    assertEquals((e as AirgapError).exitCode, 2);
    assert(!e.message.includes(line.slice(line.indexOf(":") + 1)), "the entry is not echoed");
    assert(!e.message.includes("plaintextpassword"));
  }
  assertThrows(() => parseHtpasswd("# nobody\n", "ht"), AirgapError, "ht: no users");
});

Deno.test("parseBasic: strict base64 holding USER:PASSWORD", () => {
  assertEquals(parseBasic(basic("alice:s3:cret")), { user: "alice", password: "s3:cret" });
  assertEquals(parseBasic(`basic ${btoa(":")}`), { user: "", password: "" });
  assertEquals(parseBasic(basic("no colon")), undefined);
  assertEquals(parseBasic("Basic not*base64"), undefined);
  assertEquals(parseBasic("Basic YWxpY2U6cw"), undefined, "unpadded");
  assertEquals(parseBasic("Basic //79/g=="), undefined, "not UTF-8");
  assertEquals(parseBasic("Bearer abc"), undefined);
  assertEquals(parseBasic("Basic"), undefined);
});

Deno.test("authenticator: the user for the right password; refused alike for a wrong one, an unknown user, Bearer", async () => {
  const auth = createAuthenticator(parseHtpasswd(`alice:${HASH}\n`, "ht"));
  assertEquals(await auth.identify(basic("alice:s3cret")), { kind: "user", user: "alice" });
  assertEquals(await auth.identify(basic("alice:s3cret")), { kind: "user", user: "alice" }, "remembered");
  for (
    const header of [
      basic("alice:wrong"),
      basic("alice:s3cre"),
      basic("Alice:s3cret"),
      basic("mallory:s3cret"),
      basic("alice"),
      "Basic %%%",
      "Bearer s3cret",
      "Digest username=alice",
      basic(":s3cret"),
    ]
  ) {
    assertEquals(await auth.identify(header), { kind: "refused" }, header);
  }
  assertEquals(await auth.identify(undefined), { kind: "anonymous" });
  assertEquals(await auth.identify(""), { kind: "anonymous" });
  assertEquals(
    await auth.identify(basic(":")),
    { kind: "anonymous" },
    "the empty credentials of a client that has none",
  );
});

Deno.test("checkExposure: Basic only over TLS off loopback; no anonymous writes off loopback unless allowed", () => {
  const ok = (e: Exposure) => checkExposure(e);
  const refused = (e: Exposure, message: string) => {
    const error = assertThrows(() => checkExposure(e), AirgapError, message);
    assertEquals((error as AirgapError).exitCode, 2);
    assert(!error.message.includes("\n"), "one line");
  };
  const base = { writable: false, auth: false, tls: false };
  for (const hostname of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
    assert(isLoopbackAddress(hostname), hostname);
    ok({ ...base, hostname, writable: true });
    ok({ ...base, hostname, writable: true, auth: true });
  }
  for (const hostname of ["0.0.0.0", "::", "10.0.0.5", "registry.site.local", "128.0.0.1"]) {
    assert(!isLoopbackAddress(hostname), hostname);
    ok({ ...base, hostname });
    ok({ ...base, hostname, writable: true, auth: true, tls: true });
    ok({ ...base, hostname, writable: true, allowAnonymousPush: true });
    refused({ ...base, hostname, writable: true }, `--writable on ${hostname} lets anyone`);
    refused({ ...base, hostname, writable: true, tls: true }, "--allow-anonymous-push");
    refused({ ...base, hostname, auth: true }, `--htpasswd on ${hostname} needs --tls-cert`);
    refused({ ...base, hostname, writable: true, auth: true, allowAnonymousPush: true }, "needs --tls-cert");
  }
  refused({ ...base, hostname: "127.0.0.1", authPulls: true }, "--auth-pulls needs --htpasswd");
});

Deno.test("needsUser: every write and the ping; reads only with --auth-pulls", () => {
  const paths = ["/v2/", "/v2/_catalog", "/v2/a/b/tags/list", "/v2/a/manifests/1", "/v2/a/blobs/uploads/", "/x"];
  for (const path of paths) {
    const target = route(path);
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      assert(needsUser(method, target, false), `${method} ${path}`);
    }
    for (const method of ["GET", "HEAD"]) {
      assertEquals(needsUser(method, target, false), path === "/v2/", `${method} ${path}`);
      assert(needsUser(method, target, true));
    }
  }
});

Deno.test("authenticator: parallel first requests with the same credentials share one check", async () => {
  const auth = createAuthenticator(parseHtpasswd(`alice:${HASH}\n`, "ht"));
  const results = await Promise.all([
    ...Array.from({ length: 8 }, () => auth.identify(basic("alice:s3cret"))),
    ...Array.from({ length: 4 }, () => auth.identify(basic("alice:nope"))),
  ]);
  assertEquals(results.filter((r) => r.kind === "user").length, 8);
  assertEquals(results.filter((r) => r.kind === "refused").length, 4);
});
