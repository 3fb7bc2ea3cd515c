/**
 * A loopback TCP proxy that delays every chunk by a fixed time in each
 * direction (25 ms each way: a 50 ms round trip), keeping order and
 * pipelining — a link far from the registry, not a slow registry. Bytes
 * pass through unchanged, so HTTP keep-alive, uploads and redirects behave
 * as they would across a WAN.
 */

/** A running proxy. */
export interface LatencyProxy {
  /** `127.0.0.1:PORT`, to use as the registry host. */
  host: string;
  /** TCP connections clients opened so far (HTTP/2 multiplexes many requests on one). */
  connections(): number;
  close(): Promise<void>;
}

/** Copy `from` to `to`, each chunk written `delayMs` after it was read. */
async function delayedPipe(from: Deno.Conn, to: Deno.Conn, delayMs: number): Promise<void> {
  const queue: { due: number; bytes: Uint8Array }[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const reading = (async () => {
    try {
      for (;;) {
        const buffer = new Uint8Array(64 * 1024);
        const n = await from.read(buffer);
        if (n === null) break;
        queue.push({ due: performance.now() + delayMs, bytes: buffer.subarray(0, n) });
        wake?.();
      }
    } catch { /* closed */ }
    ended = true;
    wake?.();
  })();
  try {
    for (;;) {
      const next = queue.shift();
      if (!next) {
        if (ended) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
        continue;
      }
      const wait = next.due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      for (let w = 0; w < next.bytes.length;) w += await to.write(next.bytes.subarray(w));
    }
  } catch { /* closed */ }
  try {
    await to.closeWrite();
  } catch { /* closed */ }
  await reading;
}

/** Start a proxy to `upstream` (`127.0.0.1:PORT`) adding `delayMs` each way. */
export function startLatencyProxy(upstream: string, delayMs = 25): LatencyProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [hostname, port] = upstream.split(":");
  const open = new Set<Deno.Conn>();
  let accepted = 0;
  const serving = (async () => {
    for await (const client of listener) {
      accepted++;
      (async () => {
        let server: Deno.Conn | undefined;
        try {
          server = await Deno.connect({ hostname, port: Number(port) });
          open.add(client).add(server);
          await Promise.all([delayedPipe(client, server, delayMs), delayedPipe(server, client, delayMs)]);
        } catch { /* a side went away */ }
        for (const c of [client, server]) {
          if (!c) continue;
          open.delete(c);
          try {
            c.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  return {
    host: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    connections: () => accepted,
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}
