/**
 * Image references as values: parse once, apply Docker Hub defaults in exactly
 * one place, and name targets the way Rancher's load script does.
 * @module
 */
import { echo } from "./text.ts";
import { AirgapError } from "./errors.ts";

/** A parsed, normalised image reference. */
export interface Reference {
  /** Registry host with optional port; Docker Hub is always `docker.io`. */
  registry: string;
  /** Repository path, e.g. `library/nginx`, `rancher/rancher`. */
  repository: string;
  /** Tag, if any (defaults to `latest` when neither tag nor digest is given). */
  tag?: string;
  /** Digest `algorithm:hex`, if any. */
  digest?: string;
}

/** The canonical name of Docker Hub and the host its API is served from. */
export const DOCKER_HUB = "docker.io";
const DOCKER_HUB_API = "registry-1.docker.io";
const DOCKER_HUB_ALIASES = new Set(["index.docker.io", "registry-1.docker.io"]);

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;
const SHA512_HEX = /^[a-f0-9]{128}$/;
const MAX_NAME_LENGTH = 255;

function invalid(text: string, why: string): AirgapError {
  return new AirgapError(`invalid image reference "${echo(text)}": ${why}`, {
    image: echo(text),
  });
}

/** Longer than any valid reference (a 255-character name, a 128-character tag, a sha512 digest): refused before any pattern runs. */
const MAX_REFERENCE_LENGTH = 1024;

/** Check a digest string (`sha256:<64 hex>` or `sha512:<128 hex>`). */
export function isValidDigest(digest: string): boolean {
  if (!DIGEST.test(digest)) return false;
  const [algorithm, hex] = digest.split(":");
  if (algorithm === "sha256") return SHA256_HEX.test(hex);
  if (algorithm === "sha512") return SHA512_HEX.test(hex);
  return false;
}

/** True when the first path component of a name is a registry host. */
function looksLikeHost(component: string): boolean {
  return component.includes(".") || component.includes(":") ||
    component === "localhost" || component !== component.toLowerCase();
}

/**
 * Split `name[:tag][@digest]` into its parts as written, without checking or
 * normalising them (a `:` after the last `/` starts the tag).
 */
export function splitReference(text: string): { name: string; tag?: string; digest?: string } {
  let name = text;
  let digest: string | undefined;
  const at = name.indexOf("@");
  if (at !== -1) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
  }
  let tag: string | undefined;
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  return { name, tag, digest };
}

/**
 * Parse and normalise an image reference like Docker does:
 * `nginx` → `docker.io/library/nginx:latest`,
 * `registry:5000/a/b@sha256:…`, `quay.io/x/y:v1@sha256:…`.
 */
export function parseReference(text: string): Reference {
  const input = text.trim();
  if (input === "") throw invalid(text, "empty");
  if (input.length > MAX_REFERENCE_LENGTH) throw invalid(text, `longer than ${MAX_REFERENCE_LENGTH} characters`);
  if (/\s/.test(input)) throw invalid(text, "contains whitespace");

  const parts = splitReference(input);
  const { name: rest, digest } = parts;
  let tag = parts.tag;
  if (digest !== undefined && !isValidDigest(digest)) {
    throw invalid(text, `malformed digest "${digest}"`);
  }
  if (tag !== undefined && !TAG.test(tag)) throw invalid(text, `malformed tag "${tag}"`);

  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash !== -1 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    if (!DOMAIN.test(registry)) {
      throw invalid(text, `malformed registry host "${registry}"`);
    }
  }
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB;
  if (path === "") throw invalid(text, "missing repository name");
  for (const component of path.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        text,
        component === ""
          ? "empty path component"
          : `path component "${component}" must be lowercase letters, digits and separators`,
      );
    }
  }
  if (registry === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  if (registry.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw invalid(text, `name longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository: path, tag, digest };
}

/** `registry/repository[:tag][@digest]`, fully qualified. */
export function formatReference(ref: Reference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag) out += `:${ref.tag}`;
  if (ref.digest) out += `@${ref.digest}`;
  return out;
}

/** The host to talk to for a registry name (Docker Hub's API lives elsewhere). */
export function registryEndpoint(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Normalise a registry host as a user writes it: strip scheme, trailing slashes and `/v2`. */
export function normaliseRegistryHost(text: string): string {
  let host = text.trim().replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  host = host.replace(/\/v[12]\/?$/, "");
  if (DOCKER_HUB_ALIASES.has(host)) return DOCKER_HUB;
  return host;
}

/** Split `host[:port][/prefix/path]` as given to `--registry` into host and path prefix. */
export function splitRegistryArgument(
  text: string,
): { registry: string; prefix: string } {
  const cleaned = normaliseRegistryHost(text);
  const slash = cleaned.indexOf("/");
  const registry = slash === -1 ? cleaned : cleaned.slice(0, slash);
  const prefix = slash === -1 ? "" : cleaned.slice(slash + 1);
  if (registry === "" || !DOMAIN.test(registry)) {
    throw new AirgapError(`invalid registry "${echo(text)}": expected HOST[:PORT]`);
  }
  for (const component of prefix === "" ? [] : prefix.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      throw new AirgapError(
        `invalid registry path prefix "${echo(prefix)}" in "${echo(text)}"`,
      );
    }
  }
  return { registry, prefix };
}

/**
 * The source reference of a list entry: the entry itself, or — when a source
 * registry (a mirror) is given — `SOURCE/ENTRY` exactly as the Rancher save
 * script builds it.
 */
export function sourceReference(
  entry: string,
  sourceRegistry?: string,
): Reference {
  const source = sourceRegistry ? normaliseRegistryHost(sourceRegistry) : "";
  return parseReference(source ? `${source}/${entry.trim()}` : entry);
}

/**
 * Where a list entry lands in the private registry, exactly as
 * `rancher-load-images.sh` names it so Rancher's `system-default-registry`
 * finds it: an entry with a `/` goes to `REGISTRY/ENTRY` (a host in the
 * entry becomes part of the path); an entry without one goes to
 * `REGISTRY/rancher/ENTRY`. `prefix` (e.g. a Harbor project) is inserted
 * after the registry.
 */
export function targetReference(
  entry: string,
  registry: string,
  prefix = "",
): Reference {
  const written = entry.trim();
  const first = written.split("/")[0];
  if (written.includes("/") && first.includes(":")) {
    throw new AirgapError(
      `cannot name a target for "${
        echo(entry)
      }": its registry "${first}" has a port, which cannot be part of a repository path; list the image without the host and pull it with --source-registry`,
      { image: entry },
    );
  }
  const nameAndTag = written.includes("/") ? written : `rancher/${written}`;
  const host = normaliseRegistryHost(registry);
  const path = prefix.replace(/^\/+|\/+$/g, "");
  const text = `${host}/${path ? `${path}/` : ""}${nameAndTag}`;
  const ref = parseReference(text);
  if (ref.registry !== host) {
    throw new AirgapError(
      `cannot name a target for "${echo(entry)}" in registry "${registry}": "${
        echo(text)
      }" does not parse with that registry`,
      { image: entry },
    );
  }
  return ref;
}
