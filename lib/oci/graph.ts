/**
 * Walk an image's graph from its root through manifests, collecting every
 * descriptor once. Used wherever the whole graph must be known without
 * copying it: verification, listings, delta checks.
 * @module
 */
import { children, type Descriptor, parseManifest, storedChildren } from "./manifest.ts";
import { isManifestType } from "./media.ts";

/** An image's graph: every descriptor (root included), each once, parents before children. */
export interface Graph {
  /** What a store must hold for the image to be complete. */
  nodes: Descriptor[];
  /** Foreign layers left at their URLs (saved with the `keep` policy): not held by stores. */
  external: Descriptor[];
  /** Manifest digests whose bytes could not be read (a delta's base holds them). */
  unreadable: string[];
  /** Platforms of the image manifests under an index (`os/arch[/variant]`). */
  platforms: string[];
}

/** How {@link walkGraph} names what it parses. */
export interface WalkOptions {
  /** The name of a manifest in parse errors (default `WHAT@DIGEST`). */
  label?(desc: Descriptor): string;
}

/**
 * Walk from `root`. `read` returns a manifest's bytes, or undefined when the
 * store does not hold it (then its children are unknown).
 */
export async function walkGraph(
  root: Descriptor,
  read: (desc: Descriptor) => Promise<Uint8Array | undefined>,
  what = root.digest,
  options: WalkOptions = {},
): Promise<Graph> {
  const label = options.label ?? ((desc: Descriptor) => `${what}@${desc.digest}`);
  const seen = new Map<string, Descriptor>();
  const external = new Map<string, Descriptor>();
  const unreadable: string[] = [];
  const platforms: string[] = [];
  const visit = async (desc: Descriptor) => {
    if (seen.has(desc.digest)) return;
    seen.set(desc.digest, desc);
    if (!isManifestType(desc.mediaType)) return;
    const bytes = await read(desc);
    if (!bytes) {
      unreadable.push(desc.digest);
      return;
    }
    const manifest = parseManifest(bytes, desc.mediaType, label(desc));
    if (manifest.kind === "index") {
      for (const m of manifest.manifests) {
        const p = m.platform;
        if (p && !m.annotations?.["vnd.docker.reference.type"]) {
          platforms.push(`${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`);
        }
      }
    }
    const stored = storedChildren(manifest);
    for (const child of children(manifest)) if (!stored.includes(child)) external.set(child.digest, child);
    for (const child of stored) await visit(child);
  };
  await visit(root);
  return {
    nodes: [...seen.values()],
    external: [...external.values()],
    unreadable,
    platforms: [...new Set(platforms)],
  };
}
