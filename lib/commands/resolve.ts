/**
 * The rules that turn the shared options into what the operations take,
 * each decided here once: which declaration a command reads, the lock it
 * reads and writes, the archive save writes and load reads when none is
 * named, the target registry with `--insecure`/`--ca-file` merged into its
 * settings. They are pure or only look at files, so unit tests call them
 * without a subprocess.
 * @module
 */
import { resolve } from "node:path";
import {
  type Declaration,
  declarationFromList,
  displayPath,
  loadDeclaration,
  mergeRequests,
} from "../plan/declaration.ts";
import { declaredRegistriesFor, sourceHosts } from "./credentials.ts";
import { usageError } from "../errors.ts";
import { checkDeclaration, CheckError, checkListDeclaration } from "../plan/check.ts";
import { readLock } from "../plan/lock.ts";
import type { Lock } from "../../schemas/lock.ts";
import { splitRegistryArgument } from "../ref.ts";
import { defaultCacheDir } from "../store/cache.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import { parseForeignLayerPolicy } from "../oci/foreign.ts";
import { exists } from "../fsutil.ts";
import type { CommonOptions, DeclarationOptions, TargetOptions, WindowsOptions } from "./options.ts";

/** `--with-signatures` and `--verify-key` as the commands take them. */
export const artifactFlags = (o: { withSignatures?: boolean; verifyKey?: string[] }) => ({
  withSignatures: o.withSignatures,
  verifyKeys: o.verifyKey?.map((p) => resolve(p)),
});

/** The cache directory: `--cache`, the declaration's `cache:`, or the default. */
export function cacheDir(options: { cache?: string }, decl?: Declaration): string {
  return options.cache ? resolve(options.cache) : decl?.cache ?? defaultCacheDir();
}

/**
 * Load the declaration: airgap.yaml, or the seed-compatible image lists — after checking all of it.
 * `mirror`: the run pushes too, so the target's credentials are needed as well as the sources'.
 */
export async function declaration(options: DeclarationOptions, mirror = false): Promise<Declaration> {
  const overrides = {
    platforms: options.platform,
    sourceRegistry: options.sourceRegistry,
    windowsImageLists: options.windowsImageList?.map((p) => resolve(p)),
    windowsVersions: options.windowsVersions,
    foreignLayers: options.foreignLayers ? parseForeignLayerPolicy(options.foreignLayers) : undefined,
    use: mirror ? undefined : "pull" as const,
  };
  const source = await declarationSource(options);
  if (!source.file) {
    throwProblems(await checkListDeclaration(source.list, overrides), source.list ?? "the command line");
    const listed = await declarationFromList(source.list, overrides);
    // An airgap.yaml here still says how to reach registries (CA, credentials): its registries:, not its images.
    return {
      ...listed,
      registries: await declaredRegistriesFor(undefined, [
        ...sourceHosts(listed, options.sourceRegistry),
        ...(mirror && (options as TargetOptions).registry
          ? [splitRegistryArgument((options as TargetOptions).registry!).registry]
          : []),
      ]),
    };
  }
  throwProblems(await checkDeclaration(source.file, overrides), displayPath(source.file));
  const decl = await loadDeclaration(source.file, overrides);
  // -f and -l together: the declaration, for just the entries of the list (a NAME.save-failed.txt retry).
  if (source.list) {
    // The list's images, each with the declaration's settings when it declares them: a list is not filtered down.
    const listed = await declarationFromList(source.list, overrides);
    decl.requests = mergeRequests(decl.requests, listed.requests);
    decl.only = listed.requests.map((r) => r.entry);
  }
  return decl;
}

/** Which declaration a command reads: a file (airgap.yaml), or an image list (seed-compatible). */
export async function declarationSource(
  options: CommonOptions & WindowsOptions & { imageList?: string },
): Promise<{ file?: string; list?: string }> {
  if (options.imageList && options.file) return { file: resolve(options.file), list: resolve(options.imageList) };
  if (options.imageList || (options.windowsImageList?.length && !options.file)) {
    return { list: options.imageList ? resolve(options.imageList) : undefined };
  }
  // Like rancher-save-images.sh, whose -l defaults to rancher-images.txt: with
  // no airgap.yaml here but that list, use the list.
  if (!options.file && !(await exists(resolve("airgap.yaml"))) && await exists(resolve("rancher-images.txt"))) {
    if (!options.quiet) {
      console.error("no airgap.yaml here: using ./rancher-images.txt (as rancher-save-images.sh does)");
    }
    return { list: resolve("rancher-images.txt") };
  }
  return { file: resolve(options.file ?? "airgap.yaml") };
}

/** Every problem of a declaration at once, as a {@link CheckError} naming `what`. */
export function throwProblems(problems: string[], what: string): void {
  if (problems.length > 0) throw new CheckError(problems, what);
}

/** The lock a command writes: none when it covers only some entries (-f with -l), unless --lock names one. */
export function lockToWrite(
  decl: Pick<Declaration, "only">,
  lockOption: string | undefined,
  lockPath: string | undefined,
): string | undefined {
  return decl.only && !lockOption ? undefined : lockPath;
}

/** The lock file of a command: `--lock`, or airgap.lock next to the declaration (none for an image list). */
export function lockPathOf(options: { lock?: string }, decl: Pick<Declaration, "lockPath">): string | undefined {
  return options.lock ? resolve(options.lock) : decl.lockPath;
}

/** The lock file and the lock it holds; `--locked` needs one. */
export async function previousLockOf(
  options: { lock?: string; locked?: boolean },
  decl: Pick<Declaration, "lockPath">,
): Promise<{ lockPath?: string; previousLock?: Lock }> {
  const lockPath = lockPathOf(options, decl);
  const previousLock = lockPath ? await readLock(lockPath, displayPath(lockPath)) : undefined;
  if (options.locked && !previousLock) throw usageError("--locked needs an existing lock file");
  return { lockPath, previousLock };
}

/**
 * The archive save writes and load reads when none is named: the
 * declaration's `output:`, else airgap-images.tar; for image lists (no
 * declaration file) rancher-images.tar, the name the Rancher scripts use.
 */
export function defaultArchive(decl?: Pick<Declaration, "configPath" | "output">): string {
  return decl?.configPath ? decl.output ?? "airgap-images.tar" : "rancher-images.tar";
}

/** Several archive arguments must be the parts of one split archive: take the first. */
export function firstPart(paths: string[]): string {
  const sorted = [...paths].sort();
  if (sorted.length > 1) {
    const base = sorted[0].replace(/\.001$/, "");
    // Parts of one archive with a gap (a part missing from the glob) are opened, and the gap named there.
    const oneArchive = sorted.every((p) => /^\.\d{3}$/.test(p.slice(base.length)) && p.startsWith(base));
    if (!oneArchive) {
      throw usageError(`give one archive, or all parts of one split archive in order (got ${paths.join(" ")})`);
    }
  }
  return sorted[0];
}

/** Where load and mirror push: the registry, the path prefix, and every registry's settings. */
export interface Target {
  registry: string;
  prefix: string;
  /** The declaration's registry settings, with `--insecure`/`--ca-file` merged into the target's. */
  registries: Map<string, RegistrySettings>;
}

/** The target's text (`HOST[:PORT][/PREFIX]`): `--registry`, or `target.registry` of the declaration. */
export function targetText(options: TargetOptions, decl?: Pick<Declaration, "target">): string | undefined {
  return options.registry ?? decl?.target?.registry;
}

/**
 * The target of load and mirror. The prefix: `--prefix`, else the one
 * `--registry` names, else (target from the declaration) `target.prefix`.
 */
export function targetOf(options: TargetOptions, decl?: Pick<Declaration, "target" | "registries">): Target {
  const text = targetText(options, decl);
  if (!text) throw usageError("no target registry: give --registry HOST[:PORT] (or target.registry in airgap.yaml)");
  const { registry, prefix: argPrefix } = splitRegistryArgument(text);
  const prefix = options.prefix ?? (argPrefix || (options.registry ? "" : decl?.target?.prefix ?? ""));
  const registries = new Map<string, RegistrySettings>(decl?.registries ?? []);
  registries.set(registry, {
    ...registries.get(registry),
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.caFile ? { caFile: resolve(options.caFile) } : {}),
  });
  return { registry, prefix, registries };
}

/** The target as the summaries name it: `REGISTRY/PREFIX`. */
export const targetName = (t: Pick<Target, "registry" | "prefix">): string =>
  t.prefix ? `${t.registry}/${t.prefix}` : t.registry;
