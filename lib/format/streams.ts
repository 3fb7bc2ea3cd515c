/**
 * Byte streams that read straight into the consumer's buffer (BYOB). On this
 * kind of machine fresh memory is expensive (every new page faults), so the
 * hot paths — cache and archive files into archives, registries and the
 * server — reuse one buffer per transfer instead of allocating per chunk.
 * Verification and progress happen inside the stream, so nothing in between
 * turns a byte stream back into a chunk-allocating one.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { DigestMismatchError } from "../error_kinds.ts";
import {
  asVerified,
  checkDigest,
  createDigester,
  digestAlgorithm,
  type Expected,
  isVerified,
  type VerifiedStream,
} from "../oci/digest.ts";
import { writeAll } from "../fsutil.ts";

/** Chunk size when a consumer does not bring its own buffer. */
export const AUTO_CHUNK = 256 * 1024;

/**
 * The buffer to allocate for content of `size` bytes: no more than it needs
 * (hundreds of tiny blobs must not each cost a 256 KiB buffer), at most
 * {@link AUTO_CHUNK}.
 */
export function chunkFor(size: number | undefined): number {
  return size === undefined || !Number.isFinite(size) ? AUTO_CHUNK : Math.max(1, Math.min(AUTO_CHUNK, size));
}

/**
 * One of our byte streams: consumers may read it with their own buffer
 * (BYOB); `chunk` is what it allocates when they bring none. Tell one by
 * type (`instanceof ByteStream`).
 */
export class ByteStream extends ReadableStream<Uint8Array> {
  /** A byte stream over `source`, allocating `chunk` bytes per read when the consumer brings no buffer. */
  constructor(source: Omit<UnderlyingByteSource, "type" | "autoAllocateChunkSize">, readonly chunk: number) {
    super({ ...source, type: "bytes", autoAllocateChunkSize: chunk } as UnderlyingByteSource as UnderlyingSource<
      Uint8Array
    >);
  }
}

/** A run of bytes in a file: `length` undefined means to the end of the file. */
export interface FilePiece {
  path: string;
  offset: number;
  length?: number;
}

/** Options of {@link piecesByteStream} and {@link fileByteStream}. */
export interface FileStreamOptions {
  offset?: number;
  /** Bytes to read (default: to the end of the file). A short file is an error. */
  length?: number;
  /** Verify the content while reading; the stream errors at the end on a mismatch. */
  expected?: Expected;
  /** Names the content in errors. */
  what?: string;
  /**
   * Hears a failure (a short file, a digest mismatch, an I/O error) before the consumer does, and is waited
   * for: the cache drops an entry proven bad before a retry can read it again, and may return the error the
   * consumer gets instead (a typed one).
   */
  onError?: (e: unknown) => unknown;
}

/**
 * Stream runs of bytes from files one after another (a blob inside one file,
 * or across the parts of a split archive) as a byte stream, optionally
 * verified. Each file is opened when reached and closed when done.
 */
export function piecesByteStream(
  pieces: FilePiece[],
  options: Pick<FileStreamOptions, "expected" | "what" | "onError"> = {},
): ByteStream {
  const { expected } = options;
  const what = options.what ?? pieces[0]?.path ?? "stream";
  const digester = expected ? createDigester(digestAlgorithm(expected.digest)) : undefined;
  let index = 0;
  let file: Deno.FsFile | undefined;
  let left = pieces[0]?.length ?? Infinity;
  const close = () => {
    try {
      file?.close();
    } catch { /* already closed */ }
    file = undefined;
  };
  const finish = (controller: ReadableByteStreamController, request: ReadableStreamBYOBRequest) => {
    close();
    if (digester) checkDigest(digester, expected!, what);
    controller.close();
    request.respond(0);
  };
  const known = pieces.every((p) => p.length !== undefined)
    ? pieces.reduce((sum, p) => sum + p.length!, 0)
    : expected?.size;
  const stream = new ByteStream({
    async pull(controller: ReadableByteStreamController) {
      const request = controller.byobRequest!;
      try {
        while (left === 0 && index < pieces.length) {
          close();
          index++;
          left = pieces[index]?.length ?? Infinity;
        }
        if (index >= pieces.length) return finish(controller, request);
        const piece = pieces[index];
        if (!file) {
          file = await Deno.open(piece.path, { read: true });
          if (piece.offset > 0) await file.seek(piece.offset, Deno.SeekMode.Start);
        }
        const requested = request.view!;
        const view = new Uint8Array(requested.buffer, requested.byteOffset, Math.min(requested.byteLength, left));
        const n = await file.read(view);
        if (n === null || n === 0) {
          // Only a last piece may run to the end of its file.
          if (piece.length === undefined && index === pieces.length - 1) return finish(controller, request);
          throw new AirgapError(`${what}: unexpected end of ${piece.path} (${left} bytes missing)`, { op: "read" });
        }
        digester?.update(view.subarray(0, n));
        left -= n;
        request.respond(n);
      } catch (e) {
        close();
        controller.error((await options.onError?.(e)) ?? e);
      }
    },
    cancel() {
      close();
    },
  }, chunkFor(known));
  return expected ? asVerified(stream, expected) : stream;
}

/** Stream a file (or a range of it) as a byte stream, optionally verified. */
export function fileByteStream(path: string, options: FileStreamOptions = {}): ByteStream {
  return piecesByteStream([{ path, offset: options.offset ?? 0, length: options.length }], options);
}

/**
 * Watch the bytes going through a stream (progress) without giving up BYOB
 * reads or verification: the result is a {@link VerifiedStream} when the
 * input is one (it errors when the input does). Other streams get a plain
 * pass-through.
 */
export function observeBytes(
  stream: ReadableStream<Uint8Array>,
  onChunk: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const verified = isVerified(stream) ? stream.verified : undefined;
  if (!(stream instanceof ByteStream)) {
    if (isVerified(stream) && stream.listen) {
      stream.listen(onChunk);
      return stream;
    }
    const out = stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onChunk(chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
    );
    return verified ? asVerified(out, verified) : out;
  }
  const reader = stream.getReader({ mode: "byob" });
  const out = new ByteStream({
    async pull(controller: ReadableByteStreamController) {
      const request = controller.byobRequest!;
      const requested = request.view!;
      try {
        const { done, value } = await reader.read(
          new Uint8Array(requested.buffer, requested.byteOffset, requested.byteLength),
        );
        if (done) {
          controller.close();
          // The view came back (transferred); answer the request with it.
          if (value) request.respondWithNewView(value);
          else request.respond(0);
          return;
        }
        onChunk(value.byteLength);
        request.respondWithNewView(value);
      } catch (e) {
        controller.error(e);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, stream.chunk);
  return verified ? asVerified(out, verified) : out;
}

/**
 * Hand a whole stream to `put` in large pieces through one reusable buffer
 * of `bufferSize` bytes — the one stream-draining loop of the file writers
 * (the cache, volumes, extracted files). Our byte streams are read straight
 * into the buffer (BYOB) and it is handed over full; small chunks of other
 * streams (network) are gathered into at most 1 MiB, large ones passed as
 * they are. `put` must be done with a piece before it returns (the buffer
 * is reused). Returns the bytes read.
 */
export async function pumpStream(
  stream: ReadableStream<Uint8Array>,
  bufferSize: number,
  put: (bytes: Uint8Array) => Promise<void>,
): Promise<number> {
  let total = 0;
  if (stream instanceof ByteStream) {
    const reader = stream.getReader({ mode: "byob" });
    let buffer: ArrayBuffer = new ArrayBuffer(Math.max(1, bufferSize));
    let used = 0;
    try {
      for (;;) {
        if (used === buffer.byteLength) {
          await put(new Uint8Array(buffer, 0, used));
          used = 0;
        }
        const { done, value } = await reader.read(new Uint8Array(buffer, used, buffer.byteLength - used));
        if (value) buffer = value.buffer as ArrayBuffer;
        if (done) break;
        used += value.byteLength;
        total += value.byteLength;
      }
      if (used > 0) await put(new Uint8Array(buffer, 0, used));
    } finally {
      reader.releaseLock();
    }
    return total;
  }
  const buffer = new Uint8Array(Math.max(1, Math.min(bufferSize, 1024 * 1024)));
  let used = 0;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (chunk.byteLength >= buffer.byteLength) {
      if (used > 0) await put(buffer.subarray(0, used));
      used = 0;
      await put(chunk);
      continue;
    }
    if (used + chunk.byteLength > buffer.byteLength) {
      await put(buffer.subarray(0, used));
      used = 0;
    }
    buffer.set(chunk, used);
    used += chunk.byteLength;
  }
  if (used > 0) await put(buffer.subarray(0, used));
  return total;
}

/** Write a whole stream to a file ({@link pumpStream}). Returns bytes written. */
export function writeStreamToFile(
  stream: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
  bufferSize = 4 * 1024 * 1024,
): Promise<number> {
  return pumpStream(stream, bufferSize, (bytes) => writeAll(file, bytes));
}

/** One stream after another (default reader semantics). */
export function concatStreams(streams: ReadableStream<Uint8Array>[]): ReadableStream<Uint8Array> {
  let index = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (index >= streams.length) {
          controller.close();
          return;
        }
        reader ??= streams[index].getReader();
        const { done, value } = await reader.read();
        if (!done) {
          controller.enqueue(value);
          return;
        }
        reader.releaseLock();
        reader = undefined;
        index++;
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
      for (const s of streams.slice(index + 1)) await s.cancel(reason).catch(() => {});
    },
  });
}

/**
 * A verified byte stream over a stream of small chunks (a fetch body):
 * consumers that bring a buffer (BYOB) get it filled from several chunks and
 * hashed once per fill, instead of paying per network chunk for a hash
 * call, a transform step and a copy. Errors at the end unless the content
 * matches `expected`; `onBytes` hears progress.
 */
export function verifiedByteStream(
  source: ReadableStream<Uint8Array>,
  expected: Expected,
  what: string,
  onBytes?: (n: number) => void,
): ByteStream & VerifiedStream {
  const digester = createDigester(digestAlgorithm(expected.digest));
  const reader = source.getReader();
  let pending: Uint8Array | undefined;
  let ended = false;
  const stream = new ByteStream({
    async pull(controller: ReadableByteStreamController) {
      const request = controller.byobRequest!;
      try {
        const requested = request.view!;
        const view = new Uint8Array(requested.buffer, requested.byteOffset, requested.byteLength);
        let filled = 0;
        while (filled < view.byteLength) {
          if (!pending || pending.byteLength === 0) {
            if (ended) break;
            const { done, value } = await reader.read();
            if (done) {
              ended = true;
              break;
            }
            pending = value;
            // Do not wait for a full buffer once something is there: a slow
            // network would stall the consumer.
            if (filled > 0 && filled + pending.byteLength > view.byteLength) break;
          }
          const n = Math.min(pending.byteLength, view.byteLength - filled);
          view.set(pending.subarray(0, n), filled);
          pending = pending.subarray(n);
          filled += n;
        }
        if (filled > 0) {
          digester.update(view.subarray(0, filled));
          if (digester.size > expected.size) {
            throw new DigestMismatchError(
              `${what}: size mismatch for ${expected.digest}: more than ${expected.size} bytes`,
              {
                op: "verify",
              },
            );
          }
          onBytes?.(filled);
          request.respond(filled);
          return;
        }
        checkDigest(digester, expected, what);
        controller.close();
        request.respond(0);
      } catch (e) {
        await reader.cancel().catch(() => {});
        controller.error(e);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, chunkFor(expected.size));
  return asVerified(stream, expected);
}
