/**
 * `airgap cluster-config`: after `load` (or with `serve`), the files that
 * make the cluster pull from the private registry — RKE2/K3s
 * `registries.yaml`, containerd's `certs.d` tree, Rancher's and
 * cert-manager's Helm values — for the images of a lock or an archive. The
 * images come from what was carried, the target from `--registry` or
 * airgap.yaml, exactly as `load` names it. A password is written only when
 * handed over with `--password-env` or `--password-stdin` (the file is then
 * made readable by its owner alone) and is never printed.
 * @module
 */
import type { Command } from "commander";
import { dirname, join, resolve } from "node:path";
import { clusterConfig, type RegistryAccess } from "./config.ts";
import { ARTIFACT_ANNOTATION, KIND_ANNOTATION } from "../../oci/annotations.ts";
import { readLock } from "../../lock.ts";
import { displayPath } from "../../plan/declaration.ts";
import { openArchive } from "../../store/archive.ts";
import { AirgapError, errorMessage, usageError } from "../../errors.ts";
import { out } from "../shared/context.ts";
import { exists } from "../../fsutil.ts";
import { loadDeclaration } from "../../plan/declaration.ts";
import { parseYaml } from "../../plan/yaml.ts";
import { normaliseRegistryHost } from "../../ref.ts";
import { ConfigSchema } from "../../../schemas/config.ts";
import { firstPart, targetOf } from "../shared/resolve_options.ts";

/** The options of `airgap cluster-config`. */
export interface ClusterConfigCliOptions {
  registry?: string;
  prefix?: string;
  file?: string;
  lock?: string;
  caFile?: string;
  caPath?: string;
  username?: string;
  passwordEnv?: string;
  passwordStdin?: boolean;
  output?: string;
  quiet?: boolean;
  insecure?: boolean;
}

/** Where registries.yaml says the CA is on the nodes, unless `--ca-path` says otherwise. */
export const DEFAULT_CA_PATH = "/etc/rancher/registry-ca.crt";

/** Register `airgap cluster-config`. */
export function registerClusterConfig(cli: Command): void {
  cli.command("cluster-config")
    .description("write the cluster's registry configuration (registries.yaml, containerd hosts.toml, Helm values)")
    .argument("[archive...]", "take the images from this archive (default: the lock)")
    .option("-r, --registry <host[:port][/prefix]>", "private registry load pushed to (default: target.registry)")
    .option("--prefix <path>", "path prefix in the private registry, as given to load")
    .option("-f, --file <file>", "declaration with target and registry settings (default: airgap.yaml if present)")
    .option("--lock <file>", "take the images from this lock (default: airgap.lock next to airgap.yaml)")
    .option("--ca-file <file>", "CA certificate of the private registry (copied into the certs.d tree)")
    .option("--ca-path <path>", `where the CA is on the nodes, for registries.yaml (default: ${DEFAULT_CA_PATH})`)
    .option("--username <name>", "user for the private registry (default: the declaration's)")
    .option("--password-env <var>", "write the password from this environment variable into registries.yaml")
    .option("--password-stdin", "write the password read from stdin into registries.yaml")
    .option("--insecure", "the registry speaks plain HTTP (airgap serve without TLS): http:// endpoints")
    .option("-o, --output <dir>", "directory to write into (default: cluster-config)")
    .option("-q, --quiet", "only print warnings and errors")
    .action(clusterConfigAction);
}

/** The list entries of the images carried: the archive's index.json, or the lock. */
async function entriesOf(
  archiveArgs: string[],
  options: ClusterConfigCliOptions,
  lockPath: string | undefined,
): Promise<{ entries: string[]; from: string }> {
  if (archiveArgs.length > 0) {
    const path = firstPart(archiveArgs);
    const archive = await openArchive(path);
    try {
      const images = archive.images.filter((i) =>
        !i.annotations[KIND_ANNOTATION] && !i.annotations[ARTIFACT_ANNOTATION]
      );
      return { entries: images.map((i) => i.entry), from: displayPath(path) };
    } finally {
      await archive.close?.();
    }
  }
  const path = options.lock ? resolve(options.lock) : lockPath ?? resolve("airgap.lock");
  const lock = await readLock(path, displayPath(path));
  if (!lock) throw new AirgapError(`no lock at ${displayPath(path)}: name the archive, or give --lock`);
  return { entries: lock.images.filter((i) => !i.file).map((i) => i.entry), from: displayPath(path) };
}

/** The password handed over, if any (never printed). */
async function passwordOf(options: ClusterConfigCliOptions): Promise<string | undefined> {
  if (options.passwordEnv && options.passwordStdin) throw usageError("use either --password-env or --password-stdin");
  if (options.passwordEnv) {
    const value = Deno.env.get(options.passwordEnv);
    if (value === undefined) throw usageError(`--password-env: ${options.passwordEnv} is not set`);
    return value;
  }
  if (!options.passwordStdin) return undefined;
  const text = await new Response(Deno.stdin.readable).text();
  return text.replace(/\r?\n$/, "");
}

/**
 * The declaration, read as a command that pulls from the sources reads it: cluster-config talks to no
 * registry, so the target's password need not be set. Its username is taken from the file itself.
 */
async function declarationOf(file: string | undefined) {
  const configPath = file ? resolve(file) : resolve("airgap.yaml");
  if (!file && !await exists(configPath)) return { decl: undefined, usernames: new Map<string, string>() };
  const decl = await loadDeclaration(configPath, { use: "pull" });
  const config = parseYaml(await Deno.readTextFile(configPath), displayPath(configPath), ConfigSchema);
  const usernames = new Map<string, string>();
  for (const [host, settings] of Object.entries(config.registries ?? {})) {
    if (settings.username) usernames.set(normaliseRegistryHost(host), settings.username);
  }
  return { decl, usernames };
}

async function clusterConfigAction(archiveArgs: string[], options: ClusterConfigCliOptions): Promise<void> {
  const { decl, usernames } = await declarationOf(options.file);
  const target = targetOf(options, decl);
  const settings = target.registries.get(target.registry);
  const { entries, from } = await entriesOf(archiveArgs, options, decl?.lockPath);
  const password = await passwordOf(options);
  const username = options.username ?? usernames.get(target.registry);
  if (password !== undefined && username === undefined) throw usageError("a password needs --username");
  const caFile = settings?.caFile;
  const access: RegistryAccess = {
    caPath: caFile ? (options.caPath ?? DEFAULT_CA_PATH) : options.caPath,
    caFileName: caFile ? "ca.crt" : undefined,
    username,
    password,
    passwordHint: "or give --password-env/--password-stdin to cluster-config",
    plainHttp: settings?.insecure,
  };
  const config = clusterConfig(entries, target, access);
  const dir = resolve(options.output ?? "cluster-config");
  for (const [path, text] of config.files) {
    const file = join(dir, path);
    await Deno.mkdir(dirname(file), { recursive: true });
    const secret = path === "registries.yaml" && password !== undefined;
    try {
      await Deno.writeTextFile(file, text, { mode: secret ? 0o600 : 0o644 });
      if (secret) await Deno.chmod(file, 0o600);
      if (caFile && path.endsWith("/hosts.toml")) await Deno.copyFile(caFile, join(dirname(file), "ca.crt"));
    } catch (e) {
      throw new AirgapError(`cannot write ${displayPath(file)}: ${errorMessage(e)}`);
    }
  }
  for (const warning of config.warnings) console.error(`warning: ${warning}`);
  if (options.quiet) return;
  const hosts = config.set.mirrors.filter((m) => m.upstream !== target.registry).map((m) => m.upstream);
  out(
    `${entries.length} images from ${from}: ${hosts.length} upstream registries (${hosts.join(", ")}) mirrored to ${
      target.prefix ? `${target.registry}/${target.prefix}` : target.registry
    }`,
  );
  for (const path of config.files.keys()) out(`wrote ${displayPath(join(dir, path))}`);
}
