/**
 * Images a chart deploys outside `image:` fields: references in container
 * `args` and `env` (longhorn's engine and CSI sidecars), in ConfigMap text
 * (istio's operator config), and `{registry, repository, tag}` maps in custom
 * resources (rancher-logging's fluentd). `helm template | grep image:` misses
 * them, and so would a save. A string is taken only when it parses as a
 * reference with a tag or digest AND its repository is one the chart's own
 * values name (an image block), so words that merely look like references
 * are never invented into images. Free text is not a deployment: CRDs,
 * `description` fields, annotations and labels are not searched (NOTES.txt
 * and comments never reach here).
 * @module
 */
import { parseReference, type Reference } from "./host.ts";
import { type GoMap, isMap } from "./gotypes.ts";
import type { ScopedChart } from "./render.ts";

/** An image found outside an `image:` field, and where. */
export interface OutsideImage {
  image: string;
  /** Where in the object: `args of container longhorn-manager`, `Logging.spec.fluentd.image`. */
  field: string;
}

function parsed(text: string): Reference | undefined {
  try {
    return parseReference(text);
  } catch {
    return undefined;
  }
}

/** The repository paths named by image blocks in values (`repository`, `image`, `…Image`, Kubewarden's `module`). */
export function valuesRepositories(scopes: ScopedChart[]): Set<string> {
  const out = new Set<string>();
  const add = (name: string) => {
    const ref = parsed(name.trim().replace(/@.*$/, ""));
    if (ref && ref.repository.length > 1) out.add(ref.repository);
  };
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (isMap(node)) {
      if (typeof node.repository === "string") {
        add(
          typeof node.registry === "string" && node.registry ? `${node.registry}/${node.repository}` : node.repository,
        );
      }
      for (const [key, value] of Object.entries(node)) {
        if (typeof value === "string" && /^(image|.+Image|module)$/.test(key)) {
          add(value.replace(/^(?:registry|oci):\/\//, ""));
        } else walk(value);
      }
    }
  };
  for (const scope of scopes) walk(scope.values);
  return out;
}

function confirmed(ref: Reference, repositories: Set<string>): boolean {
  for (const repository of repositories) {
    if (ref.repository === repository || ref.repository.endsWith(`/${repository}`)) return true;
  }
  return false;
}

/** Tokens of a string that could be references: split on spaces, quotes, `=`, `,`, `;`. */
function tokens(text: string): string[] {
  return text.split(/[\s"'=,;()[\]{}]+/).filter((t) => t.length > 2 && /[:@]/.test(t) && !t.endsWith(":"));
}

function describe(kind: string, path: (string | number)[], container?: string): string {
  if (container !== undefined) {
    const i = path.findIndex((p) => p === "args" || p === "command" || p === "env");
    if (i !== -1) {
      const what = path[i] === "env" ? "env" : path[i];
      return `${what} of container ${container}`;
    }
  }
  return [kind || "object", ...path.map((p) => (typeof p === "number" ? `[${p}]` : p))].join(".").replace(/\.\[/g, "[");
}

/**
 * The confirmed references in one rendered manifest, other than `image:`
 * strings (the caller has those).
 */
export function outsideImages(manifest: unknown, repositories: Set<string>): OutsideImage[] {
  const found: OutsideImage[] = [];
  const kind = isMap(manifest) && typeof manifest.kind === "string" ? manifest.kind : "";
  // A CRD is a schema, not a deployment: its examples and descriptions name images nothing runs.
  if (kind === "CustomResourceDefinition") return found;
  const take = (raw: string, path: (string | number)[], container?: string) => {
    // OCI artifacts named with a scheme (Kubewarden's `spec.module: registry://ghcr.io/…`) are references too.
    const text = raw.replace(/^(?:registry|oci):\/\//, "");
    const ref = parsed(text);
    if (!ref || !/[:@]/.test(text.replace(/^[^/]*\//, "")) || !confirmed(ref, repositories)) return;
    found.push({ image: text, field: describe(kind, path, container) });
  };
  const walk = (node: unknown, path: (string | number)[], container?: string): void => {
    if (isFreeText(path)) return;
    if (typeof node === "string") {
      if (path[path.length - 1] === "image") return;
      for (const token of tokens(node)) take(token, path, container);
    } else if (Array.isArray(node)) node.forEach((item, i) => walk(item, [...path, i], container));
    else if (isMap(node)) {
      const map = node as GoMap;
      const name = typeof map.name === "string" && typeof map.image === "string" ? map.name : container;
      if (typeof map.repository === "string" && map.repository !== "" && isScalar(map.tag) && map.tag !== "") {
        const registry = typeof map.registry === "string" && map.registry ? `${map.registry}/` : "";
        take(`${registry}${map.repository}:${String(map.tag)}`, path, name);
      }
      for (const [key, value] of Object.entries(map)) walk(value, [...path, key], name);
    }
  };
  walk(manifest, []);
  return found;
}

/**
 * Text written for people, which no runtime reads as an image: `description` fields (CRD schemas, CR docs),
 * and `metadata.annotations` and labels.
 */
function isFreeText(path: (string | number)[]): boolean {
  const last = path[path.length - 1];
  if (last === "description" || last === "openAPIV3Schema") return true;
  return path.length >= 2 && path[path.length - 2] === "metadata" && (last === "annotations" || last === "labels");
}

function isScalar(value: unknown): boolean {
  return typeof value === "string" || typeof value === "number" || typeof value === "bigint";
}
