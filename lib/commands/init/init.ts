/**
 * `airgap init`: a commented starter airgap.yaml — the example declaration
 * built into the program, for a Rancher version when one is given. The
 * example names no local list files (the Rancher release brings its lists),
 * so the starter passes `airgap check` as written, before the network is
 * needed. An existing file is never overwritten.
 * @module
 */
import { AirgapError, errorMessage, usageError } from "../../errors.ts";
import { EXAMPLE_DECLARATION } from "./example.ts";
import { rancherReleaseTag } from "../../sources/rancher.ts";
import { displayPath } from "../../plan/declaration.ts";

/** Options of {@link initCommand}. */
export interface InitOptions {
  /** The file to write. */
  path: string;
  /** A Rancher version (`v2.8.5`): the release, its chart and its images in the starter. */
  rancher?: string;
}

const EXAMPLE_VERSION = "v2.7.9";

/** The starter text: the example, for `rancher`. */
export function starterDeclaration(rancher?: string): string {
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
  return text;
}

/** Write the starter declaration; refuses to overwrite. Returns the text written. */
export async function initCommand(options: InitOptions): Promise<string> {
  const text = starterDeclaration(options.rancher);
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
