/**
 * What the engine takes from airgap, in one place: the error class every
 * failure is (so the CLI prints it as one line with an exit code), the size
 * limits (one policy for the whole program), the tar reader (one reader for
 * charts and image archives) and image-reference parsing (the same rules as
 * the rest of the program).
 *
 * These are the package's only imports from outside `packages/helm/`; the
 * boundary test (`tests/boundary.test.ts`) fails on any other. They keep the
 * package from publishing on its own (`deno publish` refuses modules outside
 * the package) until these leaves become a package of their own.
 * @module
 */
export { AirgapError, type ErrorContext, errorMessage, TarFormatError } from "../../../lib/errors.ts";
export { type RandomAccess, scanTar } from "../../../lib/format/tar.ts";
export { readAll } from "../../../lib/store/types.ts";
export { checkSize, LIMITS, tooLarge } from "../../../lib/limits.ts";
export { parseReference, type Reference } from "../../../lib/ref.ts";
