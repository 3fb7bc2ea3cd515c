/**
 * The `files:` section of airgap.yaml: each entry checked when the
 * declaration is read (one of `url:` or `path:`, a safe name, a unique name
 * and repository, an octal mode), each problem naming its file and line.
 * Nothing is read or fetched here: {@link resolveFiles} does that at plan
 * time. The name decides the repository the file travels in
 * (`files/NAME`), so it is the one identity of a file across locks.
 * @module
 */
import { basename, dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Config } from "../../schemas/config.ts";
import { AirgapError } from "../errors.ts";

/** Files are read into memory and hashed before they are cached: larger ones are refused (say so). */
export const MAX_FILE_SIZE = 512 * 1024 * 1024;

/** The repository path every carried file lives under (`files/NAME`, at the source and at the target). */
export const FILES_REPOSITORY = "files";

/** The pseudo registry files are "fetched from": `.invalid` never resolves, so nothing ever asks the network for it. */
export const FILES_REGISTRY = "files.airgap.invalid";

/** One declared file. */
export interface FileSpec {
  /** Its name inside the gap (`helm-v3.14.0-linux-amd64.tar.gz`). */
  name: string;
  /** Where it comes from: an http(s) or `file:` URL (a `path:` becomes a `file:` URL). */
  url: string;
  /** As written, for locks and messages (a `path:` relative to the declaration, or the URL). */
  written: string;
  /** Its declared SHA-256, `sha256:<hex>` (lowercase), when given. */
  sha256?: string;
  /** Where `sha256` comes from when it is not declared: a release's checksum file (`sha256sum-amd64.txt`). */
  sha256From?: string;
  /** Its mode when extracted (default 0o644). */
  mode: number;
  /** The repository it travels in: `files/<name, lowercased>`. */
  repository: string;
  /** Where it is declared (`airgap.yaml:12:5`). */
  origin: string;
}

/** What {@link declaredFiles} needs from the declaration being read. */
export interface FilesContext {
  /** The declaration file (paths are relative to its directory). */
  path: string;
  /** `FILE:LINE:COL` of a node. */
  locate(path: readonly PropertyKey[]): string;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The repository a file name travels in; undefined when the name cannot be one. */
export function fileRepository(name: string): string | undefined {
  const component = name.toLowerCase();
  // Distribution's path component: alphanumerics separated by one '.', '_', '__' or any number of '-'.
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(component)) return undefined;
  return `${FILES_REPOSITORY}/${component}`;
}

function usage(where: string, message: string): AirgapError {
  return new AirgapError(`${where}: ${message}`, { where }, { exitCode: 2 });
}

/** Check the `files:` section and turn it into file specs. */
export function declaredFiles(config: Pick<Config, "files">, ctx: FilesContext): FileSpec[] {
  const dir = dirname(resolve(ctx.path));
  const seen = new Map<string, string>();
  return (config.files ?? []).map((file, i) => {
    const at = (...path: PropertyKey[]) => ctx.locate(["files", i, ...path]);
    if ((file.url === undefined) === (file.path === undefined)) {
      throw usage(at(), "files: give exactly one of url: or path:");
    }
    let url: string;
    if (file.url !== undefined) {
      if (!/^(https?|file):\/\//i.test(file.url)) {
        throw usage(at("url"), `files: "${file.url}": expected an http(s) or file: URL (use path: for a local file)`);
      }
      url = file.url;
    } else url = pathToFileURL(resolve(dir, file.path!)).href;
    const written = file.url ?? file.path!;
    const name = file.name ?? basename(new URL(url).pathname);
    if (!SAFE_NAME.test(name) || name.length > 128) {
      throw usage(
        at(file.name ? "name" : file.url ? "url" : "path"),
        `files: name "${name}" must be letters, digits, '.', '_' or '-' (at most 128); give name:`,
      );
    }
    const repository = fileRepository(name);
    if (!repository) {
      throw usage(
        at(file.name ? "name" : "url"),
        `files: name "${name}" cannot name a repository (no doubled or trailing separators); give name:`,
      );
    }
    if (seen.has(repository)) throw usage(at(), `files: ${name} is declared twice (first at ${seen.get(repository)})`);
    seen.set(repository, at());
    return {
      name,
      url,
      written,
      ...(file.sha256 ? { sha256: `sha256:${file.sha256.replace(/^sha256:/i, "").toLowerCase()}` } : {}),
      mode: file.mode ? parseInt(file.mode, 8) & 0o7777 : 0o644,
      repository,
      origin: at(),
    };
  });
}
