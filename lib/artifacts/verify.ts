/**
 * Key-based cosign signature verification, offline. A cosign signature is an
 * OCI manifest whose layers are simple-signing payloads
 * (`{"critical":{"image":{"docker-manifest-digest":…}}}`); each layer's
 * `dev.cosignproject.cosign/signature` annotation is the base64 signature of
 * the payload's exact bytes. An image passes when at least one payload names
 * its digest and its signature verifies with one of the given public keys
 * (ECDSA P-256/SHA-256 as cosign makes them, RSA PKCS#1 v1.5 or PSS with
 * SHA-256, Ed25519 — PEM files). Keyless (Fulcio) certificates and Rekor
 * transparency-log inclusion need online trust roots and are not checked.
 * Attestations (DSSE envelopes) whose signature verifies with a key are
 * counted; they are not required, and one that does not verify refuses
 * nothing (its predicate is not interpreted).
 * @module
 */
import { constants, createPublicKey, type KeyObject, verify } from "node:crypto";
import { AirgapError, errorMessage } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";
import { type Descriptor, parseManifest } from "../oci/manifest.ts";
import { DSSE_TYPE, SIMPLE_SIGNING_TYPE } from "./discover.ts";

/** The annotation holding a cosign signature. */
export const COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";

/** A public key to verify with. */
export interface VerifyKey {
  /** The file it was read from (for messages). */
  path: string;
  /** `sha256:` of the file's bytes: how the lock names it. */
  id: string;
  /** The key. */
  key: KeyObject;
}

/** Read a PEM public key (or a certificate's key); a one-line error names the file (as `shownAs` says where it was given). */
export async function loadVerifyKey(path: string, shownAs = `--verify-key ${path}`): Promise<VerifyKey> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new AirgapError(`${shownAs}: ${errorMessage(e)}`, {}, { exitCode: 2 });
  }
  try {
    const key = createPublicKey(new TextDecoder().decode(bytes));
    return { path, id: digestOf(bytes), key };
  } catch {
    throw new AirgapError(`${shownAs}: not a PEM public key (ECDSA, RSA or Ed25519)`, {}, { exitCode: 2 });
  }
}

/** Does `signature` (raw bytes) sign `payload` under `key`? ECDSA/RSA with SHA-256 (PKCS#1 v1.5 or PSS), Ed25519. */
export function verifiesWith(payload: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  try {
    if (key.asymmetricKeyType === "ed25519") return verify(null, payload, key, signature);
    if (verify("sha256", payload, key, signature)) return true;
    if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss") return false;
    return verify(
      "sha256",
      payload,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      signature,
    );
  } catch {
    return false;
  }
}

/** The digest a simple-signing payload signs, or undefined when the payload is not one. */
export function signedDigest(payload: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(new TextDecoder().decode(payload));
    const digest = doc?.critical?.image?.["docker-manifest-digest"];
    return typeof digest === "string" ? digest : undefined;
  } catch {
    return undefined;
  }
}

function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** A signature manifest to check: its bytes and a way to read its layers. */
export interface SignatureManifest {
  /** Its descriptor. */
  descriptor: Descriptor;
  /** Its exact bytes. */
  bytes: Uint8Array;
}

/** What verification found. */
export interface Verification {
  /** Signatures that verified for the digest. */
  signatures: number;
  /** Attestations whose DSSE signature verified (when any were checked). */
  attestations?: number;
  /** The keys that verified them (ids). */
  keys: string[];
}

/** DSSE's pre-authentication encoding of a payload: what an envelope's signatures sign. */
export function dssePae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.byteLength} ${payloadType} ${payload.byteLength} `);
  const out = new Uint8Array(head.byteLength + payload.byteLength);
  out.set(head);
  out.set(payload, head.byteLength);
  return out;
}

/** Does any signature of a DSSE envelope (JSON bytes) verify with one of `keys`? */
export function envelopeVerifies(envelope: Uint8Array, keys: readonly VerifyKey[]): boolean {
  let doc: { payloadType?: unknown; payload?: unknown; signatures?: { sig?: unknown }[] };
  try {
    doc = JSON.parse(new TextDecoder().decode(envelope));
  } catch {
    return false;
  }
  if (typeof doc.payloadType !== "string" || typeof doc.payload !== "string") return false;
  const payload = decodeBase64(doc.payload);
  if (!payload) return false;
  const pae = dssePae(doc.payloadType, payload);
  return (doc.signatures ?? []).some((s) => {
    const sig = typeof s.sig === "string" ? decodeBase64(s.sig) : undefined;
    return sig !== undefined && keys.some((k) => verifiesWith(pae, sig, k.key));
  });
}

/** How many of the attestation manifests carry a DSSE envelope that verifies with one of `keys`. */
export async function countVerifiedAttestations(
  manifests: readonly SignatureManifest[],
  readLayer: (desc: Descriptor) => Promise<Uint8Array>,
  keys: readonly VerifyKey[],
): Promise<number> {
  let count = 0;
  for (const m of manifests) {
    const manifest = parseManifest(m.bytes, m.descriptor.mediaType, `attestation ${m.descriptor.digest}`);
    if (manifest.kind !== "manifest") continue;
    for (const layer of manifest.layers) {
      if (layer.mediaType === DSSE_TYPE && envelopeVerifies(await readLayer(layer), keys)) count++;
    }
  }
  return count;
}

/**
 * Check the signatures of `digest`: at least one must name it and verify with
 * one of `keys`; else a one-line {@link AirgapError} says why, naming `what`.
 */
export async function verifySignatures(
  what: string,
  digest: string,
  manifests: readonly SignatureManifest[],
  readLayer: (desc: Descriptor) => Promise<Uint8Array>,
  keys: readonly VerifyKey[],
): Promise<Verification> {
  if (manifests.length === 0) {
    throw new AirgapError(`${what}: refused: no cosign signature for ${digest} (--verify-key asks for one)`, {
      image: what,
    });
  }
  const used = new Set<string>();
  let signatures = 0;
  let reason = "no simple-signing layer in its signature";
  for (const m of manifests) {
    const manifest = parseManifest(m.bytes, m.descriptor.mediaType, `${what} signature ${m.descriptor.digest}`);
    if (manifest.kind !== "manifest") continue;
    for (const layer of manifest.layers) {
      if (layer.mediaType !== SIMPLE_SIGNING_TYPE) continue;
      const signature = decodeBase64(layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION] ?? "");
      if (!signature || signature.byteLength === 0) {
        reason = "a signature layer without a signature";
        continue;
      }
      const payload = await readLayer(layer);
      const key = keys.find((k) => verifiesWith(payload, signature, k.key));
      if (!key) {
        reason = `signature does not verify with ${keys.map((k) => k.path).join(", ")}`;
        continue;
      }
      const signed = signedDigest(payload);
      if (signed !== digest) {
        reason = `signature is for ${signed ?? "no image digest"}, not ${digest}`;
        continue;
      }
      used.add(key.id);
      signatures++;
    }
  }
  if (signatures === 0) throw new AirgapError(`${what}: refused: ${reason}`, { image: what });
  return { signatures, keys: [...used].sort() };
}
