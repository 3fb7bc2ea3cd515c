/**
 * The one copy engine. `copyGraph` copies the content-addressed graphs of a
 * set of images from any store to any store: save is registry → cache and
 * cache → archive, load is archive → registry, mirroring is registry →
 * registry. It walks each graph from its root, copies children before their
 * parent (or, for sequential stores, metadata before layers), skips what the
 * destination already holds, copies every blob once even when many images —
 * or one image twice — reference it, and verifies every byte on the way.
 * @module
 */
import { AirgapError, errorMessage } from "../errors.ts";
import { DigestMismatchError, InterruptedError } from "../transport/errors.ts";
import { observeBytes } from "./streams.ts";
import { type Descriptor, MAX_MANIFEST_SIZE, parseManifest, storedChildren } from "../oci/manifest.ts";
import { isManifestType } from "../oci/media.ts";
import { type PushOutcome, readAll, type Store } from "../store/types.ts";

/** One image to copy. */
export interface CopyRoot {
  /** Repository in the source store. */
  srcRepo: string;
  /** Repository in the destination store. */
  dstRepo: string;
  /** The root manifest or index. */
  descriptor: Descriptor;
  /** Tags to point at the root in the destination. */
  tags: string[];
  /** How to name the image in messages. */
  label: string;
}

/** Progress and outcome events. */
export type CopyEvent =
  | { type: "blob"; descriptor: Descriptor; outcome: PushOutcome; label: string }
  | { type: "manifest"; descriptor: Descriptor; outcome: PushOutcome; label: string }
  | { type: "bytes"; bytes: number; descriptor: Descriptor; label: string }
  | { type: "image"; label: string; descriptor: Descriptor };

/** What {@link copyGraph} needs. */
export interface CopyOptions {
  /** Where the content is read from. */
  src: Store;
  /** Where it is copied to. */
  dst: Store;
  /** The images to copy; blobs they share are copied once. */
  roots: CopyRoot[];
  /** Where to read manifest bytes (default: the source). */
  readManifest?: (repo: string, desc: Descriptor) => Promise<Uint8Array>;
  /** Concurrent blob transfers (default: the smaller preference of the two stores). */
  concurrency?: number;
  /** Hears progress (bytes) and each blob, manifest and image as it is done. */
  onEvent?: (event: CopyEvent) => void;
  /**
   * Copy every image that can be copied: a failure fails only the images that
   * need what failed (they are listed in {@link CopyResult.failed}) instead of
   * stopping the copy.
   */
  keepGoing?: boolean;
  /** Cancels the copy: nothing new starts, transfers in flight are aborted; it rejects with an InterruptedError. */
  signal?: AbortSignal;
}

/** Totals of a copy. */
export interface CopyResult {
  /** Blobs (configs and layers) by how their push ended. */
  blobs: Record<PushOutcome, number>;
  /** Manifests and indexes by how their push ended. */
  manifests: Record<PushOutcome, number>;
  /** Bytes read from the source for blobs that were stored. */
  bytes: number;
  /** With `keepGoing`: the roots that could not be copied, each with its first failure. */
  failed: { root: CopyRoot; error: unknown }[];
}

/**
 * A small counting semaphore. Tasks with a lower `priority` number start
 * first (configs before layers, so sequential consumers never wait on them).
 */
export function limiter(concurrency: number) {
  let active = 0;
  const waiting: { priority: number; start: () => void }[] = [];
  return async <T>(task: () => Promise<T>, priority = 1): Promise<T> => {
    if (active >= concurrency) {
      // Wait for a finishing task to hand over its slot (`active` already counts it): a slot
      // freed and then taken would let a caller arriving in between make one too many.
      await new Promise<void>((start) => {
        const at = waiting.findIndex((w) => w.priority > priority);
        waiting.splice(at === -1 ? waiting.length : at, 0, { priority, start });
      });
    } else {
      active++;
    }
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next.start();
      else active--;
    }
  };
}

interface Node {
  descriptor: Descriptor;
  srcRepo: string;
  dstRepo: string;
  label: string;
  bytes?: Uint8Array;
  isConfig: boolean;
}

/** Copy the graphs of `roots` from `src` to `dst`. */
export async function copyGraph(options: CopyOptions): Promise<CopyResult> {
  const { src, dst, roots, signal } = options;
  const result: CopyResult = {
    blobs: { pushed: 0, mounted: 0, exists: 0 },
    manifests: { pushed: 0, mounted: 0, exists: 0 },
    bytes: 0,
    failed: [],
  };
  const emit = options.onEvent ?? (() => {});
  const limit = limiter(Math.max(1, options.concurrency ?? Math.min(src.concurrency, dst.concurrency)));
  const readManifest = options.readManifest ??
    (async (repo: string, desc: Descriptor) =>
      await readAll(await src.fetch(repo, desc, { signal }), MAX_MANIFEST_SIZE));
  let failure: unknown;
  /** Errors already named after their image (a parent sees its child's failure again). */
  const named = new WeakSet<object>();
  const interrupted = () => new InterruptedError("interrupted", {}, { cause: signal?.reason });

  const fail = (label: string, e: unknown): never => {
    let error: unknown;
    if (signal?.aborted) error = e instanceof InterruptedError ? e : interrupted();
    else if (e instanceof AirgapError && (named.has(e) || e.context.image === label)) error = e;
    else if (e instanceof AirgapError) error = e.withMessage(`${label}: ${e.message}`, { image: label, ...e.context });
    else error = new AirgapError(`${label}: ${errorMessage(e)}`, { image: label }, { cause: e });
    named.add(error as object);
    if (!options.keepGoing) failure ??= error;
    throw error;
  };
  const check = () => {
    if (failure) throw failure;
    if (signal?.aborted) throw (failure = interrupted());
  };

  const copyBlob = (node: Node) =>
    limit(async () => {
      check();
      const { descriptor: desc } = node;
      const push = () =>
        dst.push(node.dstRepo, desc, async () => {
          const stream = await src.fetch(node.srcRepo, desc, { signal });
          return observeBytes(stream, (bytes) => {
            result.bytes += bytes;
            emit({ type: "bytes", bytes, descriptor: desc, label: node.label });
          });
        }, { signal });
      let outcome: PushOutcome;
      try {
        outcome = await push();
      } catch (e) {
        // Bytes that did not hash right are fetched once more from scratch, then it fails.
        if (!(e instanceof DigestMismatchError) || signal?.aborted) throw e;
        outcome = await push();
      }
      result.blobs[outcome]++;
      emit({ type: "blob", descriptor: desc, outcome, label: node.label });
    }, node.isConfig ? 0 : 1).catch((e) => fail(node.label, e));

  const pushManifest = async (node: Node) => {
    check();
    const outcome = await dst.push(node.dstRepo, node.descriptor, node.bytes!, { signal });
    result.manifests[outcome]++;
    emit({ type: "manifest", descriptor: node.descriptor, outcome, label: node.label });
  };

  const loadManifest = async (node: Node) => {
    try {
      node.bytes ??= await readManifest(node.srcRepo, node.descriptor);
      return parseManifest(node.bytes, node.descriptor.mediaType, `${node.label}@${node.descriptor.digest}`);
    } catch (e) {
      return fail(node.label, e);
    }
  };

  const tagRoot = async (root: CopyRoot, node: Node) => {
    for (const tag of root.tags) {
      check();
      await dst.tag(root.dstRepo, tag, root.descriptor, node.bytes!, { signal });
    }
    emit({ type: "image", label: root.label, descriptor: root.descriptor });
  };

  // Children first: a parent is pushed only after all of its children.
  const inFlight = new Map<string, Promise<void>>();
  const copyNode = (node: Node): Promise<void> => {
    const key = `${node.dstRepo}@${node.descriptor.digest}`;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = copyNodeOnce(node);
      inFlight.set(key, pending);
    }
    return pending;
  };
  const copyNodeOnce = async (node: Node): Promise<void> => {
    check();
    if (!isManifestType(node.descriptor.mediaType)) return await copyBlob(node);
    if (dst.verifiesGraphs) {
      const present = await dst.exists(node.dstRepo, node.descriptor, { signal }).catch((e) => fail(node.label, e));
      if (present) {
        result.manifests.exists++;
        emit({ type: "manifest", descriptor: node.descriptor, outcome: "exists", label: node.label });
        return;
      }
    }
    const manifest = await loadManifest(node);
    const settled = await Promise.allSettled(
      storedChildren(manifest).map((child, i) =>
        copyNode({ ...node, descriptor: child, bytes: undefined, isConfig: manifest.kind === "manifest" && i === 0 })
      ),
    );
    const rejected = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
    if (rejected) throw rejected.reason;
    await pushManifest(node).catch((e) => fail(node.label, e));
  };

  const outcomes = await Promise.allSettled(roots.map(async (root) => {
    const node: Node = { ...root, isConfig: false };
    await copyNode(node);
    if (!node.bytes) node.bytes = await readManifest(root.srcRepo, root.descriptor);
    await tagRoot(root, node).catch((e) => fail(root.label, e));
  }));
  if (signal?.aborted) throw failure instanceof InterruptedError ? failure : interrupted();
  if (options.keepGoing) {
    outcomes.forEach((o, i) => o.status === "rejected" && result.failed.push({ root: roots[i], error: o.reason }));
    return result;
  }
  const firstError = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult | undefined;
  if (firstError) throw failure ?? firstError.reason;
  return result;
}
