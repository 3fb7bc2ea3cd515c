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
import { limiter } from "../transport/limiter.ts";
import { smallBody } from "../transport/bounds.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { DigestMismatchError, InterruptedError } from "../error_kinds.ts";
import { observeBytes } from "../format/streams.ts";
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
  /** Where this image is read from (default: the copy's `src`): one copy may gather images from several sources. */
  src?: Store;
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
  /**
   * Concurrent transfers of small blobs (`smallBody`, lib/transport/bounds.ts),
   * beside `concurrency`: they cost a round trip, not memory (default: none;
   * they share `concurrency` with the others).
   */
  smallConcurrency?: number;
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

interface Node {
  src: Store;
  descriptor: Descriptor;
  srcRepo: string;
  dstRepo: string;
  label: string;
  bytes?: Uint8Array;
  isConfig: boolean;
  /** A tagged root whose tag PUT may carry it (see {@link Entry}). */
  tagged?: boolean;
}

/**
 * One node being copied into one destination repository. A tagged root on a
 * store whose tag stores the manifest is not pushed by digest: its first tag
 * PUT carries it (one manifest PUT per image, not two). Only while no other
 * manifest references it: a walk that reaches it as a child clears `defer`
 * (the push by digest happens as usual) or, when the node already finished
 * without it, pushes it by digest then (`forced`) — a parent still waits for
 * that acknowledgement before its own PUT.
 */
interface Entry {
  /** A deferred root as its walk saw it (its bytes, for a push by digest later); dropped otherwise: memory. */
  node?: Node;
  done: Promise<void>;
  /** The digest push may still be left to the tag. */
  defer: boolean;
  /** The node finished without a push by digest: its first tag PUT stores it. */
  skipped?: boolean;
  /** The push by digest a later parent asked for. */
  forced?: Promise<void>;
  /** The first tag PUT stored it (counted once). */
  tagged?: boolean;
}

/**
 * How many roots are walked at once: enough to keep `concurrency` blob
 * transfers and the metadata requests before them (existence probes, up to
 * 32 per host) busy, few enough that the walks waiting for a blob slot stay
 * small. Every root started at once held its manifest, parsed graph, queued
 * transfer closures and promise chain until its blobs drained: ~9 KB per
 * image, 26 MB of heap at the start of a 2,848-image save (issue 24).
 * A root's slot is taken before its walk and held until its graph is in;
 * walks never wait for a slot, so a root awaiting a node another root
 * started cannot deadlock.
 */
export function rootsInFlight(concurrency: number): number {
  return Math.max(64, concurrency * 8);
}

/** Copy the graphs of `roots` from `src` to `dst`. */
export async function copyGraph(options: CopyOptions): Promise<CopyResult> {
  return await new GraphCopy(options).run();
}

/**
 * One copy: children before parents, each node once per destination
 * repository (however many roots share it), blobs under the limiter
 * (configs first). The order is a guarantee, not a tendency: a manifest is
 * pushed only once the promise of every child has resolved, i.e. once the
 * destination acknowledged it (pushed, mounted, or proven present); a child
 * that another root's walk has in flight is awaited like one this walk
 * started. A repository's tags come last, once every graph of that
 * repository is in, one at a time: a tag is a manifest PUT too, and
 * distribution rewrites the tagged manifest's links in place (truncate, then
 * write), so a PUT of an index that checks the same manifest meanwhile reads
 * a half-written link and fails with `DIGEST_INVALID` or
 * `MANIFEST_BLOB_UNKNOWN` — the failure of an index whose child is also
 * another image's root. So nothing is written into a repository twice while
 * its graphs are copied. A tagged root no other manifest references is not
 * PUT by digest at all where the store's tag carries the manifest: its first
 * tag PUT stores it ({@link Entry}). Without `keepGoing` the first failure stops the
 * rest: nothing new starts and transfers in flight are aborted (their
 * signal), so a failed load does not go on uploading for minutes.
 */
class GraphCopy {
  readonly result: CopyResult = {
    blobs: { pushed: 0, mounted: 0, exists: 0 },
    manifests: { pushed: 0, mounted: 0, exists: 0 },
    bytes: 0,
    failed: [],
  };
  readonly #emit: (event: CopyEvent) => void;
  readonly #limit: ReturnType<typeof limiter>;
  /** Roots whose walk is under way (see {@link rootsInFlight}). */
  readonly #roots: ReturnType<typeof limiter>;
  /** Small blobs, when they have a width of their own ({@link CopyOptions.smallConcurrency}). */
  readonly #smallLimit: ReturnType<typeof limiter> | undefined;
  /** The caller's signal: when it aborts, the copy rejects with an InterruptedError. */
  readonly #signal: AbortSignal | undefined;
  /** Aborted by the first failure (without keepGoing): cancels the transfers in flight. */
  readonly #cancel = new AbortController();
  /** What every store call gets: the caller's signal or the first failure, whichever comes first. */
  readonly #ops: AbortSignal;
  /** Errors already named after their image (a parent sees its child's failure again). */
  readonly #named = new WeakSet<object>();
  readonly #inFlight = new Map<string, Entry>();
  #failure: unknown;

  constructor(readonly options: CopyOptions) {
    const { src, dst } = options;
    this.#signal = options.signal;
    this.#ops = this.#signal ? AbortSignal.any([this.#signal, this.#cancel.signal]) : this.#cancel.signal;
    this.#emit = options.onEvent ?? (() => {});
    const concurrency = Math.max(1, options.concurrency ?? Math.min(src.concurrency, dst.concurrency));
    this.#limit = limiter(concurrency);
    this.#roots = limiter(rootsInFlight(concurrency));
    this.#smallLimit = options.smallConcurrency ? limiter(Math.max(1, options.smallConcurrency)) : undefined;
  }

  async #readManifest(node: Pick<Node, "src" | "srcRepo" | "descriptor">): Promise<Uint8Array> {
    const { readManifest } = this.options;
    if (readManifest) return await readManifest(node.srcRepo, node.descriptor);
    return await readAll(await node.src.fetch(node.srcRepo, node.descriptor, { signal: this.#ops }), MAX_MANIFEST_SIZE);
  }

  async run(): Promise<CopyResult> {
    const { roots, keepGoing } = this.options;
    const outcomes = await this.#copyAndTag();
    if (this.#signal?.aborted) throw this.#failure instanceof InterruptedError ? this.#failure : this.#interrupted();
    if (keepGoing) {
      outcomes.forEach((o, i) =>
        o.status === "rejected" && this.result.failed.push({ root: roots[i], error: o.reason })
      );
      return this.result;
    }
    const firstError = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult | undefined;
    if (firstError) throw this.#failure ?? firstError.reason;
    return this.result;
  }

  #interrupted() {
    return new InterruptedError("interrupted", {}, { cause: this.#signal?.reason });
  }

  #fail(label: string, e: unknown): never {
    let error: unknown;
    if (this.#signal?.aborted) error = e instanceof InterruptedError ? e : this.#interrupted();
    else if (e instanceof AirgapError && (this.#named.has(e) || e.context.image === label)) error = e;
    else if (e instanceof AirgapError) error = e.withMessage(`${label}: ${e.message}`, { image: label, ...e.context });
    else error = new AirgapError(`${label}: ${errorMessage(e)}`, { image: label }, { cause: e });
    this.#named.add(error as object);
    if (!this.options.keepGoing && this.#failure === undefined) {
      this.#failure = error;
      this.#cancel.abort(error);
    }
    throw error;
  }

  #check() {
    if (this.#failure) throw this.#failure;
    if (this.#signal?.aborted) throw (this.#failure = this.#interrupted());
  }

  /** A root's graph, children first; its manifest bytes for the tags. */
  async #copyRoot(root: CopyRoot): Promise<Uint8Array> {
    const tagged = root.tags.length > 0 && this.options.dst.tagStoresManifest === true;
    const node: Node = { ...root, src: root.src ?? this.options.src, isConfig: false, tagged };
    await this.#copyNode(node, false);
    if (!root.tags.length) return new Uint8Array();
    return node.bytes ?? await this.#readManifest(node).catch((e) => this.#fail(root.label, e));
  }

  /**
   * Copy every root; tag the roots of a repository once every graph of that
   * repository is in (only its own roots write into it), one tag at a time.
   * Repositories go at once, so an image of its own repository is done (and
   * reported) as soon as its graph is.
   */
  async #copyAndTag(): Promise<PromiseSettledResult<void>[]> {
    const { roots } = this.options;
    const copies = roots.map((root) => this.#roots(() => this.#copyRoot(root)));
    const byRepo = new Map<string, number[]>();
    roots.forEach((root, i) => byRepo.set(root.dstRepo, [...byRepo.get(root.dstRepo) ?? [], i]));
    const outcomes: PromiseSettledResult<void>[] = [];
    await Promise.all([...byRepo.values()].map(async (indexes) => {
      const copied = await Promise.allSettled(indexes.map((i) => copies[i]));
      for (const [k, i] of indexes.entries()) {
        const c = copied[k];
        if (c.status === "rejected") {
          outcomes[i] = c;
          continue;
        }
        outcomes[i] = await this.#tagRoot(roots[i], c.value).then(
          () => ({ status: "fulfilled", value: undefined }) as const,
          (e) => ({ status: "rejected", reason: this.#caught(roots[i].label, e) }) as const,
        );
      }
    }));
    return outcomes;
  }

  /** {@link #fail} without the throw. */
  #caught(label: string, e: unknown): unknown {
    try {
      return this.#fail(label, e);
    } catch (error) {
      return error;
    }
  }

  #copyBlob(node: Node): Promise<void> {
    const { dst } = this.options;
    const signal = this.#ops;
    const limit = this.#smallLimit && smallBody(node.descriptor.size) ? this.#smallLimit : this.#limit;
    return limit(async () => {
      this.#check();
      const { descriptor: desc } = node;
      const push = () =>
        dst.push(node.dstRepo, desc, async () => {
          const stream = await node.src.fetch(node.srcRepo, desc, { signal });
          return observeBytes(stream, (bytes) => {
            this.result.bytes += bytes;
            this.#emit({ type: "bytes", bytes, descriptor: desc, label: node.label });
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
      this.result.blobs[outcome]++;
      this.#emit({ type: "blob", descriptor: desc, outcome, label: node.label });
    }, node.isConfig ? 0 : 1).catch((e) => this.#fail(node.label, e));
  }

  async #pushManifest(node: Node) {
    this.#check();
    const outcome = await this.options.dst.push(node.dstRepo, node.descriptor, node.bytes!, { signal: this.#ops });
    this.result.manifests[outcome]++;
    this.#emit({ type: "manifest", descriptor: node.descriptor, outcome, label: node.label });
  }

  async #loadManifest(node: Node) {
    try {
      node.bytes ??= await this.#readManifest(node);
      return parseManifest(node.bytes, node.descriptor.mediaType, `${node.label}@${node.descriptor.digest}`);
    } catch (e) {
      return this.#fail(node.label, e);
    }
  }

  async #tagRoot(root: CopyRoot, bytes: Uint8Array) {
    const entry = this.#inFlight.get(`${root.dstRepo}@${root.descriptor.digest}`);
    for (const tag of root.tags) {
      this.#check();
      await this.options.dst.tag(root.dstRepo, tag, root.descriptor, bytes, { signal: this.#ops });
      if (entry?.skipped && !entry.forced && !entry.tagged) {
        entry.tagged = true;
        delete entry.node;
        this.result.manifests.pushed++;
        this.#emit({ type: "manifest", descriptor: root.descriptor, outcome: "pushed", label: root.label });
      }
    }
    this.#emit({ type: "image", label: root.label, descriptor: root.descriptor });
  }

  /**
   * Children first: a parent is pushed only after all of its children. The
   * one promise per `repo@digest` is what every parent of a shared node
   * awaits, so "already being copied" means "wait for it", never "skip it".
   * A parent's wait includes the push by digest of a root that was left to
   * its tag ({@link Entry}).
   */
  #copyNode(node: Node, asChild = true): Promise<void> {
    const key = `${node.dstRepo}@${node.descriptor.digest}`;
    let entry = this.#inFlight.get(key);
    if (!entry) {
      const defer = !asChild && node.tagged === true;
      entry = { node: defer ? node : undefined, done: Promise.resolve(), defer };
      this.#inFlight.set(key, entry);
      entry.done = this.#copyNodeOnce(node, entry);
    }
    if (!asChild || !entry.defer) return entry.done;
    entry.defer = false;
    if (!entry.skipped) return entry.done; // still being copied: it will push by digest itself
    const pending = entry;
    return pending.forced ??= pending.done.then(() => this.#pushManifest(pending.node!))
      .catch((e) => this.#fail(pending.node!.label, e)).finally(() => delete pending.node);
  }

  async #copyNodeOnce(node: Node, entry: Entry): Promise<void> {
    this.#check();
    if (!isManifestType(node.descriptor.mediaType)) return await this.#copyBlob(node);
    const { dst } = this.options;
    if (dst.verifiesGraphs) {
      const present = await dst.exists(node.dstRepo, node.descriptor, { signal: this.#ops })
        .catch((e) => this.#fail(node.label, e));
      if (present) {
        delete entry.node;
        this.result.manifests.exists++;
        this.#emit({ type: "manifest", descriptor: node.descriptor, outcome: "exists", label: node.label });
        return;
      }
    }
    const manifest = await this.#loadManifest(node);
    const settled = await Promise.allSettled(
      storedChildren(manifest).map((child, i) =>
        this.#copyNode({
          ...node,
          descriptor: child,
          bytes: undefined,
          isConfig: manifest.kind === "manifest" && i === 0,
        })
      ),
    );
    const rejected = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
    if (rejected) throw rejected.reason;
    if (entry.defer) {
      entry.skipped = true; // its first tag PUT stores it
      return;
    }
    delete entry.node;
    await this.#pushManifest(node).catch((e) => this.#fail(node.label, e));
  }
}
