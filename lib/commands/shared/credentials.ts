/**
 * Credentials and TLS given on the command line, for the side a command
 * talks to: the target of `load` and `mirror`, the source registry of
 * `save`. `--username` with `--password-stdin` (as `podman login
 * --password-stdin` takes it: the password never on the command line, in
 * the shell history or in `ps`), and for `save` `--ca-file`/`--insecure`
 * (load and mirror have them for the target already). Each is merged into
 * the registry settings of the hosts it is for, over what `registries:`
 * declares, so the declaration and the command line never disagree about
 * which wins: the command line.
 * @module
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { parseYaml } from "../../plan/yaml.ts";
import { ConfigSchema } from "../../../schemas/config.ts";
import { usageError } from "../../errors.ts";
import { type Declaration, displayPath, registrySettings } from "../../plan/declaration.ts";
import { normaliseRegistryHost, splitRegistryArgument } from "../../ref.ts";
import type { Credential } from "../../store/registry/auth.ts";
import type { RegistrySettings } from "../../store/registry/client.ts";
import { exists } from "../../fsutil.ts";

/** `--username` and `--password-stdin`. */
export interface CredentialOptions {
  username?: string;
  passwordStdin?: boolean;
}

/** Declare `--username` and `--password-stdin` for `side` ("the target registry", "the source registry"). */
export function addCredentialOptions(command: Command, side: string): Command {
  return command
    .option(
      "--username <name>",
      `user for ${side} (with --password-stdin; default: registries: or podman/docker login)`,
    )
    .option("--password-stdin", `read the password for ${side} from stdin (with --username)`);
}

/** The text of stdin, without its final newline. */
async function readStdin(): Promise<string> {
  return (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
}

/**
 * The credential the options give, or undefined without `--username`. Both
 * options or neither: a user without a password (or the reverse) is a usage
 * error, before anything is read or fetched.
 */
export async function credentialOf(
  options: CredentialOptions,
  read: () => Promise<string> = readStdin,
): Promise<Credential | undefined> {
  if (!options.username && !options.passwordStdin) return undefined;
  if (!options.username) throw usageError("--password-stdin needs --username");
  if (!options.passwordStdin) {
    throw usageError(
      "--username needs --password-stdin (the password is read from stdin, never from the command line)",
    );
  }
  const password = await read();
  if (!password) throw usageError("--password-stdin: stdin was empty");
  return { username: options.username, password, origin: "--username/--password-stdin" };
}

/** `registries` with `change` merged into the settings of each of `hosts` (a new map). */
export function withSettings(
  registries: ReadonlyMap<string, RegistrySettings>,
  hosts: Iterable<string>,
  change: RegistrySettings,
): Map<string, RegistrySettings> {
  const merged = new Map(registries);
  for (const host of hosts) merged.set(host, { ...merged.get(host), ...change });
  return merged;
}

/** The source registries of a save: `-s` when given, else every registry the requests name. */
export function sourceHosts(
  decl: Pick<Declaration, "requests">,
  sourceRegistry: string | undefined,
): string[] {
  if (sourceRegistry) return [splitRegistryArgument(sourceRegistry).registry];
  return [...new Set(decl.requests.map((r) => r.source.registry))].sort();
}

/**
 * The source side of a save with the command line's access options merged:
 * `--ca-file`/`--insecure` for every source registry, `--username` for the
 * one source registry (`-s`, or the only one the requests name).
 */
export async function withSourceAccess(
  decl: Declaration,
  options: CredentialOptions & { caFile?: string; insecure?: boolean; sourceRegistry?: string },
  read?: () => Promise<string>,
): Promise<Declaration> {
  const credential = await credentialOf(options, read);
  if (!credential && !options.caFile && !options.insecure) return decl;
  const hosts = sourceHosts(decl, options.sourceRegistry);
  if (credential && hosts.length !== 1) {
    throw usageError(
      `--username is for one source registry, and the images come from ${hosts.length}: ${
        hosts.join(", ")
      }; give -s HOST, or declare each under registries: in airgap.yaml`,
    );
  }
  return {
    ...decl,
    registries: withSettings(decl.registries, hosts, {
      ...(options.insecure ? { insecure: true } : {}),
      ...(options.caFile ? { caFile: resolve(options.caFile) } : {}),
      ...(credential ? { credential } : {}),
    }),
  };
}

/**
 * The `registries:` of the declaration file next to an image list (or the
 * one `-f` names), for the hosts `used` only: a list saved in a directory
 * with an airgap.yaml reaches a private-CA or password-protected registry as
 * the declaration says, without the declaration's images. A registry the
 * list does not use is not resolved (its passwordEnv need not be set).
 */
export async function declaredRegistriesFor(
  file: string | undefined,
  used: readonly string[],
): Promise<Map<string, RegistrySettings>> {
  const path = resolve(file ?? "airgap.yaml");
  const registries = new Map<string, RegistrySettings>();
  if (!file && !(await exists(path))) return registries;
  const shown = displayPath(path);
  const config = parseYaml(await Deno.readTextFile(path), shown, ConfigSchema);
  const wanted = new Set(used);
  for (const [host, settings] of Object.entries(config.registries ?? {})) {
    const key = normaliseRegistryHost(host);
    if (!wanted.has(key)) continue;
    registries.set(key, registrySettings(host, settings, resolve(path, ".."), shown));
  }
  return registries;
}
