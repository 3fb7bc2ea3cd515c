/**
 * One network session per run reaches every HTTP user: foreign-layer URLs
 * (once fetched through a bare transport, without the run's CA, timeouts,
 * progress or cancellation) now go through the registry pool's session — a
 * foreign host over HTTPS with a private CA declared under `registries`
 * serves its layer, a 503 on the way is reported through the run's events,
 * and the run's signal cancels the fetch; a source download given the
 * session uses the same CA.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { certificateFor, serveTls } from "../helpers/redirector.ts";
import { interopAvailable } from "../helpers/registry.ts";
import { pseudoRandomBytes } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { readAll } from "../../lib/store/types.ts";
import { registryPool } from "../../lib/store/registry/pool.ts";
import { withForeignLayers } from "../../lib/store/wrappers/foreign_layers.ts";
import { download } from "../../lib/sources/download.ts";
import type { RetryEvent } from "../../lib/transport/http.ts";
import { InterruptedError } from "../../lib/error_kinds.ts";

const enabled = interopAvailable("/usr/bin/openssl");

Deno.test({
  name: "foreign layers and downloads go through the run's session: its CA, its events, its signal",
  ignore: !enabled,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-session-" });
    const tls = await certificateFor(dir, ["localhost"]);
    const bytes = pseudoRandomBytes("foreign-over-tls", 32 * 1024);
    const desc = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf(bytes), size: 32 * 1024 };
    let busy = 1;
    let hang = false;
    const run = new AbortController();
    const server = serveTls(tls, async (request) => {
      if (hang) {
        run.abort(); // Ctrl-C while the request is in flight
        await new Promise((resolve) => request.signal.addEventListener("abort", resolve));
        return new Response(null, { status: 500 });
      }
      if (busy-- > 0) return new Response("busy", { status: 503, headers: { "retry-after": "0" } });
      return new Response(bytes as Uint8Array<ArrayBuffer>);
    });
    const host = server.host;
    const retries: RetryEvent[] = [];
    const pool = registryPool(new Map([[host, { caFile: tls.caPath }]]), {
      network: { events: { retrying: (e) => retries.push(e) }, signal: run.signal },
    });
    try {
      const layers = new Map([[desc.digest, { descriptor: desc, foreignType: "x", urls: [`https://${host}/layer`] }]]);
      // The registry store is never asked: the URL serves the layer.
      const store = withForeignLayers(pool.get("registry.invalid"), layers);
      const got = await readAll(await store.fetch("r", desc), desc.size);
      assertEquals(digestOf(got), desc.digest, "fetched over TLS with the declared CA");
      assertEquals(retries.map((r) => r.host), [host], "the 503 was reported through the run's events");

      const fetched = await download(`https://${host}/layer`, { session: pool.session });
      assert(fetched.found && digestOf(fetched.bytes) === desc.digest, "a download with the session trusts the CA");

      hang = true;
      await assertRejects(() => store.fetch("r", desc), InterruptedError);
    } finally {
      await pool.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
