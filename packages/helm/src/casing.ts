/**
 * @module
 * Sprig's `snakecase` and `kebabcase` are huandu/xstrings' ToSnakeCase/ToKebabCase (1.3.x, the version Helm's
 * Sprig pins): the text is cut into words by kind — runs of connectors (`-`, `_`, spaces), of punctuation, of
 * digits, of lower-case letters (after at most one capital), of capitals (the last one starts the next word
 * when lower-case letters follow: "HTTPStatus" is "HTTP" + "Status"), and of anything else (symbols such as
 * `=`, CJK) — and the connector goes between some neighbours and not others. A regular-expression split gives
 * the same answer only for plain identifiers, so the word rules are kept here as xstrings states them.
 */

type Kind = "none" | "number" | "upper" | "alpha" | "connector" | "punct" | "other";

interface Word {
  kind: Kind;
  text: string;
}

const isConnector = (c: string) => c === "-" || c === "_" || /^\s$/u.test(c) || c === "\u0085";
const isPunct = (c: string) => /^\p{P}$/u.test(c);
const isUpper = (c: string) => /^\p{Lu}$/u.test(c);
const isNumber = (c: string) => /^\p{N}$/u.test(c);

/** A letter that is not a CJK ideograph (xstrings' isAlphabet). */
function isAlphabet(c: string): boolean {
  if (!/^\p{L}$/u.test(c)) return false;
  const r = c.codePointAt(0)!;
  return !((r >= 0x4e00 && r <= 0x9fcc) || (r >= 0x3400 && r <= 0x4d85) || (r >= 0x20000 && r <= 0x2b81d));
}

/** The next word of `chars` from `at`, and where the rest begins. */
function nextWord(chars: string[], at: number): [Word, number] {
  if (at >= chars.length) return [{ kind: "none", text: "" }, at];
  const run = (from: number, keep: (c: string) => boolean) => {
    let i = from;
    while (i < chars.length && keep(chars[i])) i++;
    return i;
  };
  const c = chars[at];
  let kind: Kind, end: number;
  if (isConnector(c)) [kind, end] = ["connector", run(at + 1, isConnector)];
  else if (isPunct(c)) [kind, end] = ["punct", run(at + 1, isPunct)];
  else if (isUpper(c)) {
    kind = "upper";
    end = at + 1;
    const next = chars[end];
    if (next !== undefined && isUpper(next)) {
      end = run(end, isUpper);
      if (end < chars.length && isAlphabet(chars[end])) end--;
    } else if (next !== undefined && isAlphabet(next)) end = run(end, (x) => isAlphabet(x) && !isUpper(x));
  } else if (isAlphabet(c)) [kind, end] = ["alpha", run(at + 1, (x) => isAlphabet(x) && !isUpper(x))];
  else if (isNumber(c)) [kind, end] = ["number", run(at + 1, isNumber)];
  else {
    [kind, end] = [
      "other",
      run(at + 1, (x) => !isConnector(x) && !isAlphabet(x) && !isNumber(x) && !isPunct(x)),
    ];
  }
  return [{ kind, text: chars.slice(at, end).join("") }, end];
}

/** Capitals lowered and connectors replaced, in capital and connector words only. */
function lower(word: Word, connector: string): string {
  if (word.kind !== "upper" && word.kind !== "connector") return word.text;
  return Array.from(word.text, (c) => isConnector(c) ? connector : isUpper(c) ? c.toLowerCase() : c).join("");
}

/** xstrings' camelCaseToLowerCase: words lowered, `connector` between them by their kinds. */
export function toLowerCase(text: string, connector: string): string {
  const chars = Array.from(text);
  if (chars.length === 0) return "";
  let out = "";
  let [word, at] = nextWord(chars, 0);
  const joinable = (k: Kind) => k !== "none" && k !== "punct" && k !== "connector";
  while (at < chars.length) {
    if (word.kind !== "connector") out += lower(word, connector);
    const prev = word;
    [word, at] = nextWord(chars, at);
    if (prev.kind === "number") {
      while (word.kind === "alpha" || word.kind === "number") {
        out += lower(word, connector);
        [word, at] = nextWord(chars, at);
      }
      if (joinable(word.kind)) out += connector;
    } else if (prev.kind === "connector") out += lower(prev, connector);
    else if (prev.kind !== "punct") {
      if (word.kind !== "number") {
        if (word.kind !== "connector" && word.kind !== "punct") out += connector;
        continue;
      }
      if (at >= chars.length) continue;
      const digits = word;
      [word, at] = nextWord(chars, at);
      // A number ends the word before it ("Bld4Floor" is "bld4_floor") unless letters follow ("HTTP2xx").
      if (word.kind !== "alpha") {
        out += lower(digits, connector);
        if (word.kind !== "connector" && word.kind !== "punct") out += connector;
        continue;
      }
      out += connector + lower(digits, connector);
      while (word.kind === "alpha" || word.kind === "number") {
        out += lower(word, connector);
        [word, at] = nextWord(chars, at);
      }
      if (joinable(word.kind)) out += connector;
    }
  }
  return out + lower(word, connector);
}

/** One rune's case changed as Go's unicode.ToUpper/ToLower do: one rune for one ("ß" keeps, never "SS"). */
function oneRune(c: string, to: (c: string) => string): string {
  const out = to(c);
  return [...out].length === 1 ? out : c;
}

/**
 * Sprig's `camelcase`: xstrings' ToCamelCase, rune by rune. Leading connectors stay; the first letter goes up;
 * a connector (`-`, `_`, any space) is dropped and the rune after it goes up; a run of connectors keeps all but
 * its last; every other rune goes down ("HTTPServer" is "Httpserver", "aB-CD" is "AbCd"); a trailing connector
 * stays, and a text of connectors alone ends with its last one doubled ("_" is "__"), as xstrings writes it.
 */
export function toCamelCase(text: string): string {
  const runes = [...text];
  if (runes.length === 0) return "";
  let out = "";
  let i = 0;
  let r0 = "";
  while (i < runes.length) {
    r0 = runes[i++];
    if (!isConnector(r0)) {
      r0 = oneRune(r0, (c) => c.toUpperCase());
      break;
    }
    out += r0;
  }
  while (i < runes.length) {
    const r1 = r0;
    r0 = runes[i++];
    if (isConnector(r0) && isConnector(r1)) {
      out += r1;
      continue;
    }
    if (isConnector(r1)) r0 = oneRune(r0, (c) => c.toUpperCase());
    else {
      out += r1;
      r0 = oneRune(r0, (c) => c.toLowerCase());
    }
  }
  return out + r0;
}
