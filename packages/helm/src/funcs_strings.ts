/**
 * Sprig's string, regular expression, encoding, hash and random functions.
 * Argument order is Sprig's: the subject string comes last so it can be piped.
 * @module
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { execError, unsupported } from "./errors.ts";
import type { TemplateFunction } from "./evaluate.ts";
import { goQuote } from "./format.ts";
import { toCamelCase, toLowerCase } from "./casing.ts";
import { type GoMap, isMap, toIndex, toInt, toStr, typed, type Value } from "./gotypes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Go RE2 syntax to JavaScript: named groups and leading inline flags. */
function goRegExp(pattern: Value, global = false): RegExp {
  let source = toStr(pattern).replace(/\(\?P</g, "(?<").replace(/\\z/g, "$(?![\\s\\S])");
  let flags = global ? "g" : "";
  const inline = /^\(\?([imsU]+)\)/.exec(source);
  if (inline) {
    if (inline[1].includes("U")) throw execError(`unsupported regular expression flag U in ${toStr(pattern)}`);
    flags += inline[1];
    source = source.slice(inline[0].length);
  }
  try {
    return new RegExp(source, flags);
  } catch (e) {
    throw execError(`error parsing regexp: ${(e as Error).message}`);
  }
}

/**
 * Go's `Regexp.Expand`: `$$` is a dollar, `$name`/`${name}` takes the longest
 * run of letters, digits and `_` as the name (so `$1x` is the group named
 * `1x`, empty when there is none), all digits name a group by number, and a
 * `$` without a valid name stays as text.
 */
function goExpand(template: string, match: RegExpExecArray): string {
  let out = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c !== "$") {
      out += c;
      continue;
    }
    if (template[i + 1] === "$") {
      out += "$";
      i++;
      continue;
    }
    const m = /^\{(\w+)\}|^(\w+)/.exec(template.slice(i + 1));
    if (!m) {
      out += "$";
      continue;
    }
    const name = m[1] ?? m[2];
    i += m[0].length;
    const value = /^\d+$/.test(name) ? match[Number(name)] : match.groups?.[name];
    out += value ?? "";
  }
  return out;
}

/**
 * Go's `Regexp.allMatches`: up to `n` (all when < 0) matches left to right, where an empty match right where
 * the previous match ended is skipped (so `a*` on "baaac" matches "", "aaa", "" — not a second "" after "aaa").
 */
function goMatches(re: Value, s: Value, n = -1): RegExpExecArray[] {
  const text = toStr(s), pattern = goRegExp(re, true), out: RegExpExecArray[] = [];
  for (let pos = 0, prevEnd = -1; (n < 0 || out.length < n) && pos <= text.length;) {
    pattern.lastIndex = pos;
    const m = pattern.exec(text);
    if (!m) break;
    const end = m.index + m[0].length;
    let accept = true;
    if (end === pos) {
      if (m.index === prevEnd) accept = false;
      pos += (text.codePointAt(pos) ?? 0) > 0xffff ? 2 : 1;
    } else pos = end;
    prevEnd = end;
    if (accept) out.push(m);
  }
  return out;
}

/** Go's `ReplaceAllString` (with `$` expansion) or `ReplaceAllLiteralString`: no empty match after a match. */
function regexReplace(re: Value, s: Value, replacement: Value, literal: boolean): string {
  const text = toStr(s), template = toStr(replacement);
  let out = "", last = 0;
  for (const m of goMatches(re, text)) {
    out += text.slice(last, m.index) + (literal ? template : goExpand(template, m));
    last = m.index + m[0].length;
  }
  return out + text.slice(last);
}

/** Go's `Regexp.Split`: text between the first `n` matches (all when < 0), no groups, no empty leading piece. */
function regexSplit(re: Value, s: Value, n: number): string[] {
  const text = toStr(s);
  if (n === 0) return [];
  if (toStr(re) !== "" && text === "") return [""];
  const parts: string[] = [];
  let begin = 0, end = 0;
  for (const m of goMatches(re, text, n)) {
    if (n > 0 && parts.length === n - 1) break;
    end = m.index;
    if (m.index + m[0].length !== 0) parts.push(text.slice(begin, end));
    begin = m.index + m[0].length;
  }
  if (end !== text.length) parts.push(text.slice(begin));
  return parts;
}

/** goutils.AbbreviateFull: `...` on either side, keeping a window of `width` around `offset`. */
function abbrevBoth(left: Value, right: Value, s: Value): string {
  const text = toStr(s), width = Number(toInt(right));
  let offset = Number(toInt(left));
  if (text === "" || (width < 4 && offset > 0) || width < 4) return text;
  if (text.length <= width) return text;
  if (offset > text.length) offset = text.length;
  if (text.length - offset < width - 3) offset = text.length - (width - 3);
  if (offset <= 4) return `${text.slice(0, width - 3)}...`;
  if (width < 7) return text;
  if (offset + width - 3 < text.length) return `...${abbrevBoth(0n, BigInt(width - 3), text.slice(offset))}`;
  return `...${text.slice(text.length - (width - 3))}`;
}

/**
 * goutils.WrapCustom, as written: it walks the UTF-8 bytes of the whole text from one wrap point to the next and
 * breaks at the last space within `width` (a line break already in the text is an ordinary byte, so
 * "hello world: .\nk: ." wrapped at 5 is "hello\nworld:\n.\nk:\n."); a longer word is cut at `width` only when
 * `wrapLong`, else kept whole up to the next space.
 */
function wrapCustom(text: string, width: number, newline: string, wrapLong: boolean): string {
  if (text === "") return "";
  const n = Math.max(1, width);
  const bytes = new TextEncoder().encode(text);
  const nl = new TextEncoder().encode(newline === "" ? "\n" : newline);
  const out: number[] = [];
  const write = (from: number, to: number) => out.push(...bytes.subarray(from, to));
  const lastSpace = (from: number, to: number) => bytes.subarray(from, Math.min(to, bytes.length)).lastIndexOf(32);
  let offset = 0;
  while (bytes.length - offset > n) {
    if (bytes[offset] === 32) {
      offset++;
      continue;
    }
    const at = lastSpace(offset, n + offset + 1);
    if (at >= 0) {
      write(offset, offset + at);
      out.push(...nl);
      offset += at + 1;
    } else if (wrapLong) {
      write(offset, offset + n);
      out.push(...nl);
      offset += n;
    } else {
      const next = bytes.subarray(offset + n).indexOf(32);
      if (next >= 0) {
        write(offset, offset + n + next);
        out.push(...nl);
        offset += n + next + 1;
      } else {
        write(offset, bytes.length);
        offset = bytes.length;
      }
    }
  }
  write(offset, bytes.length);
  return new TextDecoder().decode(new Uint8Array(out));
}

/** Go's `url.Parse` as Sprig's `urlParse` map. */
function urlParse(s: Value): GoMap {
  const text = toStr(s);
  const m = /^(?:([a-zA-Z][a-zA-Z0-9+.-]*):)?(?:\/\/(?:([^@/]*)@)?([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(
    text,
  );
  if (!m) throw execError(`unable to parse url: ${text}`);
  const host = m[3] ?? "";
  const hostname = host.startsWith("[") ? host.replace(/^\[([^\]]*)\].*$/, "$1") : host.replace(/:\d*$/, "");
  const opaque = m[1] && m[3] === undefined && !m[4].startsWith("/") ? m[4] : "";
  return {
    scheme: m[1] ?? "",
    host,
    hostname,
    path: opaque ? "" : decodeURIComponent(m[4]),
    query: m[5] ?? "",
    opaque,
    fragment: m[6] === undefined ? "" : decodeURIComponent(m[6]),
    userinfo: m[2] ?? "",
  };
}

/** Sprig's `urlJoin`: a URL from a `urlParse`-shaped map. */
function urlJoin(d: Value): string {
  const get = (key: string) => (isMap(d) && d[key] !== undefined && d[key] !== null ? toStr(d[key]) : "");
  let out = "";
  if (get("scheme")) out += `${get("scheme")}:`;
  if (get("opaque")) out += get("opaque");
  else {
    if (get("scheme") || get("host") || get("userinfo")) {
      out += "//";
      if (get("userinfo")) out += `${get("userinfo")}@`;
      out += get("host");
    }
    const path = get("path");
    if (path && !path.startsWith("/") && get("host")) out += "/";
    out += encodeURI(path).replace(/%25/g, "%");
  }
  if (get("query")) out += `?${get("query")}`;
  if (get("fragment")) out += `#${encodeURIComponent(get("fragment"))}`;
  return out;
}

function shuffle(s: Value): string {
  const chars = Array.from(toStr(s));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = crypto.getRandomValues(new Uint32Array(1))[0] % (i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join("");
}

/** `getHostByName`: a render talks to no network, so only names that need no lookup are answered. */
function hostByName(name: Value): string {
  const host = toStr(name);
  if (/^[\d.]+$/.test(host) || host.includes(":")) return host;
  if (host === "localhost") return "127.0.0.1";
  throw unsupported(`getHostByName "${host}" needs a DNS lookup, which a render does not do`);
}

/** Go's `strings.SplitN`. */
function splitN(text: string, sep: string, n: number): string[] {
  if (n === 0) return [];
  const parts = text.split(sep);
  if (n < 0 || parts.length <= n) return parts;
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}

/** Sprig's `split`/`splitn` result: a map `_0`, `_1`, … */
function indexedMap(parts: string[]): GoMap {
  return Object.fromEntries(parts.map((part, i) => [`_${i}`, part]));
}

/** Sprig's `strslice`: a list of strings from any list (nils dropped) or a single value. */
export function stringList(value: Value): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.filter((item) => item !== null && item !== undefined).map(toStr);
  return [toStr(value)];
}

/** Go's `strings.Repeat` count: a negative one panics, which a template sees as an error. */
function nonNegative(count: Value): number {
  const n = Number(toInt(count));
  if (n < 0) throw execError("strings: negative Repeat count");
  return n;
}

function indent(spaces: Value, text: Value): string {
  const pad = " ".repeat(nonNegative(spaces));
  return pad + toStr(text).replaceAll("\n", `\n${pad}`);
}

function base32(bytes: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, buffer = 0, out = "";
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out.padEnd(Math.ceil(out.length / 8) * 8, "=");
}

function unbase32(text: string): Uint8Array {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const out: number[] = [];
  let bits = 0, buffer = 0;
  for (const char of text.replace(/=+$/, "")) {
    const value = alphabet.indexOf(char);
    if (value === -1) throw execError(`illegal base32 data`);
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

function adler32(bytes: Uint8Array): string {
  let a = 1, b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return String(((b << 16) | a) >>> 0);
}

function randomFrom(alphabet: string, count: Value): string {
  const n = Math.max(0, Number(toInt(count)));
  const bytes = crypto.getRandomValues(new Uint32Array(n));
  return Array.from(bytes, (x) => alphabet[x % alphabet.length]).join("");
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS = "0123456789";
const ASCII = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join("");

/** Sprig's string-shaped functions. */
export const stringFunctions: Record<string, TemplateFunction> = {
  trim: (s) => toStr(s).trim(),
  trimAll: (cutset, s) => {
    const chars = new Set(toStr(cutset));
    const text = Array.from(toStr(s));
    let start = 0, end = text.length;
    while (start < end && chars.has(text[start])) start++;
    while (end > start && chars.has(text[end - 1])) end--;
    return text.slice(start, end).join("");
  },
  trimPrefix: (prefix, s) => (toStr(s).startsWith(toStr(prefix)) ? toStr(s).slice(toStr(prefix).length) : toStr(s)),
  trimSuffix: (suffix, s) => {
    const text = toStr(s), tail = toStr(suffix);
    return tail !== "" && text.endsWith(tail) ? text.slice(0, -tail.length) : text;
  },
  upper: (s) => toStr(s).toUpperCase(),
  lower: (s) => toStr(s).toLowerCase(),
  title: (s) => toStr(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, before, c) => before + c.toUpperCase()),
  untitle: (s) => toStr(s).replace(/(^|\s)(\p{L})/gu, (_, before, c) => before + c.toLowerCase()),
  repeat: (count, s) => toStr(s).repeat(nonNegative(count)),
  substr: (start, end, s) => {
    // Go slices the string's bytes, and a slice out of bounds is a runtime error.
    const bytes = new TextEncoder().encode(toStr(s)), from = Number(toInt(start)), to = Number(toInt(end));
    const slice = (a: number, b: number) => {
      if (a < 0 || b < a || b > bytes.length) throw execError(`runtime error: slice bounds out of range [${a}:${b}]`);
      return new TextDecoder().decode(bytes.subarray(a, b));
    };
    if (from < 0) return slice(0, to);
    if (to < 0 || to > bytes.length) return slice(from, bytes.length);
    return slice(from, to);
  },
  nospace: (s) => toStr(s).replace(/\s+/g, ""),
  trunc: (count, s) => {
    // Go counts bytes.
    const bytes = new TextEncoder().encode(toStr(s)), n = Number(toInt(count));
    if (n < 0 && bytes.length + n > 0) return new TextDecoder().decode(bytes.subarray(bytes.length + n));
    if (n >= 0 && bytes.length > n) return new TextDecoder().decode(bytes.subarray(0, n));
    return toStr(s);
  },
  abbrev: (width, s) => {
    const text = toStr(s), n = Number(toInt(width));
    return n < 4 || text.length <= n ? text : `${text.slice(0, n - 3)}...`;
  },
  initials: (s) => toStr(s).split(/\s+/).filter(Boolean).map((word) => word[0]).join(""),
  wrap: (width, s) => wrapCustom(toStr(s), Number(toInt(width)), "\n", false),
  wrapWith: (width, sep, s) => wrapCustom(toStr(s), Number(toInt(width)), toStr(sep), true),
  abbrevboth: (left, right, s) => abbrevBoth(left, right, s),
  trimall: (cutset, s) => stringFunctions.trimAll(cutset, s),
  shuffle: (s) => shuffle(s),
  hello: () => "Hello!",
  contains: (substr, s) => toStr(s).includes(toStr(substr)),
  hasPrefix: (prefix, s) => toStr(s).startsWith(toStr(prefix)),
  hasSuffix: (suffix, s) => toStr(s).endsWith(toStr(suffix)),
  quote: (...args) => args.filter((a) => a !== null && a !== undefined).map((a) => goQuote(toStr(a))).join(" "),
  squote: (...args) => args.filter((a) => a !== null && a !== undefined).map((a) => `'${toStr(a)}'`).join(" "),
  cat: (...args) => args.filter((a) => a !== null && a !== undefined).map(toStr).join(" "),
  indent: (spaces, s) => indent(spaces, s),
  nindent: (spaces, s) => `\n${indent(spaces, s)}`,
  replace: (old, replacement, s) => toStr(s).replaceAll(toStr(old), toStr(replacement)),
  plural: (one, many, count) => (toInt(count) === 1n ? toStr(one) : toStr(many)),
  snakecase: (s) => toLowerCase(toStr(s), "_"),
  kebabcase: (s) => toLowerCase(toStr(s), "-"),
  camelcase: (s) => toCamelCase(toStr(s)),
  swapcase: (s) => Array.from(toStr(s), (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(""),

  // lists of strings
  split: (sep, s) => typed(indexedMap(toStr(s).split(toStr(sep))), "map[string]string"),
  splitList: (sep, s) => typed(toStr(s).split(toStr(sep)), "[]string"),
  splitn: (sep, n, s) => typed(indexedMap(splitN(toStr(s), toStr(sep), Number(toInt(n)))), "map[string]string"),
  join: (sep, list) => stringList(list).join(toStr(sep)),
  sortAlpha: (list) => typed(stringList(list).sort(), "[]string"),

  // regular expressions (Go RE2 syntax, translated)
  regexMatch: (re, s) => goRegExp(re).test(toStr(s)),
  regexFind: (re, s) => goRegExp(re).exec(toStr(s))?.[0] ?? "",
  regexFindAll: (re, s, n) => typed(goMatches(re, s, toIndex(n, "count")).map((m) => m[0]), "[]string"),
  regexReplaceAll: (re, s, replacement) => regexReplace(re, s, replacement, false),
  regexReplaceAllLiteral: (re, s, replacement) => regexReplace(re, s, replacement, true),
  regexSplit: (re, s, n) => typed(regexSplit(re, s, toIndex(n, "count")), "[]string"),
  regexQuoteMeta: (s) => toStr(s).replace(/[\\.+*?()|[\]{}^$]/g, "\\$&"),

  // encodings and hashes
  b64enc: (s) => btoa(Array.from(encoder.encode(toStr(s)), (b) => String.fromCharCode(b)).join("")),
  b64dec: (s) => {
    try {
      return decoder.decode(Uint8Array.from(atob(toStr(s)), (c) => c.charCodeAt(0)));
    } catch {
      throw execError("illegal base64 data");
    }
  },
  b32enc: (s) => base32(encoder.encode(toStr(s))),
  b32dec: (s) => decoder.decode(unbase32(toStr(s))),
  sha1sum: (s) => createHash("sha1").update(toStr(s)).digest("hex"),
  sha256sum: (s) => createHash("sha256").update(toStr(s)).digest("hex"),
  sha512sum: (s) => createHash("sha512").update(toStr(s)).digest("hex"),
  adler32sum: (s) => adler32(encoder.encode(toStr(s))),

  // URLs and hosts
  urlParse: (s) => urlParse(s),
  urlJoin: (d) => urlJoin(d),
  getHostByName: (name) => hostByName(name),

  // paths (Go's path package: always forward slashes)
  base: (s) => posix.basename(toStr(s)) || (toStr(s) === "" ? "." : "/"),
  dir: (s) => posix.dirname(toStr(s)),
  clean: (s) => posix.normalize(toStr(s)).replace(/(.)\/$/, "$1"),
  ext: (s) => posix.extname(toStr(s)),
  isAbs: (s) => posix.isAbsolute(toStr(s)),

  // randomness, as Helm gives it (a fresh value every render)
  randAlphaNum: (n) => randomFrom(LETTERS + DIGITS, n),
  randAlpha: (n) => randomFrom(LETTERS, n),
  randNumeric: (n) => randomFrom(DIGITS, n),
  randAscii: (n) => randomFrom(ASCII, n),
  uuidv4: () => crypto.randomUUID(),
};

/** The `must*` regular expression functions (errors either way here) and `os*` paths (Linux: as `path`). */
Object.assign(stringFunctions, {
  mustRegexMatch: stringFunctions.regexMatch,
  mustRegexFind: stringFunctions.regexFind,
  mustRegexFindAll: stringFunctions.regexFindAll,
  mustRegexReplaceAll: stringFunctions.regexReplaceAll,
  mustRegexReplaceAllLiteral: stringFunctions.regexReplaceAllLiteral,
  mustRegexSplit: stringFunctions.regexSplit,
  osBase: stringFunctions.base,
  osDir: stringFunctions.dir,
  osClean: stringFunctions.clean,
  osExt: stringFunctions.ext,
  osIsAbs: stringFunctions.isAbs,
});
