/**
 * Digests: compute and verify while streaming. SHA-256 through node:crypto,
 * which is native and several times faster than any JavaScript hash.
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { AirgapError } from "../errors.ts";
import { DigestMismatchError } from "../error_kinds.ts";
import { isValidDigest } from "../ref.ts";

/** The algorithm part of a digest, checked against what we can compute. */
export function digestAlgorithm(digest: string): "sha256" | "sha512" {
  if (!isValidDigest(digest)) {
    throw new AirgapError(`malformed digest "${digest}"`);
  }
  return digest.slice(0, digest.indexOf(":")) as "sha256" | "sha512";
}

/** The hex part of a digest. */
export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

/** Digest of bytes held in memory (manifests, configs). */
export function digestOf(
  bytes: Uint8Array,
  algorithm: "sha256" | "sha512" = "sha256",
): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/** An incremental digester: feed chunks, then check against what was expected. */
export interface Digester {
  update(chunk: Uint8Array): void;
  /** Bytes seen so far. */
  readonly size: number;
  /** The digest of everything seen (call once). */
  digest(): string;
}

/** A digester for the algorithm of `expected` (e.g. `sha256:…`). */
export function createDigester(algorithm: "sha256" | "sha512" = "sha256"): Digester {
  const hash: Hash = createHash(algorithm);
  let size = 0;
  return {
    update(chunk) {
      hash.update(chunk);
      size += chunk.byteLength;
    },
    get size() {
      return size;
    },
    digest: () => `${algorithm}:${hash.digest("hex")}`,
  };
}

/** What a verified stream is expected to hold. */
export interface Expected {
  /** The digest the content must hash to, e.g. `sha256:…`. */
  digest: string;
  /** Its exact length in bytes. */
  size: number;
}

/** Throw unless `digester` saw exactly `expected`. `what` names the content for the message. */
export function checkDigest(
  digester: Digester,
  expected: Expected,
  what: string,
): void {
  if (digester.size !== expected.size) {
    throw new DigestMismatchError(
      `${what}: size mismatch for ${expected.digest}: expected ${expected.size} bytes, got ${digester.size}`,
      { op: "verify" },
    );
  }
  const actual = digester.digest();
  if (actual !== expected.digest) {
    throw new DigestMismatchError(
      `${what}: digest mismatch: expected ${expected.digest}, got ${actual}`,
      { op: "verify" },
    );
  }
}

/**
 * A stream that checks its own content: it errors at its end (or as soon as
 * too many bytes arrive) unless the bytes are exactly `verified`, so a
 * consumer only sees a clean end when the content is right. Producers that
 * hash as they read return one ({@link verifyingStream}, the cache's and
 * archives' file streams, registry downloads); a consumer that gets one for
 * the digest it expects does not hash again (that would halve throughput).
 * The stream itself carries the proof: no side table of marked streams.
 */
export interface VerifiedStream extends ReadableStream<Uint8Array> {
  /** The digest and size the content is checked against. */
  readonly verified: Expected;
  /**
   * Hear of every chunk without adding a stage to the stream (each stage
   * costs per chunk). Present on streams made by {@link verifyingStream}.
   */
  readonly listen?: (listener: (bytes: number) => void) => void;
}

/**
 * Declare that `stream` checks its content against `expected` — only for a
 * stream whose producer hashes every byte and errors on a mismatch.
 */
export function asVerified<S extends ReadableStream<Uint8Array>>(
  stream: S,
  expected: Expected,
  listen?: (listener: (bytes: number) => void) => void,
): S & VerifiedStream {
  const verified = { digest: expected.digest, size: expected.size };
  return Object.assign(stream, listen ? { verified, listen } : { verified });
}

/** Does `stream` check its own content (against `digest`, when given)? */
export function isVerified(stream: ReadableStream<Uint8Array>, digest?: string): stream is VerifiedStream {
  const verified = (stream as Partial<VerifiedStream>).verified;
  return verified !== undefined && (digest === undefined || verified.digest === digest);
}

/**
 * A pass-through stream that hashes and counts and fails at the end (or as
 * soon as too many bytes arrive) unless the content matches `expected`.
 * A consumer only sees a clean end of stream when the content is right.
 * Its readable side is a {@link VerifiedStream}.
 */
export function verifyingStream(
  expected: Expected,
  what: string,
  onChunk?: (bytes: number) => void,
): TransformStream<Uint8Array, Uint8Array> {
  const digester = createDigester(digestAlgorithm(expected.digest));
  const listeners: ((bytes: number) => void)[] = onChunk ? [onChunk] : [];
  const transform = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      digester.update(chunk);
      for (const listener of listeners) listener(chunk.byteLength);
      if (digester.size > expected.size) {
        throw new DigestMismatchError(
          `${what}: size mismatch for ${expected.digest}: more than ${expected.size} bytes`,
          { op: "verify" },
        );
      }
      controller.enqueue(chunk);
    },
    flush() {
      checkDigest(digester, expected, what);
    },
  });
  asVerified(transform.readable, expected, (listener) => listeners.push(listener));
  return transform;
}

/**
 * Make sure a stream is checked against `expected`: a {@link VerifiedStream}
 * for the same digest is returned as is (hashing twice would halve
 * throughput); anything else is wrapped.
 */
export function ensureVerified(
  stream: ReadableStream<Uint8Array>,
  expected: Expected,
  what: string,
): VerifiedStream {
  if (isVerified(stream, expected.digest)) return stream;
  return stream.pipeThrough(verifyingStream(expected, what)) as VerifiedStream;
}

/** Verify bytes held in memory. */
export function verifyBytes(
  bytes: Uint8Array,
  expected: Expected,
  what: string,
): void {
  const digester = createDigester(digestAlgorithm(expected.digest));
  digester.update(bytes);
  checkDigest(digester, expected, what);
}
