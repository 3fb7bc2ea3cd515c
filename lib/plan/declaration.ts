/**
 * The declaration: what to carry, from where, for which platforms — from
 * `airgap.yaml`, or from the Rancher scripts' flags (an image list and a
 * source registry). Produces the image requests the planner resolves.
 * @module
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { type Config, ConfigSchema, type RegistrySettingsConfig } from "../../schemas/config.ts";
import { AirgapError, errorMessage } from "../errors.ts";
import { parsePlatformSelector, type PlatformSelector } from "../oci/platform.ts";
import {
  normaliseRegistryHost,
  parseReference,
  type Reference,
  sourceReference,
  splitRegistryArgument,
} from "../ref.ts";
import { declaredSources, type SourceSpec } from "../sources/specs.ts";
import { declaredFiles, type FileSpec } from "../files/spec.ts";
import { declaredDistributions, type DistributionSpec } from "../files/distribution.ts";
import { readImageList } from "../sources/list.ts";
import { readTextLimited } from "../limits.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import { parseTimeout } from "../transport/http.ts";
import type { ForeignLayerPolicy } from "../oci/foreign.ts";
import type { ArtifactKind } from "../artifacts/discover.ts";
import { type WindowsInput, windowsRequests } from "./windows_requests.ts";
import { parseYamlLocated } from "./yaml.ts";

/** One image to resolve. */
export interface ImageRequest {
  /** The entry exactly as written: drives target naming at load time. */
  entry: string;
  /** Where to fetch it. */
  source: Reference;
  /** Which platforms to keep. */
  platforms: PlatformSelector;
  /** Where it was declared: `rancher-images.txt:12`, `airgap.yaml:8`. */
  origin: string;
  /** Every place it was declared, `origin` first (set when there is more than one). */
  origins?: string[];
  /** Per image: signatures, attestations, SBOMs to carry (`artifacts:` on the entry). */
  artifacts?: ArtifactKind[];
  /** Per image: key files its cosign signature must verify with (`verify: {key}` on the entry). */
  verifyKeys?: string[];
}

/** A resolved declaration. */
export interface Declaration {
  /** The declaration file, when there is one. */
  configPath?: string;
  /** Images to resolve, de-duplicated by entry. */
  requests: ImageRequest[];
  /** Connection settings by registry host. */
  registries: Map<string, RegistrySettings>;
  /** Default load target. */
  target?: { registry: string; prefix: string };
  /** Default archive path. */
  output?: string;
  /** Cache directory. */
  cache?: string;
  /** The lock file that goes with the declaration. */
  lockPath?: string;
  /** What to do with foreign (non-distributable) layers (default include). */
  foreignLayers?: ForeignLayerPolicy;
  /** Rancher releases and charts whose images are added by `resolveSources` (they must be fetched). */
  sources?: SourceSpec[];
  /** `files:`: files carried as OCI artifacts (resolved at plan time, see lib/files). */
  files?: FileSpec[];
  /** `rke2:` and `k3s:`: distribution releases (their lists and files are fetched at plan time). */
  distributions?: DistributionSpec[];
  /** `keepGoing: true`: save, load and plan what can be, list the rest (as `--keep-going`). */
  keepGoing?: boolean;
  /** Only these entries (`-f airgap.yaml -l NAME.save-failed.txt`): a retry of what failed, with the declaration's settings. */
  only?: string[];
  /** `artifacts:` at the top: what to carry with every image. */
  artifacts?: ArtifactKind[];
  /** `verify: {key}` at the top: key files every image's signature must verify with. */
  verifyKeys?: string[];
  /** `registries.HOST.verify`: key files for images pulled from HOST. */
  verifyByRegistry?: Map<string, string[]>;
}

const KIND: Record<string, ArtifactKind> = { signatures: "signature", attestations: "attestation", sboms: "sbom" };

/** `artifacts: [signatures, …]` as kinds. */
function artifactKinds(list: readonly string[] | undefined): ArtifactKind[] | undefined {
  return list?.map((k) => KIND[k]);
}

/** `verify: {key}` as absolute key paths. */
function verifyKeyPaths(verify: { key: string | string[] } | undefined, dir: string): string[] | undefined {
  if (!verify) return undefined;
  return (typeof verify.key === "string" ? [verify.key] : verify.key).map((k) => resolve(dir, k));
}

/** The requests `only` keeps (all without it); an entry the declaration does not have is an error. */
export function onlyRequested(requests: ImageRequest[], only: readonly string[] | undefined): ImageRequest[] {
  if (!only) return requests;
  const wanted = new Set(only);
  const known = new Set(requests.map((r) => r.entry));
  const strangers = only.filter((entry) => !known.has(entry));
  if (strangers.length > 0) {
    throw new AirgapError(
      `${strangers.length} listed image(s) are not in the declaration: ${strangers.slice(0, 3).join(", ")}${
        strangers.length > 3 ? ", …" : ""
      }`,
      {},
      { exitCode: 2 },
    );
  }
  return requests.filter((r) => wanted.has(r.entry));
}

/** Overrides from the command line. */
export interface DeclarationOverrides {
  /** `--platform` values. */
  platforms?: string[];
  /** `--source-registry`. */
  sourceRegistry?: string;
  /** `--windows-image-list` files. */
  windowsImageLists?: string[];
  /** `--windows-versions` values (default 1809). */
  windowsVersions?: string[];
  /** `--foreign-layers`. */
  foreignLayers?: ForeignLayerPolicy;
  /**
   * What the declaration is read for: `pull` (plan, save) needs no credentials
   * for a target registry it does not pull from; `push` (load) needs only the
   * target's. Default: every registry's credentials must be usable.
   */
  use?: RegistryUse;
  /** `--registry` of a push: the target the command line names, whose credentials are needed instead of `target:`'s. */
  pushTarget?: string;
}

/** What a command does with registries: pull images from sources, or push them to the target. */
export type RegistryUse = "pull" | "push";

/** Whether a command that uses registries as `use` needs the credentials of `host`. */
export function needsCredentials(
  config: Config,
  use: RegistryUse | undefined,
  pushTarget?: string,
): (host: string) => boolean {
  if (!use) return () => true;
  const target = pushTarget
    ? splitRegistryArgument(pushTarget).registry
    : config.target
    ? normaliseRegistryHost(config.target.registry)
    : undefined;
  if (use === "push") return (host) => host === target;
  // A pull may reach the target only if the declaration names it as a source.
  const sources = new Set<string>();
  const mirror = (text?: string) => text && sources.add(normaliseRegistryHost(text.split("/")[0]));
  mirror(config.sourceRegistry);
  mirror(config.rancher?.sourceRegistry);
  mirror(config.rke2?.sourceRegistry);
  mirror(config.k3s?.sourceRegistry);
  for (const item of [...(config.lists ?? []), ...(config.windows?.lists ?? [])]) {
    if (typeof item === "object") mirror(item.sourceRegistry);
  }
  for (const chart of config.charts ?? []) {
    mirror(chart.sourceRegistry);
    if (chart.repo?.startsWith("oci://")) mirror(chart.repo.slice("oci://".length));
  }
  for (const item of [...(config.images ?? []), ...(config.windows?.images ?? [])]) {
    try {
      sources.add(parseReference(typeof item === "string" ? item : item.ref).registry);
    } catch { /* reported elsewhere */ }
  }
  return (host) => host !== target || sources.has(host);
}

/** The origins of each merged request, as a set: an entry written 10,000 times merges in linear time. */
const originSets = new WeakMap<ImageRequest, Set<string>>();

function addRequest(map: Map<string, ImageRequest>, request: ImageRequest) {
  const existing = map.get(request.entry);
  if (!existing) {
    map.set(request.entry, request);
    return;
  }
  const origins = existing.origins ?? [existing.origin];
  let seen = originSets.get(existing);
  if (!seen) originSets.set(existing, seen = new Set(origins));
  for (const origin of request.origins ?? [request.origin]) {
    if (!seen.has(origin)) {
      seen.add(origin);
      origins.push(origin);
    }
  }
  if (origins.length > 1) existing.origins = origins;
  // The same entry twice (two lists): keep the first, widen its platforms (each platform once).
  if (existing.platforms.all || request.platforms.all) {
    existing.platforms = { all: true };
  } else {
    const platforms = [...existing.platforms.platforms];
    const keys = new Set(platforms.map((p) => JSON.stringify(p)));
    for (const p of request.platforms.platforms) if (!keys.has(JSON.stringify(p))) platforms.push(p);
    existing.platforms = { all: false, platforms };
  }
}

/** Connection settings of one declared registry; an unusable credential is an error naming the key. */
export function registrySettings(
  host: string,
  settings: RegistrySettingsConfig,
  dir: string,
  file: string,
): RegistrySettings {
  const out: RegistrySettings = {
    insecure: settings.insecure,
    caFile: settings.ca ? resolve(dir, settings.ca) : undefined,
    ...(settings.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
    ...(settings.metadataConcurrency !== undefined ? { metadataConcurrency: settings.metadataConcurrency } : {}),
    ...(settings.timeout !== undefined
      ? { timeouts: parseTimeout(settings.timeout, `${file}: registries.${host}.timeout`) }
      : {}),
  };
  if (settings.username) {
    let password: string | undefined;
    if (settings.passwordEnv) {
      password = Deno.env.get(settings.passwordEnv);
      if (password === undefined) {
        throw new AirgapError(
          `${file}: registries.${host}.passwordEnv: environment variable ${settings.passwordEnv} is not set`,
          {},
          { exitCode: 2 },
        );
      }
    } else if (settings.passwordFile) {
      try {
        password = Deno.readTextFileSync(resolve(dir, settings.passwordFile)).replace(/\r?\n$/, "");
      } catch (e) {
        throw new AirgapError(`${file}: registries.${host}.passwordFile: ${errorMessage(e)}`, {}, { exitCode: 2 });
      }
    } else {
      throw new AirgapError(
        `${file}: registries.${host}: username needs passwordEnv or passwordFile (passwords are never written in airgap.yaml)`,
        {},
        { exitCode: 2 },
      );
    }
    out.credential = { username: settings.username, password, origin: `${file} registries.${host}` };
  }
  return out;
}

/**
 * Requests merged by entry, in order: an entry seen again keeps its first
 * source, widens its platforms and collects its origins. The inputs are not
 * changed.
 */
export function mergeRequests(...lists: ImageRequest[][]): ImageRequest[] {
  const map = new Map<string, ImageRequest>();
  for (const list of lists) {
    for (const request of list) {
      addRequest(map, { ...request, ...(request.origins ? { origins: [...request.origins] } : {}) });
    }
  }
  return [...map.values()];
}

/** One request for an entry; a malformed entry is an error naming `origin`. */
export function imageRequest(
  entry: string,
  origin: string,
  platforms: PlatformSelector,
  sourceRegistry?: string,
): ImageRequest {
  const written = entry.trim();
  return { entry: written, source: safeSource(written, sourceRegistry, origin), platforms, origin };
}

/** Show a path relative to the working directory when it is inside it. */
export function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** Load `airgap.yaml` and the lists it names. */
export async function loadDeclaration(path: string, overrides: DeclarationOverrides = {}): Promise<Declaration> {
  const file = displayPath(path);
  let text: string;
  try {
    text = await readTextLimited(path, "declaration", file);
  } catch (e) {
    if (e instanceof AirgapError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new AirgapError(`${file} does not exist (write one, see airgap.example.yaml, or use --image-list)`, {}, {
        exitCode: 2,
      });
    }
    throw new AirgapError(`cannot read ${file}: ${errorMessage(e)}`);
  }
  const { value: config, locate } = parseYamlLocated(text, file, ConfigSchema);
  return await declarationFromConfig(config, path, overrides, locate);
}

/** What building a declaration from a config reads: where it is, its defaults, the overrides. */
interface ConfigContext {
  config: Config;
  /** The declaration as shown in messages. */
  file: string;
  /** Its directory: relative paths in it are from there. */
  dir: string;
  overrides: DeclarationOverrides;
  locate: (path: readonly PropertyKey[]) => string;
  defaultPlatforms: PlatformSelector;
  sourceRegistry?: string;
}

/** Build a declaration from a validated config whose relative paths are relative to `path`. */
export async function declarationFromConfig(
  config: Config,
  path: string,
  overrides: DeclarationOverrides = {},
  locate: (path: readonly PropertyKey[]) => string = () => displayPath(path),
): Promise<Declaration> {
  const file = displayPath(path);
  const dir = dirname(resolve(path));
  const fallbackPlatforms = overrides.platforms?.length ? overrides.platforms : config.platforms;
  const defaultPlatforms = safeSelector(fallbackPlatforms, `${file}: platforms`);
  const sourceRegistry = overrides.sourceRegistry ?? config.sourceRegistry;
  const ctx: ConfigContext = { config, file, dir, overrides, locate, defaultPlatforms, sourceRegistry };
  const requests = new Map<string, ImageRequest>();
  imageRequests(ctx, requests);
  await listRequests(ctx, requests);
  for (const request of await windowsRequests(windowsInputOf(ctx))) addRequest(requests, request);
  const registries = declaredRegistries(ctx);
  const sources = await declaredSources(config, { path, locate, defaultPlatforms, sourceRegistry });
  const files = declaredFiles(config, { path, locate });
  const distributions = declaredDistributions(config, { path, locate, sourceRegistry });
  return {
    foreignLayers: overrides.foreignLayers ?? targetForeignLayers(config),
    configPath: path,
    requests: [...requests.values()],
    registries,
    target: config.target
      ? { registry: normaliseRegistryHost(config.target.registry), prefix: config.target.prefix ?? "" }
      : undefined,
    output: config.output ? resolve(dir, config.output) : undefined,
    cache: config.cache ? resolve(dir, config.cache) : undefined,
    lockPath: resolve(dir, "airgap.lock"),
    ...(sources.length > 0 ? { sources } : {}),
    ...(files.length > 0 ? { files } : {}),
    ...(distributions.length > 0 ? { distributions } : {}),
    ...(config.keepGoing !== undefined ? { keepGoing: config.keepGoing } : {}),
    ...(config.artifacts ? { artifacts: artifactKinds(config.artifacts) } : {}),
    ...(config.verify ? { verifyKeys: verifyKeyPaths(config.verify, dir) } : {}),
    verifyByRegistry: new Map(
      Object.entries(config.registries ?? {}).filter(([, r]) => r.verify)
        .map(([host, r]) => [normaliseRegistryHost(host), verifyKeyPaths(r.verify, dir)!]),
    ),
  };
}

/** The `images:` of a config. */
function imageRequests(ctx: ConfigContext, requests: Map<string, ImageRequest>): void {
  for (const [i, item] of (ctx.config.images ?? []).entries()) {
    const entry = typeof item === "string" ? item.trim() : item.ref.trim();
    const origin = ctx.locate(["images", i]);
    const platforms = typeof item === "object" && item.platforms
      ? safeSelector(item.platforms, `${origin}: platforms`)
      : ctx.defaultPlatforms;
    const artifacts = typeof item === "object" ? artifactKinds(item.artifacts) : undefined;
    const verifyKeys = typeof item === "object" ? verifyKeyPaths(item.verify, ctx.dir) : undefined;
    addRequest(requests, {
      entry,
      source: safeSource(entry, ctx.sourceRegistry, origin),
      platforms,
      origin,
      ...(artifacts ? { artifacts } : {}),
      ...(verifyKeys ? { verifyKeys } : {}),
    });
  }
}

/** The entries of the `lists:` of a config. */
async function listRequests(ctx: ConfigContext, requests: Map<string, ImageRequest>): Promise<void> {
  for (const item of ctx.config.lists ?? []) {
    const listPath = resolve(ctx.dir, typeof item === "string" ? item : item.path);
    const shown = displayPath(listPath);
    const platforms = typeof item === "object" && item.platforms
      ? safeSelector(item.platforms, `${ctx.file}: lists ${shown}: platforms`)
      : ctx.defaultPlatforms;
    const listSource = typeof item === "object" && item.sourceRegistry ? item.sourceRegistry : ctx.sourceRegistry;
    for (const { entry, line } of await readImageList(listPath, shown)) {
      const origin = `${shown}:${line}`;
      addRequest(requests, { entry, source: safeSource(entry, listSource, origin), platforms, origin });
    }
  }
}

/** The `windows:` section with the Windows command-line options, as {@link windowsRequests} reads it. */
function windowsInputOf(ctx: ConfigContext): WindowsInput {
  const { overrides, dir } = ctx;
  const windows = ctx.config.windows;
  return {
    versions: overrides.windowsVersions?.length ? overrides.windowsVersions : windows?.versions,
    versionsWhere: overrides.windowsVersions?.length ? "--windows-versions" : `${ctx.file}: windows.versions`,
    sourceRegistry: ctx.sourceRegistry,
    images: (windows?.images ?? []).map((item, i) => ({
      entry: typeof item === "string" ? item.trim() : item.ref.trim(),
      origin: ctx.locate(["windows", "images", i]),
      versions: typeof item === "object" ? item.versions : undefined,
    })),
    lists: [
      ...(windows?.lists ?? []).map((item) => {
        const path = resolve(dir, typeof item === "string" ? item : item.path);
        return typeof item === "string"
          ? { path, shown: displayPath(path) }
          : { path, shown: displayPath(path), versions: item.versions, sourceRegistry: item.sourceRegistry };
      }),
      ...(overrides.windowsImageLists ?? []).map((p) => ({ path: resolve(p), shown: displayPath(resolve(p)) })),
    ],
  };
}

/** The settings of each registry (by normalised host). */
function declaredRegistries(ctx: ConfigContext): Map<string, RegistrySettings> {
  const registries = new Map<string, RegistrySettings>();
  const needed = needsCredentials(ctx.config, ctx.overrides.use, ctx.overrides.pushTarget);
  for (const [host, settings] of Object.entries(ctx.config.registries ?? {})) {
    const key = normaliseRegistryHost(host);
    // A registry this command does not talk to: its password need not be set.
    const used = needed(key) ? settings : { ...settings, username: undefined };
    registries.set(key, registrySettings(host, used, ctx.dir, ctx.file));
  }
  return registries;
}

/** The foreign-layer policy the target registry's settings name, if any. */
function targetForeignLayers(config: Config): ForeignLayerPolicy | undefined {
  const targetHost = config.target ? normaliseRegistryHost(config.target.registry) : undefined;
  return Object.entries(config.registries ?? {})
    .find(([host]) => normaliseRegistryHost(host) === targetHost)?.[1].foreignLayers;
}

/** The seed-compatible declaration: one image list (and Windows lists), a source registry, platforms. */
export async function declarationFromList(
  listPath: string | undefined,
  overrides: DeclarationOverrides = {},
): Promise<Declaration> {
  const shown = listPath ? displayPath(listPath) : "";
  const platforms = safeSelector(overrides.platforms, "--platform");
  const requests = new Map<string, ImageRequest>();
  for (const { entry, line } of listPath ? await readImageList(listPath, shown) : []) {
    const origin = `${shown}:${line}`;
    addRequest(requests, { entry, source: safeSource(entry, overrides.sourceRegistry, origin), platforms, origin });
  }
  const windowsLists = (overrides.windowsImageLists ?? []).map((p) => ({ path: p, shown: displayPath(p) }));
  for (
    const request of await windowsRequests({
      lists: windowsLists,
      images: [],
      versions: overrides.windowsVersions,
      versionsWhere: "--windows-versions",
      sourceRegistry: overrides.sourceRegistry,
    })
  ) addRequest(requests, request);
  return { requests: [...requests.values()], registries: new Map(), foreignLayers: overrides.foreignLayers };
}

function safeSelector(values: string[] | undefined, where: string): PlatformSelector {
  try {
    return parsePlatformSelector(values);
  } catch (e) {
    throw new AirgapError(`${where}: ${errorMessage(e)}`, {}, { exitCode: 2 });
  }
}

function safeSource(entry: string, sourceRegistry: string | undefined, origin: string): Reference {
  try {
    parseReference(entry);
    return sourceReference(entry, sourceRegistry);
  } catch (e) {
    throw new AirgapError(`${origin}: ${errorMessage(e)}`, { image: entry }, { exitCode: 2 });
  }
}
