/**
 * Errors of the embedded registry, in the distribution spec's format:
 * `{"errors":[{"code","message","detail"}]}` with the status each code
 * calls for. Only the spec's codes are used (clients match on them); what
 * the spec has no code for — an unsatisfiable range, a malformed `n`, an
 * internal failure — is answered with its HTTP status and a plain-text body;
 * a full disk is distribution's generic `UNKNOWN` code with 507, so a client
 * shows the reason rather than an unexplained 500.
 * @module
 */
import { AirgapError, DiskFullError, errorMessage } from "../errors.ts";
import { echo } from "../text.ts";
import { isNoSpace } from "../fsutil.ts";

/** Error codes of the OCI distribution spec (v1.1), the only ones answered, and distribution's generic UNKNOWN. */
export type RegistryErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "UNKNOWN";

const STATUS: Record<RegistryErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  UNKNOWN: 500,
};

/** One entry of an error body. */
export interface RegistryErrorEntry {
  code: RegistryErrorCode;
  message: string;
  detail?: unknown;
}

/**
 * A failed request: one spec error, or several (every missing blob of a
 * manifest), or none (a plain-text answer, see {@link plainError}), with the
 * HTTP status and extra headers to answer with. The status and first code
 * are also in the {@link AirgapError} context.
 */
export class HttpError extends AirgapError {
  readonly status: number;
  readonly errors: RegistryErrorEntry[];
  /** Extra response headers (`Content-Range` on 416, `Allow` on 405). */
  readonly headers: Record<string, string>;
  constructor(status: number, errors: RegistryErrorEntry[], headers: Record<string, string> = {}, text?: string) {
    super(text ?? errors.map((e) => `${e.code}: ${e.message}`).join("; "), {
      op: "serve",
      status,
      code: errors[0]?.code,
    });
    this.status = status;
    this.errors = errors;
    this.headers = headers;
  }
}

/** Input a detail echoes (a name, a reference) is cut (lib/text.ts `echo`): a 5,000-character name is not sent back whole. */
function echoed(detail: unknown): unknown {
  if (typeof detail === "string") return echo(detail);
  if (typeof detail !== "object" || detail === null || Array.isArray(detail)) return detail;
  return Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, typeof v === "string" ? echo(v) : v]));
}

/** Build an error for `code`; `status` overrides the code's usual status. */
export function httpError(
  code: RegistryErrorCode,
  message: string,
  detail?: unknown,
  options: { status?: number; headers?: Record<string, string> } = {},
): HttpError {
  return new HttpError(
    options.status ?? STATUS[code],
    [{ code, message, ...(detail === undefined ? {} : { detail: echoed(detail) }) }],
    options.headers,
  );
}

/** An answer the spec has no error code for: the status and a plain-text message. */
export function plainError(status: number, message: string, headers: Record<string, string> = {}): HttpError {
  return new HttpError(status, [], headers, message);
}

/** Several errors in one response, e.g. every missing blob of a manifest. */
export function httpErrors(status: number, errors: RegistryErrorEntry[]): HttpError {
  return new HttpError(status, errors);
}

/** The JSON body of an error response. */
export function errorBody(error: HttpError): string {
  return JSON.stringify({ errors: error.errors });
}

/** The answer to a full disk: 507 with a JSON error (the cause's path stays in the server, not the answer). */
export function diskFull(): HttpError {
  return httpError("UNKNOWN", "no space left on the registry's disk", undefined, { status: 507 });
}

function isDiskFull(e: unknown): boolean {
  return e instanceof DiskFullError || isNoSpace(e) || (e instanceof Error && e.cause !== e && isNoSpace(e.cause));
}

/** A failure while storing `what`: {@link diskFull} when the disk is full, else a plain 500. */
export function storageError(e: unknown, what: string): HttpError {
  if (e instanceof HttpError) return e;
  return isDiskFull(e) ? diskFull() : plainError(500, `${what}: ${errorMessage(e)}`);
}

/** Any failure as the answer to send. */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  return isDiskFull(e) ? diskFull() : plainError(500, errorMessage(e));
}
