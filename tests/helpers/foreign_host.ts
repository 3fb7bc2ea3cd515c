/**
 * A tiny HTTP server standing in for the host that serves foreign
 * (non-distributable) layers — Microsoft's, for Windows base layers. Not a
 * registry: it serves files by name. `/layers/HEX` serves the bytes,
 * `/moved/HEX` redirects there, `/gone/HEX` answers 404 (a dead mirror).
 */
import type { Blob } from "../../lib/demo/corpus.ts";
import { freePort } from "./registry.ts";

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
  stop(): Promise<void>;
}

/** Serve `blobs` until stopped. */
export function startForeignHost(blobs: Blob[], port = freePort()): ForeignHost {
  const byHex = new Map(blobs.map((b) => [b.descriptor.digest.slice("sha256:".length), b.bytes]));
  const requests: { method: string; path: string; status: number }[] = [];
  const url = `http://127.0.0.1:${port}`;
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (request) => {
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
    url,
    requests,
    offline: false,
    async stop() {
      await server.shutdown();
    },
  };
  return host;
}
