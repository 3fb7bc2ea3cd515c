/**
 * Benchmark corpora: image shapes and a fast way to push them to a registry
 * (our own client, concurrent, mounting shared layers).
 */
import { encodeJson } from "../lib/oci/manifest.ts";
import * as media from "../lib/oci/media.ts";
import { digestOf } from "../lib/oci/digest.ts";
import { encodeHeader, padding, TAR_END } from "../lib/format/tar.ts";
import { pseudoRandomBytes } from "../lib/demo/corpus.ts";
import { limiter } from "../lib/transport/limiter.ts";
import type { RegistryStore } from "../lib/store/registry/store.ts";

const MiB = 1024 * 1024;

/** A layer: an uncompressed tar holding one file of pseudo-random bytes. */
function layer(seed: string, size: number): Uint8Array {
  const body = pseudoRandomBytes(seed, size);
  const header = encodeHeader({ name: `${seed}.bin`, size });
  const out = new Uint8Array(header.byteLength + size + padding(size).byteLength + TAR_END.byteLength);
  out.set(header, 0);
  out.set(body, header.byteLength);
  return out;
}

export interface ImageShape {
  repo: string;
  layers: { seed: string; size: number }[];
}

/** Deterministic sizes: a small LCG so every machine builds the same corpus. */
function sizes(seed: number) {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
}

export function rancherShapes(count: number): ImageShape[] {
  const random = sizes(42);
  const bases = [0, 1, 2, 3, 4, 5].map((b) => ({ seed: `base-${b}`, size: Math.round((8 + random() * 24) * MiB) }));
  return Array.from({ length: count }, (_, i) => {
    const own = 1 + Math.floor(random() * 3);
    return {
      repo: `rancher/bench-${String(i).padStart(3, "0")}`,
      layers: [
        bases[i % bases.length],
        ...Array.from(
          { length: own },
          (_, l) => ({ seed: `img-${i}-${l}`, size: Math.round((0.2 + random() ** 2 * 12) * MiB) }),
        ),
      ],
    };
  });
}

export function largeShapes(count: number): ImageShape[] {
  return Array.from({ length: count }, (_, i) => ({
    repo: `bench/large-${i}`,
    layers: [
      { seed: "large-base", size: 32 * MiB },
      ...[0, 1, 2].map((l) => ({ seed: `large-${i}-${l}`, size: 32 * MiB })),
    ],
  }));
}

/** Push images built from shapes; returns their names and unique bytes. */
export async function pushShapes(
  store: RegistryStore,
  shapes: ImageShape[],
): Promise<{ names: string[]; uniqueBytes: number }> {
  const pushed = new Map<string, { desc: { mediaType: string; digest: string; size: number }; repo: string }>();
  let uniqueBytes = 0;
  const limit = limiter(4);
  const names = await Promise.all(shapes.map((shape) =>
    limit(async () => {
      const layers = [];
      for (const l of shape.layers) {
        let known = pushed.get(l.seed);
        if (!known) {
          const bytes = layer(l.seed, l.size);
          const desc = { mediaType: media.OCI_LAYER, digest: digestOf(bytes), size: bytes.byteLength };
          known = { desc, repo: shape.repo };
          pushed.set(l.seed, known);
          uniqueBytes += bytes.byteLength;
          await store.push(shape.repo, desc, bytes);
        } else {
          await store.push(shape.repo, known.desc, () => Promise.reject(new Error("should have been mounted")));
        }
        layers.push(known.desc);
      }
      const config = encodeJson({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: layers.map((d) => d.digest) },
        repo: shape.repo,
      });
      const configDesc = { mediaType: media.OCI_CONFIG, digest: digestOf(config), size: config.byteLength };
      await store.push(shape.repo, configDesc, config);
      const manifest = encodeJson({ schemaVersion: 2, mediaType: media.OCI_MANIFEST, config: configDesc, layers });
      const manifestDesc = { mediaType: media.OCI_MANIFEST, digest: digestOf(manifest), size: manifest.byteLength };
      await store.push(shape.repo, manifestDesc, manifest);
      await store.tag(shape.repo, "v1", manifestDesc, manifest);
      uniqueBytes += config.byteLength + manifest.byteLength;
      return `${shape.repo}:v1`;
    })
  ));
  return { names, uniqueBytes };
}
