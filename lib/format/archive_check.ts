/**
 * What an archive may contain, decided in one place. An archive comes from
 * another machine and is opened by a process that pushes to a registry or
 * serves it, so nothing in it is trusted: every tar member must be part of
 * the OCI layout we write (`oci-layout`, `index.json`, the locks, `blobs/`
 * and its blob files — no links, devices, absolute or `..` paths, no second
 * copy of a name), every image's graph must be present and hash to its
 * digests (or, in a delta, be listed by the base lock; or be a layer of a
 * manifest rewritten with `--foreign-layers skip`), and the embedded
 * lock must describe exactly what index.json carries: the same images at
 * the same digests, each pinning exactly the blobs of its graph. A lock
 * that pins more (or less) than the archive carries would let a load or a
 * later `--locked` save trust content nobody checked.
 * @module
 */
import { ARTIFACT_ANNOTATION, KIND_ANNOTATION, SUBJECT_ENTRY_ANNOTATION } from "../oci/annotations.ts";
import { errorMessage } from "../errors.ts";
import { lockBlobs, parseLock, parseLockInSteps } from "../lock.ts";
import type { Lock, LockedImage } from "../../schemas/lock.ts";

import { walkGraph } from "../oci/graph.ts";
import { isManifestType } from "../oci/media.ts";
import type { Descriptor } from "../oci/manifest.ts";
import { isValidDigest } from "../ref.ts";
import type { TarEntry } from "./tar.ts";

/** One problem found in an archive. */
export interface ArchiveProblem {
  /** The member, image, blob or part concerned. */
  subject: string;
  /** What is wrong, on one line. */
  message: string;
}

/** Files of the layout besides blobs. */
const LAYOUT_FILES = new Set(["oci-layout", "index.json", "airgap.lock", "airgap-base.lock"]);
/** Directories of the layout (`""` is a `./` entry). */
const LAYOUT_DIRS = /^(|blobs\/?|blobs\/[a-z0-9]+\/?)$/;
const LINK_TYPES: Record<string, string> = {
  "1": "a hard link",
  "2": "a symbolic link",
  "3": "a character device",
  "4": "a block device",
  "6": "a FIFO",
};

/** The digest a member holds (`blobs/sha256/<hex>`), or undefined. */
export function blobDigestOf(name: string): string | undefined {
  const match = name.match(/^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/);
  const digest = match ? `${match[1]}:${match[2]}` : undefined;
  return digest && isValidDigest(digest) ? digest : undefined;
}

/**
 * Why a tar member does not belong in an archive, or undefined when it does.
 * `seen` maps the names of the files met so far to their header offsets.
 */
export function memberProblem(entry: TarEntry, seen: ReadonlyMap<string, number>): string | undefined {
  const { name, type } = entry;
  if (name.startsWith("/") || /^[A-Za-z]:[\\/]/.test(name)) return "an absolute path";
  if (name.split(/[\\/]/).includes("..")) return "a path outside the archive";
  if (LINK_TYPES[type]) return LINK_TYPES[type];
  if (type === "5") return LAYOUT_DIRS.test(name) ? undefined : "a directory that is not part of an OCI layout";
  if (type !== "0") return `an entry of type '${type}' (only files and directories belong here)`;
  if (!LAYOUT_FILES.has(name) && !blobDigestOf(name)) return "not part of an OCI layout";
  const first = seen.get(name);
  if (first !== undefined) return `a second copy of a name (the first is at offset ${first})`;
  return undefined;
}

/** The subject naming a member in messages: its name (quoted, so nothing in it can break the line) and offset. */
export function memberSubject(entry: TarEntry): string {
  return `member ${JSON.stringify(entry.name)} at offset ${entry.headerOffset}`;
}

/** What {@link checkLayout} needs of an opened archive. */
export interface LayoutSource {
  images: { descriptor: Descriptor; name: string; entry: string; annotations: Record<string, string> }[];
  blobs: ReadonlyMap<string, TarEntry>;
  lock?: string;
  readBytes(desc: Descriptor): Promise<Uint8Array>;
}

/** What {@link checkLayout} found. */
export interface LayoutCheck {
  /** Everything wrong; empty when the archive is sound. */
  problems: ArchiveProblem[];
  /** Blobs the images need that the archive leaves to its base (deltas). */
  fromBase: number;
}

/**
 * Check every image's graph is present (hashing the manifests on the way),
 * or present given `base` (the blobs a delta may leave out), and that the
 * embedded lock agrees with index.json.
 */
export async function checkLayout(archive: LayoutSource, base?: ReadonlySet<string>): Promise<LayoutCheck> {
  const problems: ArchiveProblem[] = [];
  const outside = new Set<string>();
  const graphs = new Map<string, { nodes: Descriptor[]; external: Descriptor[] }>();
  const read = async (d: Descriptor) => (archive.blobs.has(d.digest) ? await archive.readBytes(d) : undefined);
  // Saved with `--foreign-layers skip`: the layers of rewritten manifests are left for the target to hold
  // (load checks it does before pushing anything).
  const skipping = new Set<string>();
  // Parsed once, in steps (a lock at its limit takes a while to validate; signals are heard meanwhile).
  const lock: Lock | Error | undefined = archive.lock === undefined
    ? undefined
    : await parseLockInSteps(archive.lock, "airgap.lock").catch((e) => e instanceof Error ? e : new Error(String(e)));
  if (lock !== undefined && !(lock instanceof Error)) {
    for (const pin of lock.images) if (pin.rewritten) skipping.add(pin.entry);
  }
  for (const image of archive.images) {
    let graph;
    try {
      graph = await walkGraph(image.descriptor, read, image.name);
    } catch (e) {
      problems.push({ subject: image.name, message: errorMessage(e) });
      continue;
    }
    graphs.set(image.entry, graph);
    for (const node of graph.nodes) {
      const held = archive.blobs.get(node.digest);
      if (held) {
        if (held.size !== node.size) {
          problems.push({ subject: image.name, message: `blob ${node.digest} has the wrong size in the archive` });
        }
      } else if (base?.has(node.digest)) {
        outside.add(node.digest);
      } else if (skipping.has(image.entry) && !isManifestType(node.mediaType) && !/config/.test(node.mediaType)) {
        continue;
      } else {
        const kind = isManifestType(node.mediaType) ? "manifest" : "blob";
        const hint = base ? " (and its base does not list it)" : "";
        problems.push({ subject: image.name, message: `${kind} ${node.digest} is missing${hint}` });
      }
    }
  }
  if (lock !== undefined) problems.push(...lockProblems(lock, archive, graphs));
  return { problems, fromBase: outside.size };
}

/** The embedded lock must pin exactly the images of index.json, each with exactly the blobs of its graph. */
function lockProblems(
  lock: Lock | Error,
  archive: LayoutSource,
  graphs: ReadonlyMap<string, { nodes: Descriptor[]; external: Descriptor[] }>,
): ArchiveProblem[] {
  const problems: ArchiveProblem[] = [];
  if (lock instanceof Error) return [{ subject: "airgap.lock", message: errorMessage(lock) }];
  const isArtifact = (i: { annotations: Record<string, string> }) => Boolean(i.annotations[ARTIFACT_ANNOTATION]);
  const images = archive.images.filter((i) =>
    ["image", "file"].includes(i.annotations[KIND_ANNOTATION] ?? "image") && !isArtifact(i)
  );
  const carried = new Set(images.map((i) => i.entry));
  for (const pin of lock.images) {
    if (!carried.has(pin.entry)) {
      problems.push({
        subject: "airgap.lock",
        message: `pins ${pin.entry} (${pin.digest}), which index.json does not carry`,
      });
    }
  }
  const pinned = new Map(lock.images.map((i) => [i.entry, i]));
  for (const image of images) {
    const pin = pinned.get(image.entry);
    if (!pin) {
      problems.push({
        subject: image.name,
        message: `index.json carries ${image.entry}, which airgap.lock does not pin`,
      });
      continue;
    }
    if (pin.digest !== image.descriptor.digest) {
      problems.push({
        subject: image.name,
        message: `index.json says ${image.descriptor.digest}, airgap.lock says ${pin.digest}`,
      });
      continue;
    }
    const graph = graphs.get(image.entry);
    if (!graph) continue; // its graph is already reported
    problems.push(...artifactProblems(archive, image.name, pin, graphs));
    const blobs = lockBlobs({ lockVersion: 1, images: [{ ...pin, artifacts: undefined }] });
    const inGraph = new Map([...graph.nodes, ...graph.external].map((d) => [d.digest, d.size]));
    for (const [digest, size] of blobs) {
      if (inGraph.get(digest) !== size) {
        problems.push({
          subject: image.name,
          message: `airgap.lock pins blob ${digest} (${size} bytes), which its manifests do not reference`,
        });
      }
    }
    for (const node of graph.nodes) {
      if (!blobs.has(node.digest)) {
        problems.push({ subject: image.name, message: `blob ${node.digest} is in the archive but not in airgap.lock` });
      }
    }
  }
  return problems;
}

/**
 * The signatures, attestations, SBOMs and referrers the lock pins under an
 * image must be exactly the artifact entries index.json carries for it, each
 * pinning exactly the blobs of its graph.
 */
function artifactProblems(
  archive: LayoutSource,
  subject: string,
  pin: LockedImage,
  graphs: ReadonlyMap<string, { nodes: Descriptor[]; external: Descriptor[] }>,
): ArchiveProblem[] {
  const problems: ArchiveProblem[] = [];
  const carried = archive.images.filter((i) =>
    i.annotations[ARTIFACT_ANNOTATION] && i.annotations[SUBJECT_ENTRY_ANNOTATION] === pin.entry
  );
  const byDigest = new Map(carried.map((i) => [i.descriptor.digest, i]));
  const pinned = new Set((pin.artifacts ?? []).map((a) => a.digest));
  for (const artifact of pin.artifacts ?? []) {
    const entry = byDigest.get(artifact.digest);
    if (!entry) {
      problems.push({
        subject,
        message: `airgap.lock pins artifact ${artifact.digest}, which index.json does not carry`,
      });
      continue;
    }
    const graph = graphs.get(entry.entry);
    if (!graph) continue; // already reported
    const inGraph = new Map([...graph.nodes, ...graph.external].map((d) => [d.digest, d.size]));
    const want = new Map([[artifact.digest, artifact.size], ...Object.entries(artifact.blobs)]);
    const same = want.size === inGraph.size && [...want].every(([d, size]) => inGraph.get(d) === size);
    if (!same) problems.push({ subject, message: `artifact ${artifact.digest}: airgap.lock and its manifests differ` });
  }
  for (const entry of carried) {
    if (!pinned.has(entry.descriptor.digest)) {
      problems.push({ subject, message: `index.json carries artifact ${entry.entry}, which airgap.lock does not pin` });
    }
  }
  return problems;
}

/** The blobs a delta's embedded base lock lists. */
export function baseLockBlobs(baseLock: string): Set<string> {
  return new Set(lockBlobs(parseLock(baseLock, "airgap-base.lock")).keys());
}
