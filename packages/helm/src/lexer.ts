/**
 * Lexer for Go's text/template: splits a template into text and actions,
 * applies `{{-`/`-}}` trimming and drops `{{/* comments *\/}}`, then breaks
 * each action into tokens.
 * @module
 */
import { TemplateError } from "./errors.ts";

/** Token types inside an action. */
export type TokenType =
  | "ident" // function name or keyword
  | "field" // .Name (value is the name)
  | "variable" // $ or $name (value includes the $)
  | "dot" // .
  | "string"
  | "number"
  | "char"
  | "bool"
  | "nil"
  | "lparen"
  | "rparen"
  | "pipe"
  | "declare"
  | "assign"
  | "comma";

/** One token of an action. */
export interface Token {
  type: TokenType;
  /** Source text, except for strings (unquoted) and chars (the character). */
  value: string;
  /** Whitespace before it: `$x.a` is a chain, `$x .a` two operands. */
  spaceBefore: boolean;
  line: number;
}

/** Text between actions, or one action's tokens. */
export type Item =
  | { kind: "text"; text: string; line: number }
  | { kind: "action"; tokens: Token[]; line: number };

const SPACE = /[ \t\r\n]/;
const TRIM = /^[ \t\r\n]*/;
const IDENT_CHAR = /[\p{L}\p{N}_]/u;
const KEYWORDS = new Set(["true", "false", "nil"]);

const ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
  "'": "'",
};

/** Go's interpreted string/char literal body (without the quotes). */
function unescape(body: string, fail: (why: string) => never): string {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== "\\") {
      out += body[i];
      continue;
    }
    const c = body[++i];
    if (c in ESCAPES) out += ESCAPES[c];
    else if (c === "x" || c === "u" || c === "U") {
      const length = c === "x" ? 2 : c === "u" ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + length);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== length) fail(`invalid escape \\${c}${hex}`);
      out += String.fromCodePoint(parseInt(hex, 16));
      i += length;
    } else if (c >= "0" && c <= "7") {
      const octal = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(octal)) fail(`invalid octal escape \\${octal}`);
      out += String.fromCharCode(parseInt(octal, 8));
      i += 2;
    } else fail(`unknown escape sequence \\${c}`);
  }
  return out;
}

/** Lex a whole template. `name` is used in syntax errors. */
export function lex(text: string, name: string): Item[] {
  return new Lexer(text, name).items();
}

const PUNCTUATION: Record<string, TokenType> = {
  "=": "assign",
  "|": "pipe",
  ",": "comma",
  "(": "lparen",
  ")": "rparen",
};

/** Text and actions of one template, with the line each starts on (Go's text/template/parse lexer). */
class Lexer {
  #pos = 0;
  #line = 1;
  #trimNext = false;
  readonly #items: Item[] = [];

  constructor(readonly text: string, readonly name: string) {}

  fail = (why: string, line = this.#line): never => {
    throw new TemplateError("syntax", why, { template: this.name, line });
  };

  #advanceTo(to: number) {
    for (let i = this.#pos; i < to; i++) if (this.text[i] === "\n") this.#line++;
    this.#pos = to;
  }

  items(): Item[] {
    const text = this.text;
    while (this.#pos < text.length) {
      const open = text.indexOf("{{", this.#pos);
      let chunk = text.slice(this.#pos, open === -1 ? text.length : open);
      if (this.#trimNext) {
        const skipped = TRIM.exec(chunk)![0].length;
        this.#advanceTo(this.#pos + skipped);
        chunk = chunk.slice(skipped);
        this.#trimNext = false;
      }
      if (open === -1) {
        if (chunk) this.#items.push({ kind: "text", text: chunk, line: this.#line });
        this.#advanceTo(text.length);
        break;
      }
      const trimLeft = text[open + 2] === "-" && SPACE.test(text[open + 3] ?? "");
      if (trimLeft) chunk = chunk.trimEnd();
      if (chunk) this.#items.push({ kind: "text", text: chunk, line: this.#line });
      this.#advanceTo(open);
      const p = open + 2 + (trimLeft ? 2 : 0);
      if (text.startsWith("/*", p)) this.#comment(p);
      else this.#action(p);
    }
    return this.#items;
  }

  #comment(p: number) {
    const close = this.text.indexOf("*/", p + 2);
    if (close === -1) this.fail("unclosed comment");
    const after = close + 2;
    if (this.text.startsWith(" -}}", after)) {
      this.#trimNext = true;
      this.#advanceTo(after + 4);
    } else if (this.text.startsWith("}}", after)) this.#advanceTo(after + 2);
    else this.fail("comment ends before closing delimiter");
  }

  #action(from: number) {
    const text = this.text;
    const actionLine = this.#line;
    const scan = new TokenScanner(text, this.#line, this.fail);
    let p = from;
    for (;;) {
      if (p >= text.length) {
        this.#advanceTo(p);
        this.fail("unclosed action");
      }
      const c = text[p];
      if (SPACE.test(c)) {
        if (text.startsWith("-}}", p + 1)) {
          this.#trimNext = true;
          p += 4;
          break;
        }
        scan.space(c);
        p++;
        continue;
      }
      if (text.startsWith("}}", p)) {
        p += 2;
        break;
      }
      const start = p;
      p = scan.token(p);
      if (p === start) this.fail("lexer made no progress");
    }
    this.#items.push({ kind: "action", tokens: scan.tokens, line: actionLine });
    this.#advanceTo(p);
  }
}

/** The tokens of one action: each scan reads one token at `p` and returns where the next starts. */
class TokenScanner {
  readonly tokens: Token[] = [];
  #spaceBefore = false;

  constructor(readonly text: string, public tokenLine: number, readonly fail: (why: string) => never) {}

  space(c: string) {
    this.#spaceBefore = true;
    if (c === "\n") this.tokenLine++;
  }

  #push(type: TokenType, value: string) {
    this.tokens.push({ type, value, spaceBefore: this.#spaceBefore, line: this.tokenLine });
    this.#spaceBefore = false;
  }

  token(p: number): number {
    const { text } = this;
    const c = text[p];
    if (c === '"') return this.#quoted(p);
    if (c === "`") return this.#raw(p);
    if (c === "'") return this.#char(p);
    if (/[0-9+-]/.test(c) || (c === "." && /[0-9]/.test(text[p + 1] ?? ""))) return this.#number(p);
    if (c === "." || c === "$" || IDENT_CHAR.test(c)) return this.#word(p);
    if (c === ":" && text[p + 1] === "=") {
      this.#push("declare", ":=");
      return p + 2;
    }
    if (Object.hasOwn(PUNCTUATION, c)) {
      this.#push(PUNCTUATION[c], c);
      return p + 1;
    }
    return this.fail(`unrecognized character in action: ${JSON.stringify(c)}`);
  }

  #quoted(p: number): number {
    const { text } = this;
    let end = p + 1;
    while (end < text.length && text[end] !== '"') {
      if (text[end] === "\\") end++;
      if (text[end] === "\n") this.fail("unterminated quoted string");
      end++;
    }
    if (end >= text.length) this.fail("unterminated quoted string");
    this.#push("string", unescape(text.slice(p + 1, end), this.fail));
    return end + 1;
  }

  #raw(p: number): number {
    const { text } = this;
    const end = text.indexOf("`", p + 1);
    if (end === -1) this.fail("unterminated raw quoted string");
    this.#push("string", text.slice(p + 1, end));
    for (let i = p; i < end; i++) if (text[i] === "\n") this.tokenLine++;
    return end + 1;
  }

  #char(p: number): number {
    const { text } = this;
    let end = p + 1;
    while (end < text.length && text[end] !== "'") end += text[end] === "\\" ? 2 : 1;
    const value = unescape(text.slice(p + 1, end), this.fail);
    if (Array.from(value).length !== 1) this.fail(`malformed character constant ${text.slice(p, end + 1)}`);
    this.#push("char", value);
    return end + 1;
  }

  /** Go's scanNumber: a base prefix picks the digits; `e` exponents for decimals, `p` for hex. */
  #number(p: number): number {
    const { text } = this;
    const match =
      /^[+-]?(0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?([pP][+-]?[\d_]*)?|0[bB][01_]*(\.[01_]*)?|0[oO][0-7_]*(\.[0-7_]*)?|[\d_]*(\.[\d_]*)?([eE][+-]?[\d_]*)?)i?/
        .exec(text.slice(p))!;
    if (match[0] === "" || match[0] === "+" || match[0] === "-" || IDENT_CHAR.test(text[p + match[0].length] ?? " ")) {
      this.fail(`bad number syntax: ${text.slice(p, p + match[0].length + 1)}`);
    }
    this.#push("number", match[0]);
    return p + match[0].length;
  }

  /** `.field`, `$var`, `.`, or an identifier (keywords `true`, `false`, `nil`). */
  #word(p: number): number {
    const { text } = this;
    const c = text[p];
    const sigil = c === "." || c === "$";
    let end = sigil ? p + 1 : p;
    while (end < text.length && IDENT_CHAR.test(text[end])) end++;
    const word = text.slice(sigil ? p + 1 : p, end);
    if (c === "$") this.#push("variable", `$${word}`);
    else if (c === ".") this.#push(word === "" ? "dot" : "field", word === "" ? "." : word);
    else this.#push(KEYWORDS.has(word) ? (word === "nil" ? "nil" : "bool") : "ident", word);
    return end;
  }
}
