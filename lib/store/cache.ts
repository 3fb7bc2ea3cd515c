/**
 * The content-addressed local cache: an OCI image layout on disk.
 * Blobs are written to a per-digest partial file under an exclusive lock,
 * verified, flushed and renamed into place, so a blob under
 * `blobs/<alg>/<hex>` is always complete and correct, concurrent writers
 * of the same blob wait for each other, and a killed run leaves only
 * partial files behind (which a later run resumes or prunes).
 * @module
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { AirgapError, withContext } from "../errors.ts";
import {
  checkDigest,
  createDigester,
  digestAlgorithm,
  digestHex,
  ensureVerified,
  verifyingStream,
} from "../oci/digest.ts";
import { type Descriptor, MAX_MANIFEST_SIZE, parseManifest } from "../oci/manifest.ts";
import { OCI_INDEX } from "../oci/media.ts";
import { bufferedWriter, fileRangeStream, fileSize, writeFileAtomic } from "../fsutil.ts";
import { isValidDigest } from "../ref.ts";
import { type Content, openContent, type PushOutcome, readAll, type ResolvedManifest, type Store } from "./types.ts";

/** The annotation naming a tagged manifest in an OCI layout's index.json. */
export const REF_NAME = "org.opencontainers.image.ref.name";

/** The cache as a store, plus cache-only operations. */
export interface CacheStore extends Store {
  /** The cache directory. */
  readonly dir: string;
  /** Path of a blob's file (whether or not it exists). */
  blobPath(digest: string): string;
  /** Is a blob present (any repository: the cache is global)? */
  has(digest: string, size?: number): Promise<boolean>;
  /** Read a small blob (manifest, config) into memory. */
  readBytes(desc: Descriptor, limit?: number): Promise<Uint8Array>;
  /** Store bytes held in memory (manifests). */
  putBytes(desc: Descriptor, bytes: Uint8Array): Promise<void>;
  /** The tags recorded in index.json: full name (`registry/repo:tag`) → descriptor. */
  tags(): Promise<Map<string, Descriptor>>;
  /** Record many names (`registry/repo:tag`) at once in index.json. */
  recordTags(entries: { name: string; descriptor: Descriptor }[]): Promise<void>;
  /** Counters, for reports and tests. */
  readonly stats: { blobsWritten: number; bytesWritten: number };
}

/** Default cache directory: `%LOCALAPPDATA%\airgap` on Windows, else `$XDG_CACHE_HOME/airgap` or `~/.cache/airgap`. */
export function defaultCacheDir(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
  os: string = Deno.build.os,
): string {
  const explicit = env("AIRGAP_CACHE");
  if (explicit) return explicit;
  if (os === "windows") {
    const local = env("LOCALAPPDATA") ?? join(env("USERPROFILE") ?? homedir(), "AppData", "Local");
    return join(local, "airgap");
  }
  const xdg = env("XDG_CACHE_HOME");
  return join(xdg && xdg !== "" ? xdg : join(env("HOME") ?? homedir(), ".cache"), "airgap");
}

const LAYOUT = new TextEncoder().encode(JSON.stringify({ imageLayoutVersion: "1.0.0" }));

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/** Open (creating if needed) a cache directory. */
export async function openCache(dir: string): Promise<CacheStore> {
  try {
    await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    await Deno.mkdir(join(dir, "tmp"), { recursive: true });
    if ((await fileSize(join(dir, "oci-layout"))) === undefined) {
      await writeFileAtomic(join(dir, "oci-layout"), LAYOUT);
    }
  } catch (e) {
    throw withContext(e, `cannot use cache directory ${dir}`);
  }
  const stats = { blobsWritten: 0, bytesWritten: 0 };

  const blobPath = (digest: string) => {
    if (!isValidDigest(digest)) throw new AirgapError(`malformed digest "${digest}"`);
    return join(dir, "blobs", digestAlgorithm(digest), digestHex(digest));
  };
  const partialPath = (digest: string) => join(dir, "tmp", `${digestAlgorithm(digest)}-${digestHex(digest)}.partial`);

  async function has(digest: string, size?: number): Promise<boolean> {
    const actual = await fileSize(blobPath(digest));
    return actual !== undefined && (size === undefined || actual === size);
  }

  async function writeBlob(desc: Descriptor, content: Content): Promise<PushOutcome> {
    if (await has(desc.digest, desc.size)) return "exists";
    await Deno.mkdir(join(dir, "blobs", digestAlgorithm(desc.digest)), { recursive: true });
    const partial = partialPath(desc.digest);
    const file = await Deno.open(partial, { read: true, write: true, create: true });
    try {
      await file.lock(true);
      // Another writer may have finished while we waited for the lock.
      if (await has(desc.digest, desc.size)) return "exists";
      await file.truncate(0);
      await file.seek(0, Deno.SeekMode.Start);
      const out = bufferedWriter(file);
      const stream = ensureVerified(await openContent(content), desc, `cache blob ${desc.digest}`);
      for await (const chunk of stream) await out.write(chunk);
      await out.flush();
      await file.syncData();
      await Deno.rename(partial, blobPath(desc.digest));
      stats.blobsWritten++;
      stats.bytesWritten += desc.size;
      return "pushed";
    } catch (e) {
      await file.truncate(0).catch(() => {});
      throw e;
    } finally {
      try {
        await file.unlock();
      } catch {
        // closed below anyway
      }
      file.close();
    }
  }

  async function readBytes(desc: Descriptor, limit = MAX_MANIFEST_SIZE): Promise<Uint8Array> {
    if (desc.size > limit) throw new AirgapError(`${desc.digest}: ${desc.size} bytes is too large to read into memory`);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(blobPath(desc.digest));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new AirgapError(`cache ${dir}: blob ${desc.digest} is missing`, { op: "read" });
      }
      throw e;
    }
    const digester = createDigester(digestAlgorithm(desc.digest));
    digester.update(bytes);
    checkDigest(digester, desc, `cache blob ${desc.digest}`);
    return bytes;
  }

  const indexPath = join(dir, "index.json");
  async function readIndex(): Promise<IndexJson> {
    try {
      const parsed = JSON.parse(await Deno.readTextFile(indexPath)) as IndexJson;
      return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: parsed.manifests ?? [] };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
      throw withContext(e, `cache ${indexPath} is unreadable`);
    }
  }

  async function tags(): Promise<Map<string, Descriptor>> {
    const out = new Map<string, Descriptor>();
    for (const m of (await readIndex()).manifests) {
      const name = m.annotations?.[REF_NAME];
      if (name) out.set(name, m);
    }
    return out;
  }

  async function recordTags(entries: { name: string; descriptor: Descriptor }[]): Promise<void> {
    if (entries.length === 0) return;
    const lockFile = await Deno.open(join(dir, "index.json.lock"), { write: true, create: true });
    try {
      await lockFile.lock(true);
      const index = await readIndex();
      const byName = new Map<string, Descriptor>();
      for (const m of index.manifests) byName.set(m.annotations?.[REF_NAME] ?? m.digest, m);
      for (const { name, descriptor } of entries) {
        byName.set(name, {
          mediaType: descriptor.mediaType,
          digest: descriptor.digest,
          size: descriptor.size,
          annotations: { [REF_NAME]: name },
        });
      }
      index.manifests = [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
      await writeFileAtomic(indexPath, JSON.stringify(index, null, 2) + "\n");
    } finally {
      lockFile.close();
    }
  }

  return {
    description: `cache ${dir}`,
    dir,
    stats,
    concurrency: 8,
    blobPath,
    has,
    readBytes,
    async putBytes(desc, bytes) {
      await writeBlob(desc, bytes);
    },
    tags,
    exists: (_repo, desc) => has(desc.digest, desc.size),
    async fetch(_repo, desc) {
      const path = blobPath(desc.digest);
      const size = await fileSize(path);
      if (size === undefined) {
        throw new AirgapError(`cache ${dir}: blob ${desc.digest} is missing`, { op: "fetch" });
      }
      return fileRangeStream(path).pipeThrough(verifyingStream(desc, `cache blob ${desc.digest}`));
    },
    async fetchRange(_repo, desc, offset, length) {
      const path = blobPath(desc.digest);
      const size = await fileSize(path);
      if (size !== desc.size) {
        throw new AirgapError(`cache ${dir}: blob ${desc.digest} is missing`, { op: "fetch" });
      }
      if (offset < 0 || length < 0 || offset + length > size) {
        throw new AirgapError(`cache ${dir}: range ${offset}+${length} is outside blob ${desc.digest}`);
      }
      return fileRangeStream(path, offset, length);
    },
    push: (_repo, desc, content) => writeBlob(desc, content),
    tag: (repo, tag, desc) => recordTags([{ name: `${repo}:${tag}`, descriptor: desc }]),
    recordTags,
    async resolve(repo, reference): Promise<ResolvedManifest> {
      let desc: Descriptor | undefined;
      if (isValidDigest(reference)) {
        const size = await fileSize(blobPath(reference));
        if (size === undefined) throw new AirgapError(`cache: ${repo}@${reference} is not cached`);
        const bytes = await readAll(fileRangeStream(blobPath(reference)), MAX_MANIFEST_SIZE);
        const parsed = parseManifest(bytes, undefined, `${repo}@${reference}`);
        desc = { mediaType: parsed.mediaType, digest: reference, size };
        await readBytes(desc);
        return { descriptor: desc, bytes };
      }
      desc = (await tags()).get(`${repo}:${reference}`);
      if (!desc) throw new AirgapError(`cache: ${repo}:${reference} is not cached`);
      return {
        descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
        bytes: await readBytes(desc),
      };
    },
  };
}
