/**
 * Who a request comes from, for `serve --htpasswd`: Basic credentials
 * checked against an htpasswd file of bcrypt entries, read as distribution's
 * htpasswd auth reads it (`user:hash` a line; blank lines and lines starting
 * with `#` skipped; the last entry of a user wins). Unlike distribution, a
 * line that is not bcrypt is refused when the file is read (`FILE:LINE`),
 * rather than silently never matching: an operator who wrote `htpasswd`
 * without `-B` learns it at start, not from a failed push.
 *
 * A failed check never says which part was wrong: an unknown user is
 * checked against a dummy hash of the file's cost, so both take as long, and
 * bcryptjs compares the hashes in constant time. A successful check is
 * remembered (by a keyed hash of the header, never the password itself), so
 * a push of a hundred layers costs one bcrypt, not a hundred; failures are
 * never remembered, so guessing costs a bcrypt per guess — and the checks
 * run one at a time, so a flood of guesses takes one core's share of bcrypt,
 * not the machine (bcryptjs yields between rounds: other requests go on).
 * @module
 */
import bcrypt from "bcryptjs";
import { createHmac, randomBytes } from "node:crypto";
import { usageError } from "../errors.ts";

/** An htpasswd file larger than this is refused (it holds a few users, not a database). */
export const MAX_HTPASSWD_SIZE = 1024 * 1024;

/** A bcrypt hash as htpasswd -B (`$2y$`), Go and bcryptjs write it. */
const BCRYPT = /^\$2[aby]?\$(\d{2})\$[./A-Za-z0-9]{53}$/;

/** Users and their bcrypt hashes. */
export type Htpasswd = ReadonlyMap<string, string>;

/**
 * Parse an htpasswd file (`file` names it in errors, which give the line,
 * never its content: a misplaced password must not reach a log).
 */
export function parseHtpasswd(text: string, file: string): Htpasswd {
  const users = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw usageError(`${file}:${i + 1}: expected USER:BCRYPT-HASH (make it with htpasswd -B)`);
    const cost = line.slice(colon + 1).match(BCRYPT)?.[1];
    if (cost === undefined || Number(cost) < 4 || Number(cost) > 31) {
      throw usageError(`${file}:${i + 1}: not a bcrypt entry (only bcrypt is accepted: htpasswd -B)`);
    }
    users.set(line.slice(0, colon), line.slice(colon + 1));
  }
  if (users.size === 0) throw usageError(`${file}: no users (add one with htpasswd -B ${file} USER)`);
  return users;
}

/** Read and parse an htpasswd file, bounded in size. */
export async function readHtpasswd(path: string, display = path): Promise<Htpasswd> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_HTPASSWD_SIZE) throw usageError(`${display}: larger than 1 MiB; not an htpasswd file`);
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw usageError(`${display} does not exist (the --htpasswd file)`);
    throw e;
  }
  return parseHtpasswd(new TextDecoder().decode(bytes), display);
}

/**
 * Who sent a request: nobody (no credentials, or the empty ones some clients
 * send when they have none), a user whose password matched, or refused
 * (wrong user or password, malformed header, a scheme other than Basic).
 */
export type Identity = { kind: "anonymous" } | { kind: "user"; user: string } | { kind: "refused" };

/** Checks `Authorization` headers against an htpasswd file. */
export interface Authenticator {
  identify(header: string | undefined): Promise<Identity>;
}

/** Successful checks remembered at most (the oldest forgotten first). */
const REMEMBERED = 256;
const ANONYMOUS: Identity = { kind: "anonymous" };
const REFUSED: Identity = { kind: "refused" };

/** `user:password` of a Basic header, undefined when malformed. */
export function parseBasic(header: string): { user: string; password: string } | undefined {
  const match = header.match(/^Basic +([A-Za-z0-9+/]+={0,2}) *$/i);
  if (!match || match[1].length % 4 !== 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** An authenticator over `users` (see the module notes on timing and what is remembered). */
export function createAuthenticator(users: Htpasswd): Authenticator {
  const key = randomBytes(32);
  const remembered = new Map<string, string>();
  const costs = [...users.values()].map((hash) => bcrypt.getRounds(hash));
  const dummy = bcrypt.hashSync(randomBytes(16).toString("hex"), Math.max(...costs));
  let queue: Promise<unknown> = Promise.resolve();
  /** Checks waiting or running, by header: a client's parallel first requests share one. */
  const pending = new Map<string, Promise<boolean>>();
  const check = (id: string, password: string, hash: string | undefined): Promise<boolean> => {
    let result = pending.get(id);
    if (!result) {
      result = queue.then(() => bcrypt.compare(password, hash ?? dummy))
        .then((ok) => ok && hash !== undefined, () => false);
      pending.set(id, result);
      queue = result.finally(() => pending.delete(id));
    }
    return result;
  };
  return {
    async identify(header) {
      if (header === undefined || header.trim() === "") return ANONYMOUS;
      const basic = parseBasic(header.trim());
      if (!basic) return REFUSED;
      if (basic.user === "" && basic.password === "") return ANONYMOUS;
      const id = createHmac("sha256", key).update(header.trim()).digest("hex");
      const known = remembered.get(id);
      if (known !== undefined) return { kind: "user", user: known };
      if (!(await check(id, basic.password, users.get(basic.user)))) return REFUSED;
      if (remembered.size >= REMEMBERED) remembered.delete(remembered.keys().next().value!);
      remembered.set(id, basic.user);
      return { kind: "user", user: basic.user };
    },
  };
}
