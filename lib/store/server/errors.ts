/**
 * Errors of the embedded registry, in the distribution spec's format:
 * `{"errors":[{"code","message","detail"}]}` with the status each code
 * calls for.
 * @module
 */

/** Error codes of the OCI distribution spec (plus distribution's RANGE_INVALID and PAGINATION_NUMBER_INVALID). */
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
  | "TAG_INVALID"
  | "UNSUPPORTED"
  | "RANGE_INVALID"
  | "PAGINATION_NUMBER_INVALID"
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
  TAG_INVALID: 400,
  UNSUPPORTED: 405,
  RANGE_INVALID: 416,
  PAGINATION_NUMBER_INVALID: 400,
  UNKNOWN: 500,
};

/** A failed request: one spec error (or several, e.g. every missing blob of a manifest). */
export interface HttpError {
  readonly httpError: true;
  status: number;
  errors: { code: RegistryErrorCode; message: string; detail?: unknown }[];
  /** Extra response headers (`Content-Range` on 416, `Allow` on 405). */
  headers?: Record<string, string>;
}

/** Build an error for `code`; `status` overrides the code's usual status. */
export function httpError(
  code: RegistryErrorCode,
  message: string,
  detail?: unknown,
  options: { status?: number; headers?: Record<string, string> } = {},
): HttpError {
  return {
    httpError: true,
    status: options.status ?? STATUS[code],
    errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }],
    headers: options.headers,
  };
}

/** Several errors in one response, e.g. every missing blob of a manifest. */
export function httpErrors(status: number, errors: HttpError["errors"]): HttpError {
  return { httpError: true, status, errors };
}

/** True for values built by {@link httpError}. */
export function isHttpError(value: unknown): value is HttpError {
  return typeof value === "object" && value !== null && (value as HttpError).httpError === true;
}

/** The JSON body of an error response. */
export function errorBody(error: HttpError): string {
  return JSON.stringify({ errors: error.errors });
}
