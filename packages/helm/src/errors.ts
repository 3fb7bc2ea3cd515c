/**
 * Why a chart template could not be rendered. The kind tells the caller
 * whether to fall back (an `unsupported` construct is our gap; a `fail` is the
 * chart refusing its values, as Helm itself would).
 * @module
 */
import { AirgapError } from "./host.ts";

/**
 * - `syntax`: the template text does not parse.
 * - `unsupported`: a function or construct this evaluator does not implement.
 * - `fail`: the chart itself failed (`fail`, `required`).
 * - `exec`: evaluation went wrong the way Go's would (nil pointer, bad index…).
 */
export type TemplateErrorKind = "syntax" | "unsupported" | "fail" | "exec";

/** A template failure with the template name and line it happened at. */
export class TemplateError extends AirgapError {
  /** Which kind of failure: decides whether the caller falls back. */
  readonly kind: TemplateErrorKind;
  /** Template (file or `define`) name, when known. */
  readonly template?: string;
  /** 1-based line in the template's file, when known. */
  readonly line?: number;
  /** The message is prefixed with `template:line: ` when known. */
  constructor(kind: TemplateErrorKind, message: string, where: { template?: string; line?: number } = {}) {
    const prefix = where.template ? `${where.template}${where.line ? `:${where.line}` : ""}: ` : "";
    super(`${prefix}${message}`, { op: "render chart template", where: where.template });
    this.kind = kind;
    this.template = where.template;
    this.line = where.line;
  }
}

/** An error raised inside a function or field access, located later by the evaluator. */
export function execError(message: string): TemplateError {
  return new TemplateError("exec", message);
}

/** A construct or function we knowingly do not evaluate. */
export function unsupported(message: string): TemplateError {
  return new TemplateError("unsupported", message);
}
