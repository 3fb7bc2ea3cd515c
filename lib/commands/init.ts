/**
 * `airgap init`: a commented starter airgap.yaml — the example declaration
 * built into the program, for a Rancher version when one is given. List
 * files that are not there yet are left commented out, so the starter passes
 * `airgap check` as written. An existing file is never overwritten.
 * @module
 */
import { dirname, join } from "node:path";
import { AirgapError, errorMessage, usageError } from "../errors.ts";
import { EXAMPLE_DECLARATION } from "../example.ts";
import { rancherReleaseTag } from "../sources/rancher.ts";
import { displayPath } from "../declaration.ts";

/** Options of {@link initCommand}. */
export interface InitOptions {
  /** The file to write. */
  path: string;
  /** A Rancher version (`v2.8.5`): the release, its chart and its images in the starter. */
  rancher?: string;
}

const EXAMPLE_VERSION = "v2.7.9";

/** The starter text: the example, for `rancher`, with the lists that `dir` lacks commented out. */
export async function starterDeclaration(dir: string, rancher?: string): Promise<string> {
  let text = EXAMPLE_DECLARATION;
  if (rancher) {
    let tag: string;
    try {
      tag = rancherReleaseTag(rancher);
    } catch (e) {
      throw usageError(`--rancher: ${errorMessage(e)}`);
    }
    text = text.replaceAll(EXAMPLE_VERSION, tag).replaceAll(
      `version: ${EXAMPLE_VERSION.slice(1)}`,
      `version: ${tag.slice(1)}`,
    );
  }
  const lists: [string, string][] = [
    ["rancher-images.txt", "lists:\n  - path: rancher-images.txt\n"],
    ["rancher-windows-images.txt", "  lists:\n    - rancher-windows-images.txt\n"],
  ];
  for (const [file, block] of lists) {
    if (await exists(join(dir, file))) continue;
    const commented = block.split("\n").map((l) => (l ? l.replace(/^(\s*)/, "$1# ") : l)).join("\n");
    text = text.replace(block, commented.replace(/\n$/, `  (create ${file} first)\n`));
  }
  return text;
}

/** Write the starter declaration; refuses to overwrite. Returns the text written. */
export async function initCommand(options: InitOptions): Promise<string> {
  const text = await starterDeclaration(dirname(options.path), options.rancher);
  try {
    await Deno.writeTextFile(options.path, text, { createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new AirgapError(
        `${displayPath(options.path)} already exists: not overwritten (remove it first, or use -f OTHER)`,
        {},
        {
          exitCode: 2,
        },
      );
    }
    throw new AirgapError(`cannot write ${options.path}: ${errorMessage(e)}`);
  }
  return text;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
