/**
 * The one interface every place content can live implements: a registry,
 * the local cache, an archive, the embedded server's backing store. The copy
 * engine only ever talks to this.
 * @module
 */
import type { Descriptor } from "../oci/manifest.ts";
import { readBounded } from "../limits.ts";

/** How a push ended. */
export type PushOutcome = "pushed" | "mounted" | "exists";

/** Content handed to {@link Store.push}: bytes in memory, or a stream opened only if needed. */
export type Content = Uint8Array | (() => Promise<ReadableStream<Uint8Array>>);

/** A manifest resolved from a name: its descriptor and exact bytes. */
export interface ResolvedManifest {
  /** Media type, digest and size of the manifest. */
  descriptor: Descriptor;
  /** The manifest's exact bytes (they hash to `descriptor.digest`). */
  bytes: Uint8Array;
}

/**
 * Options every store operation takes: `signal` cancels it (Ctrl-C, or an
 * embedding program), including transfers in flight.
 */
export interface StoreOptions {
  /** Stops the operation; it then rejects (an InterruptedError for network stores). */
  signal?: AbortSignal;
}

/**
 * A content-addressed store. `repo` is the repository path inside the store
 * (`rancher/rancher`); stores that are not per-repository ignore it.
 */
export interface Store {
  /** A short description for messages: "registry 127.0.0.1:5000", "cache ~/.cache/airgap". */
  readonly description: string;
  /** Does the store hold this content (in this repository)? */
  exists(repo: string, desc: Descriptor, options?: StoreOptions): Promise<boolean>;
  /** Open content as a stream that errors unless it matches `desc` exactly. */
  fetch(repo: string, desc: Descriptor, options?: StoreOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * Store content under `desc`, verifying it. Manifests are pushed as bytes;
   * a store may skip opening the stream (already present, mounted).
   */
  push(repo: string, desc: Descriptor, content: Content, options?: StoreOptions): Promise<PushOutcome>;
  /** Point a tag at a manifest already pushed (same bytes). */
  tag(repo: string, tag: string, desc: Descriptor, bytes: Uint8Array, options?: StoreOptions): Promise<void>;
  /** Resolve a tag or digest to a manifest. */
  resolve(repo: string, reference: string, options?: StoreOptions): Promise<ResolvedManifest>;
  /** Preferred number of concurrent transfers into or out of this store. */
  readonly concurrency: number;
  /**
   * True when the store refuses a manifest whose children are missing
   * (registries do), so a manifest it holds stands for a complete graph.
   */
  readonly verifiesGraphs?: boolean;
  /**
   * True when `tag` stores the manifest itself, not just a name for it (a
   * registry's PUT by tag carries the bytes): a root that is only tagged, not
   * referenced by another manifest, needs no push by digest before its tag.
   */
  readonly tagStoresManifest?: boolean;
  /**
   * Optional: open `length` bytes of content starting at `offset`, for HTTP
   * `Range` requests. The bytes are not verified (a part cannot be checked
   * against a digest); callers check `offset + length <= desc.size`.
   */
  fetchRange?(
    repo: string,
    desc: Descriptor,
    offset: number,
    length: number,
    options?: StoreOptions,
  ): Promise<ReadableStream<Uint8Array>>;
  /** Release resources. */
  close?(): Promise<void>;
}

/** Read a whole (small) piece of content into memory, refusing more than `limit` bytes. */
export async function readAll(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array> {
  const body = await readBounded(stream, limit);
  if (body.over) throw new Error(`content larger than ${limit} bytes`);
  return body.bytes();
}

/** A stream over bytes already in memory. */
export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** Open {@link Content} as a stream. */
export function openContent(content: Content): Promise<ReadableStream<Uint8Array>> {
  return content instanceof Uint8Array ? Promise.resolve(bytesStream(content)) : content();
}
