/**
 * Errors as values with context. Every failure the user sees is an
 * {@link AirgapError}: one line naming what was being done, to what, where.
 * @module
 */

/** Context attached to an error: what was being done, to which image, where. */
export interface ErrorContext {
  /** The operation, e.g. "fetch blob", "push manifest", "parse image list". */
  op?: string;
  /** The image reference (as the user wrote it or normalised). */
  image?: string;
  /** A registry host, store or file the operation talked to. */
  where?: string;
  /** HTTP status when the error came from a registry. */
  status?: number;
  /** Registry error code (distribution spec), e.g. MANIFEST_BLOB_UNKNOWN. */
  code?: string;
  /** What the message already names first (`chart x@1`, an image): see {@link aboutSubject}. */
  subject?: string;
}

/**
 * Characters of a message shown whole. Past them a message is cut, saying
 * how long it was: whatever input a message echoes (lib/text.ts `echo`
 * bounds each quote to 200 characters), one line never carries it whole.
 */
export const MAX_MESSAGE = 1000;

/** `text` cut to {@link MAX_MESSAGE} characters. */
export function boundedMessage(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE)}… (${text.length} characters)`;
}

/** An error meant for the user: {@link message} is one clear line. */
export class AirgapError extends Error {
  /** What was being done, to which image, where. */
  readonly context: ErrorContext;
  /** The kind of error, as stack traces show it: the name of its class. */
  override get name(): string {
    return this.constructor.name;
  }
  /** Process exit code for the CLI (1 = failure, 2 = usage). */
  readonly exitCode: number;
  /** `message` is the one line shown; `options.exitCode` defaults to 1. */
  constructor(
    message: string,
    context: ErrorContext = {},
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(boundedMessage(message), { cause: options?.cause });
    this.context = context;
    this.exitCode = options?.exitCode ?? 1;
  }

  /** The same kind of error with another message and context: wrapping keeps the kind (not found, transient…). */
  withMessage(message: string, context: ErrorContext): AirgapError {
    return new AirgapError(message, context, { cause: this, exitCode: this.exitCode });
  }
}

/** Bad command line or declaration: exit code 2. */
export function usageError(message: string): AirgapError {
  return new AirgapError(message, {}, { exitCode: 2 });
}

/** The message of any thrown value, on one line. */
export function errorMessage(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return boundedMessage(text).replace(/\s*\n\s*/g, " ");
}

/** Wrap an unknown failure with context, keeping an AirgapError's own message. */
export function withContext(
  e: unknown,
  prefix: string,
  context: ErrorContext = {},
): AirgapError {
  if (e instanceof AirgapError) return e.withMessage(`${prefix}: ${e.message}`, { ...e.context, ...context });
  return new AirgapError(`${prefix}: ${errorMessage(e)}`, context, {
    cause: e,
  });
}

/** What makes an error besides its message and context: the cause and the exit code. */
export type ErrorOptions = { cause?: unknown; exitCode?: number };

/**
 * A kind of {@link AirgapError} that restates itself as its own kind: wrapping
 * a not-found with the image's name must stay a not-found (retries,
 * keep-going causes and hints decide on the class). Every kind takes
 * `(message, context, options)`; the options beyond the cause and the exit
 * code are the kind's own `Fields` (a transient error's `retryAfterMs`, …),
 * which a restated error is given again.
 */
export abstract class ErrorKind<Fields extends object = Record<never, never>> extends AirgapError {
  /** The kind's own fields, as given. */
  protected readonly fields: Partial<Fields>;

  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options: ErrorOptions & Partial<Fields> = {}) {
    const { cause, exitCode, ...fields } = options;
    super(message, context, { cause, exitCode });
    this.fields = fields as Partial<Fields>;
  }

  /** The same kind of failure, restated (the original is kept as `cause`). */
  override withMessage(message: string, context: ErrorContext): this {
    const Kind = this.constructor as new (message: string, context: ErrorContext, options: ErrorOptions) => this;
    return new Kind(message, context, { ...this.fields, exitCode: this.exitCode, cause: this });
  }
}

/**
 * A registry refused a manifest push for good: its final answer was HTTP 500
 * (after the retries) or MANIFEST_INVALID. The registry store throws this
 * type so callers decide on the class, not on status codes — a stock
 * distribution registry refuses foreign-layer URLs this way (see
 * lib/copy/refusal.ts). The message is the registry's answer.
 */
export class ManifestRefusedError extends ErrorKind {}

/**
 * A full disk (or quota) while writing a file: `context.where` is the file,
 * the message says what was still to write. A type so callers (a save
 * restating it with what the whole run still had to write) decide on the
 * class, not on `context.op`.
 */
export class DiskFullError extends ErrorKind {}

/**
 * The cache could not read a blob it holds (too many open files, an I/O
 * error, a permission): nothing was removed or struck, since only a proven
 * digest mismatch removes a cached blob. `context.where` is the cache.
 */
export class CacheReadError extends ErrorKind {}

/** An archive's tar structure is broken (a bad header checksum, a truncated entry); the message names the offset. */
export class TarFormatError extends ErrorKind {}

/**
 * The error with its subject in front (`SUBJECT: message`), said once: an
 * error whose context already has that subject (its message starts with it)
 * is returned as it is. The result carries the subject, and keeps the kind
 * (not found, transient…) of an {@link AirgapError}.
 */
export function aboutSubject(e: unknown, subject: string): AirgapError {
  if (e instanceof AirgapError && e.context.subject === subject) return e;
  if (e instanceof AirgapError) return e.withMessage(`${subject}: ${e.message}`, { ...e.context, subject });
  return new AirgapError(`${subject}: ${errorMessage(e)}`, { subject }, { cause: e });
}
