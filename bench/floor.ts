/**
 * The physical floor of a scenario: what the registry itself can serve and
 * ingest on this machine, with no client logic — every blob (configs and
 * layers) fetched by parallel GETs straight into files (as wide as a client
 * may go: 6 big bodies, small ones up to the metadata bound), pushed into a
 * fresh registry by parallel monolithic uploads (POST, then one PUT of the
 * file), and every tag checked by parallel HEADs at the metadata bound.
 * airgap's save, load and warm plan are measured against these.
 */
import { join } from "node:path";
import { limiter } from "../lib/transport/limiter.ts";
import { DEFAULT_METADATA_CONCURRENCY, smallBody } from "../lib/transport/bounds.ts";
import { DEFAULT_HOST_CONCURRENCY } from "../lib/store/registry/client.ts";
import * as media from "../lib/oci/media.ts";

/** One blob of the corpus and a repository that holds it. */
export interface FloorBlob {
  repo: string;
  digest: string;
  size: number;
}

const ACCEPT = [media.OCI_MANIFEST, media.DOCKER_MANIFEST, media.OCI_INDEX, media.DOCKER_MANIFEST_LIST].join(", ");

/** The unique blobs of `names` (`repo:tag`, single-platform images) as the registry serves them. */
export async function corpusBlobs(host: string, names: string[]): Promise<FloorBlob[]> {
  const blobs = new Map<string, FloorBlob>();
  const limit = limiter(8);
  await Promise.all(names.map((name) =>
    limit(async () => {
      const colon = name.lastIndexOf(":");
      const repo = name.slice(0, colon);
      const response = await fetch(`http://${host}/v2/${repo}/manifests/${name.slice(colon + 1)}`, {
        headers: { accept: ACCEPT },
      });
      if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
      const manifest = await response.json() as {
        config?: { digest: string; size: number };
        layers?: { digest: string; size: number }[];
      };
      for (const d of [manifest.config, ...(manifest.layers ?? [])]) {
        if (d && !blobs.has(d.digest)) blobs.set(d.digest, { repo, digest: d.digest, size: d.size });
      }
    })
  ));
  return [...blobs.values()];
}

/**
 * Parallel GETs of every blob into files under `dir`; seconds. The widths a
 * client may use (lib/transport/bounds.ts): `concurrency` big bodies at once,
 * and small ones (at most SMALL_BODY_MAX) up to the metadata bound beside them.
 */
export async function floorGet(
  host: string,
  blobs: FloorBlob[],
  dir: string,
  concurrency = DEFAULT_HOST_CONCURRENCY,
  smallConcurrency = DEFAULT_METADATA_CONCURRENCY,
): Promise<number> {
  await Deno.mkdir(dir, { recursive: true });
  const bigLimit = limiter(concurrency);
  const smallLimit = limiter(smallConcurrency);
  const started = performance.now();
  await Promise.all(blobs.map((b) =>
    (smallBody(b.size) ? smallLimit : bigLimit)(async () => {
      const response = await fetch(`http://${host}/v2/${b.repo}/blobs/${b.digest}`);
      if (!response.ok || !response.body) throw new Error(`GET ${b.digest}: HTTP ${response.status}`);
      const file = await Deno.open(join(dir, b.digest.slice(7)), { write: true, create: true, truncate: true });
      await response.body.pipeTo(file.writable);
    })
  ));
  return (performance.now() - started) / 1000;
}

/** Parallel monolithic uploads of the files `floorGet` wrote into a registry; seconds. */
export async function floorPut(host: string, blobs: FloorBlob[], dir: string, concurrency = 6): Promise<number> {
  const limit = limiter(concurrency);
  const started = performance.now();
  await Promise.all(blobs.map((b) =>
    limit(async () => {
      const start = await fetch(`http://${host}/v2/${b.repo}/blobs/uploads/`, { method: "POST" });
      await start.body?.cancel();
      const location = start.headers.get("location");
      if (start.status !== 202 || !location) throw new Error(`POST upload: HTTP ${start.status}`);
      const url = new URL(location, `http://${host}`);
      url.searchParams.set("digest", b.digest);
      const file = await Deno.open(join(dir, b.digest.slice(7)), { read: true });
      const put = await fetch(url, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream", "content-length": String(b.size) },
        body: file.readable,
      });
      await put.body?.cancel();
      if (put.status !== 201) throw new Error(`PUT ${b.digest}: HTTP ${put.status}`);
    })
  ));
  return (performance.now() - started) / 1000;
}

/** Parallel HEADs of every `repo:tag` at the metadata bound: the floor of a warm plan; seconds. */
export async function floorHead(host: string, names: string[], concurrency = DEFAULT_METADATA_CONCURRENCY) {
  const limit = limiter(concurrency);
  const started = performance.now();
  await Promise.all(names.map((name) =>
    limit(async () => {
      const colon = name.lastIndexOf(":");
      const response = await fetch(`http://${host}/v2/${name.slice(0, colon)}/manifests/${name.slice(colon + 1)}`, {
        method: "HEAD",
        headers: { accept: ACCEPT },
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`HEAD ${name}: HTTP ${response.status}`);
    })
  ));
  return (performance.now() - started) / 1000;
}
