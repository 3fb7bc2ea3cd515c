/**
 * Images that failed, reported the way an operator can act on: grouped by
 * registry and cause (704 "not found" are one line, not 704), sorted by list
 * line, and written in full as an image list (`NAME.COMMAND-failed.txt`) whose `#`
 * comments give each reason, so `--image-list NAME.save-failed.txt` retries just
 * those. Why an image failed is decided in one place, {@link failureCause}.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { AirgapError, DiskFullError, errorMessage } from "../errors.ts";
import * as kind from "../error_kinds.ts";
import type { Descriptor } from "../oci/manifest.ts";
import type { Store } from "../store/types.ts";

/** One image that could not be resolved, saved or loaded. */
export interface ImageFailure {
  /** The entry as written in its list (what a retry list names). */
  entry: string;
  /** The full source name, e.g. `docker.io/rancher/foo:v1`, when it differs from the entry. */
  name?: string;
  /** Where it was declared: `rancher-images.txt:12` (or the archive for a load). */
  origin: string;
  /** The registry the failure came from. */
  registry: string;
  /** What went wrong. */
  error: unknown;
}

/** Why an image failed, as grouped in reports. */
export interface FailureCause {
  /** The registry the failure belongs to. */
  registry: string;
  /** A short cause shared by every image that failed the same way, e.g. `not found (MANIFEST_UNKNOWN)`. */
  cause: string;
  /**
   * The registry itself could not be reached (DNS, refused connection, TLS):
   * every other image there fails the same way, so they are failed at once
   * instead of being tried one by one.
   */
  unreachable: boolean;
}

const NETWORK_CAUSES: [RegExp, string][] = [
  [
    /dns error|failed to lookup address|Name or service not known|nodename nor servname|No such host/i,
    "DNS lookup failed",
  ],
  [/connection refused/i, "connection refused"],
  [
    /port \d+ is blocked by the runtime|Requests to port \d+ are blocked/i,
    "port blocked by the runtime (use another port)",
  ],
  [/certificate|tls|ssl|UnknownIssuer/i, "TLS handshake failed"],
  [/timed out|TimedOut|deadline/i, "timed out"],
  [/connection reset|broken pipe|ECONNRESET/i, "connection reset"],
];

function causeChain(e: unknown): string {
  const parts: string[] = [];
  for (let cur = e, depth = 0; cur !== undefined && depth < 5; depth++) {
    parts.push(errorMessage(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(" | ");
}

/** The transport's typed failures: each names its cause by its class alone. */
const TYPED = [
  kind.NotFoundError,
  kind.UnauthorizedError,
  kind.DigestMismatchError,
  kind.TransientError,
  kind.TlsError,
  kind.NotARegistryError,
  kind.NetworkError,
];

/** Is `e` one of the transport's typed failures (so {@link failureCause} needs nothing else to name its cause)? */
export function isTypedFailure(e: unknown): boolean {
  return TYPED.some((type) => e instanceof type);
}

/**
 * The one place that decides why an image failed. It reads the HTTP status
 * and registry error code an {@link AirgapError} carries; connection-level
 * failures (no status) are recognised from the transport's message.
 */
export function failureCause(e: unknown, registry: string): FailureCause {
  // The transport's typed errors decide first; the context checks below stay
  // for errors that carry only a status.
  const context = e instanceof AirgapError ? e.context : {};
  const status = context.status;
  const code = context.code;
  const at = (cause: string, unreachable = false): FailureCause => ({ registry, cause, unreachable });
  if (e instanceof kind.InterruptedError) return at("interrupted");
  if (e instanceof kind.UnauthorizedError) {
    return at(status === 403 ? "forbidden (HTTP 403)" : "unauthorized (HTTP 401)");
  }
  if (e instanceof kind.DigestMismatchError) return at("content did not verify");
  if (e instanceof kind.NotARegistryError) return at("not a registry", true);
  if (e instanceof kind.TlsError) return at(e.plainHttp ? "TLS to a plain-HTTP server" : "TLS handshake failed", true);
  if (e instanceof kind.TimeoutError) return at("timed out");
  if (e instanceof kind.NetworkError) {
    const text = causeChain(e);
    const cause = NETWORK_CAUSES.find(([pattern]) => pattern.test(text))?.[1] ?? "unreachable";
    return at(cause, cause !== "connection reset");
  }
  if (
    e instanceof kind.NotFoundError || status === 404 || code === "MANIFEST_UNKNOWN" || code === "NAME_UNKNOWN" ||
    code === "BLOB_UNKNOWN"
  ) {
    return at(`not found${code ? ` (${code.toLowerCase().replace(/_/g, " ")})` : ""}`);
  }
  if (status === 401) return at("unauthorized (HTTP 401)");
  if (status === 403) return at("forbidden (HTTP 403)");
  if (status === 429) return at("rate-limited (HTTP 429)");
  if (status !== undefined) return at(`HTTP ${status}${code ? ` ${code}` : ""}`);
  const text = causeChain(e);
  if (/digest mismatch|does not match|expected sha256/i.test(text)) return at("content did not verify");
  for (const [pattern, cause] of NETWORK_CAUSES) {
    // Only a failed connection makes the whole registry unreachable; a reset in the middle of a body does not.
    if (pattern.test(text)) return at(cause, cause !== "connection reset" && cause !== "timed out");
  }
  if (/cannot reach registry/i.test(text)) return at("unreachable", true);
  return at(errorMessage(e).replace(/^.*?: /, "").slice(0, 80));
}

/**
 * A source that stops asking a registry once it turned out unreachable: the
 * next fetches fail at once with the same error instead of each waiting for
 * the network (and its retries) again.
 */
export function stopWhenUnreachable<S extends Store>(store: S, registry: string): S {
  let unreachable: unknown;
  return {
    ...store,
    async fetch(repo: string, desc: Descriptor) {
      if (unreachable) throw unreachable;
      try {
        return await store.fetch(repo, desc);
      } catch (e) {
        if (failureCause(e, registry).unreachable) unreachable ??= e;
        throw e;
      }
    },
  };
}

/**
 * A failure of the machine we run on (disk full, read-only), not of an image: no point going on. A full disk
 * is a {@link DiskFullError} where we write; the OS's own words are read only for what reaches us untyped.
 */
export function isLocalFailure(e: unknown): boolean {
  if (e instanceof DiskFullError) return true;
  return /No space left|ENOSPC|EDQUOT|quota exceeded|Read-only file system|EROFS/i.test(causeChain(e));
}

/** `file:line` origins sort by file, then line number; others after, by text. */
function originOrder(a: ImageFailure, b: ImageFailure): number {
  const pa = a.origin.match(/^(.*):(\d+)$/);
  const pb = b.origin.match(/^(.*):(\d+)$/);
  if (pa && pb) return pa[1] === pb[1] ? Number(pa[2]) - Number(pb[2]) : pa[1] < pb[1] ? -1 : 1;
  if (pa || pb) return pa ? -1 : 1;
  return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0;
}

/** Failures sorted by list line. */
export function sortFailures(failures: readonly ImageFailure[]): ImageFailure[] {
  return [...failures].sort(originOrder);
}

/**
 * One line per (registry, cause): the count and the first few list lines,
 * e.g. `docker.io: 704 images not found (manifest unknown): rancher-images.txt:3 rancher/foo:v1, :5 …`.
 * Groups are ordered by their first list line; with `reasons`, an unreachable group ends with its first error.
 */
export function groupFailures(failures: readonly ImageFailure[], shown = 3, reasons = false): string[] {
  const groups = new Map<string, { cause: FailureCause; items: ImageFailure[] }>();
  for (const failure of sortFailures(failures)) {
    const cause = failureCause(failure.error, failure.registry);
    const key = `${cause.registry}\0${cause.cause}`;
    const group = groups.get(key) ?? { cause, items: [] };
    group.items.push(failure);
    groups.set(key, group);
  }
  return [...groups.values()].map(({ cause, items }) => {
    let lastFile = "";
    const examples = items.slice(0, shown).map((f) => {
      const m = f.origin.match(/^(.*)(:\d+)$/);
      const where = m && m[1] === lastFile ? m[2] : f.origin;
      if (m) lastFile = m[1];
      return `${where} ${f.entry}`;
    });
    const more = items.length > shown ? `, … (${items.length - shown} more)` : "";
    const what = items.length === 1 ? "1 image" : `${items.length} images`;
    // An unreachable registry's reason, once (it may say what to do: trust a CA, use --insecure).
    const reason = reasons && cause.unreachable ? ` — ${errorMessage(items[0].error)}` : "";
    return `${cause.registry}: ${what} ${cause.cause}: ${examples.join(", ")}${more}${reason}`;
  });
}

/**
 * The error lines of a run that failed on images: a few in full (their
 * messages say what to do), but grouped by registry and cause when there
 * are many or when a registry could not be reached at all — then every
 * image there failed the same way, and one line per registry and cause says
 * it (700 images behind a refused connection are one line, not 700).
 */
export function failureLines(details: readonly ImageFailure[], full: readonly string[]): string[] {
  const unreachable = details.some((f) => failureCause(f.error, f.registry).unreachable);
  return details.length <= 3 && !unreachable ? [...full] : groupFailures(details, 3, true);
}

/** The failures as an image list: each entry after a `# origin: reason` comment, sorted by list line. */
export function formatFailedList(failures: readonly ImageFailure[], header: string): string {
  const lines = [`# ${header}`];
  for (const failure of sortFailures(failures)) {
    const cause = failureCause(failure.error, failure.registry);
    lines.push(`# ${failure.origin}: ${cause.registry}: ${cause.cause}: ${errorMessage(failure.error)}`);
    lines.push(failure.entry);
  }
  return lines.join("\n") + "\n";
}

/** The commands that list what they left out. */
export type ListingCommand = "plan" | "save" | "load" | "mirror";

/**
 * The one rule for naming the list of what a command left out:
 * `NAME.COMMAND-failed.txt` next to `path` — the archive a save writes or a
 * load reads (`rancher-images.tar` → `rancher-images.save-failed.txt`,
 * `rancher-images.load-failed.txt`), the lock of a plan or mirror
 * (`airgap.lock` → `airgap.plan-failed.txt`). The command in the name keeps
 * lists apart that meet in one directory: a load never overwrites the list
 * of what the save left out, carried with the archive.
 */
export function failedListPath(path: string, command: ListingCommand): string {
  const name = basename(path).replace(/\.(tar|lock|tgz|tar\.gz|\d{3})$/i, "");
  return join(dirname(path), `${name}.${command}-failed.txt`);
}

/** `--keep-going`'s help, naming the list by {@link failedListPath}'s rule. */
export function keepGoingHelp(command: ListingCommand, name: string): string {
  return `${command} every image that can be; list the others in ${name}.${command}-failed.txt (exit code 3)`;
}

/** The flags that retry what a list names: `-f DECLARATION -l LIST` (the declaration's settings kept), or `-l LIST`. */
export function retryFlags(list: string, declaration?: string): string {
  return declaration ? `-f ${declaration} -l ${list}` : `--image-list ${list}`;
}

/** Write the list of failures (or remove a stale one when nothing failed). */
export async function writeFailedList(path: string, failures: readonly ImageFailure[], header: string): Promise<void> {
  if (failures.length === 0) {
    await Deno.remove(path).catch(() => {});
    return;
  }
  await Deno.writeTextFile(path, formatFailedList(failures, header));
}
