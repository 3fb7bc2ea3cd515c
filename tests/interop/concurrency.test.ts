/**
 * Requests in flight to one registry host are bounded, blob bodies and
 * metadata apart (lib/transport/bounds.ts): a counting proxy in front of real
 * distribution, with latency so that requests overlap, sees no more blob
 * bodies at once than `registries.HOST.concurrency` (save: big bodies; a
 * small blob, at most 1 MiB, goes under the metadata bound) or
 * `--concurrency` (load) allows, and no more metadata requests than
 * `registries.HOST.metadataConcurrency` (plan's HEADs) — and sees that many,
 * so the bound is what limits them. Forty images, each asked for
 * concurrently by the planner and the copy engine, would otherwise arrive
 * forty at a time.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { airgapOk } from "../helpers/cli.ts";
import { type FaultPlan, type RequestKind, startFaultProxy } from "../helpers/fault_proxy.ts";
import { interopAvailable, seedStorage, startRegistry } from "../helpers/registry.ts";
import { singleImage } from "../../lib/demo/corpus.ts";
import { SMALL_BODY_MAX } from "../../lib/transport/bounds.ts";

const enabled = interopAvailable();
const IMAGES = 40;
const KINDS: RequestKind[] = ["blob-get", "manifest-get", "manifest-put", "upload-post", "upload-put", "head"];
/** Latency on every kind of request, so that requests overlap at the proxy. */
const PLAN: FaultPlan = { seed: 1, latencyMs: 20, rules: [{ fault: "latency", kinds: KINDS, probability: 1 }] };

Deno.test({
  name:
    "concurrency: blob bodies per host within registries.HOST.concurrency and --concurrency, metadata within metadataConcurrency",
  ignore: !enabled,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "airgap-concurrency-" });
    const source = await startRegistry();
    const target = await startRegistry();
    const sourceProxy = startFaultProxy(source.host, PLAN);
    const targetProxy = startFaultProxy(target.host, PLAN);
    try {
      const names = Array.from({ length: IMAGES }, (_, i) => `bound/image-${i}`);
      // Eight layers just over SMALL_BODY_MAX (bodies: the body bound); the rest small (a round trip: the metadata bound).
      const images = names.map((n, i) =>
        singleImage(n, "v1", {
          format: "oci",
          layers: [{ seed: n, size: i < 8 ? SMALL_BODY_MAX + 256 : 256 }],
          label: n,
        })
      );
      await seedStorage(source, images);
      const big = new Set(
        images.flatMap((i) => i.blobs).filter((b) => b.descriptor.size > SMALL_BODY_MAX).map((b) =>
          b.descriptor.digest
        ),
      );
      const bigGet = (method: string, path: string) =>
        method === "GET" && big.has(/\/blobs\/(sha256:[0-9a-f]{64})/.exec(path)?.[1] ?? "");
      sourceProxy.trackInFlight("big", bigGet);
      sourceProxy.trackInFlight("round trips", (method, path) => !bigGet(method, path));
      await Deno.writeTextFile(
        join(dir, "airgap.yaml"),
        [
          `sourceRegistry: "${sourceProxy.host}"`,
          "platforms: [all]",
          "images:",
          ...names.map((n) => `  - ${n}:v1`),
          "registries:",
          `  "${sourceProxy.host}":`,
          "    concurrency: 2",
          "    metadataConcurrency: 4",
          "",
        ].join("\n"),
      );
      const cache = join(dir, "cache");
      await airgapOk(["plan", "-q", "--cache", cache], { cwd: dir });
      assertEquals(sourceProxy.peakInFlight("metadata"), 4, "plan: at most (and at times exactly) 4 lookups in flight");
      sourceProxy.resetStats();
      await airgapOk(["save", "-q", "--cache", cache, "-o", join(dir, "out.tar")], { cwd: dir });
      assert(sourceProxy.requests()["blob-get"] >= IMAGES, "save fetched the layers through the proxy");
      assertEquals(big.size, 8);
      assertEquals(
        sourceProxy.peakInFlightOf("big"),
        2,
        "save: at most (and at times exactly) 2 big blob bodies in flight",
      );
      // Small blobs (at most SMALL_BODY_MAX) cost a round trip, not memory: they go under the metadata bound.
      assert(
        sourceProxy.peakInFlightOf("round trips") <= 4,
        "save: metadata and small blobs within the metadata bound",
      );

      await airgapOk(["load", "-q", join(dir, "out.tar"), "--registry", targetProxy.host, "--concurrency", "3"], {
        cwd: dir,
      });
      assert(targetProxy.requests()["upload-put"] >= IMAGES, "load uploaded through the proxy");
      assertEquals(
        targetProxy.peakInFlight("bodies"),
        3,
        "load --concurrency 3: at most (and at times exactly) 3 uploads",
      );
      assert(targetProxy.peakInFlight("metadata") <= 32, "load: metadata within its default bound");
    } finally {
      await sourceProxy.close();
      await targetProxy.close();
      await source.stop();
      await target.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
