/**
 * `airgap serve`: its options and its log — a line per request unless
 * `--quiet`, the address it serves at, the signal it stopped on. The server
 * is `serveCommand` (lib/commands/serve/serve.ts); who may push and pull is
 * decided in lib/server/access.ts (docs/serve.md).
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { serveCommand, type ServeOptions, waitForShutdown } from "./serve.ts";
import { displayPath } from "../../plan/declaration.ts";
import { usageError } from "../../errors.ts";
import { formatBytes, parseSize } from "../../text.ts";
import { parseTimeout } from "../../transport/http.ts";
import { partName } from "../../format/volumes.ts";
import type { Reporter } from "../../report/progress.ts";
import { out, reporterFor } from "../shared/context.ts";

/** The options of `airgap serve`. */
export interface ServeCliOptions {
  listen: string;
  registryName?: string;
  writable?: boolean;
  baseCache?: string;
  tlsCert?: string;
  tlsKey?: string;
  htpasswd?: string;
  authPulls?: boolean;
  allowAnonymousPush?: boolean;
  maxUploads?: string;
  maxUploadSize?: string;
  uploadIdleTimeout?: string;
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
    .option("--htpasswd <file>", "pushes and deletes need a user of this htpasswd file (bcrypt: htpasswd -B)")
    .option("--auth-pulls", "pulls need an --htpasswd user too (default: anyone may pull)")
    .option(
      "--allow-anonymous-push",
      "accept pushes without --htpasswd on an address other than loopback (refused otherwise)",
    )
    .option("--max-uploads <n>", "upload sessions open at once; more are answered 429", "64")
    .option("--max-upload-size <size>", "bytes in one upload (e.g. 8GiB); more are answered 413", "32GiB")
    .option("--upload-idle-timeout <duration>", "drop an unfinished upload untouched this long", "15m")
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

/** The upload limits from the command line (usage errors for what does not parse). */
function uploadLimits(options: ServeCliOptions): Pick<ServeOptions, "maxUploads" | "maxUploadSize" | "uploadIdleMs"> {
  const limits: Pick<ServeOptions, "maxUploads" | "maxUploadSize" | "uploadIdleMs"> = {};
  if (options.maxUploads !== undefined) {
    if (!/^[1-9]\d*$/.test(options.maxUploads.trim())) {
      throw usageError(`--max-uploads: "${options.maxUploads}" is not a positive whole number`);
    }
    limits.maxUploads = Number(options.maxUploads);
  }
  if (options.maxUploadSize !== undefined) {
    try {
      limits.maxUploadSize = parseSize(options.maxUploadSize);
    } catch {
      throw usageError(`--max-upload-size: "${options.maxUploadSize}" is not a size (e.g. 8GiB, 500MB)`);
    }
  }
  if (options.uploadIdleTimeout !== undefined) {
    limits.uploadIdleMs = parseTimeout(options.uploadIdleTimeout, "--upload-idle-timeout").idleMs;
  }
  return limits;
}

/** The server's options from the command line (paths resolved; requests logged unless `--quiet`). */
export function serveOptions(source: string, options: ServeCliOptions, reporter: Pick<Reporter, "info">): ServeOptions {
  return {
    htpasswd: options.htpasswd && resolve(options.htpasswd),
    authPulls: options.authPulls,
    allowAnonymousPush: options.allowAnonymousPush,
    ...uploadLimits(options),
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
  // Listening for the signals before the URL is announced: a stop right after it is a clean stop.
  const stopped = waitForShutdown();
  out(
    `serving ${handle.images} images from ${displayPath(resolve(source))} at ${handle.server.url}${
      options.writable ? " (writable)" : ""
    }${options.htpasswd ? `, ${options.authPulls ? "pulls and pushes" : "pushes"} need a user` : ""}`,
  );
  const signal = await stopped;
  await handle.close();
  reporter.info(`stopped on ${signal}`);
}
