/**
 * The kinds of failure the transfer layer can meet, as classes rather than
 * message text: retries, `--keep-going` reports and hints decide on the class
 * (and on {@link isTemporary}), never on what a message happens to contain.
 * All are {@link AirgapError}s, so `instanceof AirgapError`, `.context` and the
 * one-line message keep working. The one place that reads low-level error text
 * (Deno's fetch errors carry no codes) is {@link classifyFetchError}.
 * @module
 */
import { AirgapError, type ErrorContext } from "../errors.ts";

/** What makes an error of a kind besides its message and context: the cause and the exit code. */
export type ErrorOptions = { cause?: unknown; exitCode?: number };

/**
 * The transport's errors restate themselves as their own kind: wrapping a
 * not-found with the image's name must stay a not-found (retries, keep-going
 * causes and hints decide on the class). Every kind here takes
 * `(message, context, options)`; a kind with fields of its own adds them to
 * {@link kindOptions}.
 */
export abstract class TransportError extends AirgapError {
  /** The options that make another error of this kind: exit code, and the kind's own fields. */
  protected kindOptions(): ErrorOptions & Record<string, unknown> {
    return { exitCode: this.exitCode };
  }

  /** The same kind of failure, restated (the original is kept as `cause`). */
  override withMessage(message: string, context: ErrorContext): this {
    const Kind = this.constructor as new (message: string, context: ErrorContext, options: ErrorOptions) => this;
    return new Kind(message, context, { ...this.kindOptions(), cause: this });
  }
}

/** The registry or server says the thing does not exist (404, NAME_UNKNOWN, MANIFEST_UNKNOWN…). */
export class NotFoundError extends TransportError {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, context, options);
    this.name = "NotFoundError";
  }
}

/** Credentials missing, wrong, or not enough (HTTP 401 or 403). Never retried. */
export class UnauthorizedError extends TransportError {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, context, options);
    this.name = "UnauthorizedError";
  }
}

/** Content that does not hash to (or is not the size of) its descriptor. */
export class DigestMismatchError extends TransportError {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, { op: "verify", ...context }, options);
    this.name = "DigestMismatchError";
  }
}

/**
 * A failure that may go away when tried again: 5xx, 408, 429, a connection
 * reset, a stalled or truncated body. `retryAfterMs` is the server's wish
 * (`Retry-After`), when it said one.
 */
export class TransientError extends TransportError {
  /** How long the server asked us to wait, in milliseconds. */
  readonly retryAfterMs?: number;
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions & { retryAfterMs?: number }) {
    super(message, context, options);
    this.name = "TransientError";
    this.retryAfterMs = options?.retryAfterMs;
  }

  /** A restated transient error keeps the server's wish. */
  protected override kindOptions(): ErrorOptions & { retryAfterMs?: number } {
    return { ...super.kindOptions(), retryAfterMs: this.retryAfterMs };
  }
}

/** No response headers, or no body byte, within the timeout. Temporary. */
export class TimeoutError extends TransientError {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, context, options);
    this.name = "TimeoutError";
  }
}

/**
 * The TLS handshake failed. `plainHttp` is true when the other side speaks
 * plain HTTP (the only case where `insecure: true` is the right hint).
 */
export class TlsError extends TransportError {
  /** The server answered the handshake with plain HTTP. */
  readonly plainHttp: boolean;
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions & { plainHttp?: boolean }) {
    super(message, context, options);
    this.name = "TlsError";
    this.plainHttp = options?.plainHttp ?? false;
  }

  /** A restated TLS error still knows whether the other side spoke plain HTTP. */
  protected override kindOptions(): ErrorOptions & { plainHttp: boolean } {
    return { ...super.kindOptions(), plainHttp: this.plainHttp };
  }
}

/** The host answers HTTP but not the registry API (`GET /v2/` is 404 or an HTML page). */
export class NotARegistryError extends TransportError {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, context, options);
    this.name = "NotARegistryError";
  }
}

/**
 * The host could not be reached: DNS (`temporary` false: asking again does
 * not help within a run) or the connection refused or reset (`temporary`).
 */
export class NetworkError extends TransportError {
  /** Worth trying again (refused, reset), unlike a name that does not resolve. */
  readonly temporary: boolean;
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions & { temporary?: boolean }) {
    super(message, context, options);
    this.name = "NetworkError";
    this.temporary = options?.temporary ?? true;
  }

  /** A restated network error stays as temporary (or not) as it was. */
  protected override kindOptions(): ErrorOptions & { temporary: boolean } {
    return { ...super.kindOptions(), temporary: this.temporary };
  }
}

/** The run was cancelled (Ctrl-C, SIGTERM, or an embedding program's AbortSignal). Exit code 130. */
export class InterruptedError extends TransportError {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message = "interrupted", context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, context, { exitCode: 130, ...options });
    this.name = "InterruptedError";
  }
}

/** Is this failure worth another attempt? The one question the retry policy asks. */
export function isTemporary(e: unknown): boolean {
  if (e instanceof TransientError) return true;
  if (e instanceof NetworkError) return e.temporary;
  return false;
}

/** The useful part of a fetch failure ("error sending request" hides it in `cause`). */
export function fetchErrorText(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : "";
  const text = (cause && !message.includes(cause) ? `${message}: ${cause}` : message).split("\n")[0];
  if (text.includes("CaUsedAsEndEntity")) {
    return `${text} — the registry presents a CA certificate as its server certificate (a self-signed certificate with CA:TRUE); re-issue it with basicConstraints=CA:FALSE, or sign it with a separate CA and trust that CA`;
  }
  return text;
}

const PLAIN_HTTP = /InvalidContentType|received corrupt message|HTTP request to (an )?HTTPS|wrong version number/i;
const CERTIFICATE = /certificate|UnknownIssuer|CaUsedAsEndEntity|NotValidForName|BadSignature|AlertReceived/i;
const DNS = /dns error|failed to lookup|Name or service not known|nodename nor servname|No such host|name resolution/i;

/**
 * Turn what `fetch` threw (a TypeError with text, an AbortError) into a typed
 * error. `prefix` names the operation and host; the low-level reason follows.
 */
export function classifyFetchError(e: unknown, prefix: string, context: ErrorContext = {}): AirgapError {
  if (e instanceof AirgapError) return e;
  const text = fetchErrorText(e);
  if (PLAIN_HTTP.test(text)) {
    return new TlsError(`${prefix}: ${text} (the server speaks plain HTTP)`, context, { cause: e, plainHttp: true });
  }
  if (DNS.test(text)) return new NetworkError(`${prefix}: ${text}`, context, { cause: e, temporary: false });
  if (CERTIFICATE.test(text)) return new TlsError(`${prefix}: ${text}`, context, { cause: e });
  return new NetworkError(`${prefix}: ${text}`, context, { cause: e, temporary: true });
}
