/**
 * The rules that turn the shared options into what the operations take,
 * each decided here once: which declaration a command reads, the lock it
 * reads and writes, the archive save writes and load reads when none is
 * named, the target registry with `--insecure`/`--ca-file` merged into its
 * settings. They are pure or only look at files, so unit tests call them
 * without a subprocess. The lock and the cache are also tried for writing
 * here (a file made and removed), before a command starts its long work.
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import {
  type Declaration,
  declarationFromList,
  displayPath,
  loadDeclaration,
  mergeRequests,
} from "../../plan/declaration.ts";
import { declaredRegistriesFor, sourceHosts } from "./credentials.ts";
import { errorMessage, usageError } from "../../errors.ts";
import { checkDeclaration, CheckError, checkListDeclaration } from "../check/check.ts";
import { readLock } from "../../lock.ts";
import type { Lock } from "../../../schemas/lock.ts";
import { splitRegistryArgument } from "../../ref.ts";
import { defaultCacheDir } from "../../store/cache.ts";
import type { RegistrySettings } from "../../store/registry/client.ts";
import { parseForeignLayerPolicy } from "../../oci/foreign.ts";
import { exists } from "../../fsutil.ts";
import type { CommonOptions, DeclarationOptions, TargetOptions, WindowsOptions } from "./options.ts";

/** `--with-signatures` and `--verify-key` as the commands take them. */
export const artifactFlags = (o: { withSignatures?: boolean; verifyKey?: string[] }) => ({
  withSignatures: o.withSignatures,
  verifyKeys: o.verifyKey?.map((p) => resolve(p)),
});

/**
 * Whether a new file can be made in `dir` — found out before any work, so
 * that a lock or a cache that cannot be written stops the command before the
 * archive is written, not after. Nothing is created: the test file goes into
 * the nearest directory that exists (the one the missing ones would be made
 * in) and is removed. Returns the reason, or undefined when it can.
 */
export async function unwritableReason(dir: string): Promise<string | undefined> {
  let at = resolve(dir);
  for (;;) {
    try {
      const info = await Deno.stat(at);
      if (!info.isDirectory) return `${displayPath(at)} is not a directory`;
      break;
    } catch (e) {
      const missing = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
      if (!missing || dirname(at) === at) return `${displayPath(at)}: ${osReason(e)}`;
      at = dirname(at);
    }
  }
  const probe = join(at, `.airgap-write-test.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`);
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
  } catch (e) {
    return `${displayPath(at)}: ${osReason(e)}`;
  }
  await Deno.remove(probe).catch(() => {});
  return undefined;
}

/** The system's reason without the probe's name: `Permission denied (os error 13)`. */
function osReason(e: unknown): string {
  return errorMessage(e).replace(/: (open|stat|mkdir) '.*'$/, "").replace(/ \(os error \d+\)$/, "");
}

/** The lock a command will write can be written (see {@link unwritableReason}); the error names `--lock`. */
export async function preflightLock(lockPath: string | undefined): Promise<void> {
  if (!lockPath) return;
  const reason = await unwritableReason(dirname(lockPath));
  if (reason) {
    throw usageError(`cannot write the lock ${displayPath(lockPath)} (${reason}): give another place with --lock FILE`);
  }
}

/**
 * The cache directory (as {@link cacheDir}), checked writable first; the
 * error names the option that chose it and the ones that change it.
 */
export async function writableCacheDir(options: { cache?: string }, decl?: Declaration): Promise<string> {
  const dir = resolve(cacheDir(options, decl));
  const reason = await unwritableReason(dir);
  if (!reason) return dir;
  const from = options.cache
    ? "--cache"
    : decl?.cache
    ? `cache: in ${displayPath(decl.configPath ?? "airgap.yaml")}`
    : Deno.env.get("AIRGAP_CACHE")
    ? "AIRGAP_CACHE"
    : "the default";
  throw usageError(
    `cannot write the cache ${
      displayPath(dir)
    } (${reason}; chosen by ${from}): use another with --cache DIR or AIRGAP_CACHE=DIR`,
  );
}

/** The first operating-system error about a path in an error's cause chain, and that path. */
function osPathError(e: unknown): { reason: string; path: string } | undefined {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 8; cur = cur.cause, depth++) {
    const os = cur instanceof Deno.errors.PermissionDenied || cur instanceof Deno.errors.NotADirectory ||
      /\(os error (1|13|20|30)\)/.test(cur.message);
    const path = cur.message.match(/: [a-z]+ '([^']+)'(?: -> '[^']+')?$/)?.[1];
    if (os && path) return { reason: osReason(cur), path: resolve(path) };
  }
  return undefined;
}

/**
 * For a command's work, `.catch(namingPathOptions({cache, lock}))`: a
 * permission or path error met under the cache or at the lock after the
 * preflight (a file in the cache owned by someone else, a lock directory
 * changed meanwhile) is rethrown naming the option that changes it; any other
 * error as it is.
 */
export function namingPathOptions(places: { cache?: string; lock?: string }): (e: unknown) => never {
  return (e) => {
    const os = osPathError(e);
    if (!os) throw e;
    const inside = (dir: string) => {
      const rel = relative(resolve(dir), os.path);
      return !rel.startsWith("..") && !isAbsolute(rel);
    };
    if (places.cache && inside(places.cache)) {
      throw usageError(
        `cannot use the cache ${displayPath(resolve(places.cache))} (${
          displayPath(os.path)
        }: ${os.reason}): use another with --cache DIR or AIRGAP_CACHE=DIR`,
      );
    }
    if (places.lock && dirname(os.path) === dirname(resolve(places.lock))) {
      throw usageError(
        `cannot write the lock ${displayPath(places.lock)} (${
          displayPath(os.path)
        }: ${os.reason}): give another place with --lock FILE`,
      );
    }
    throw e;
  };
}

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
  let previousLock: Lock | undefined;
  try {
    previousLock = lockPath ? await readLock(lockPath, displayPath(lockPath)) : undefined;
  } catch (e) {
    // A lock that cannot be read for its path (a part of it a file): say so as for writing it, naming --lock.
    await preflightLock(lockPath);
    throw e;
  }
  if (options.locked && !previousLock) throw usageError("--locked needs an existing lock file");
  return { lockPath, previousLock };
}

/**
 * The archive save writes and load reads when none is named: the
 * declaration's `output:`, else airgap-images.tar; for image lists (no
 * declaration file) rancher-images.tar, the name the Rancher scripts use.
 */
export function defaultArchive(decl?: Pick<Declaration, "configPath" | "output">): string {
  return decl?.configPath ? decl.output ?? DECLARATION_ARCHIVE : LIST_ARCHIVE;
}

/** The archive of a declaration without `output:`. */
export const DECLARATION_ARCHIVE = "airgap-images.tar";
/** The archive of image lists (`-l`, or ./rancher-images.txt without an airgap.yaml). */
export const LIST_ARCHIVE = "rancher-images.tar";
/** How `--help` states {@link defaultArchive}'s rule. */
export const DEFAULT_ARCHIVE_HELP =
  `default: airgap.yaml's output:, else ${DECLARATION_ARCHIVE}; ${LIST_ARCHIVE} from an image list`;

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
