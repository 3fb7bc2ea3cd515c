/**
 * Where a request may go and what it may carry — pure functions, so the
 * security rules are decided (and tested) in one place:
 * - plain HTTP only to loopback hosts or hosts declared `insecure`; an HTTPS
 *   exchange is never downgraded to HTTP by a redirect or an upload
 *   `Location` otherwise;
 * - credentials only to the exact origin (scheme, host, port) they were
 *   obtained for: a hop to a blob CDN or a presigned S3 URL goes without
 *   `Authorization` (they need none, and must not see the registry's).
 * @module
 */

/** True for hosts Docker treats as insecure by default (127.0.0.0/8, ::1, localhost). Port optional. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** `scheme://host:port` with the default port made explicit, for exact comparison. */
export function originOf(url: URL | string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : u.protocol === "http:" ? "80" : "");
  return `${u.protocol}//${u.hostname.toLowerCase()}:${port}`;
}

/** Same scheme, host and port. */
export function sameOrigin(a: URL | string, b: URL | string): boolean {
  return originOf(a) === originOf(b);
}

/** Is plain HTTP allowed to `url`'s host? `insecure(host)` says whether the host was declared insecure. */
export function plainHttpAllowed(url: URL, insecure: (host: string) => boolean): boolean {
  return isLoopbackHost(url.host) || insecure(url.host) || insecure(url.hostname);
}

/** Why a URL may not be requested, or undefined when it may. */
export function refuseUrl(url: URL, insecure: (host: string) => boolean): string | undefined {
  if (url.protocol === "https:") return undefined;
  if (url.protocol !== "http:") return `unsupported URL scheme ${url.protocol}`;
  if (plainHttpAllowed(url, insecure)) return undefined;
  return `plain HTTP to ${url.host} is not allowed (use https, or set registries."${url.host}".insecure: true)`;
}

/** What to do with one redirect hop. */
export interface HopDecision {
  /** Follow it at all. */
  allow: boolean;
  /** Why not (for the message). */
  reason?: string;
}

/**
 * May a redirect from `from` to `to` be followed? Never from HTTPS down to
 * HTTP unless the target is loopback or declared insecure; never to a
 * scheme other than http/https.
 */
export function redirectHop(from: URL, to: URL, insecure: (host: string) => boolean): HopDecision {
  if (to.protocol !== "http:" && to.protocol !== "https:") {
    return { allow: false, reason: `redirected to an unsupported URL scheme ${to.protocol}` };
  }
  if (from.protocol === "https:" && to.protocol === "http:" && !plainHttpAllowed(to, insecure)) {
    return {
      allow: false,
      reason:
        `refusing a redirect from HTTPS to plain HTTP (${to.host}); declare registries."${to.host}".insecure: true if that is intended`,
    };
  }
  const refused = refuseUrl(to, insecure);
  return refused ? { allow: false, reason: refused } : { allow: true };
}

/**
 * Does a request to `url` carry credentials obtained for `credentialOrigin`?
 * Only when it is exactly that origin.
 */
export function sendsCredentials(url: URL | string, credentialOrigin: string | undefined): boolean {
  return credentialOrigin !== undefined && originOf(url) === originOf(credentialOrigin);
}
