/**
 * Registry authentication: parse `WWW-Authenticate` challenges and find
 * credentials the way Docker and Podman do (config files, credential helpers).
 * Secrets stay inside the values returned here; nothing here logs them.
 * @module
 */
import { join } from "node:path";
import { DOCKER_HUB, normaliseRegistryHost } from "../../ref.ts";
import { AirgapError } from "../../errors.ts";
import { findProgram, homeDirectory } from "../../host.ts";

/** One authentication challenge from a `WWW-Authenticate` header. */
export interface Challenge {
  /** Lower-cased scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Lower-cased parameter names, unquoted values. */
  params: Record<string, string>;
}

/**
 * Parse a `WWW-Authenticate` header value into challenges. Quoted values may
 * hold commas (scopes do: `repository:a:pull,push`).
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipSpace = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === ",")) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipSpace();
    const scheme = readToken();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
      const save = i;
      const name = readToken();
      while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
      if (!name || s[i] !== "=") {
        i = save;
        break;
      }
      i++;
      while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
      let value = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        const start = i;
        while (i < s.length && s[i] !== ",") i++;
        value = s.slice(start, i).trim();
      }
      challenge.params[name.toLowerCase()] = value;
      while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
      if (s[i] === ",") i++;
      else break;
    }
  }
  return out;
}

/** Credentials for one registry. */
export interface Credential {
  /** User name for Basic auth and token requests; used only with `password`. */
  username?: string;
  /** Password (or access token) that goes with `username`. */
  password?: string;
  /** An OAuth2 refresh token (`docker login` with an identity token). */
  identityToken?: string;
  /** A bearer token to send as is. */
  registryToken?: string;
  /** Where it came from, for messages (never the secret itself). */
  origin: string;
}

interface AuthFile {
  auths?: Record<
    string,
    {
      auth?: string;
      username?: string;
      password?: string;
      identitytoken?: string;
      registrytoken?: string;
    }
  >;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Keys Docker may have used for a registry in `auths`. */
function authKeys(registry: string): string[] {
  if (registry === DOCKER_HUB) {
    return [
      "https://index.docker.io/v1/",
      "index.docker.io",
      "docker.io",
      "registry-1.docker.io",
    ];
  }
  return [registry];
}

function keyMatches(key: string, registry: string): boolean {
  return authKeys(registry).some((k) => k === key || normaliseRegistryHost(key) === normaliseRegistryHost(k));
}

/** The auth files to read, in order of precedence, given an environment. */
export function authFilePaths(env: (name: string) => string | undefined, os: string = Deno.build.os): string[] {
  const home = homeDirectory(env, os);
  const paths: string[] = [];
  const explicit = env("REGISTRY_AUTH_FILE");
  if (explicit) paths.push(explicit);
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime) paths.push(join(runtime, "containers", "auth.json"));
  const xdgConfig = env("XDG_CONFIG_HOME") ?? join(home, ".config");
  paths.push(join(xdgConfig, "containers", "auth.json"));
  const dockerConfig = env("DOCKER_CONFIG");
  paths.push(join(dockerConfig ?? join(home, ".docker"), "config.json"));
  return paths;
}

function readAuthFile(path: string): AuthFile | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (e instanceof Deno.errors.PermissionDenied) return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as AuthFile;
  } catch {
    throw new AirgapError(`${path}: not valid JSON; cannot read registry credentials`);
  }
}

async function runCredentialHelper(
  helper: string,
  registry: string,
  origin: string,
  env: (name: string) => string | undefined,
): Promise<Credential | undefined> {
  const server = registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry;
  let output: Deno.CommandOutput;
  try {
    const program = findProgram(`docker-credential-${helper}`, env);
    if (!program) throw new Deno.errors.NotFound(`docker-credential-${helper}`);
    const child = new Deno.Command(program, {
      args: ["get"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(server));
    await writer.close();
    output = await child.output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AirgapError(
        `credential helper docker-credential-${helper} (named in ${origin}) is not installed`,
      );
    }
    throw e;
  }
  if (!output.success) return undefined; // "credentials not found"
  const reply = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    Username?: string;
    Secret?: string;
  };
  if (!reply.Secret) return undefined;
  if (reply.Username === "<token>") {
    return { identityToken: reply.Secret, origin: `${origin} (helper ${helper})` };
  }
  return {
    username: reply.Username,
    password: reply.Secret,
    origin: `${origin} (helper ${helper})`,
  };
}

function decodeAuth(auth: string, origin: string): { username: string; password: string } {
  let decoded: string;
  try {
    decoded = atob(auth);
  } catch {
    throw new AirgapError(`${origin}: malformed "auth" entry (not base64)`);
  }
  const colon = decoded.indexOf(":");
  if (colon === -1) throw new AirgapError(`${origin}: malformed "auth" entry`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Find credentials for a registry in the Docker/Podman auth files
 * (`auths`, `credHelpers`, `credsStore`). Returns undefined when none apply.
 */
export async function lookupCredential(
  registry: string,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Promise<Credential | undefined> {
  for (const path of authFilePaths(env)) {
    const file = readAuthFile(path);
    if (!file) continue;
    const helper = Object.entries(file.credHelpers ?? {}).find(([k]) => keyMatches(k, registry));
    if (helper) {
      const found = await runCredentialHelper(helper[1], registry, path, env);
      if (found) return found;
    }
    const entry = Object.entries(file.auths ?? {}).find(([k]) => keyMatches(k, registry));
    if (entry) {
      const [, value] = entry;
      if (value.identitytoken) return { identityToken: value.identitytoken, origin: path };
      if (value.registrytoken) return { registryToken: value.registrytoken, origin: path };
      if (value.auth) return { ...decodeAuth(value.auth, path), origin: path };
      if (value.username && value.password) {
        return { username: value.username, password: value.password, origin: path };
      }
    }
    if (file.credsStore) {
      const found = await runCredentialHelper(file.credsStore, registry, path, env);
      if (found) return found;
    }
  }
  return undefined;
}

/** `Basic …` header value for a username and password. */
export function basicAuthorization(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}
