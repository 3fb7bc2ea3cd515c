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
  const items: Item[] = [];
  let pos = 0;
  let line = 1;
  const advanceTo = (to: number) => {
    for (let i = pos; i < to; i++) if (text[i] === "\n") line++;
    pos = to;
  };
  const fail = (why: string): never => {
    throw new TemplateError("syntax", why, { template: name, line });
  };
  let trimNext = false;
  while (pos < text.length) {
    const open = text.indexOf("{{", pos);
    let chunk = text.slice(pos, open === -1 ? text.length : open);
    if (trimNext) {
      const skipped = TRIM.exec(chunk)![0].length;
      advanceTo(pos + skipped);
      chunk = chunk.slice(skipped);
      trimNext = false;
    }
    if (open === -1) {
      if (chunk) items.push({ kind: "text", text: chunk, line });
      advanceTo(text.length);
      break;
    }
    const trimLeft = text[open + 2] === "-" && SPACE.test(text[open + 3] ?? "");
    if (trimLeft) chunk = chunk.trimEnd();
    if (chunk) items.push({ kind: "text", text: chunk, line });
    advanceTo(open);
    const actionLine = line;
    let p = open + 2 + (trimLeft ? 2 : 0);
    if (text.startsWith("/*", p)) {
      const close = text.indexOf("*/", p + 2);
      if (close === -1) fail("unclosed comment");
      const after = close + 2;
      if (text.startsWith(" -}}", after)) {
        trimNext = true;
        advanceTo(after + 4);
      } else if (text.startsWith("}}", after)) advanceTo(after + 2);
      else fail("comment ends before closing delimiter");
      continue;
    }
    const tokens: Token[] = [];
    let spaceBefore = false;
    let tokenLine = line;
    for (;;) {
      if (p >= text.length) {
        advanceTo(p);
        fail("unclosed action");
      }
      const c = text[p];
      if (SPACE.test(c)) {
        if (text.startsWith("-}}", p + 1)) {
          trimNext = true;
          p += 4;
          break;
        }
        spaceBefore = true;
        if (c === "\n") tokenLine++;
        p++;
        continue;
      }
      if (text.startsWith("}}", p)) {
        p += 2;
        break;
      }
      const start = p;
      const push = (type: TokenType, value: string) => {
        tokens.push({ type, value, spaceBefore, line: tokenLine });
        spaceBefore = false;
      };
      if (c === '"') {
        let end = p + 1;
        while (end < text.length && text[end] !== '"') {
          if (text[end] === "\\") end++;
          if (text[end] === "\n") fail("unterminated quoted string");
          end++;
        }
        if (end >= text.length) fail("unterminated quoted string");
        push("string", unescape(text.slice(p + 1, end), fail));
        p = end + 1;
      } else if (c === "`") {
        const end = text.indexOf("`", p + 1);
        if (end === -1) fail("unterminated raw quoted string");
        push("string", text.slice(p + 1, end));
        for (let i = p; i < end; i++) if (text[i] === "\n") tokenLine++;
        p = end + 1;
      } else if (c === "'") {
        let end = p + 1;
        while (end < text.length && text[end] !== "'") end += text[end] === "\\" ? 2 : 1;
        const value = unescape(text.slice(p + 1, end), fail);
        if (Array.from(value).length !== 1) fail(`malformed character constant ${text.slice(p, end + 1)}`);
        push("char", value);
        p = end + 1;
      } else if (/[0-9+-]/.test(c) || (c === "." && /[0-9]/.test(text[p + 1] ?? ""))) {
        // Go's scanNumber: a base prefix picks the digits; `e` exponents for decimals, `p` for hex.
        const match =
          /^[+-]?(0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?([pP][+-]?[\d_]*)?|0[bB][01_]*(\.[01_]*)?|0[oO][0-7_]*(\.[0-7_]*)?|[\d_]*(\.[\d_]*)?([eE][+-]?[\d_]*)?)i?/
            .exec(text.slice(p))!;
        if (
          match[0] === "" || match[0] === "+" || match[0] === "-" || IDENT_CHAR.test(text[p + match[0].length] ?? " ")
        ) {
          fail(`bad number syntax: ${text.slice(p, p + match[0].length + 1)}`);
        }
        push("number", match[0]);
        p += match[0].length;
      } else if (c === "." || c === "$") {
        let end = p + 1;
        while (end < text.length && IDENT_CHAR.test(text[end])) end++;
        const word = text.slice(p + 1, end);
        if (c === "$") push("variable", `$${word}`);
        else if (word === "") push("dot", ".");
        else push("field", word);
        p = end;
      } else if (IDENT_CHAR.test(c)) {
        let end = p;
        while (end < text.length && IDENT_CHAR.test(text[end])) end++;
        const word = text.slice(p, end);
        push(KEYWORDS.has(word) ? (word === "nil" ? "nil" : "bool") : "ident", word);
        p = end;
      } else if (c === ":" && text[p + 1] === "=") {
        push("declare", ":=");
        p += 2;
      } else if (c === "=" || c === "|" || c === "," || c === "(" || c === ")") {
        const types: Record<string, TokenType> = {
          "=": "assign",
          "|": "pipe",
          ",": "comma",
          "(": "lparen",
          ")": "rparen",
        };
        push(types[c], c);
        p++;
      } else {
        fail(`unrecognized character in action: ${JSON.stringify(c)}`);
      }
      if (p === start) fail("lexer made no progress");
    }
    items.push({ kind: "action", tokens, line: actionLine });
    advanceTo(p);
  }
  return items;
}
