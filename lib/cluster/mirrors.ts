/**
 * How a cluster finds the images `load` pushed: for every upstream registry
 * the lock names (docker.io, quay.io, …), a mirror to the private registry,
 * and — where `load` put an image under another path than its upstream one
 * (Rancher's naming: `busybox` → `REGISTRY/rancher/busybox`, `quay.io/x/y` →
 * `REGISTRY/quay.io/x/y`, a `--prefix`) — the repository rewrites that map
 * the upstream path to the pushed one.
 *
 * The rules are derived from the very function `load` names targets with
 * ({@link targetReference}), per image, so they cannot drift from it.
 * They are made so that no two rules ever match one repository: RKE2/K3s
 * keep `rewrite` as a map and apply the first match in map order, which is
 * not the order written. So a namespace whose every image moves the same way
 * gets one rule (`^rancher/(.*)$`), a registry whose every image moves the
 * same way one rule (`^(.*)$`), and any other image an exact rule
 * (`^library/busybox$`). Plain containerd (`hosts.toml`) has no rewrite,
 * only a path on the mirror endpoint (`override_path`), which expresses a
 * uniform prefix and nothing else; {@link MirrorPlan.endpointPath} is set
 * when that is enough, and the images it cannot map are named.
 * @module
 */
import { AirgapError } from "../errors.ts";
import { parseReference, targetReference } from "../ref.ts";

/** Where `load` pushes: registry host and path prefix (a Harbor project). */
export interface PrivateRegistry {
  /** Registry host with optional port. */
  registry: string;
  /** Path prefix after the host, or `""`. */
  prefix: string;
}

/** The mirror of one upstream registry. */
export interface MirrorPlan {
  /** Upstream registry host as kubelet names it (`docker.io`, `quay.io`). */
  upstream: string;
  /** Repository rewrites, regex → replacement (Go RE2 syntax, `$1`); empty when paths are kept. */
  rewrite: Record<string, string>;
  /**
   * The path prefix a plain containerd mirror endpoint needs (`REGISTRY/v2/PATH`, `override_path`): the one
   * most images moved by, `""` when they kept their paths; undefined when no image moved by a prefix.
   */
  endpointPath?: string;
  /** Upstream repositories that endpoint does not map to where load pushed them (they need `rewrite`). */
  unmappable: string[];
  /** Upstream repository → where load pushed it, for every image of this registry. */
  repositories: Map<string, string>;
}

/** Two entries kubelet cannot tell apart that load put at different paths: the first one wins. */
export interface NameClash {
  /** The upstream name kubelet asks for (`docker.io/library/busybox`). */
  upstream: string;
  /** The pushed path the cluster is pointed at (the first entry's). */
  kept: string;
  /** The other pushed path. */
  dropped: string;
}

/** The mirrors of a set of list entries, and the clashes met. */
export interface MirrorSet {
  /** One per upstream registry, by host. */
  mirrors: MirrorPlan[];
  /** Upstream names pushed under two paths. */
  clashes: NameClash[];
}

/** Escape a repository path for an anchored RE2 pattern (paths hold `[a-z0-9._/-]`). */
function escapeRepository(path: string): string {
  return path.replace(/[.\\+*?()|[\]{}^$]/g, "\\$&");
}

/** The prefix `p` with `target === p + source`, or undefined. */
function addedPrefix(source: string, target: string): string | undefined {
  return target.endsWith(source) && (target.length === source.length || target.at(-source.length - 1) === "/")
    ? target.slice(0, target.length - source.length)
    : undefined;
}

/** The same prefix for every pair, or undefined. */
function commonPrefix(pairs: [string, string][]): string | undefined {
  const prefixes = new Set(pairs.map(([s, t]) => addedPrefix(s, t)));
  const [only] = prefixes;
  return prefixes.size === 1 && only !== undefined ? only : undefined;
}

/** The rewrite rules of one registry: no two match one repository (see the module note). */
export function rewriteRules(repositories: Map<string, string>): Record<string, string> {
  const pairs = [...repositories];
  const all = commonPrefix(pairs);
  if (all === "") return {};
  if (all !== undefined) return { "^(.*)$": `${all}$1` };
  const groups = new Map<string, [string, string][]>();
  for (const pair of pairs) {
    const slash = pair[0].indexOf("/");
    const key = slash === -1 ? `=${pair[0]}` : pair[0].slice(0, slash + 1);
    groups.set(key, [...groups.get(key) ?? [], pair]);
  }
  const rules: Record<string, string> = {};
  for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const prefix = key.startsWith("=") ? undefined : commonPrefix(group);
    if (prefix === "") continue;
    if (prefix !== undefined) {
      rules[`^${escapeRepository(key)}(.*)$`] = `${prefix}${key}$1`;
      continue;
    }
    for (const [source, target] of group) if (source !== target) rules[`^${escapeRepository(source)}$`] = target;
  }
  return rules;
}

/**
 * Apply rewrite rules to a repository as RKE2/K3s do (the matching rule's
 * replacement; unchanged when none matches). More than one match is an
 * error: the generated rules never overlap, and this is their proof.
 */
export function applyRewrite(rules: Record<string, string>, repository: string): string {
  const matching = Object.entries(rules).filter(([pattern]) => new RegExp(pattern).test(repository));
  if (matching.length > 1) {
    throw new AirgapError(`rewrite rules ${matching.map(([p]) => p).join(", ")} all match ${repository}`);
  }
  if (matching.length === 0) return repository;
  const [pattern, replacement] = matching[0];
  return repository.replace(new RegExp(pattern), replacement);
}

/**
 * The mirror of every upstream registry the entries name, towards `target`.
 * Entries that are not references (or that load cannot name) throw, naming the entry.
 */
export function mirrorsFor(entries: readonly string[], target: PrivateRegistry): MirrorSet {
  const byUpstream = new Map<string, Map<string, string>>();
  const clashes: NameClash[] = [];
  for (const entry of entries) {
    const source = parseReference(entry);
    const pushed = targetReference(entry, target.registry, target.prefix);
    const repositories = byUpstream.get(source.registry) ?? new Map<string, string>();
    byUpstream.set(source.registry, repositories);
    const kept = repositories.get(source.repository);
    if (kept === undefined) repositories.set(source.repository, pushed.repository);
    else if (kept !== pushed.repository) {
      const upstream = `${source.registry}/${source.repository}`;
      if (!clashes.some((c) => c.upstream === upstream && c.dropped === pushed.repository)) {
        clashes.push({ upstream, kept, dropped: pushed.repository });
      }
    }
  }
  const mirrors = [...byUpstream].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(
    ([upstream, repositories]): MirrorPlan => {
      const prefix = commonPrefix([...repositories]);
      const majority = prefix ?? mostCommonPrefix(repositories);
      return {
        upstream,
        rewrite: rewriteRules(repositories),
        endpointPath: majority?.replace(/\/$/, ""),
        unmappable: [...repositories].filter(([s, t]) => {
          const moved = addedPrefix(s, t);
          return moved === undefined || moved !== majority;
        }).map(([s]) => s),
        repositories,
      };
    },
  );
  return { mirrors, clashes };
}

/** The prefix most images of a registry moved by (for the endpoint when no one prefix maps them all). */
export function mostCommonPrefix(repositories: Map<string, string>): string | undefined {
  const counts = new Map<string, number>();
  for (const [s, t] of repositories) {
    const p = addedPrefix(s, t);
    if (p !== undefined) counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [p, n] of counts) if (best === undefined || n > counts.get(best)!) best = p;
  return best;
}
