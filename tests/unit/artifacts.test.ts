import { constants, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import {
  artifactEntry,
  cosignTag,
  cosignTagsFor,
  fallbackIndex,
  fallbackTag,
  referrerKind,
  SIMPLE_SIGNING_TYPE,
  wantedReferrers,
} from "../../lib/artifacts/discover.ts";
import {
  COSIGN_SIGNATURE_ANNOTATION,
  dssePae,
  envelopeVerifies,
  loadVerifyKey,
  signedDigest,
  verifiesWith,
  verifySignatures,
} from "../../lib/artifacts/verify.ts";
import { artifactPolicy } from "../../lib/plan/carry_artifacts.ts";
import { referrerDescriptor } from "../../lib/artifacts/deliver.ts";
import { loadDeclaration } from "../../lib/plan/declaration.ts";
import { checkDeclaration } from "../../lib/commands/check/check.ts";
import { formatLock, parseLock } from "../../lib/lock.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { type Descriptor, encodeJson } from "../../lib/oci/manifest.ts";
import type { ResolvedImage } from "../../lib/plan/planner.ts";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const encoder = new TextEncoder();

Deno.test("artifact tags: cosign's sha256-<hex>.sig/.att/.sbom and the referrers fallback tag", () => {
  assertEquals(fallbackTag(A), `sha256-${"a".repeat(64)}`);
  assertEquals(cosignTag(A, "signature"), `sha256-${"a".repeat(64)}.sig`);
  assertEquals(cosignTag(A, "attestation"), `sha256-${"a".repeat(64)}.att`);
  assertEquals(cosignTag(A, "sbom"), `sha256-${"a".repeat(64)}.sbom`);
  const tags = ["v1", cosignTag(A, "signature"), cosignTag(A, "sbom"), cosignTag(B, "attestation"), fallbackTag(A)];
  assertEquals(cosignTagsFor(tags, [A, B, A], ["signature", "attestation"]), [
    { tag: cosignTag(A, "signature"), kind: "signature", subject: A },
    { tag: cosignTag(B, "attestation"), kind: "attestation", subject: B },
  ]);
  assertEquals(cosignTagsFor(tags, [A], []), []);
});

Deno.test("artifact entries live in the subject's repository", () => {
  assertEquals(artifactEntry("rancher/rancher:v2.7.9", "sha256-x.sig"), "rancher/rancher:sha256-x.sig");
  assertEquals(artifactEntry("host:5000/a/b:v1", "sha256-x.att"), "host:5000/a/b:sha256-x.att");
  assertEquals(artifactEntry("host:5000/a/b", B), `host:5000/a/b@${B}`);
  assertEquals(artifactEntry(`a/b:v1@${A}`, B), `a/b@${B}`);
});

Deno.test("referrers: kinds from artifactType; unknown types only when everything is wanted", () => {
  const r = (artifactType: string, digest = A): Descriptor => ({ mediaType: "m", digest, size: 1, artifactType });
  assertEquals(referrerKind(r("application/vnd.dev.cosign.artifact.sig.v1+json")), "signature");
  assertEquals(referrerKind(r("application/vnd.in-toto+json")), "attestation");
  assertEquals(referrerKind(r("application/spdx+json")), "sbom");
  assertEquals(referrerKind(r("application/vnd.cyclonedx+json")), "sbom");
  assertEquals(referrerKind(r("application/x-custom")), undefined);
  const all = [r("application/spdx+json", A), r("application/x-custom", B)];
  assertEquals(wantedReferrers(all, ["sbom"]).map((d) => d.digest), [A]);
  assertEquals(wantedReferrers(all, ["signature", "attestation", "sbom"]).map((d) => d.digest), [A, B]);
});

Deno.test("the fallback index adds what it lacks and is left alone when complete", () => {
  const a: Descriptor = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: A, size: 10 };
  const b: Descriptor = { ...a, digest: B };
  const fresh = JSON.parse(new TextDecoder().decode(fallbackIndex([a])!));
  assertEquals(fresh.mediaType, "application/vnd.oci.image.index.v1+json");
  assertEquals(fresh.manifests, [a]);
  assertEquals(fallbackIndex([a], [a]), undefined);
  assertEquals(JSON.parse(new TextDecoder().decode(fallbackIndex([b], [a])!)).manifests, [a, b]);
});

Deno.test("a referrers index lists a manifest with its artifactType and annotations", () => {
  const bytes = encodeJson({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/spdx+json",
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: A, size: 2 },
    layers: [],
    subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: B, size: 3 },
    annotations: { "org.example": "x" },
  });
  const desc = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digestOf(bytes), size: bytes.length };
  assertEquals(referrerDescriptor(desc, bytes), {
    ...desc,
    artifactType: "application/spdx+json",
    annotations: { "org.example": "x" },
  });
});

function payloadFor(digest: string): Uint8Array {
  return encoder.encode(JSON.stringify({
    critical: {
      identity: { "docker-reference": "registry.example/app" },
      image: { "docker-manifest-digest": digest },
      type: "cosign container image signature",
    },
    optional: null,
  }));
}

Deno.test("keys: ECDSA P-256, RSA PKCS#1 v1.5 and PSS, Ed25519 verify; wrong keys and bytes do not", () => {
  const payload = payloadFor(A);
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ed = generateKeyPairSync("ed25519");
  assert(verifiesWith(payload, sign("sha256", payload, ec.privateKey), ec.publicKey));
  assert(verifiesWith(payload, sign("sha256", payload, rsa.privateKey), rsa.publicKey));
  const pss = sign("sha256", payload, {
    key: rsa.privateKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
  assert(verifiesWith(payload, pss, rsa.publicKey));
  assert(verifiesWith(payload, sign(null, payload, ed.privateKey), ed.publicKey));
  assert(!verifiesWith(payload, sign("sha256", payload, ec.privateKey), rsa.publicKey));
  assert(!verifiesWith(payloadFor(B), sign("sha256", payload, ec.privateKey), ec.publicKey));
  assert(!verifiesWith(payload, new Uint8Array([1, 2, 3]), ec.publicKey));
  assertEquals(signedDigest(payload), A);
  assertEquals(signedDigest(encoder.encode("{}")), undefined);
  assertEquals(signedDigest(encoder.encode("not json")), undefined);
});

/** A cosign signature manifest over `payload`, signed by `key` (or with `signature` as given). */
function signatureManifest(payload: Uint8Array, key: KeyObject, signature?: string) {
  const layer: Descriptor = {
    mediaType: SIMPLE_SIGNING_TYPE,
    digest: digestOf(payload),
    size: payload.length,
    annotations: {
      [COSIGN_SIGNATURE_ANNOTATION]: signature ?? sign("sha256", payload, key).toString("base64"),
    },
  };
  const bytes = encodeJson({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: B, size: 2 },
    layers: [layer],
  });
  return {
    descriptor: {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: digestOf(bytes),
      size: bytes.length,
    },
    bytes,
  };
}

Deno.test("verifySignatures: counts good signatures; one-line reasons otherwise", () =>
  withTempDir(async (dir) => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const path = join(dir, "cosign.pub");
    await Deno.writeTextFile(path, publicKey.export({ type: "spki", format: "pem" }) as string);
    const key = await loadVerifyKey(path);
    assertEquals(key.id, digestOf(await Deno.readFile(path)));
    const payloads = new Map<string, Uint8Array>();
    const read = (d: Descriptor) => Promise.resolve(payloads.get(d.digest)!);
    const make = (digest: string, k: KeyObject, sig?: string) => {
      const payload = payloadFor(digest);
      payloads.set(digestOf(payload), payload);
      return signatureManifest(payload, k, sig);
    };
    const good = await verifySignatures("app", A, [make(A, privateKey)], read, [key]);
    assertEquals(good, { signatures: 1, keys: [key.id] });
    const refused = async (manifests: ReturnType<typeof make>[], text: string) => {
      const e = await assertRejects(() => verifySignatures("app", A, manifests, read, [key]), Error, text);
      assert(!(e as Error).message.includes("\n"), (e as Error).message);
    };
    await refused([], "app: refused: no cosign signature for");
    await refused([make(B, privateKey)], `signature is for ${B}, not ${A}`);
    await refused([make(A, other)], `signature does not verify with ${path}`);
    await refused([make(A, privateKey, "")], "a signature layer without a signature");
    // One good signature among bad ones is enough.
    assertEquals((await verifySignatures("app", A, [make(A, other), make(A, privateKey)], read, [key])).signatures, 1);

    await Deno.writeTextFile(join(dir, "bad.pub"), "not a key");
    await assertRejects(() => loadVerifyKey(join(dir, "bad.pub")), Error, "not a PEM public key");
    await assertRejects(() => loadVerifyKey(join(dir, "missing.pub")), Error, "missing.pub");
  }));

Deno.test("airgap.yaml: artifacts and verify at the top, per registry and per image; one policy", () =>
  withTempDir(async (dir) => {
    const pem = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }) as string;
    for (const k of ["top.pub", "reg.pub", "image.pub", "flag.pub"]) await Deno.writeTextFile(join(dir, k), pem);
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      [
        "artifacts: [signatures]",
        "verify: {key: top.pub}",
        "registries:",
        "  quay.io: {verify: {key: reg.pub}}",
        "images:",
        "  - docker.io/a/plain:v1",
        "  - quay.io/b/from-quay:v1",
        "  - ref: docker.io/c/own:v1",
        "    artifacts: [attestations, sboms]",
        "    verify: {key: [image.pub]}",
      ].join("\n"),
    );
    const decl = await loadDeclaration(join(dir, "airgap.yaml"));
    const image = (entry: string) => ({ request: decl.requests.find((r) => r.entry === entry)! }) as ResolvedImage;
    const policy = await artifactPolicy(decl, {});
    const keysOf = (entry: string) => policy(image(entry)).keys.map((k) => k.path.slice(dir.length + 1));
    assertEquals(policy(image("docker.io/a/plain:v1")).kinds, ["signature"]);
    assertEquals(keysOf("docker.io/a/plain:v1"), ["top.pub"]);
    assertEquals(keysOf("quay.io/b/from-quay:v1"), ["reg.pub"]);
    assertEquals(policy(image("docker.io/c/own:v1")).kinds, ["attestation", "sbom"]);
    assertEquals(keysOf("docker.io/c/own:v1"), ["image.pub"]);
    const flagged = await artifactPolicy(decl, { withSignatures: true, verifyKeys: [join(dir, "flag.pub")] });
    assertEquals(flagged(image("docker.io/c/own:v1")).kinds, ["signature", "attestation", "sbom"]);
    assertEquals(flagged(image("docker.io/c/own:v1")).keys.map((k) => k.path.slice(dir.length + 1)), [
      "flag.pub",
      "image.pub",
    ]);

    await Deno.writeTextFile(join(dir, "bad.yaml"), "artifacts: [signatures, pictures]\n");
    await assertRejects(() => loadDeclaration(join(dir, "bad.yaml")), Error, "bad.yaml");
  }));

Deno.test("the lock keeps artifacts under their image, sorted, and round-trips", () => {
  const text = formatLock({
    lockVersion: 1,
    images: [{
      entry: "a/b:v1",
      source: "docker.io/a/b:v1",
      digest: A,
      mediaType: "application/vnd.oci.image.index.v1+json",
      size: 10,
      platforms: [],
      blobs: {},
      artifacts: [
        {
          role: "signature",
          kind: "signature",
          subject: A,
          tag: cosignTag(A, "signature"),
          digest: B,
          mediaType: "m",
          size: 3,
          blobs: {},
        },
        {
          role: "attestation",
          kind: "attestation",
          subject: A,
          tag: cosignTag(A, "attestation"),
          digest: A,
          mediaType: "m",
          size: 3,
          blobs: { [B]: 1 },
        },
      ],
      verified: { signatures: 1, keys: [B] },
    }],
  });
  const lock = parseLock(text, "airgap.lock");
  assertEquals(lock.images[0].artifacts?.map((a) => a.tag), [cosignTag(A, "attestation"), cosignTag(A, "signature")]);
  assertEquals(lock.images[0].verified, { signatures: 1, keys: [B] });
  assertEquals(formatLock(lock), text);
});

Deno.test("DSSE: the pre-authentication encoding, and envelopes that verify or do not", () =>
  withTempDir(async (dir) => {
    assertEquals(new TextDecoder().decode(dssePae("t/x", encoder.encode("hello"))), "DSSEv1 3 t/x 5 hello");
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    await Deno.writeTextFile(join(dir, "k.pub"), publicKey.export({ type: "spki", format: "pem" }) as string);
    const key = await loadVerifyKey(join(dir, "k.pub"));
    const payload = encoder.encode('{"_type":"https://in-toto.io/Statement/v0.1"}');
    const type = "application/vnd.in-toto+json";
    const envelope = (sig: string, body = payload) =>
      encoder.encode(
        JSON.stringify({ payloadType: type, payload: btoa(String.fromCharCode(...body)), signatures: [{ sig }] }),
      );
    const good = sign("sha256", dssePae(type, payload), privateKey).toString("base64");
    assert(envelopeVerifies(envelope(good), [key]));
    assert(!envelopeVerifies(envelope(good, encoder.encode("{}")), [key]));
    assert(!envelopeVerifies(envelope(""), [key]));
    assert(!envelopeVerifies(encoder.encode("not json"), [key]));
  }));

Deno.test("airgap check: a verify key that is missing or not a PEM public key, named where it is declared", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "bad.pub"), "-----BEGIN NOTHING-----\n");
    await Deno.writeTextFile(
      join(dir, "airgap.yaml"),
      "verify: {key: missing.pub}\nimages:\n  - ref: a/b:v1\n    verify: {key: bad.pub}\n",
    );
    const problems = await checkDeclaration(join(dir, "airgap.yaml"));
    assertEquals(problems.length, 2, problems.join("\n"));
    assert(problems.some((p) => p.includes("missing.pub") && p.includes("airgap.yaml")), problems.join("\n"));
    assert(problems.some((p) => p.includes("bad.pub: not a PEM public key")), problems.join("\n"));
  }));
