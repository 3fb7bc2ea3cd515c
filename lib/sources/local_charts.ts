/**
 * Charts the operator already has on disk: a packaged `.tgz`, a chart
 * directory (packed here into a reproducible `.tgz`, so that it is pinned by
 * digest and travels in the archive like a downloaded one), or a directory
 * of charts without an `index.yaml` (each chart in it read by the name and
 * version its Chart.yaml gives). These are read when the declaration is
 * checked, so `check` reports a missing chart with its file and line before
 * `plan` would trip over it.
 * @module
 */
import { basename, isAbsolute, join, relative } from "node:path";
import { parse } from "yaml";
import { AirgapError, errorMessage } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";
import { BLOCK, encodeHeader, padding, TAR_END } from "../format/tar.ts";
import { readAll } from "../store/types.ts";
import { isMap, loadChart, parseYaml11 } from "@airgap/helm";

/** Helm's limit on a chart archive (as for downloaded charts). */
const MAX_LOCAL_CHART = 100 * 1024 * 1024;
/** Deeper than this, a chart directory is taken to loop (a symbolic link to a parent). */
const MAX_DEPTH = 32;

/** A path as messages show it: relative to the working directory when inside it. */
function shown(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** A chart read from disk: its identity and its `.tgz` bytes. */
export interface LocalChart {
  /** Chart.yaml's name. */
  name: string;
  /** Chart.yaml's version. */
  version: string;
  /** The file or directory it was read from. */
  path: string;
  /** The `.tgz` (for a directory: packed reproducibly). */
  bytes: Uint8Array;
  /** Digest of `bytes`. */
  digest: string;
}

/** Whether a path is a chart archive by its name. */
export function isChartArchiveName(path: string): boolean {
  return /\.(tgz|tar\.gz)$/i.test(path);
}

async function statOf(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return undefined;
    throw e;
  }
}

/** Name and version from a chart directory's Chart.yaml (without reading the rest). */
async function identityOfDirectory(dir: string): Promise<{ name: string; version: string }> {
  const file = join(dir, "Chart.yaml");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AirgapError(`${shown(dir)} is not a chart directory (no Chart.yaml)`);
    }
    throw new AirgapError(`cannot read ${shown(file)}: ${errorMessage(e)}`);
  }
  let meta: unknown;
  try {
    meta = parseYaml11(text.replace(/^\uFEFF/, ""));
  } catch (e) {
    throw new AirgapError(`${shown(file)}: ${errorMessage(e)}`);
  }
  if (!isMap(meta) || typeof meta.name !== "string" || meta.name === "") {
    throw new AirgapError(`${shown(file)} has no name`);
  }
  return { name: meta.name, version: String(meta.version ?? "") };
}

/** The files of a chart directory, relative and sorted, `.git` left out; symbolic links are followed. */
async function filesOf(dir: string, rel = "", depth = 0): Promise<string[]> {
  if (depth > MAX_DEPTH) throw new AirgapError(`${join(dir, rel)}: directories nested too deep (a link loop?)`);
  const names: string[] = [];
  for await (const entry of Deno.readDir(join(dir, rel))) names.push(entry.name);
  const out: string[] = [];
  for (const name of names.sort()) {
    if (name === ".git") continue;
    const path = rel ? `${rel}/${name}` : name;
    const info = await Deno.stat(join(dir, path));
    if (info.isDirectory) out.push(...await filesOf(dir, path, depth + 1));
    else if (info.isFile) out.push(path);
  }
  return out;
}

/**
 * Pack a chart directory as `helm package` lays it out (`NAME/…`), but
 * reproducibly: sorted entries, mode 0644, time 0, so the same directory
 * always gives the same digest and the lock can pin it.
 */
export async function packChartDirectory(dir: string, name: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const path of await filesOf(dir)) {
    const data = await Deno.readFile(join(dir, path));
    total += data.byteLength + BLOCK;
    if (total > MAX_LOCAL_CHART) throw new AirgapError(`chart directory ${dir} is larger than 100 MiB`);
    parts.push(encodeHeader({ name: `${name}/${path}`, size: data.byteLength }), data, padding(data.byteLength));
  }
  parts.push(TAR_END);
  const tar = ReadableStream.from(parts as Uint8Array<ArrayBuffer>[]);
  return await readAll(tar.pipeThrough(new CompressionStream("gzip")), MAX_LOCAL_CHART);
}

/** Read a chart `.tgz` or chart directory at `path` (name and version from its Chart.yaml). */
export async function readLocalChart(path: string): Promise<LocalChart> {
  const info = await statOf(path);
  if (!info) throw new AirgapError(`${shown(path)} does not exist`);
  if (info.isDirectory) {
    const { name, version } = await identityOfDirectory(path);
    let bytes: Uint8Array;
    try {
      bytes = await packChartDirectory(path, name);
    } catch (e) {
      if (e instanceof AirgapError) throw e;
      throw new AirgapError(`cannot read chart directory ${shown(path)}: ${errorMessage(e)}`);
    }
    return { name, version, path, bytes, digest: digestOf(bytes) };
  }
  if (info.size > MAX_LOCAL_CHART) throw new AirgapError(`${shown(path)} is larger than 100 MiB`);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new AirgapError(`cannot read ${shown(path)}: ${errorMessage(e)}`);
  }
  const chart = await loadChart(bytes, basename(path));
  return { name: chart.name, version: chart.version, path, bytes, digest: digestOf(bytes) };
}

/** Whether a directory holds an `index.yaml` (then it is a chart repository, read as one). */
export async function hasIndex(dir: string): Promise<boolean> {
  return (await statOf(join(dir, "index.yaml")))?.isFile ?? false;
}

/** Versions equal as Helm compares them in an index: exactly, or without a leading `v`. */
function sameVersion(a: string, b: string): boolean {
  return a === b || a.replace(/^v/, "") === b.replace(/^v/, "");
}

/**
 * The chart `name` at `version` in a directory without an index: a
 * `NAME-VERSION.tgz` first (the name `helm package` gives), else every
 * `.tgz` and chart directory in it, by their Chart.yaml. The error lists
 * what the directory does hold.
 */
export async function findInDirectory(dir: string, name: string, version: string): Promise<LocalChart> {
  const info = await statOf(dir);
  if (!info?.isDirectory) throw new AirgapError(`${shown(dir)} is not a directory`);
  for (const guess of [`${name}-${version}.tgz`, `${name}-${version.replace(/^v/, "")}.tgz`]) {
    if ((await statOf(join(dir, guess)))?.isFile) {
      const chart = await readLocalChart(join(dir, guess));
      if (chart.name === name && sameVersion(chart.version, version)) return chart;
    }
  }
  const found: string[] = [];
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  for (const entry of names.sort()) {
    const path = join(dir, entry);
    const stat = await statOf(path);
    let identity: { name: string; version: string };
    try {
      if (stat?.isDirectory && (await statOf(join(path, "Chart.yaml")))?.isFile) {
        identity = await identityOfDirectory(path);
      } else if (stat?.isFile && isChartArchiveName(entry)) {
        identity = await readLocalChart(path);
      } else continue;
    } catch {
      continue; // not a chart: the error below lists what is there
    }
    if (identity.name === name && sameVersion(identity.version, version)) return await readLocalChart(path);
    found.push(`${identity.name}@${identity.version}`);
  }
  throw new AirgapError(
    `${shown(dir)} has no index.yaml and no chart ${name}@${version} (${
      found.length ? `it holds ${found.slice(0, 5).join(", ")}${found.length > 5 ? ", …" : ""}` : "it holds no charts"
    })`,
  );
}

/**
 * A local chart repository's `index.yaml` lists the chart at the version:
 * what `plan` will look up, checked without the network.
 */
export async function checkLocalIndex(dir: string, name: string, version: string): Promise<void> {
  const file = join(dir, "index.yaml");
  let index: { entries?: Record<string, { version?: unknown }[]> } | null;
  try {
    index = parse(await Deno.readTextFile(file), { schema: "failsafe" });
  } catch (e) {
    throw new AirgapError(`${shown(file)}: ${errorMessage(e)}`);
  }
  const versions = index?.entries?.[name];
  if (!Array.isArray(versions) || versions.length === 0) {
    throw new AirgapError(`${shown(file)} has no chart named ${name}`);
  }
  if (!versions.some((v) => sameVersion(String(v?.version ?? ""), version))) {
    const known = versions.slice(0, 5).map((v) => String(v?.version)).join(", ");
    throw new AirgapError(
      `${shown(file)} has no version ${version} of ${name} (it lists ${known}${versions.length > 5 ? ", …" : ""})`,
    );
  }
}
