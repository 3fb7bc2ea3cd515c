/**
 * The kinds of failure the transfer layer can meet, as classes rather than
 * message text: retries, `--keep-going` reports and hints decide on the class
 * (and on {@link isTemporary}), never on what a message happens to contain.
 * All are {@link AirgapError}s, so `instanceof AirgapError`, `.context` and the
 * one-line message keep working. The one place that reads low-level error text
 * (Deno's fetch errors carry no codes) is {@link classifyFetchError}.
 * @module
 */
import { AirgapError, type ErrorContext, ErrorKind, type ErrorOptions } from "./errors.ts";

/** The registry or server says the thing does not exist (404, NAME_UNKNOWN, MANIFEST_UNKNOWN…). */
export class NotFoundError extends ErrorKind {}

/** Credentials missing, wrong, or not enough (HTTP 401 or 403). Never retried. */
export class UnauthorizedError extends ErrorKind {}

/** Content that does not hash to (or is not the size of) its descriptor. */
export class DigestMismatchError extends ErrorKind {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message: string, context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, { op: "verify", ...context }, options);
  }
}

/**
 * A failure that may go away when tried again: 5xx, 408, 429, a connection
 * reset, a stalled or truncated body. `retryAfterMs` is the server's wish
 * (`Retry-After`), when it said one.
 */
export class TransientError extends ErrorKind<{ retryAfterMs?: number }> {
  /** How long the server asked us to wait, in milliseconds. */
  get retryAfterMs(): number | undefined {
    return this.fields.retryAfterMs;
  }
}

/** No response headers, or no body byte, within the timeout. Temporary. */
export class TimeoutError extends TransientError {}

/**
 * The TLS handshake failed. `plainHttp` is true when the other side speaks
 * plain HTTP (the only case where `insecure: true` is the right hint).
 */
export class TlsError extends ErrorKind<{ plainHttp?: boolean }> {
  /** The server answered the handshake with plain HTTP. */
  get plainHttp(): boolean {
    return this.fields.plainHttp ?? false;
  }
}

/** The host answers HTTP but not the registry API (`GET /v2/` is 404 or an HTML page). */
export class NotARegistryError extends ErrorKind {}

/**
 * The host could not be reached: DNS (`temporary` false: asking again does
 * not help within a run) or the connection refused or reset (`temporary`).
 */
export class NetworkError extends ErrorKind<{ temporary?: boolean }> {
  /** Worth trying again (refused, reset), unlike a name that does not resolve. */
  get temporary(): boolean {
    return this.fields.temporary ?? true;
  }
}

/** The run was cancelled (Ctrl-C, SIGTERM, or an embedding program's AbortSignal). Exit code 130. */
export class InterruptedError extends ErrorKind {
  /** `message` is the one line shown; `context` says what, to which image, where. */
  constructor(message = "interrupted", context: ErrorContext = {}, options?: ErrorOptions) {
    super(message, context, { exitCode: 130, ...options });
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

/** What a bug throws (a locked or used body, a bad argument), as opposed to what a network throws. */
const PROGRAMMING =
  /locked|disturbed|unusable|already (been )?(used|consumed|read|sent)|is not a function|cannot read prop|invalid (url|header|method)|not a valid|illegal invocation/i;

/**
 * A programming error — a `RangeError`, or a `TypeError` that is not one of
 * fetch's network failures (Deno reports those as TypeErrors too) — is never a
 * transient network error: retrying a bug repeats it, and hides it.
 */
export function isProgrammingError(e: unknown): boolean {
  if (e instanceof RangeError) return true;
  return e instanceof TypeError && PROGRAMMING.test(e.message);
}

const PLAIN_HTTP = /InvalidContentType|received corrupt message|HTTP request to (an )?HTTPS|wrong version number/i;
const CERTIFICATE = /certificate|UnknownIssuer|CaUsedAsEndEntity|NotValidForName|BadSignature|AlertReceived/i;
/** Deno's fetch refuses the ports browsers block (the fetch standard's "bad ports", e.g. 6000): no retry can help. */
const BLOCKED_PORT = /Requests to port (\d+) are blocked/i;
const DNS = /dns error|failed to lookup|Name or service not known|nodename nor servname|No such host|name resolution/i;

/**
 * Turn what `fetch` threw (a TypeError with text, an AbortError) into a typed
 * error. `prefix` names the operation and host; the low-level reason follows.
 */
export function classifyFetchError(e: unknown, prefix: string, context: ErrorContext = {}): AirgapError {
  if (e instanceof AirgapError) return e;
  const text = fetchErrorText(e);
  if (isProgrammingError(e)) {
    return new AirgapError(`${prefix}: internal error: ${text}`, context, { cause: e });
  }
  if (PLAIN_HTTP.test(text)) {
    return new TlsError(`${prefix}: ${text} (the server speaks plain HTTP)`, context, { cause: e, plainHttp: true });
  }
  if (DNS.test(text)) return new NetworkError(`${prefix}: ${text}`, context, { cause: e, temporary: false });
  const blocked = text.match(BLOCKED_PORT);
  if (blocked) {
    return new NetworkError(
      `${prefix}: port ${
        blocked[1]
      } is blocked by the runtime (fetch refuses the ports browsers block); use another port for the registry`,
      context,
      { cause: e, temporary: false },
    );
  }
  if (CERTIFICATE.test(text)) return new TlsError(`${prefix}: ${text}`, context, { cause: e });
  return new NetworkError(`${prefix}: ${text}`, context, { cause: e, temporary: true });
}
