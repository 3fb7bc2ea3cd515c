/**
 * Executes parsed templates with Go's text/template semantics: dot and `$`,
 * variable scopes that end with their control structure, pipelines that pass
 * the previous result as the last argument, lazy `and`/`or`, map ranges in
 * key order, `break`/`continue`, and method calls on field chains.
 * @module
 */
import { execError, TemplateError, unsupported } from "./errors.ts";
import { fieldOf, formatValue, isMap, truth, type Value } from "./gotypes.ts";
import type { Command, ControlNode, Expr, Node, Pipeline, TemplateDef } from "./parser.ts";
import { checkArguments } from "./signatures.ts";

/** A template function. Arguments arrive evaluated, the piped value last. */
export type TemplateFunction = (...args: Value[]) => Value;

/** Named templates and functions shared by everything executed together. */
export interface ExecEnv {
  templates: Map<string, TemplateDef>;
  functions: Record<string, TemplateFunction>;
  /** Nesting of `template`/`include`/`tpl`, to stop runaway recursion. */
  depth: number;
}

/**
 * Limit on nested template references. Helm allows 1000 `include`s deep; the
 * JavaScript stack holds fewer, and real charts nest a handful.
 */
const MAX_DEPTH = 300;
const NO_FINAL = Symbol("no final value");
type Final = Value | typeof NO_FINAL;

const BREAK = Symbol("break");
const CONTINUE = Symbol("continue");

interface State {
  env: ExecEnv;
  /** File of the template being executed, for error locations. */
  file: string;
  vars: { name: string; value: Value }[];
  out: string[];
}

/** How an action prints its value: nil shows as `<no value>`, which Helm later removes. */
function printValue(value: Value): string {
  if (value === undefined || value === null) return "<no value>";
  return formatValue(value);
}

/** Run a named template with `data` as dot and `$`, returning its output. */
export function executeTemplate(env: ExecEnv, name: string, data: Value): string {
  const template = env.templates.get(name);
  if (!template) throw execError(`no template "${name}" associated with template`);
  return executeNodes(env, template, data);
}

/** Run a template body that is not (necessarily) registered under a name. */
export function executeNodes(env: ExecEnv, template: TemplateDef, data: Value): string {
  if (env.depth >= MAX_DEPTH) {
    throw execError(`rendering template has a nested reference name: ${template.name}: too deep`);
  }
  // Go's ExecuteTemplate takes its data as an interface{}: a nil one is no data at all (reflect.ValueOf(nil)),
  // so `.Values` of it is no value, not a nil-pointer error as it is for a nil element of a range.
  if (data === null) data = undefined;
  const state: State = { env, file: template.file, vars: [{ name: "$", value: data }], out: [] };
  env.depth++;
  try {
    walk(state, data, template.nodes);
  } finally {
    env.depth--;
  }
  return state.out.join("");
}

/** Give an error the location of the node it escaped from (innermost file first). */
function locate(state: State, line: number, e: unknown): unknown {
  if (e === BREAK || e === CONTINUE) return e;
  if (e instanceof TemplateError) {
    if (e.template === state.file) return e;
    return new TemplateError(e.kind, e.message, { template: state.file, line });
  }
  if (e instanceof RangeError) {
    return new TemplateError("exec", "rendering template has a nested reference too deep (stack exhausted)", {
      template: state.file,
      line,
    });
  }
  return new TemplateError("exec", e instanceof Error ? e.message : String(e), { template: state.file, line });
}

function walk(state: State, dot: Value, nodes: Node[]): void {
  for (const node of nodes) {
    if (node.type === "text") {
      state.out.push(node.text);
      continue;
    }
    try {
      walkNode(state, dot, node);
    } catch (e) {
      throw locate(state, node.line, e);
    }
  }
}

function walkNode(state: State, dot: Value, node: Exclude<Node, { type: "text" }>): void {
  switch (node.type) {
    case "action": {
      const value = evalPipeline(state, dot, node.pipe);
      if (node.pipe.decl.length === 0) state.out.push(printValue(value));
      return;
    }
    case "if":
    case "with": {
      const mark = state.vars.length;
      const value = evalPipeline(state, dot, node.pipe);
      if (truth(value)) walk(state, node.type === "with" ? value : dot, node.body);
      else if (node.elseBody) walk(state, dot, node.elseBody);
      state.vars.length = mark;
      return;
    }
    case "range":
      return walkRange(state, dot, node);
    case "template": {
      const data = node.pipe ? evalPipeline(state, dot, node.pipe) : undefined;
      state.out.push(executeTemplate(state.env, node.name, data));
      return;
    }
    case "break":
      throw BREAK;
    case "continue":
      throw CONTINUE;
  }
}

function walkRange(state: State, dot: Value, node: ControlNode): void {
  const mark = state.vars.length;
  const pipe: Pipeline = { ...node.pipe, decl: [] };
  const value = evalPipeline(state, dot, pipe);
  let entries: [Value, Value][];
  if (value === undefined || value === null) entries = [];
  else if (Array.isArray(value)) entries = value.map((item, i) => [BigInt(i), item]);
  else if (typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value))) {
    entries = Array.from({ length: Math.max(0, Number(value)) }, (_, i) => [BigInt(i), BigInt(i)]);
  } else if (isMap(value)) entries = Object.keys(value).sort().map((key) => [key, value[key]]);
  else throw execError(`range can't iterate over ${formatValue(value)}`);
  if (entries.length === 0) {
    if (node.elseBody) walk(state, dot, node.elseBody);
    state.vars.length = mark;
    return;
  }
  const { decl, isAssign } = node.pipe;
  for (const [key, item] of entries) {
    state.vars.length = mark;
    const bindings: [string, Value][] = decl.length === 2
      ? [[decl[0], key], [decl[1], item]]
      : decl.length === 1
      ? [[decl[0], item]]
      : [];
    for (const [name, bound] of bindings) {
      if (isAssign) setVar(state, name, bound);
      else state.vars.push({ name, value: bound });
    }
    try {
      walk(state, item, node.body);
    } catch (e) {
      if (e === BREAK) break;
      if (e !== CONTINUE) throw e;
    }
  }
  state.vars.length = mark;
}

function lookupVar(state: State, name: string): Value {
  for (let i = state.vars.length - 1; i >= 0; i--) {
    if (state.vars[i].name === name) return state.vars[i].value;
  }
  throw execError(`undefined variable: ${name}`);
}

function setVar(state: State, name: string, value: Value): void {
  for (let i = state.vars.length - 1; i >= 0; i--) {
    if (state.vars[i].name === name) {
      state.vars[i].value = value;
      return;
    }
  }
  throw execError(`undefined variable: ${name}`);
}

function evalPipeline(state: State, dot: Value, pipe: Pipeline): Value {
  let value: Final = NO_FINAL;
  for (const cmd of pipe.cmds) {
    value = evalCommand(state, dot, cmd, value);
    // Go digs into an interface{} result; a nil one becomes "no value", whose
    // fields are no value rather than a nil-pointer error. Charts rely on it:
    // `$c := default .Values.maybeNull ""` then `$c.field`.
    if (value === null) value = undefined;
  }
  const result = value === NO_FINAL ? undefined : value;
  for (const name of pipe.decl) {
    if (pipe.isAssign) setVar(state, name, result);
    else state.vars.push({ name, value: result });
  }
  return result;
}

function noArguments(what: string, args: Expr[], final: Final): void {
  if (args.length > 0 || final !== NO_FINAL) throw execError(`can't give argument to non-function ${what}`);
}

function evalCommand(state: State, dot: Value, cmd: Command, final: Final): Value {
  const [first, ...args] = cmd.args;
  switch (first.type) {
    case "ident":
      return callFunction(state, dot, first.name, args, final);
    case "field":
      return fieldChain(state, dot, dot, first.names, args, final);
    case "var": {
      const base = lookupVar(state, first.name);
      if (first.names.length > 0) return fieldChain(state, dot, base, first.names, args, final);
      noArguments(first.name, args, final);
      return base;
    }
    case "pipe": {
      const base = evalPipeline(state, dot, first.pipe);
      if (first.names.length > 0) return fieldChain(state, dot, base, first.names, args, final);
      noArguments("(pipeline)", args, final);
      return base;
    }
    case "dot":
      noArguments(".", args, final);
      return dot;
    case "literal":
      noArguments(formatValue(first.value), args, final);
      return first.value;
  }
}

function evalArg(state: State, dot: Value, arg: Expr): Value {
  switch (arg.type) {
    case "ident":
      return callFunction(state, dot, arg.name, [], NO_FINAL);
    case "field":
      return fieldChain(state, dot, dot, arg.names, [], NO_FINAL);
    case "var":
      return fieldChain(state, dot, lookupVar(state, arg.name), arg.names, [], NO_FINAL);
    case "pipe":
      return fieldChain(state, dot, evalPipeline(state, dot, arg.pipe), arg.names, [], NO_FINAL);
    case "dot":
      return dot;
    case "literal":
      return arg.value;
  }
}

/** `.a.b.c` from `receiver`; the last name may be a method taking the arguments. */
function fieldChain(state: State, dot: Value, receiver: Value, names: string[], args: Expr[], final: Final): Value {
  let value = receiver;
  names.forEach((name, i) => {
    const last = i === names.length - 1;
    const hasArgs = last && (args.length > 0 || final !== NO_FINAL);
    const field = fieldOf(value, name);
    if (typeof field === "function") {
      const values = last ? args.map((arg) => evalArg(state, dot, arg)) : [];
      if (last && final !== NO_FINAL) values.push(final);
      value = (field as (...a: Value[]) => Value)(...values);
    } else if (hasArgs) {
      throw execError(`${name} has arguments but cannot be invoked as function`);
    } else value = field;
  });
  return value;
}

function callFunction(state: State, dot: Value, name: string, argExprs: Expr[], final: Final): Value {
  if (name === "and" || name === "or") {
    // Go 1.18+ evaluates and/or lazily: the first deciding operand is the result.
    const thunks = argExprs.map((arg) => () => evalArg(state, dot, arg));
    if (final !== NO_FINAL) thunks.push(() => final);
    if (thunks.length === 0) throw execError(`wrong number of args for ${name}: want at least 1 got 0`);
    let value: Value;
    for (const thunk of thunks) {
      value = thunk();
      if (truth(value) === (name === "or")) return value;
    }
    return value;
  }
  const fn = state.env.functions[name];
  if (!fn) throw unsupported(`function "${name}" not defined`);
  const raw = argExprs.map((arg) => evalArg(state, dot, arg));
  const args = raw.map((value) => value ?? null);
  // A nil read from a map by a field chain is a typed nil (interface {}), which Go passes only to interface{};
  // a field of no data (undefined) is no value, which Go turns into the parameter's zero value.
  const fieldNil = argExprs.map((arg, i) =>
    raw[i] === null && (arg.type === "field" || ((arg.type === "var" || arg.type === "pipe") && arg.names.length > 0))
  );
  if (final !== NO_FINAL) args.push(final ?? null);
  checkArguments(name, args, fieldNil);
  try {
    return fn(...args);
  } catch (e) {
    if (e instanceof TemplateError) throw e;
    throw execError(`error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
