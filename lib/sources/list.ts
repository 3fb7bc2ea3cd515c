/**
 * Image list files as the Rancher scripts read them (`rancher-images.txt`):
 * one entry per line; blank lines, `#` comments and CRLF line ends are fine.
 * @module
 */
import { AirgapError, errorMessage } from "../errors.ts";
import { parseReference } from "../ref.ts";
import { checkSize, readTextLimited } from "../limits.ts";

/** One entry of a list, with where it was written. */
export interface ListEntry {
  /** The entry exactly as written (trimmed). */
  entry: string;
  /** 1-based line number. */
  line: number;
}

/** Parse the text of an image list; every malformed entry is an error naming file and line. */
export function parseImageList(text: string, file: string): ListEntry[] {
  const { entries, problems } = checkImageList(text, file);
  if (problems.length > 0) {
    throw new AirgapError(problems[0].message, { where: file, image: problems[0].entry }, { exitCode: 2 });
  }
  return entries;
}

/** Parse the text of an image list, collecting every malformed entry (`FILE:LINE: reason`). */
export function checkImageList(
  text: string,
  file: string,
): { entries: ListEntry[]; problems: { entry: string; message: string }[] } {
  checkSize("imageList", text.length, file);
  const entries: ListEntry[] = [];
  const problems: { entry: string; message: string }[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n|\r/);
  for (const [i, raw] of lines.entries()) {
    const withoutComment = raw.replace(/(^|\s)#.*$/, "");
    const entry = withoutComment.trim();
    if (entry === "") continue;
    try {
      parseReference(entry);
      entries.push({ entry, line: i + 1 });
    } catch (e) {
      problems.push({ entry, message: `${file}:${i + 1}: ${errorMessage(e)}` });
    }
  }
  return { entries, problems };
}

/** Read and parse a list file. */
export async function readImageList(path: string, shownAs = path): Promise<ListEntry[]> {
  let text: string;
  try {
    text = await readTextLimited(path, "imageList", shownAs);
  } catch (e) {
    if (e instanceof AirgapError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new AirgapError(`image list ${shownAs} does not exist`, { where: shownAs }, { exitCode: 2 });
    }
    throw new AirgapError(`cannot read image list ${shownAs}: ${errorMessage(e)}`, { where: shownAs });
  }
  return parseImageList(text, shownAs);
}
