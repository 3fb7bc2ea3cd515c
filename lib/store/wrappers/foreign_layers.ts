/**
 * Foreign layers fetched from their URLs, as a store wrapper: a registry does
 * not serve a Windows base layer, so a save that carries it (`--foreign-layers
 * include`, see lib/oci/foreign.ts for the policy) reads the bytes from the
 * outside host the manifest names. It is a store so the copy engine needs no
 * special case: the bytes are verified against the digest and size like any
 * blob. The I/O lives here, in lib/store/, and not in the OCI model.
 * @module
 */
import { AirgapError, errorMessage } from "../../errors.ts";
import { verifyingStream } from "../../oci/digest.ts";
import type { ForeignLayer } from "../../oci/foreign.ts";
import type { Descriptor } from "../../oci/manifest.ts";
import type { Store } from "../types.ts";
import { InterruptedError, TransientError } from "../../error_kinds.ts";
import { createTransport, type Transport } from "../../transport/http.ts";
import type { NetworkSession } from "../../transport/session.ts";
import { resumableBody } from "../../transport/resume.ts";
import { parseRetryAfter, retryPolicy, withRetries } from "../../transport/retry.ts";

/**
 * A store that also finds foreign layers at their URLs: `fetch` of a digest
 * in `layers` tries each URL in turn through the run's network session (its
 * CA files, timeouts, progress events and cancellation; taken from the
 * wrapped registry store's client when none is given; redirects
 * followed under its scheme rules, no credentials, temporary failures
 * retried; a failure before the first byte moves on to the next URL), then
 * the wrapped store (some registries do hold them). The bytes are verified against the digest and
 * size like any blob. Everything else is the wrapped store's.
 */
export function withForeignLayers(
  store: Store,
  layers: ReadonlyMap<string, ForeignLayer>,
  session: NetworkSession | undefined = (store as { client?: { session?: NetworkSession } }).client?.session,
): Store {
  if (layers.size === 0) return store;
  let bare: Transport | undefined;
  const transportFor = (url: string): Transport => {
    if (session) return session.transport(new URL(url).host);
    return bare ??= createTransport(); // no session (a program using the library): the defaults
  };
  return {
    ...store,
    description: `${store.description} + foreign-layer URLs`,
    async fetch(repo, desc, options) {
      const foreign = layers.get(desc.digest);
      if (!foreign) return await store.fetch(repo, desc, options);
      const failures: string[] = [];
      for (const url of foreign.urls) {
        try {
          const body = await fromUrl(transportFor(url), url, desc, options?.signal ?? session?.signal, session);
          if (typeof body !== "string") return body;
          failures.push(body);
        } catch (e) {
          if (e instanceof InterruptedError) throw e;
          failures.push(`${url}: ${errorMessage(e)}`);
        }
      }
      try {
        return await store.fetch(repo, desc, options);
      } catch (e) {
        failures.push(`${store.description}: ${errorMessage(e)}`);
      }
      throw new AirgapError(`cannot fetch foreign layer ${desc.digest} (${failures.join("; ")})`, { op: "fetch" });
    },
  };
}

/**
 * A foreign layer's verified bytes from one URL (resumed with Range requests
 * where the body breaks off), or why this URL does not serve it.
 */
async function fromUrl(
  transport: Transport,
  url: string,
  desc: Descriptor,
  signal: AbortSignal | undefined,
  session: NetworkSession | undefined,
): Promise<ReadableStream<Uint8Array> | string> {
  const what = `foreign layer ${desc.digest} from ${url}`;
  const host = new URL(url).host;
  const onRetry = (e: unknown, attempt: number, delayMs: number) =>
    session?.events.retrying?.({ host, message: errorMessage(e), attempt: attempt + 1, delayMs });
  const response = await withRetries(async () => {
    const answer = await transport.send(url, { what, headers: { "accept-encoding": "identity" }, signal });
    if (answer.status >= 500 || answer.status === 429 || answer.status === 408) {
      await answer.body?.cancel();
      throw new TransientError(`${url}: HTTP ${answer.status}`, {}, {
        retryAfterMs: parseRetryAfter(answer.headers.get("retry-after")),
      });
    }
    return answer;
  }, { signal, onRetry });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    return `${url}: HTTP ${response.status}`;
  }
  const length = response.headers.get("content-length");
  if (length !== null && Number(length) !== desc.size && !response.headers.get("content-encoding")) {
    await response.body.cancel();
    return `${url}: ${length} bytes, expected ${desc.size}`;
  }
  if (response.headers.get("content-encoding")) return response.body.pipeThrough(verifyingStream(desc, what));
  const reopen = (offset: number) =>
    transport.send(url, { what, headers: { "accept-encoding": "identity", range: `bytes=${offset}-` }, signal });
  return resumableBody(response.body, desc.size, reopen, { policy: retryPolicy(), what, signal, onRetry })
    .pipeThrough(verifyingStream(desc, what));
}
