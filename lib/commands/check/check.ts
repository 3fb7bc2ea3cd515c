/**
 * `airgap check`: every problem of a declaration in one pass, without the
 * network — YAML and schema errors (with "did you mean"), missing or
 * malformed list files, unknown platforms and Windows versions, credentials
 * the command needs but cannot get, release and chart versions that do not
 * parse. `plan` and `save` run it first, so a declaration's problems come
 * in one run, not one per run.
 * @module
 */
import { echo } from "../../text.ts";
import { dirname, resolve } from "node:path";
import { type Config, ConfigSchema } from "../../../schemas/config.ts";
import {
  declarationFromConfig,
  type DeclarationOverrides,
  displayPath,
  needsCredentials,
  registrySettings,
} from "../../plan/declaration.ts";
import { AirgapError, boundedMessage, errorMessage } from "../../errors.ts";
import { loadVerifyKey } from "../../artifacts/verify.ts";
import { parsePlatformSelector, windowsSelector } from "../../oci/platform.ts";
import { normaliseRegistryHost, sourceReference } from "../../ref.ts";
import { declaredSources } from "../../sources/specs.ts";
import { fileProblems } from "../../files/check.ts";
import { checkImageList } from "../../sources/list.ts";
import { type InputKind, readTextLimited } from "../../limits.ts";
import { byPosition, checkYaml } from "../../plan/yaml.ts";

/** A chart version as Helm accepts it: SemVer, optionally with a `v` (no ranges: versions are exact). */
const CHART_VERSION = /^v?\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/**
 * A declaration with problems: each is one line, the message counts them —
 * and says which are on the command line (`--platform: …`), so a mistyped
 * flag is not blamed on airgap.yaml.
 */
export class CheckError extends AirgapError {
  constructor(readonly problems: string[], what: string) {
    super(checkSummary(problems, what), {}, { exitCode: 2 });
  }
}

/** `N problems in FILE`, `1 problem on the command line (--platform)`, or both, then `; nothing was done`. */
export function checkSummary(problems: string[], what: string): string {
  const count = (n: number) => `${n} problem${n === 1 ? "" : "s"}`;
  const flags = problems.map((p) => p.match(/^(--[a-z][a-z-]*)[: ]/)?.[1]).filter((f): f is string => !!f);
  const inFile = problems.length - flags.length;
  const named = [...new Set(flags)].join(", ");
  const text = flags.length === 0
    ? `${count(inFile)} in ${what}`
    : inFile === 0
    ? `${count(flags.length)} on the command line (${named})`
    : `${count(problems.length)}: ${inFile} in ${what}, ${flags.length} on the command line (${named})`;
  return `${text}; nothing was done`;
}

/** Where a path inside the declaration is written (`airgap.yaml:12:3`). */
type Locate = (path: readonly PropertyKey[]) => string;

/** One run of the checks: each failing check adds its one line to `problems`. */
interface Checks {
  config: Config;
  locate: Locate;
  /** The declaration's directory (relative paths in it are from there). */
  dir: string;
  overrides: DeclarationOverrides;
  problems: string[];
}

/** Run a check; its error, if any, is one more problem. */
async function attempt(checks: Checks, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (e) {
    checks.problems.push(errorMessage(e));
  }
}

/** A file's text, or the one problem reading it: `missing` when it does not exist, else `unreadable: why`. */
async function readText(
  path: string,
  kind: InputKind,
  missing: string,
  unreadable: string,
): Promise<{ text?: string; problem?: string }> {
  try {
    return { text: await readTextLimited(path, kind, displayPath(path)) };
  } catch (e) {
    if (e instanceof AirgapError) return { problem: e.message };
    return { problem: e instanceof Deno.errors.NotFound ? missing : `${unreadable}: ${errorMessage(e)}` };
  }
}

/** Every problem of the declaration at `path`, one line each (empty when there are none). */
export async function checkDeclaration(path: string, overrides: DeclarationOverrides = {}): Promise<string[]> {
  const file = displayPath(path);
  const read = await readText(
    path,
    "declaration",
    `${file} does not exist (write one with "airgap init", or use --image-list)`,
    `cannot read ${file}`,
  );
  if (read.text === undefined) return [read.problem!];
  const checked = checkYaml(read.text, file, ConfigSchema);
  // With schema problems, the rest of the declaration is still checked.
  const config = checked.value ?? checked.rest;
  if (!config) return checked.problems;
  const checks: Checks = {
    config,
    locate: checked.locate,
    dir: dirname(resolve(path)),
    overrides,
    problems: [...checked.problems],
  };
  await checkPlatformsAndImages(checks);
  await checkWindows(checks);
  await checkCredentials(checks);
  checks.problems.push(...await sourceProblems(config, path, checks.locate));
  checks.problems.push(...await fileProblems(config, path, checks.locate));
  if (checks.problems.length === 0) {
    // Whatever the checks above do not know about: read it as plan would (lists, Windows lists, sources).
    await attempt(
      checks,
      () => declarationFromConfig(config, path, { ...overrides, use: overrides.use ?? "pull" }, checks.locate),
    );
  }
  return byPosition(checks.problems.map(boundedMessage));
}

/** Platforms (declared and `--platform`), images and lists. */
async function checkPlatformsAndImages(checks: Checks): Promise<void> {
  const { config, locate, dir, overrides } = checks;
  for (const [where, values] of platformFields(config, locate)) {
    await attempt(checks, () => {
      try {
        parsePlatformSelector(values);
      } catch (e) {
        throw new Error(`${where}: ${errorMessage(e)}`);
      }
    });
  }
  if (overrides.platforms?.length) await attempt(checks, () => platforms(overrides.platforms!, "--platform"));
  if (overrides.sourceRegistry !== undefined) await attempt(checks, () => mirror(overrides.sourceRegistry!));
  for (const [i, item] of (config.images ?? []).entries()) {
    await attempt(
      checks,
      () => reference(typeof item === "string" ? item : item.ref, config.sourceRegistry, locate(["images", i])),
    );
  }
  for (const [i, item] of (config.lists ?? []).entries()) {
    checks.problems.push(
      ...await listProblems(resolve(dir, typeof item === "string" ? item : item.path), locate(["lists", i])),
    );
  }
}

/** The `windows:` section (versions, lists, images) and the Windows command-line options. */
async function checkWindows(checks: Checks): Promise<void> {
  const { config, locate, dir, overrides } = checks;
  const windows = config.windows;
  const versions = (values: (string | number)[] | undefined, where: string) =>
    attempt(checks, () => windowsSelector(values, where));
  if (overrides.windowsVersions?.length) await versions(overrides.windowsVersions, "--windows-versions");
  else if (windows?.versions) await versions(windows.versions, locate(["windows", "versions"]));
  for (const [i, item] of (windows?.lists ?? []).entries()) {
    const at = locate(["windows", "lists", i]);
    checks.problems.push(...await listProblems(resolve(dir, typeof item === "string" ? item : item.path), at));
    if (typeof item === "object" && item.versions) {
      await versions(item.versions, locate(["windows", "lists", i, "versions"]));
    }
  }
  for (const [i, item] of (windows?.images ?? []).entries()) {
    const at = locate(["windows", "images", i]);
    await attempt(checks, () => reference(typeof item === "string" ? item : item.ref, config.sourceRegistry, at));
    if (typeof item === "object" && item.versions) {
      await versions(item.versions, locate(["windows", "images", i, "versions"]));
    }
  }
  for (const list of overrides.windowsImageLists ?? []) {
    checks.problems.push(...await listProblems(list, "--windows-image-list"));
  }
}

/** Registry settings the command needs credentials from, and the signature keys named. */
async function checkCredentials(checks: Checks): Promise<void> {
  const { config, locate, dir, overrides } = checks;
  const needed = needsCredentials(config, overrides.use ?? "pull");
  for (const [host, settings] of Object.entries(config.registries ?? {})) {
    const key = normaliseRegistryHost(host);
    if (needed(key)) await attempt(checks, () => registrySettings(host, settings, dir, locate(["registries", host])));
  }
  for (const [where, key] of verifyKeyFields(config, locate)) {
    await attempt(checks, () => loadVerifyKey(resolve(dir, key), `${where}: ${key}`));
  }
}

/** Every `verify: {key}` of a declaration, with where it is written. */
function verifyKeyFields(config: Config, locate: (path: readonly PropertyKey[]) => string): [string, string][] {
  const out: [string, string][] = [];
  const add = (verify: { key: string | string[] } | undefined, path: readonly PropertyKey[]) => {
    for (const key of typeof verify?.key === "string" ? [verify.key] : verify?.key ?? []) {
      out.push([locate([...path, "verify"]), key]);
    }
  };
  add(config.verify, []);
  for (const [host, settings] of Object.entries(config.registries ?? {})) add(settings.verify, ["registries", host]);
  for (const [i, item] of (config.images ?? []).entries()) {
    if (typeof item === "object") add(item.verify, ["images", i]);
  }
  return out;
}

/** Every problem of the seed-compatible declaration: one image list, Windows lists, platforms, versions. */
export async function checkListDeclaration(
  listPath: string | undefined,
  overrides: DeclarationOverrides = {},
): Promise<string[]> {
  const problems: string[] = [];
  if (listPath) problems.push(...await listProblems(listPath, "--image-list"));
  for (const list of overrides.windowsImageLists ?? []) {
    problems.push(...await listProblems(list, "--windows-image-list"));
  }
  if (overrides.platforms?.length) {
    try {
      platforms(overrides.platforms, "--platform");
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  if (overrides.sourceRegistry !== undefined) {
    try {
      mirror(overrides.sourceRegistry);
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  if (overrides.windowsVersions?.length) {
    try {
      windowsSelector(overrides.windowsVersions, "--windows-versions");
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  return problems;
}

/** Every `platforms`-like field of the declaration, with where it is written. */
function platformFields(
  config: Config,
  locate: (path: readonly PropertyKey[]) => string,
): [string, string[]][] {
  const out: [string, string[]][] = [];
  const add = (path: PropertyKey[], values: string[] | undefined) => values && out.push([locate(path), values]);
  add(["platforms"], config.platforms);
  for (const [i, item] of (config.images ?? []).entries()) {
    if (typeof item === "object") add(["images", i, "platforms"], item.platforms);
  }
  for (const [i, item] of (config.lists ?? []).entries()) {
    if (typeof item === "object") add(["lists", i, "platforms"], item.platforms);
  }
  add(["rancher", "platforms"], config.rancher?.platforms);
  add(["rancher", "windowsPlatforms"], config.rancher?.windowsPlatforms);
  for (const [i, chart] of (config.charts ?? []).entries()) add(["charts", i, "platforms"], chart.platforms);
  return out;
}

function platforms(values: string[], where: string) {
  try {
    parsePlatformSelector(values);
  } catch (e) {
    throw new AirgapError(`${where}: ${errorMessage(e)}`);
  }
}

/** `--source-registry` is a registry (and path) every entry can be put under. */
function mirror(value: string) {
  try {
    sourceReference("library/image:tag", value);
  } catch (e) {
    throw new AirgapError(`--source-registry: "${value}" is not a registry host[:port][/path]: ${errorMessage(e)}`);
  }
}

function reference(entry: string, sourceRegistry: string | undefined, where: string) {
  try {
    sourceReference(entry.trim(), sourceRegistry);
  } catch (e) {
    throw new AirgapError(`${where}: ${errorMessage(e)}`);
  }
}

/** A list file that is missing, unreadable, or has malformed entries (each one). */
async function listProblems(path: string, where: string): Promise<string[]> {
  const shown = displayPath(path);
  const read = await readText(
    path,
    "imageList",
    `${where}: image list ${shown} does not exist`,
    `${where}: cannot read image list ${shown}`,
  );
  if (read.text === undefined) return [read.problem!];
  return checkImageList(read.text, shown).problems.map((p) => p.message);
}

/** The `rancher:` section and each chart on its own, so that one bad chart does not hide the next. */
async function sourceProblems(
  config: Config,
  path: string,
  locate: (path: readonly PropertyKey[]) => string,
): Promise<string[]> {
  const problems: string[] = [];
  const defaultPlatforms = { all: true } as const;
  const sourceRegistry = config.sourceRegistry;
  const parts: { config: Config; locate: (p: readonly PropertyKey[]) => string }[] = [];
  if (config.rancher) parts.push({ config: { rancher: config.rancher, windows: config.windows }, locate });
  for (const [i, chart] of (config.charts ?? []).entries()) {
    if (chart.version !== undefined && !CHART_VERSION.test(chart.version)) {
      problems.push(
        `${locate(["charts", i, "version"])}: charts[${i}].version: "${
          echo(String(chart.version))
        }" is not an exact chart version (SemVer, e.g. 1.12.3)`,
      );
    }
    // Seen alone, the chart is charts[0]: point messages at its real place.
    const at = (p: readonly PropertyKey[]) => locate(p[0] === "charts" ? ["charts", i, ...p.slice(2)] : p);
    parts.push({ config: { charts: [chart] }, locate: at });
  }
  for (const part of parts) {
    try {
      await declaredSources(part.config, { path, locate: part.locate, defaultPlatforms, sourceRegistry });
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  return problems;
}
