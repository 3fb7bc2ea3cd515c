/**
 * Parser for Go's text/template: turns lexed items into a tree of text,
 * actions and control structures, and collects `define`/`block` bodies.
 * @module
 */
import { TemplateError } from "./errors.ts";
import { type Item, lex, type Token } from "./lexer.ts";

/** An operand of a command. */
export type Expr =
  | { type: "ident"; name: string }
  | { type: "dot" }
  | { type: "field"; names: string[] }
  | { type: "var"; name: string; names: string[] }
  | { type: "pipe"; pipe: Pipeline; names: string[] }
  | { type: "literal"; value: unknown };

/** Operands of one command: a function call, a method call or a single value. */
export interface Command {
  args: Expr[];
}

/** `$a, $b := cmd | cmd …` */
export interface Pipeline {
  decl: string[];
  isAssign: boolean;
  cmds: Command[];
}

/** `{{if}}`, `{{with}}` or `{{range}}` with its body and optional else branch. */
export interface ControlNode {
  type: "if" | "with" | "range";
  pipe: Pipeline;
  body: Node[];
  elseBody?: Node[];
  line: number;
}

/** A node of a template body. */
export type Node =
  | { type: "text"; text: string; line: number }
  | { type: "action"; pipe: Pipeline; line: number }
  | ControlNode
  | { type: "template"; name: string; pipe?: Pipeline; line: number }
  | { type: "break" | "continue"; line: number };

/** A named template body and the file it came from. */
export interface TemplateDef {
  name: string;
  file: string;
  nodes: Node[];
}

/** A parsed file: its own body plus the templates it defines. */
export interface ParsedFile {
  main: TemplateDef;
  defines: TemplateDef[];
}

type Stop = { keyword: "end" | "else" | "eof"; rest: Token[]; line: number };

const CONTROL = new Set(["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"]);

function parseNumber(text: string): bigint | number {
  const clean = text.replace(/_/g, "");
  if (clean.endsWith("i")) throw new TemplateError("unsupported", `complex constant ${text}`);
  const negative = clean.startsWith("-");
  const digits = clean.replace(/^[+-]/, "");
  if (/^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\d+)$/.test(digits)) {
    const octal = /^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits;
    const value = BigInt(octal);
    return negative ? -value : value;
  }
  const hex = /^0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(digits);
  const value = hex
    ? hexFloat(hex[1], hex[2] ?? "", Number(hex[3]))
    : /^\d*\.?\d*([eE][+-]?\d+)?$/.test(digits)
    ? Number(digits)
    : NaN;
  if (Number.isNaN(value) || digits === "" || digits === ".") {
    throw new TemplateError("syntax", `bad number syntax: ${text}`);
  }
  return negative ? -value : value;
}

/** A Go hex float (`0x1p60`, `0x1.8p-3`): mantissa digits times a power of two. */
function hexFloat(whole: string, fraction: string, exponent: number): number {
  if (whole === "" && fraction === "") return NaN;
  const mantissa = parseInt(`${whole}${fraction}` || "0", 16);
  return mantissa * 2 ** (exponent - 4 * fraction.length);
}

/** Parse a template file into its body and its `define`d templates. */
export function parseFile(file: string, text: string): ParsedFile {
  return new Parser(file, lex(text, file)).file();
}

/** A cursor over one action's tokens. */
class Cursor {
  #i = 0;
  constructor(readonly tokens: Token[]) {}
  peek(offset = 0): Token | undefined {
    return this.tokens[this.#i + offset];
  }
  next(): Token | undefined {
    return this.tokens[this.#i++];
  }
  done(): boolean {
    return this.#i >= this.tokens.length;
  }
}

/** Recursive descent over the lexed items of one file, as Go's text/template/parse does. */
class Parser {
  readonly defines: TemplateDef[] = [];
  index = 0;
  line = 1;

  constructor(readonly name: string, readonly items: Item[]) {}

  file(): ParsedFile {
    const { nodes, stop } = this.parseList();
    if (stop.keyword !== "eof") this.fail(`unexpected {{${stop.keyword}}}`, stop.line);
    return { main: { name: this.name, file: this.name, nodes }, defines: this.defines };
  }

  fail(why: string, at = this.line): never {
    throw new TemplateError("syntax", why, { template: this.name, line: at });
  }

  fieldChain(cur: Cursor): string[] {
    const names: string[] = [];
    while (cur.peek()?.type === "field" && !cur.peek()!.spaceBefore) names.push(cur.next()!.value);
    return names;
  }

  operand(cur: Cursor): Expr {
    const token = cur.next()!;
    switch (token.type) {
      case "ident":
        if (CONTROL.has(token.value)) this.fail(`unexpected keyword "${token.value}" in command`, token.line);
        return { type: "ident", name: token.value };
      case "dot":
        if (cur.peek()?.type === "field" && !cur.peek()!.spaceBefore) this.fail("unexpected . after term", token.line);
        return { type: "dot" };
      case "field":
        return { type: "field", names: [token.value, ...this.fieldChain(cur)] };
      case "variable":
        return { type: "var", name: token.value, names: this.fieldChain(cur) };
      case "lparen": {
        const pipe = this.pipeline(cur, "paren");
        if (cur.next()?.type !== "rparen") this.fail("unclosed left paren", token.line);
        return { type: "pipe", pipe, names: this.fieldChain(cur) };
      }
      case "string":
        return { type: "literal", value: token.value };
      case "char":
        return { type: "literal", value: BigInt(token.value.codePointAt(0)!) };
      case "number":
        return { type: "literal", value: parseNumber(token.value) };
      case "bool":
        return { type: "literal", value: token.value === "true" };
      case "nil":
        return { type: "literal", value: null };
      default:
        return this.fail(`unexpected "${token.value}" in operand`, token.line);
    }
  }

  command(cur: Cursor): Command {
    const args: Expr[] = [];
    for (;;) {
      const token = cur.peek();
      if (!token || token.type === "pipe" || token.type === "rparen") break;
      if (args.length > 0 && !token.spaceBefore && token.type !== "lparen") {
        this.fail(`missing space before "${token.value}"`, token.line);
      }
      args.push(this.operand(cur));
    }
    if (args.length === 0) this.fail("missing value for command");
    return { args };
  }

  pipeline(cur: Cursor, context: "action" | "paren" | "range" | "control"): Pipeline {
    const decl: string[] = [];
    let isAssign = false;
    const t0 = cur.peek(), t1 = cur.peek(1), t2 = cur.peek(2), t3 = cur.peek(3);
    const isDecl = (t?: Token) => t?.type === "declare" || t?.type === "assign";
    if (t0?.type === "variable" && isDecl(t1)) {
      decl.push(t0.value);
      isAssign = t1!.type === "assign";
      cur.next(), cur.next();
    } else if (
      context === "range" && t0?.type === "variable" && t1?.type === "comma" && t2?.type === "variable" && isDecl(t3)
    ) {
      decl.push(t0.value, t2.value);
      isAssign = t3!.type === "assign";
      cur.next(), cur.next(), cur.next(), cur.next();
    }
    const cmds: Command[] = [this.command(cur)];
    while (cur.peek()?.type === "pipe") {
      cur.next();
      cmds.push(this.command(cur));
    }
    if (context !== "paren" && !cur.done()) {
      this.fail(`unexpected "${cur.peek()!.value}" in pipeline`, cur.peek()!.line);
    }
    return { decl, isAssign, cmds };
  }

  parseList(): { nodes: Node[]; stop: Stop } {
    const nodes: Node[] = [];
    while (this.index < this.items.length) {
      const item: Item = this.items[this.index++];
      this.line = item.line;
      if (item.kind === "text") {
        nodes.push({ type: "text", text: item.text, line: item.line });
        continue;
      }
      if (item.tokens.length === 0) this.fail("missing value for command");
      const [first, ...rest] = item.tokens;
      const keyword = first.type === "ident" ? first.value : "";
      if (keyword === "end" || keyword === "else") return { nodes, stop: { keyword, rest, line: item.line } };
      const node = this.parseAction(keyword, rest, item.tokens, item.line);
      if (node) nodes.push(node);
    }
    return { nodes, stop: { keyword: "eof", rest: [], line: this.line } };
  }

  control(type: "if" | "with" | "range", tokens: Token[], at: number): Node {
    if (tokens.length === 0) this.fail(`missing value for ${type}`, at);
    const pipe = this.pipeline(new Cursor(tokens), type === "range" ? "range" : "control");
    const { nodes: body, stop } = this.parseList();
    if (stop.keyword === "eof") this.fail(`unexpected EOF: {{${type}}} at line ${at} has no {{end}}`, at);
    if (stop.keyword === "end") {
      if (stop.rest.length) this.fail("unexpected tokens after end", stop.line);
      return { type, pipe, body, line: at };
    }
    const chained = stop.rest[0];
    if (chained) {
      // {{else if x}} / {{else with x}} nest a structure that shares our {{end}}.
      if (chained.type !== "ident" || (chained.value !== "if" && chained.value !== "with")) {
        this.fail(`unexpected "${chained.value}" after else`, stop.line);
      }
      const nested = this.control(chained.value as "if" | "with", stop.rest.slice(1), stop.line);
      return { type, pipe, body, elseBody: [nested], line: at };
    }
    const { nodes: elseBody, stop: end } = this.parseList();
    if (end.keyword !== "end") this.fail(`expected {{end}} for {{${type}}} at line ${at}`, end.line);
    return { type, pipe, body, elseBody, line: at };
  }

  templateName(token: Token | undefined, what: string, at: number): string {
    if (token?.type !== "string") this.fail(`${what} requires a quoted name`, at);
    return token!.value;
  }

  parseAction(keyword: string, rest: Token[], all: Token[], at: number): Node | undefined {
    switch (keyword) {
      case "if":
      case "with":
      case "range":
        return this.control(keyword, rest, at);
      case "break":
      case "continue":
        return { type: keyword, line: at };
      case "template": {
        const name = this.templateName(rest[0], "template", at);
        return {
          type: "template",
          name,
          pipe: rest.length > 1 ? this.pipeline(new Cursor(rest.slice(1)), "action") : undefined,
          line: at,
        };
      }
      case "define":
      case "block": {
        const name = this.templateName(rest[0], keyword, at);
        if (keyword === "define" && rest.length > 1) this.fail("unexpected tokens after define name", at);
        const { nodes, stop } = this.parseList();
        if (stop.keyword !== "end") this.fail(`{{${keyword} "${name}"}} at line ${at} has no {{end}}`, at);
        this.defines.push({ name, file: this.name, nodes });
        if (keyword === "define") return undefined;
        return { type: "template", name, pipe: this.pipeline(new Cursor(rest.slice(1)), "action"), line: at };
      }
      default:
        return { type: "action", pipe: this.pipeline(new Cursor(all), "action"), line: at };
    }
  }
}
