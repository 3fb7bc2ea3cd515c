/**
 * `airgap serve`: its options and its log — a line per request unless
 * `--quiet`, the address it serves at, the signal it stopped on. The server
 * is `serveCommand` (lib/store/server/serve.ts).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { serveCommand, type ServeOptions, waitForShutdown } from "../store/server/serve.ts";
import { displayPath } from "../plan/declaration.ts";
import { formatBytes } from "../format.ts";
import { partName } from "../store/volumes.ts";
import type { Reporter } from "../report/progress.ts";
import { out, reporterFor } from "./context.ts";

/** The options of `airgap serve`. */
export interface ServeCliOptions {
  listen: string;
  registryName?: string;
  writable?: boolean;
  baseCache?: string;
  tlsCert?: string;
  tlsKey?: string;
  quiet?: boolean;
}

/** Register `airgap serve`. */
export function registerServe(cli: Command): void {
  cli.command("serve")
    .description("serve an archive or a cache directory as a registry (read-only, or --writable into a cache)")
    .argument("<source>", "archive file or cache directory")
    .option("--listen <address>", "HOST:PORT to listen on; :PORT listens on every interface", "127.0.0.1:5000")
    .option(
      "--registry-name <host[:port][/prefix]>",
      "serve the names `airgap load --registry` would create there (default: the images' own names)",
    )
    .option("--writable", "accept pushes into the cache directory")
    .option("--base-cache <dir>", "for a delta archive: a cache directory with its base (blobs the delta leaves out)")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (chain)")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("-q, --quiet", "do not log requests")
    .action(serve);
}

/**
 * The source as given, or — when nothing has that name and `NAME.001` exists —
 * the first part of a split archive: `serve NAME.tar` takes the base name as
 * `load`, `verify` and `ls` do.
 */
export function sourcePath(source: string): string {
  const path = resolve(source);
  const exists = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  return !exists(path) && exists(partName(path, 0)) ? partName(path, 0) : path;
}

/** The server's options from the command line (paths resolved; requests logged unless `--quiet`). */
export function serveOptions(source: string, options: ServeCliOptions, reporter: Pick<Reporter, "info">): ServeOptions {
  return {
    source: sourcePath(source),
    listen: options.listen,
    registryName: options.registryName,
    baseCache: options.baseCache && resolve(options.baseCache),
    writable: options.writable,
    tlsCert: options.tlsCert && resolve(options.tlsCert),
    tlsKey: options.tlsKey && resolve(options.tlsKey),
    onRequest: options.quiet
      ? undefined
      : (r) => reporter.info(`${r.method} ${r.path} ${r.status} ${formatBytes(r.bytes)} ${r.ms}ms`),
  };
}

async function serve(source: string, options: ServeCliOptions): Promise<void> {
  const reporter = reporterFor(options);
  const handle = await serveCommand(serveOptions(source, options, reporter));
  for (const warning of handle.warnings) reporter.warn(warning);
  out(
    `serving ${handle.images} images from ${displayPath(resolve(source))} at ${handle.server.url}${
      options.writable ? " (writable)" : ""
    }`,
  );
  const signal = await waitForShutdown();
  await handle.close();
  reporter.info(`stopped on ${signal}`);
}
