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
 * `width`, the `shrink` columns (in that order, e.g. the image name) are
 * narrowed, down to `minimum` characters, by cutting the middle of their
 * cells — a name keeps its registry and its tag.
 */
export function formatTable(
  header: string[],
  rows: string[][],
  options: { width?: number; shrink?: number[]; minimum?: number } = {},
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const width = options.width ?? Infinity;
  const minimum = options.minimum ?? 16;
  // The last column is not padded, so it does not count its trailing spaces.
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  // First down to `minimum` each, then (a very narrow terminal) down to the header's width.
  for (const floor of [(c: number) => Math.max(minimum, header[c].length), (c: number) => header[c].length]) {
    for (const column of options.shrink ?? []) {
      const excess = total() - width;
      if (excess > 0) widths[column] = Math.max(Math.min(widths[column], floor(column)), widths[column] - excess);
    }
  }
  const line = (cells: string[]) =>
    cells.map((c, i) => {
      const cell = truncateMiddle(c, widths[i]);
      return i === cells.length - 1 ? cell : cell.padEnd(widths[i]);
    }).join("  ");
  return [header, ...rows].map(line);
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
