/**
 * Who may do what on the embedded registry — the one place that decides it,
 * both when the server starts (which exposures are refused) and for each
 * request (which need a user). The rules:
 *
 * - Basic credentials travel only over TLS, unless the server listens on
 *   loopback: `--htpasswd` on another address without `--tls-cert` is refused.
 * - `--writable` on an address other than loopback without `--htpasswd` is
 *   refused, unless `--allow-anonymous-push` says the network is trusted.
 * - With `--htpasswd`, every write (anything but GET/HEAD: uploads, manifest
 *   pushes, deletes) needs a user whose password matched; so does `/v2/`
 *   (the ping — clients learn there that credentials are wanted, and a login
 *   checks them there), and with `--auth-pulls` so does every read.
 * - Credentials that are sent are checked whatever the request: a wrong
 *   password is refused even where none was needed, never downgraded to
 *   anonymous.
 * - A refusal is 401 with `WWW-Authenticate: Basic realm="airgap"` and the
 *   distribution error body, the same whichever part was wrong.
 * @module
 */
import { usageError } from "../errors.ts";
import { isLoopbackHost } from "../transport/origin.ts";
import type { Authenticator } from "./htpasswd.ts";
import { httpError } from "./error_codes.ts";
import type { Exchange } from "./responses.ts";
import type { Route } from "./routes.ts";

/** The realm of the Basic challenge. */
export const REALM = "airgap";

/** How a server is exposed, for {@link checkExposure}. */
export interface Exposure {
  /** The address listened on. */
  hostname: string;
  writable: boolean;
  /** An htpasswd file is used. */
  auth: boolean;
  tls: boolean;
  /** `--allow-anonymous-push`: writes without auth on a non-loopback address. */
  allowAnonymousPush?: boolean;
  /** `--auth-pulls`: reads need a user too. */
  authPulls?: boolean;
}

/** True when only this machine can reach `hostname` (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(hostname: string): boolean {
  return isLoopbackHost(hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname);
}

/** Refuse (with a one-line usage error) a server that would let the network in where it does not belong. */
export function checkExposure(e: Exposure): void {
  const loopback = isLoopbackAddress(e.hostname);
  if (e.authPulls && !e.auth) throw usageError("--auth-pulls needs --htpasswd");
  if (e.auth && !e.tls && !loopback) {
    throw usageError(
      `--htpasswd on ${e.hostname} needs --tls-cert and --tls-key: Basic credentials go over TLS only (or listen on 127.0.0.1)`,
    );
  }
  if (e.writable && !e.auth && !loopback && !e.allowAnonymousPush) {
    throw usageError(
      `--writable on ${e.hostname} lets anyone who can reach it push and delete: give --htpasswd FILE, listen on 127.0.0.1, or accept it with --allow-anonymous-push`,
    );
  }
}

/** What a running server asks of requests. */
export interface AccessPolicy {
  /** Set with `--htpasswd`; without it every request is anonymous and allowed. */
  authenticator?: Authenticator;
  /** Reads need a user too. */
  authPulls: boolean;
}

const READS = new Set(["GET", "HEAD"]);

/** Does this request need a user? (Only asked when the server has an authenticator.) */
export function needsUser(method: string, target: Route, authPulls: boolean): boolean {
  return target.kind === "ping" || !READS.has(method) || authPulls;
}

/** The 401 answer: the same for no, wrong or malformed credentials. */
export function unauthorized() {
  return httpError("UNAUTHORIZED", "authentication required", undefined, {
    headers: { "www-authenticate": `Basic realm="${REALM}"` },
  });
}

/** Let the request through or throw the 401; resolves with the user, if any. */
export async function authorize(ex: Exchange, target: Route, policy: AccessPolicy): Promise<string | undefined> {
  if (!policy.authenticator) return undefined;
  const header = ex.req.headers.authorization;
  const identity = await policy.authenticator.identify(header);
  if (identity.kind === "refused") throw unauthorized();
  if (identity.kind === "anonymous" && needsUser(ex.method, target, policy.authPulls)) throw unauthorized();
  return identity.kind === "user" ? identity.user : undefined;
}
