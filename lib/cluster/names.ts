/**
 * The name containerd registers for an archive entry
 * (`io.containerd.image.name` in index.json). containerd, and so RKE2/K3s
 * importing `agent/images/*.tar`, takes this annotation verbatim as the image
 * name, and kubelet later asks for the fully qualified name of what a pod
 * spec says (`rancher/shell:v0.1.21` → `docker.io/rancher/shell:v0.1.21`).
 * So the annotation is the fully qualified name of the list entry — never
 * the mirror it was pulled through, never the short form — or, when the
 * archive is meant for a cluster that pulls from the private registry under
 * load's names (`--registry-name`), exactly the name `load` would push.
 * `org.opencontainers.image.ref.name` is left to what OCI tools expect
 * (`skopeo copy oci-archive:FILE:rancher/fleet:v0.9.0`).
 * Carried files and Helm charts (`io.airgap.kind: file|chart`) get no name
 * at all: `ctr images import` names an entry by either annotation and then
 * fails on an artifact that is not a container image (`mismatched image
 * rootfs and manifest layers`), so a preload of the archive would stop
 * there; unnamed, containerd leaves them alone, and readers name them by
 * their entry ({@link unnamedEntryName}).
 * Decided here, once, so the archive writer and the cluster configuration
 * cannot drift.
 * @module
 */
import { formatReference, parseReference, splitRegistryArgument, targetReference } from "../ref.ts";

/** `--registry-name HOST[:PORT][/prefix]` parsed: where `load` would put the images. */
export interface RegistryNaming {
  /** Registry host with optional port. */
  registry: string;
  /** Path prefix after the host (a Harbor project), or `""`. */
  prefix: string;
}

/** Parse `HOST[:PORT][/prefix]` as `--registry-name` takes it. */
export function registryNaming(text: string): RegistryNaming {
  return splitRegistryArgument(text);
}

/**
 * The containerd image name of a list entry: its fully qualified reference
 * (`busybox:1.36` → `docker.io/library/busybox:1.36`), or with `naming` the
 * target `load` would create (`REGISTRY/rancher/busybox:1.36`). `fallback`
 * (the image's source name) when the entry is not an image reference.
 */
export function containerdName(entry: string, fallback: string, naming?: RegistryNaming): string {
  try {
    return formatReference(
      naming ? targetReference(entry, naming.registry, naming.prefix) : parseReference(entry),
    );
  } catch {
    return fallback;
  }
}

/** The `io.airgap.kind` values whose index.json entries carry no image name (see the module note). */
const UNNAMED_KINDS: ReadonlySet<string> = new Set(["file", "chart"]);

/** Does an index.json entry of this `io.airgap.kind` carry image names (`ref.name`, `io.containerd.image.name`)? */
export function namedInIndex(kind: string | undefined): boolean {
  return kind === undefined || !UNNAMED_KINDS.has(kind);
}

/**
 * The name readers give an entry left unnamed: a chart's entry is its name
 * (`charts/cert-manager:v1.12.3`), a file's is its repository (`files/NAME`,
 * tag `latest`); undefined for any other entry.
 */
export function unnamedEntryName(kind: string | undefined, entry: string | undefined): string | undefined {
  if (!entry) return undefined;
  if (kind === "chart") return entry;
  if (kind === "file") return `${entry}:latest`;
  return undefined;
}
