/**
 * Interop tests hold a command half done (a save, a mirror, a plan) while
 * something else runs — a prune — at a point decided by bytes, not by time.
 * @module
 */

/**
 * A loopback TCP pass-through that stops forwarding the server's bytes once
 * `after` bytes have gone through, until `open()`: a save frozen mid-way at
 * a point decided by bytes, not by time.
 */
export function gate(target: string, after: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let passed = 0;
  let opened: PromiseWithResolvers<void> | undefined = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const conns: Deno.Conn[] = [];
  const pump = async (from: Deno.Conn, to: Deno.Conn, counted: boolean) => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        if (counted) {
          passed += n;
          if (passed > after && opened) {
            closed.resolve();
            await opened.promise;
          }
        }
        let at = 0;
        while (at < n) at += await to.write(buffer.subarray(at, n));
      }
    } catch { /* either side went away */ }
    try {
      await to.closeWrite();
    } catch { /* closed */ }
  };
  (async () => {
    for await (const client of listener) {
      const [hostname, port] = target.split(":");
      const server = await Deno.connect({ hostname, port: Number(port) });
      conns.push(client, server);
      pump(client, server, false);
      pump(server, client, true);
    }
  })().catch(() => {});
  const open = () => {
    opened?.resolve();
    opened = undefined;
  };
  return {
    host: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    /** Resolves once the gate has stopped the flow. */
    closed: closed.promise,
    open,
    stop() {
      open();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
