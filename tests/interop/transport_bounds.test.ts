/**
 * Request bounds against real distribution behind the fault proxy
 * (tests/helpers/fault_proxy.ts):
 * - a same-host `mirror` (source and target two repositories of one
 *   distribution, one host:port) with every blob download reset once
 *   completes: an upload holding its slot while its body waits on a download
 *   never blocks the resume that download needs (it waits under the download
 *   bound, not the upload bound). It used to deadlock at a low bound.
 * - a blob download cut after its last byte, resumed with `Range:
 *   bytes=SIZE-` and answered `416`, completes and verifies; a `416` short of
 *   the size restarts from byte 0.
 * - a save of 32 images behind 300 ms per blob GET: small blobs (configs,
 *   4 KiB layers; at most SMALL_BODY_MAX) are in flight beyond the body
 *   bound of 6 (up to the metadata bound), layers just over 1 MiB never are.
 * A hang fails through `withDeadline` (a liveness guard, not a timing assertion).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { startFront } from "../helpers/redirector.ts";
import { RETRY_BASE_MS, startFaultWorld, withDeadline } from "../helpers/faults.ts";
import { interopAvailable, seedStorage, skopeoDigest, startRegistry } from "../helpers/registry.ts";
import { corpusDeclaration, silent } from "./server_fixture.ts";
import { mirrorCommand } from "../../lib/commands/mirror/mirror.ts";
import { join } from "node:path";
import { pseudoRandomBytes, singleImage } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { readAll } from "../../lib/store/types.ts";
import { createRegistryClient, DEFAULT_HOST_CONCURRENCY } from "../../lib/store/registry/client.ts";
import { DEFAULT_METADATA_CONCURRENCY, SMALL_BODY_MAX } from "../../lib/transport/bounds.ts";
import { saveCommand } from "../../lib/commands/save/save.ts";
import { declarationFromList } from "../../lib/plan/declaration.ts";
import { startFaultProxy } from "../helpers/fault_proxy.ts";
import { registryStore } from "../../lib/store/registry/store.ts";

const enabled = interopAvailable("/usr/bin/docker-registry", "/usr/bin/skopeo");
// Short retry waits, as the fault suite sets them (process-wide: the same value, never unset).
Deno.env.set("AIRGAP_RETRY_BASE_MS", RETRY_BASE_MS);

Deno.test({
  name: "a same-host mirror with every blob download reset once completes at a bound of 2 (no deadlock)",
  ignore: !enabled,
  async fn() {
    const world = await startFaultWorld();
    try {
      world.proxy.setPlan({
        seed: 19,
        rules: [{ fault: "reset", kinds: ["blob-get"], probability: 1 }],
        maxFaultsPerKey: 1,
      });
      const declaration = corpusDeclaration(world.images, world.proxy.host);
      const result = await withDeadline(
        mirrorCommand({
          declaration,
          registry: world.proxy.host,
          prefix: "mirror",
          cacheDir: join(world.dir, "cache"),
          reporter: silent,
          concurrency: 2,
        }),
        120_000,
        "same-host mirror",
      );
      assertEquals(result.images.length, world.images.length);
      assert(world.proxy.counts().reset > 0, "downloads were reset");
      for (const image of world.images) {
        const name = `${world.registry.host}/mirror/${image.repository}:${image.tag}`;
        assertEquals(await skopeoDigest(name), image.root.descriptor.digest, name);
      }
    } finally {
      await world.close();
    }
  },
});

Deno.test({
  name: "a resume answered 416 at the blob's size completes and verifies; a 416 short of it restarts from 0",
  ignore: !enabled,
  async fn() {
    const registry = await startRegistry();
    const bytes = pseudoRandomBytes("resume-416", 256 * 1024);
    const desc = { mediaType: "application/octet-stream", digest: digestOf(bytes), size: bytes.byteLength };
    let mode: "after-last-byte" | "midway" = "after-last-byte";
    const ranges: string[] = [];
    const front = startFront({
      upstream: `http://${registry.host}`,
      async route(request, forward) {
        const url = new URL(request.url);
        if (request.method !== "GET" || !url.pathname.includes("/blobs/sha256:")) return;
        const range = request.headers.get("range");
        if (range) {
          ranges.push(range);
          // Midway: this server refuses the range it was asked for (a CDN that lost the object's size).
          if (mode === "midway" && range !== "bytes=0-") {
            return new Response(null, { status: 416, headers: { "content-range": `bytes */${desc.size}` } });
          }
          return; // distribution answers (416 for bytes=SIZE-)
        }
        // The first GET: every byte (after-last-byte) or half of them, then the connection breaks.
        const answer = await forward();
        const all = new Uint8Array(await answer.arrayBuffer());
        const cut = mode === "after-last-byte" ? all.byteLength : all.byteLength >> 1;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(all.subarray(0, cut));
          },
          pull(controller) {
            controller.error(new Error("connection reset by the test"));
          },
        });
        return new Response(body, { status: 200 }); // chunked: the break comes after the last byte
      },
    });
    try {
      const store = registryStore(createRegistryClient(front.host, {
        noAuthFiles: true,
        retry: { baseMs: 1, maxMs: 2 },
      }));
      await store.push("team/app", desc, bytes);
      const got = await readAll(await store.fetch("team/app", desc), desc.size);
      assertEquals(digestOf(got), desc.digest);
      assertEquals(ranges, [`bytes=${desc.size}-`], "resumed at the size; distribution said 416");

      mode = "midway";
      ranges.length = 0;
      const again = await readAll(await store.fetch("team/app", desc), desc.size);
      assertEquals(digestOf(again), desc.digest);
      assertEquals(ranges, [`bytes=${desc.size >> 1}-`, "bytes=0-"], "a 416 short of the size started over");
      await store.close?.();
    } finally {
      await front.close();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "save: small blobs go beyond the body bound (a round trip each), big bodies never do",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-bounds-" });
    const registry = await startRegistry();
    // 24 images with a 4 KiB layer (small, as are all 32 configs) and 8 with a layer just over SMALL_BODY_MAX.
    const images = Array.from({ length: 32 }, (_, i) =>
      singleImage(`bounds/app${i}`, "v1", {
        format: "oci",
        layers: [{ seed: `bounds-${i}`, size: i < 24 ? 4096 : SMALL_BODY_MAX + 4096 }],
      }));
    await seedStorage(registry, images);
    const big = new Set(
      images.flatMap((i) => i.blobs).filter((b) => b.descriptor.size > SMALL_BODY_MAX).map((b) => b.descriptor.digest),
    );
    const proxy = startFaultProxy(registry.host, {
      seed: 1,
      rules: [{ fault: "latency", kinds: ["blob-get"], probability: 1 }],
      latencyMs: 300,
    });
    const blobOf = (method: string, path: string) =>
      method === "GET" ? /\/blobs\/(sha256:[0-9a-f]{64})/.exec(path)?.[1] : undefined;
    proxy.trackInFlight("small", (m, p) => blobOf(m, p) !== undefined && !big.has(blobOf(m, p)!));
    proxy.trackInFlight("big", (m, p) => big.has(blobOf(m, p) ?? ""));
    try {
      const list = join(dir, "list.txt");
      await Deno.writeTextFile(list, images.map((i) => `${i.repository}:${i.tag}\n`).join(""));
      const declaration = await declarationFromList(list, { sourceRegistry: proxy.host, platforms: ["all"] });
      declaration.registries = new Map([[proxy.host, { noAuthFiles: true }]]);
      await saveCommand({ declaration, output: join(dir, "a.tar"), cacheDir: join(dir, "c"), reporter: silent });
      const small = proxy.peakInFlightOf("small");
      const large = proxy.peakInFlightOf("big");
      console.log(`bounds: save of 32 images: ${small} small blob GETs in flight at most, ${large} big ones`);
      assertEquals(big.size, 8);
      assert(small > DEFAULT_HOST_CONCURRENCY && small <= DEFAULT_METADATA_CONCURRENCY, `small ${small}`);
      assert(large >= 1 && large <= DEFAULT_HOST_CONCURRENCY, `big ${large}`);
    } finally {
      await proxy.close();
      await registry.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
