/**
 * What the embedded registry serves: repositories, their tags, and — per
 * repository — the manifests and blobs of their graphs.
 *
 * Naming decides where a stored image (a full name like
 * `docker.io/rancher/rancher:v2.7.9`, and the list entry it was saved from)
 * is served, and under which full name a push is recorded in a cache:
 *
 * - {@link sourceNaming} (default): the image's own name, from the entry when
 *   there is one (so an archive saved through a mirror is served under the
 *   names it was listed with). Docker Hub's host is dropped, as a Docker Hub
 *   mirror is asked (`rancher/rancher`, `library/busybox`; `busybox` and
 *   `docker.io/library/busybox` are accepted as aliases); other hosts stay the
 *   first path component (`quay.io/jetstack/cert-manager-controller`); a host
 *   with a port cannot be part of a repository name and is dropped. A push of
 *   `x:y` is recorded as `docker.io/library/x:y`, exactly as Docker names it.
 * - {@link registryNaming} (`--registry-name HOST[:PORT][/prefix]`): the target
 *   names `airgap load --registry HOST[/prefix]` would create, from
 *   {@link targetReference}. Cache names without an entry are named from the
 *   name itself (`docker.io/` dropped), except names already under `HOST/`,
 *   which are served as they are: that is where a push of `x:y` is recorded
 *   (`HOST/x:y`).
 *
 * A repository only serves the content of its own graphs (plus what was
 * pushed or mounted into it), as distribution does: a blob of another
 * repository is unknown here even when the store holds it.
 * @module
 */
import { AirgapError, errorMessage } from "../errors.ts";
import { children, type Descriptor, type Manifest, MAX_MANIFEST_SIZE, parseManifest } from "../oci/manifest.ts";
import { isManifestType } from "../oci/media.ts";
import {
  DOCKER_HUB,
  normaliseRegistryHost,
  parseReference,
  type Reference,
  splitReference,
  targetReference,
} from "../ref.ts";
import type { ArchiveReader } from "../store/archive.ts";
import type { CacheStore } from "../store/cache.ts";
import { readAll, type Store } from "../store/types.ts";

/** An image held by a store: its full name, the list entry it came from if known, its root. */
export interface StoredImage {
  /** Full reference, e.g. `docker.io/rancher/rancher:v2.7.9`. */
  name: string;
  /** The list entry as written (archives record it), e.g. `rancher/rancher:v2.7.9`. */
  entry?: string;
  /** The root manifest or index. */
  descriptor: Descriptor;
}

/** Where an image is served: a repository and, unless it is pinned by digest only, a tag. */
export interface Placement {
  /** The served repository, e.g. `rancher/rancher`. */
  repository: string;
  /** The tag, if the image has one. */
  tag?: string;
}

/** How served repository names relate to stored names. */
export interface Naming {
  /** For messages: `source names`, `target names in registry.local:5000/proj`. */
  readonly description: string;
  /** Where a stored image is served; throws an {@link AirgapError} when it cannot be. */
  place(image: { name: string; entry?: string }): Placement;
  /** The repository a requested name stands for (aliases, containerd's `ns` parameter). */
  canonical(repository: string, ns?: string): string;
  /**
   * The full name a push of `repository:tag` is recorded under in a cache;
   * `reference` may be a digest (`repository@sha256:…`, a referrer pushed by digest).
   */
  record(repository: string, reference: string): string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Is `name` a valid repository name for the distribution API? */
export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name.split("/").every((c) => COMPONENT.test(c));
}

function checked(placement: Placement, what: string): Placement {
  if (!isValidRepositoryName(placement.repository)) {
    throw new AirgapError(`${what}: "${placement.repository}" is not a valid repository name`, { image: what });
  }
  return placement;
}

/** `registry/repository`, with Docker Hub's host (and hosts that cannot be a path component) left out. */
function servedPath(ref: Reference): string {
  if (ref.registry === DOCKER_HUB) return ref.repository;
  const qualified = `${ref.registry}/${ref.repository}`;
  return isValidRepositoryName(qualified) ? qualified : ref.repository;
}

/** Serve images under their own names (Docker Hub's host left out). See the module documentation. */
export function sourceNaming(): Naming {
  return {
    description: "source names",
    place(image) {
      const ref = parseReference(image.entry ?? image.name);
      return checked({ repository: servedPath(ref), tag: ref.tag }, image.name);
    },
    canonical(repository, ns) {
      const host = ns ? normaliseRegistryHost(ns) : DOCKER_HUB;
      try {
        return servedPath(parseReference(host === DOCKER_HUB ? repository : `${host}/${repository}`));
      } catch {
        return repository;
      }
    },
    record(repository, reference) {
      const separator = reference.includes(":") ? "@" : ":";
      const ref = parseReference(`${repository}${separator}${reference}`);
      return `${ref.registry}/${ref.repository}${separator}${reference}`;
    },
  };
}

/**
 * Serve images under the target names `airgap load --registry registry[/prefix]`
 * gives them. See the module documentation.
 */
export function registryNaming(registry: string, prefix = ""): Naming {
  const host = normaliseRegistryHost(registry);
  const path = prefix.replace(/^\/+|\/+$/g, "");
  return {
    description: `target names in ${host}${path ? `/${path}` : ""}`,
    place(image) {
      let entry = image.entry;
      if (entry === undefined) {
        if (image.name.startsWith(`${host}/`)) {
          const { name: repository, tag } = splitReference(image.name.slice(host.length + 1));
          return checked({ repository, tag }, image.name);
        }
        const ref = parseReference(image.name);
        entry = `${servedPath(ref)}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
      }
      const target = targetReference(entry, host, path);
      return checked({ repository: target.repository, tag: target.tag }, image.name);
    },
    canonical: (repository) => repository,
    record: (repository, reference) => `${host}/${repository}${reference.includes(":") ? "@" : ":"}${reference}`,
  };
}

/** The served view of a store: repositories, tags, and each repository's content. */
export interface Catalog {
  /** How names are mapped. */
  readonly naming: Naming;
  /** Images that could not be served, and names served twice with different digests. */
  readonly warnings: readonly string[];
  /** Every repository, sorted. */
  repositories(): string[];
  /** The repository a requested name stands for, if it is served. */
  find(name: string, ns?: string): string | undefined;
  /** The tags of a repository, sorted. */
  tags(repository: string): string[];
  /** The manifest a tag points to. */
  tagged(repository: string, tag: string): Descriptor | undefined;
  /** A manifest of the repository's graphs, with its own media type. */
  manifest(repository: string, digest: string): Promise<Descriptor | undefined>;
  /** Any content of the repository's graphs (blobs and manifests). */
  blob(repository: string, digest: string): Promise<Descriptor | undefined>;
  /**
   * Make content part of a repository (a push or mount); creates the
   * repository. `name`: the full name it is recorded under in the store.
   */
  link(repository: string, desc: Descriptor, name?: string): void;
  /** Point a tag at a manifest (linking it); `name` as for {@link Catalog.link}. */
  setTag(repository: string, tag: string, desc: Descriptor, name?: string): void;
  /** The manifests of a repository whose `subject` is `digest`, as an index lists them (OCI referrers). */
  referrers(repository: string, digest: string): Promise<Descriptor[]>;
  /** Forget a tag; returns the stored names that recorded it. */
  untag(repository: string, tag: string): string[];
  /** Forget a manifest and the tags pointing at it; returns the stored names that recorded them. */
  removeManifest(repository: string, digest: string): Promise<string[]>;
  /** Forget a blob of a repository (the store keeps its bytes); false if it was not there. */
  unlink(repository: string, digest: string): Promise<boolean>;
}

interface RepositoryState {
  tags: Map<string, Descriptor>;
  roots: Descriptor[];
  manifests: Map<string, Descriptor>;
  blobs: Map<string, Descriptor>;
  /** Full names recorded in the store (index.json) → the tag (if any) and manifest they name. */
  names: Map<string, { tag?: string; digest: string }>;
  walked?: Promise<void>;
}

interface ManifestInfo {
  mediaType: string;
  children: Descriptor[];
  /** The digest of the manifest's `subject`. */
  subject?: string;
  /** `artifactType`, else an image manifest's config media type (as the referrers API reports it). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What the referrers API reports of a manifest. */
function referrerFields(manifest: Manifest): Pick<ManifestInfo, "subject" | "artifactType" | "annotations"> {
  const { raw } = manifest;
  const artifactType = typeof raw.artifactType === "string" && raw.artifactType !== ""
    ? raw.artifactType
    : manifest.kind === "manifest"
    ? manifest.config.mediaType
    : undefined;
  const annotations = typeof raw.annotations === "object" && raw.annotations !== null && !Array.isArray(raw.annotations)
    ? raw.annotations as Record<string, string>
    : undefined;
  return { subject: manifest.subject?.digest, artifactType, annotations };
}

const plain = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });

/**
 * Build a catalog over `store` from the images it holds. Each repository's
 * graph is read from the store on first use (manifests only) and cached.
 */
export function createCatalog(store: Store, images: StoredImage[], naming: Naming = sourceNaming()): Catalog {
  const c: CatalogState = { store, repositories: new Map(), warnings: [], infos: new Map() };
  const { repositories, warnings } = c;
  placeImages(c, images, naming);
  return {
    naming,
    warnings,
    repositories: () => [...repositories.keys()].sort(compare),
    find(name, ns) {
      const canonical = naming.canonical(name, ns);
      const candidates = ns ? [canonical, name] : [name, canonical];
      return candidates.find((candidate) => repositories.has(candidate));
    },
    tags: (repository) => [...(repositories.get(repository)?.tags.keys() ?? [])].sort(compare),
    tagged: (repository, tag) => repositories.get(repository)?.tags.get(tag),
    async manifest(repository, digest) {
      return (await walked(c, repository))?.manifests.get(digest);
    },
    async blob(repository, digest) {
      const repo = await walked(c, repository);
      return repo?.blobs.get(digest) ?? repo?.manifests.get(digest);
    },
    link(repository, desc, name) {
      const repo = state(c, repository);
      (isManifestType(desc.mediaType) ? repo.manifests : repo.blobs).set(desc.digest, plain(desc));
      if (name !== undefined) repo.names.set(name, { digest: desc.digest });
    },
    setTag(repository, tag, desc, name) {
      const repo = state(c, repository);
      repo.manifests.set(desc.digest, plain(desc));
      repo.tags.set(tag, plain(desc));
      if (name !== undefined) repo.names.set(name, { tag, digest: desc.digest });
    },
    referrers: (repository, digest) => referrers(c, repository, digest),
    untag(repository, tag) {
      const repo = repositories.get(repository);
      if (!repo?.tags.delete(tag)) return [];
      return forget(repo, (n) => n.tag === tag);
    },
    async removeManifest(repository, digest) {
      const repo = await walked(c, repository);
      if (!repo?.manifests.delete(digest)) return [];
      repo.roots = repo.roots.filter((r) => r.digest !== digest);
      for (const [tag, desc] of [...repo.tags]) if (desc.digest === digest) repo.tags.delete(tag);
      return forget(repo, (n) => n.digest === digest);
    },
    async unlink(repository, digest) {
      const repo = await walked(c, repository);
      return repo?.blobs.delete(digest) ?? false;
    },
  };
}

/** A catalog's repositories, its warnings, and the manifests read so far (by digest). */
interface CatalogState {
  readonly store: Store;
  readonly repositories: Map<string, RepositoryState>;
  readonly warnings: string[];
  readonly infos: Map<string, Promise<ManifestInfo | undefined>>;
}

function state(c: CatalogState, repository: string): RepositoryState {
  let repo = c.repositories.get(repository);
  if (!repo) {
    repo = { tags: new Map(), roots: [], manifests: new Map(), blobs: new Map(), names: new Map() };
    c.repositories.set(repository, repo);
  }
  return repo;
}

/** Place the stored images: their repositories, tags and roots. */
function placeImages(c: CatalogState, images: StoredImage[], naming: Naming): void {
  for (const image of images) {
    let placement: Placement;
    try {
      placement = naming.place(image);
    } catch (e) {
      c.warnings.push(`not serving ${image.name}: ${errorMessage(e)}`);
      continue;
    }
    const repo = state(c, placement.repository);
    const root = plain(image.descriptor);
    if (placement.tag) {
      const earlier = repo.tags.get(placement.tag);
      if (earlier && earlier.digest !== root.digest) {
        c.warnings.push(
          `${placement.repository}:${placement.tag} is served as ${earlier.digest}; ${image.name} (${root.digest}) maps to the same name`,
        );
        continue;
      }
      repo.tags.set(placement.tag, root);
    }
    repo.names.set(image.name, { tag: placement.tag, digest: root.digest });
    if (!repo.roots.some((r) => r.digest === root.digest)) repo.roots.push(root);
  }
}

function info(c: CatalogState, repository: string, desc: Descriptor): Promise<ManifestInfo | undefined> {
  let pending = c.infos.get(desc.digest);
  if (!pending) {
    pending = (async () => {
      try {
        const bytes = await readAll(await c.store.fetch(repository, desc), MAX_MANIFEST_SIZE);
        const manifest = parseManifest(bytes, desc.mediaType, `${repository}@${desc.digest}`);
        return { mediaType: manifest.mediaType, children: children(manifest), ...referrerFields(manifest) };
      } catch (e) {
        c.warnings.push(`${repository}: cannot read manifest ${desc.digest}: ${errorMessage(e)}`);
        return undefined;
      }
    })();
    c.infos.set(desc.digest, pending);
  }
  return pending;
}

async function visit(c: CatalogState, repository: string, repo: RepositoryState, desc: Descriptor): Promise<void> {
  if (!isManifestType(desc.mediaType)) {
    if (!repo.blobs.has(desc.digest)) repo.blobs.set(desc.digest, plain(desc));
    return;
  }
  if (repo.manifests.has(desc.digest)) return;
  const found = await info(c, repository, desc);
  if (!found) return;
  repo.manifests.set(desc.digest, { mediaType: found.mediaType, digest: desc.digest, size: desc.size });
  for (const child of found.children) await visit(c, repository, repo, child);
}

async function walked(c: CatalogState, repository: string): Promise<RepositoryState | undefined> {
  const repo = c.repositories.get(repository);
  if (!repo) return undefined;
  repo.walked ??= (async () => {
    for (const root of repo.roots) await visit(c, repository, repo, root);
  })();
  await repo.walked;
  return repo;
}

async function referrers(c: CatalogState, repository: string, digest: string): Promise<Descriptor[]> {
  const repo = await walked(c, repository);
  const out: Descriptor[] = [];
  for (const desc of repo?.manifests.values() ?? []) {
    const found = await info(c, repository, desc);
    if (found?.subject !== digest) continue;
    out.push({
      ...plain(desc),
      ...(found.artifactType ? { artifactType: found.artifactType } : {}),
      ...(found.annotations ? { annotations: found.annotations } : {}),
    });
  }
  return out;
}

/** Drop the recorded names matching `which`; returns them. */
function forget(repo: RepositoryState, which: (n: { tag?: string; digest: string }) => boolean): string[] {
  const gone = [...repo.names].filter(([, n]) => which(n)).map(([name]) => name);
  for (const name of gone) repo.names.delete(name);
  return gone;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The images of an archive, with the entries they were saved from. */
export function archiveImages(archive: ArchiveReader): StoredImage[] {
  return archive.images.map((i) => ({ name: i.name, entry: i.entry, descriptor: i.descriptor }));
}

/** The tagged images recorded in a cache's index.json. */
export async function cacheImages(cache: CacheStore): Promise<StoredImage[]> {
  return [...(await cache.tags()).entries()].map(([name, d]) => ({ name, descriptor: plain(d) }));
}
