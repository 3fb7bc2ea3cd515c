/**
 * `airgap check` for `files:`: every problem of every entry in one pass,
 * without the network — the entry's shape (lib/files/spec.ts), names
 * declared twice, and for a `path:` a file that is missing, not a regular
 * file, or larger than {@link MAX_FILE_SIZE}. Each problem is one line
 * naming the entry's file and line.
 * @module
 */
import { fileURLToPath } from "node:url";
import type { Config } from "../../schemas/config.ts";
import { errorMessage } from "../errors.ts";
import { formatBytes } from "../text.ts";
import { declaredFiles, type FileSpec, MAX_FILE_SIZE } from "./spec.ts";

/** The problems of a declaration's `files:`. */
export async function fileProblems(
  config: Pick<Config, "files">,
  path: string,
  locate: (path: readonly PropertyKey[]) => string,
): Promise<string[]> {
  const problems: string[] = [];
  const specs: FileSpec[] = [];
  for (const [i, file] of (config.files ?? []).entries()) {
    // Seen alone, the entry is files[0]: point messages at its real place.
    const at = (p: readonly PropertyKey[]) => locate(p[0] === "files" ? ["files", i, ...p.slice(2)] : p);
    try {
      specs.push(...declaredFiles({ files: [file] }, { path, locate: at }));
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  if (problems.length === 0) {
    try {
      declaredFiles(config, { path, locate });
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  for (const spec of specs) {
    if (!spec.url.startsWith("file:")) continue;
    const local = fileURLToPath(spec.url);
    try {
      const info = await Deno.stat(local);
      if (!info.isFile) problems.push(`${spec.origin}: file ${spec.name}: ${spec.written} is not a regular file`);
      else if (info.size > MAX_FILE_SIZE) {
        problems.push(
          `${spec.origin}: file ${spec.name}: ${spec.written} is ${formatBytes(info.size)}, more than the ${
            formatBytes(MAX_FILE_SIZE)
          } a carried file may be`,
        );
      }
    } catch (e) {
      problems.push(
        e instanceof Deno.errors.NotFound
          ? `${spec.origin}: file ${spec.name}: ${spec.written} does not exist`
          : `${spec.origin}: file ${spec.name}: cannot read ${spec.written}: ${errorMessage(e)}`,
      );
    }
  }
  return problems;
}
