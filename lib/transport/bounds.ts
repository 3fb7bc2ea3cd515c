/**
 * What a request costs decides which bound it waits under, in one place:
 * blob bodies cost memory, disk and the registry's bandwidth, so few run at
 * once (~6 per host); metadata requests (HEAD and GET of manifests, tag
 * checks, token fetches, existence probes, upload starts and finishes) cost a
 * round trip and almost nothing else, so many run at once (32 per host).
 * A small blob body (its descriptor's size at most {@link SMALL_BODY_MAX},
 * 1 MiB: a config, a small layer) costs a round trip, not memory, so its
 * download waits under the metadata bound, not behind the body slots; the
 * copy engine likewise runs small blobs under a width of their own
 * ({@link smallBody}). Big bodies never go beyond the body bound.
 * Downloads and uploads have bounds of their own: an upload whose body
 * streams from a download holds its upload slot until the registry answers,
 * and the download it waits on (a resume after a reset included) only ever
 * needs a download slot, which is held from sending to the response headers —
 * so no slot is held while waiting on a request that needs a slot of the same
 * bound, and a same-host mirror cannot deadlock.
 * @module
 */
import { limiter } from "./limiter.ts";

/** The three kinds of request a host bound tells apart. */
export type RequestClass = "metadata" | "download" | "upload";

/** The bounds of one host. */
export interface HostBounds {
  /** Metadata requests in flight at once (default {@link DEFAULT_METADATA_CONCURRENCY}). */
  metadata: number;
  /** Blob downloads, and blob uploads, in flight at once each (default 6). */
  bodies: number;
}

/** Metadata requests in flight to one host at once, unless configured. */
export const DEFAULT_METADATA_CONCURRENCY = 32;

/** The largest blob body that costs a round trip rather than memory: 1 MiB. */
export const SMALL_BODY_MAX = 1024 * 1024;

/** Is a body of `size` bytes (a descriptor's size; unknown is not) small? */
export function smallBody(size: number | undefined): boolean {
  return size !== undefined && size >= 0 && size <= SMALL_BODY_MAX;
}

/**
 * Which bound a request waits under: a GET of a blob is a download (metadata
 * when its expected `size` is {@link smallBody small}), a PUT or PATCH
 * carrying a blob body is an upload, everything else is metadata. Uploads
 * stay uploads whatever their size: an upload holds its slot while its body
 * streams from a download, which must never need a slot of the same bound.
 */
export function requestClass(method: string, path: string, hasBody: boolean, size?: number): RequestClass {
  if (method === "GET" && /\/blobs\/(?!uploads\/)/.test(path)) return smallBody(size) ? "metadata" : "download";
  if ((method === "PUT" || method === "PATCH") && hasBody && !/\/manifests\//.test(path)) return "upload";
  return "metadata";
}

/** The slots of one host: `run(kind, task)` holds a slot of that kind while `task` runs. */
export interface HostSlots {
  run<T>(kind: RequestClass, task: () => Promise<T>): Promise<T>;
  readonly bounds: Readonly<HostBounds>;
}

/** Slots for one host, one limiter per class. */
export function hostSlots(bounds: HostBounds): HostSlots {
  const limits: Record<RequestClass, ReturnType<typeof limiter>> = {
    metadata: limiter(Math.max(1, bounds.metadata)),
    download: limiter(Math.max(1, bounds.bodies)),
    upload: limiter(Math.max(1, bounds.bodies)),
  };
  return { run: (kind, task) => limits[kind](task), bounds };
}
