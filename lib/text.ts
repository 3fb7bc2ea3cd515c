/**
 * Human-readable numbers for reports.
 * @module
 */

/** `1.5 GiB`, `312 KiB`, `17 B`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** Parse a size such as `4GiB`, `4.7GB`, `700M`, `512k` into bytes. */
export function parseSize(text: string): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)$/i);
  if (!match) throw new Error(`invalid size "${text}" (e.g. 4GiB, 4.7GB, 700MiB)`);
  const [, number, prefix, binary] = match;
  const power = " kmgt".indexOf(prefix.toLowerCase() || " ");
  const base = binary || prefix === "" ? 1024 : 1000;
  const value = Number(number) * Math.pow(prefix ? base : 1, power);
  if (!Number.isFinite(value) || value < 1) throw new Error(`invalid size "${text}"`);
  return Math.floor(value);
}

/** `1m 12s`, `3.4s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m ${Math.round((ms % 60_000) / 1000)}s`;
}

/** `312 MiB/s`. */
export function formatRate(bytes: number, ms: number): string {
  return `${formatBytes(ms > 0 ? Math.round((bytes * 1000) / ms) : 0)}/s`;
}

/** Shorten a digest for tables: `sha256:0123456789ab`. */
export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(":");
  return `${algorithm}:${hex.slice(0, 12)}`;
}

/** Columns of the terminal on stderr or stdout (COLUMNS, else 80 when neither is a terminal). */
export function terminalWidth(): number {
  try {
    const columns = Number(Deno.env.get("COLUMNS"));
    if (columns > 0) return columns;
  } catch { /* no env permission */ }
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/** Cut `text` to `width` characters, ending with `…` when cut. */
export function truncateEnd(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Cut `text` to `width` characters by replacing its middle with `…` (names keep their registry and tag). */
export function truncateMiddle(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return "…".slice(0, width);
  const tail = Math.floor((width - 1) / 2);
  return `${text.slice(0, width - 1 - tail)}…${text.slice(text.length - tail)}`;
}

/** Columns a table on stdout may use: COLUMNS, else the terminal's; unlimited when stdout is not a terminal. */
export function tableWidth(): number {
  try {
    const columns = Number(Deno.env.get("COLUMNS"));
    if (columns > 0) return columns;
  } catch { /* no env permission */ }
  return Deno.stdout.isTerminal() ? terminalWidth() : Infinity;
}

/**
 * Lay out a table with two spaces between columns. When it is wider than
 * `width`, the `lists` columns (e.g. the platforms) are shortened first, to
 * their first items and a count ({@link fitList}); then the `shrink` columns
 * (the image name) are narrowed, down to `minimum` characters, by cutting the
 * middle of their cells so that a name keeps its registry and its tag and two
 * different names never print the same ({@link fitNames}).
 */
export function formatTable(
  header: string[],
  rows: string[][],
  options: { width?: number; shrink?: number[]; minimum?: number; lists?: number[] } = {},
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const width = options.width ?? Infinity;
  const minimum = options.minimum ?? 16;
  const shrink = options.shrink ?? [];
  const lists = options.lists ?? [];
  // The last column is not padded, so it does not count its trailing spaces.
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  const narrow = (columns: number[], floor: (c: number) => number) => {
    for (const column of columns) {
      const excess = total() - width;
      if (excess > 0) widths[column] = Math.max(Math.min(widths[column], floor(column)), widths[column] - excess);
    }
  };
  // Lists first (down to a count), then names down to `minimum`, then (a very narrow terminal) to the header.
  narrow(lists, (c) => Math.max(LIST_FLOOR, header[c].length));
  narrow(shrink, (c) => Math.max(minimum, header[c].length));
  narrow(shrink, (c) => Math.max(MIN_DISTINCT, header[c].length));
  const names = new Map(shrink.map((c) => [c, fitNames(rows.map((r) => r[c]), widths[c])]));
  const fit = (cell: string, column: number) =>
    names.get(column)?.get(cell) ??
      (lists.includes(column) ? fitList(cell, widths[column]) : truncateMiddle(cell, widths[column]));
  const line = (cells: string[], heading: boolean) =>
    cells.map((c, i) => {
      const cell = heading ? truncateMiddle(c, widths[i]) : fit(c, i);
      return i === cells.length - 1 ? cell : cell.padEnd(widths[i]);
    }).join("  ");
  return [line(header, true), ...rows.map((r) => line(r, false))];
}

/** The narrowest a list column gets: `windows/amd64`, `3 platforms`. */
const LIST_FLOOR = 13;

/**
 * A comma-separated list cut to `width`: as many items as fit and `+N` for
 * the rest (`linux/amd64,linux/arm64 +3`), else `N platforms`.
 */
export function fitList(cell: string, width: number, noun = "platforms"): string {
  if (cell.length <= width) return cell;
  const items = cell.split(",");
  for (let keep = items.length - 1; keep >= 1; keep--) {
    const text = `${items.slice(0, keep).join(",")} +${items.length - keep}`;
    if (text.length <= width) return text;
  }
  const count = `${items.length} ${noun}`;
  return count.length <= width ? count : truncateEnd(cell, width);
}

/**
 * Names cut to `width` so that different names stay different: each is cut
 * in the middle (`registry.exa…ller:v1.4.4`); names whose plain cut another
 * name shares move the cut, then show the part where they differ between two
 * `…`, and as a last resort end in `#N`. Names that fit are kept as they are.
 * (Below {@link MIN_DISTINCT} columns names are only cut.)
 */
export function fitNames(names: Iterable<string>, width: number): Map<string, string> {
  const unique = [...new Set(names)];
  const fitted = new Map<string, string>();
  const taken = new Set<string>();
  for (const name of unique) {
    if (name.length > width) continue;
    fitted.set(name, name);
    taken.add(name);
  }
  const plain = new Map<string, number>();
  for (const name of unique) {
    if (name.length > width) plain.set(truncateMiddle(name, width), (plain.get(truncateMiddle(name, width)) ?? 0) + 1);
  }
  for (const name of unique) {
    if (fitted.has(name)) continue;
    if (width < MIN_DISTINCT) {
      fitted.set(name, truncateMiddle(name, width));
      continue;
    }
    const shared = (plain.get(truncateMiddle(name, width)) ?? 0) > 1;
    for (const candidate of nameCuts(name, width)) {
      if (taken.has(candidate) || (shared && candidate === truncateMiddle(name, width))) continue;
      fitted.set(name, candidate);
      taken.add(candidate);
      break;
    }
  }
  return fitted;
}

/** The narrowest column in which {@link fitNames} keeps different names different. */
export const MIN_DISTINCT = 8;

/** The ways to cut `name` to `width`, preferred first (see {@link fitNames}). */
function* nameCuts(name: string, width: number): Generator<string> {
  const tail = Math.floor((width - 1) / 2);
  yield truncateMiddle(name, width);
  if (width < 3) return;
  for (let step = 1; step < width; step++) {
    for (const t of [tail + step, tail - step]) {
      if (t >= 1 && t <= width - 2) yield `${name.slice(0, width - 1 - t)}…${name.slice(name.length - t)}`;
    }
  }
  const end = Math.max(1, Math.floor((width - 2) / 4));
  const window = width - 2 - 2 * end;
  if (window >= 1) {
    for (let at = end; at + window <= name.length - end; at++) {
      yield `${name.slice(0, end)}…${name.slice(at, at + window)}…${name.slice(name.length - end)}`;
    }
  }
  for (let n = 1;; n++) {
    const mark = `#${n}`;
    yield `${name.slice(0, Math.max(0, width - 1 - mark.length))}…${mark}`.slice(-width);
  }
}

/**
 * Word-wrap a line of prose to `width`, continuing with `indent`; a word
 * longer than a line (a long image name) is cut in the middle.
 */
export function wrapLine(line: string, width: number, indent = "  "): string[] {
  if (line.length <= width) return [line];
  const lines: string[] = [];
  let current = "";
  for (const word of line.split(" ")) {
    const lead = lines.length === 0 ? "" : indent;
    if (current === "") current = lead + truncateMiddle(word, width - lead.length);
    else if (current.length + 1 + word.length <= width) current += ` ${word}`;
    else {
      lines.push(current);
      current = indent + truncateMiddle(word, width - indent.length);
    }
  }
  lines.push(current);
  return lines;
}

/** A digest as `docker images` shows an image ID: its first 12 hex digits. */
export function shortId(digest: string): string {
  return (digest.split(":")[1] ?? digest).slice(0, 12);
}

/** `1 image`, `3 images`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Characters of user input {@link echo} shows whole. */
export const ECHO_MAX = 200;

/**
 * User input as echoed in a message: whole when short, else its first
 * characters, `…` and how long it was — a 50 MB reference is not printed
 * whole. Control characters are shown escaped, so an echo stays one line.
 * Every error that quotes what the user (or a file, or a server) wrote uses it.
 */
export function echo(text: string, max: number = ECHO_MAX): string {
  const clean = (s: string) =>
    // deno-lint-ignore no-control-regex
    s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  if (text.length <= max) return clean(text);
  return `${clean(text.slice(0, max))}… (${text.length} characters)`;
}
