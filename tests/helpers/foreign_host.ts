/**
 * A tiny HTTP server standing in for the host that serves foreign
 * (non-distributable) layers — Microsoft's, for Windows base layers. Not a
 * registry: it serves files by name. `/layers/HEX` serves the bytes,
 * `/moved/HEX` redirects there, `/gone/HEX` answers 404 (a dead mirror).
 */
import type { Blob } from "../../lib/demo/corpus.ts";

/** A running foreign-layer host. */
export interface ForeignHost {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Requests seen: method and path. */
  readonly requests: { method: string; path: string; status: number }[];
  /**
   * Answer 503 to everything: the host is "gone" while its port stays ours
   * (stopping and restarting it would free the port for parallel tests).
   */
  offline: boolean;
  /** Serve these blobs too (their URLs name this host, so they are made after it starts). */
  add(blobs: Blob[]): void;
  stop(): Promise<void>;
}

/** Serve `blobs` (and those {@link ForeignHost.add} adds) until stopped, on a port of its own (bound as port 0). */
export function startForeignHost(blobs: Blob[] = []): ForeignHost {
  const byHex = new Map<string, Uint8Array>();
  const requests: { method: string; path: string; status: number }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    const [, kind, hex] = path.split("/");
    let response: Response;
    if (host.offline) {
      response = new Response("gone\n", { status: 503 });
    } else if (kind === "moved" && hex) {
      response = new Response(null, { status: 302, headers: { location: `/layers/${hex}` } });
    } else if (kind === "layers" && byHex.has(hex)) {
      const bytes = byHex.get(hex)!;
      response = new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { "content-length": String(bytes.byteLength) },
      });
    } else {
      response = new Response("not found\n", { status: 404 });
    }
    requests.push({ method: request.method, path, status: response.status });
    return response;
  });
  const host: ForeignHost = {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    offline: false,
    add(blobs) {
      for (const b of blobs) byHex.set(b.descriptor.digest.slice("sha256:".length), b.bytes);
    },
    async stop() {
      await server.shutdown();
    },
  };
  host.add(blobs);
  return host;
}
