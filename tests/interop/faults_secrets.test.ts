/**
 * The fault suite, secrets side: with Basic (htpasswd) and Bearer (token
 * server) auth, saves and loads run through the fault proxy — retries,
 * blob GETs redirected to a second origin — with `--debug`. The password,
 * its base64 form and every bearer token the client sent appear in no
 * stdout, stderr, lock, archive or cache file, and the second origin never
 * receives an Authorization header.
 */
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { assert, assertEquals } from "../helpers/assert.ts";
import type { FaultPlan } from "../helpers/fault_proxy.ts";
import { assertLoaded, faultTest, type FaultWorld, runAirgap, startFaultWorld } from "../helpers/faults.ts";
import { interopAvailable, privateHome, writeDockerAuths } from "../helpers/registry.ts";
import { makeCertificate, startTokenServer } from "../helpers/tokenserver.ts";

const enabled = interopAvailable();
const USER = "alice";
const SECRET = "Fault-Suite-s3cret-Pa55";
const DEADLINE_MS = 90_000;

/** Retries with credentials, and blob GETs sent to another origin. */
const plan: FaultPlan = {
  seed: 99,
  rules: [
    { fault: "redirect", kinds: ["blob-get"], probability: 0.6 },
    { fault: "reset", kinds: ["blob-get", "manifest-get", "upload-patch", "upload-put"], probability: 0.15 },
    { fault: "error500", kinds: ["manifest-get", "manifest-put", "upload-post", "head"], probability: 0.1 },
  ],
  maxFaultsPerKey: 1,
};

/** Every file below `dir`, recursively. */
async function* files(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* files(path);
    else if (entry.isFile) yield path;
  }
}

/** Fail when any needle occurs in any of the texts or files. */
async function assertNoSecrets(needles: string[], texts: Record<string, string>, paths: string[]) {
  const decoder = new TextDecoder();
  const haystacks: [string, string][] = Object.entries(texts);
  for (const path of paths) {
    const stat = await Deno.stat(path);
    const all = stat.isDirectory ? await Array.fromAsync(files(path)) : [path];
    for (const file of all) haystacks.push([file, decoder.decode(await Deno.readFile(file))]);
  }
  assert(haystacks.length > 5, "something was searched");
  for (const [where, text] of haystacks) {
    for (const needle of needles) {
      assert(!text.includes(needle), `a secret (${needle.slice(0, 12)}…) is in ${where}`);
    }
  }
}

/** Save (and load back) through the proxy with `--debug`, then grep everything. */
async function saveLoadAndGrep(world: FaultWorld, env: Record<string, string>, extraNeedles: () => string[]) {
  world.proxy.setPlan(plan);
  world.proxy.resetStats();
  const output = join(world.dir, "images.tar");
  const cache = join(world.dir, "cache");
  const lock = join(world.dir, "airgap.lock");
  const save = await runAirgap(
    ["save", "-l", world.list, "-s", world.proxy.host, "-o", output, "--cache", cache, "--platform", "all"]
      .concat(["--lock", lock, "--debug"]),
    DEADLINE_MS,
    env,
    world.dir,
  );
  assertEquals(save.code, 0, save.stderr);
  const load = await runAirgap(
    ["load", output, "--registry", `${world.proxy.host}/loaded`, "--debug"],
    DEADLINE_MS,
    env,
    world.dir,
  );
  assertEquals(load.code, 0, load.stderr);
  for (const image of world.images) {
    assert(load.stdout.includes(`@${image.root.descriptor.digest}`), `${image.repository} loaded at its digest`);
  }
  // A failing run with --debug prints a stack trace: that too must hold no secret.
  const missing = join(world.dir, "missing.txt");
  await Deno.writeTextFile(missing, "library/busybox:no-such-tag\n");
  const failed = await runAirgap(
    ["save", "-l", missing, "-s", world.proxy.host, "-o", join(world.dir, "f.tar"), "--cache", cache, "--debug"],
    DEADLINE_MS,
    env,
    world.dir,
  );
  assert(failed.code !== 0, "a missing tag fails");

  const counts = world.proxy.counts();
  assert(
    counts.redirect >= 1 && counts.reset + counts.error500 >= 1,
    `faults were injected: ${JSON.stringify(counts)}`,
  );
  assert(world.blobs.received.length >= 1, "the second origin served blobs");
  const leaked = world.blobs.received.filter((r) => "authorization" in r.headers);
  assertEquals(leaked.map((r) => r.path), [], "the second origin never receives Authorization");
  const needles = [SECRET, btoa(`${USER}:${SECRET}`), ...extraNeedles()];
  await assertNoSecrets(needles, {
    "save stdout": save.stdout,
    "save stderr": save.stderr,
    "load stdout": load.stdout,
    "load stderr": load.stderr,
    "failed save stderr": failed.stderr,
    "failed save stdout": failed.stdout,
  }, [output, lock, cache]);
}

async function dockerConfig(world: FaultWorld, auth: string): Promise<Record<string, string>> {
  const env = await privateHome(world.dir);
  await writeDockerAuths(env, { [world.proxy.host]: auth });
  return env;
}

faultTest(
  "faults: Basic auth through retries and cross-origin blob redirects — no Authorization to the other origin, " +
    "no secret in output, lock, archive or cache [needs transport: credentials bound to their origin]",
  async (world) => {
    const env = await dockerConfig(world, btoa(`${USER}:${SECRET}`));
    await saveLoadAndGrep(world, env, () => []);
    await assertLoaded(world, "loaded", "basic", `Basic ${btoa(`${USER}:${SECRET}`)}`);
  },
  { htpasswd: `${USER}:${bcrypt.hashSync(SECRET, 5)}\n` },
);

Deno.test({
  name: "faults: Bearer tokens through retries and cross-origin blob redirects — no Authorization to the other " +
    "origin, no password or token in output, lock, archive or cache [needs transport: credentials bound to their origin]",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const certDir = await Deno.makeTempDir({ prefix: "airgap-faults-token-" });
    const signer = await makeCertificate(certDir, "token-signer");
    const tokens = startTokenServer(signer, USER, SECRET);
    const world = await startFaultWorld({
      extraConfig: tokens.registryConfig,
    });
    try {
      const env = await dockerConfig(world, btoa(`${USER}:${SECRET}`));
      const bearer = () =>
        world.proxy.authorizations().filter((a) => a.startsWith("Bearer ")).map((a) => a.slice("Bearer ".length));
      await saveLoadAndGrep(world, env, () => {
        const seen = bearer();
        assert(seen.length >= 1, "the client sent bearer tokens");
        return seen;
      });
      assert(tokens.requests.length >= 1, "tokens were issued");
    } finally {
      await world.close();
      await tokens.close();
      await Deno.remove(certDir, { recursive: true });
    }
  },
});
