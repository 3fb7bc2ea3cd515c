/**
 * Real CNCF distribution registries for interop tests: each on a loopback
 * port it binds itself (port 0, read back) with its own storage, started and
 * stopped by the test.
 */
import { dirname, join } from "node:path";
import bcrypt from "bcryptjs";
import { type GeneratedImage, singleImage } from "../../lib/demo/corpus.ts";
import { isManifestType } from "../../lib/oci/media.ts";
import { withTempDir } from "./tempdir.ts";
import type { Store } from "../../lib/store/types.ts";

/** Path of the distribution binary (Debian package docker-registry). */
export const REGISTRY_BIN = Deno.env.get("AIRGAP_REGISTRY_BIN") ?? "/usr/bin/docker-registry";
/** Path of skopeo. */
export const SKOPEO_BIN = Deno.env.get("AIRGAP_SKOPEO_BIN") ?? "/usr/bin/skopeo";

function hasBinary(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Whether interop tests can run. Without the binaries they are skipped with a
 * loud message — but never under CI=true, where a missing binary must fail.
 */
export function interopAvailable(...bins: string[]): boolean {
  const wanted = bins.length > 0 ? bins : [REGISTRY_BIN, SKOPEO_BIN];
  const missing = wanted.filter((b) => !hasBinary(b));
  if (missing.length === 0) return true;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`CI=true but interop test binaries are missing: ${missing.join(", ")}`);
  }
  console.warn(
    `\n!!! SKIPPING interop tests: missing ${missing.join(", ")} (apt-get install docker-registry skopeo umoci) !!!\n`,
  );
  return false;
}

/**
 * A loopback port nothing listens on, for "connection refused": 1023, a
 * privileged port below the ephemeral range every port-0 bind draws from, so
 * no test can take it in the meantime (a port bound, read back and closed
 * could be handed to a parallel test), and not one of the ports fetch refuses
 * to use (1, 7, 9, …). Checked: if something does listen there, this throws
 * rather than let a test pass for the wrong reason.
 */
export async function refusedPort(): Promise<number> {
  const port = 1023;
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused) return port;
    throw e;
  }
  throw new Error(`something listens on 127.0.0.1:${port}; the test needs a port that refuses connections`);
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  port: number;
  dir: string;
  /** Requests the registry logged (method and path), for counting. */
  requests(): Promise<{ method: string; path: string; status: number }[]>;
  stop(): Promise<void>;
}

/** Options for {@link startRegistry}. */
export interface RegistryOptions {
  /** Extra YAML appended to the config (auth, validation…). */
  extraConfig?: string;
  /** Basic auth via htpasswd file content. */
  htpasswd?: string;
  /** Serve HTTPS with this certificate and key. */
  tls?: { certificate: string; key: string };
}

/**
 * Start a distribution registry; resolves when /v2/ answers. It binds
 * 127.0.0.1:0 itself and its port is read back from its log ("listening on
 * 127.0.0.1:PORT"), so parallel tests never race for a port.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "airgap-registry-" });
  const logPath = join(dir, "registry.log");
  // distribution writes its access log (one line per request) to stdout
  const accessPath = join(dir, "access.log");
  await Deno.writeTextFile(join(dir, "config.yml"), await registryConfig(dir, options));
  const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const access = await Deno.open(accessPath, { write: true, create: true, truncate: true });
  const child = new Deno.Command(REGISTRY_BIN, {
    args: ["serve", join(dir, "config.yml")],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let listening: (port: number | undefined) => void = () => {};
  const bound = new Promise<number | undefined>((resolve) => listening = resolve);
  // Write each chunk synchronously: FsFile.writable delays writes, and the
  // access log must be readable while the registry runs.
  const drain = async (stream: ReadableStream<Uint8Array>, file: Deno.FsFile, watch: boolean) => {
    const decoder = new TextDecoder();
    let text = "";
    try {
      for await (const chunk of stream) {
        file.writeSync(chunk);
        if (!watch) continue;
        text += decoder.decode(chunk, { stream: true });
        const found = text.match(/listening on 127\.0\.0\.1:(\d+)/);
        if (found) listening(Number(found[1]));
        if (found) watch = false;
      }
    } catch { /* process gone */ }
    file.close();
    listening(undefined); // exited without listening (a resolved promise keeps its port)
  };
  const pump = Promise.all([drain(child.stderr, log, true), drain(child.stdout, access, false)]);
  const port = await bound;
  const host = `127.0.0.1:${port}`;
  if (port === undefined || !await answers(host, options.tls !== undefined, child.status)) {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await pump;
    throw new Error(`registry did not start: ${await Deno.readTextFile(logPath)}`);
  }
  return {
    host,
    port,
    dir,
    async requests() {
      const text = await Deno.readTextFile(accessPath);
      const out: { method: string; path: string; status: number }[] = [];
      for (const line of text.split("\n")) {
        // access log lines: 127.0.0.1 - - [date] "GET /v2/... HTTP/1.1" 200 ...
        const m = line.match(/"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d+)/);
        if (m) out.push({ method: m[1], path: m[2], status: Number(m[3]) });
      }
      return out;
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      await pump;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The registry's config: storage under `dir`, listening on a port of its choosing. */
async function registryConfig(dir: string, options: RegistryOptions): Promise<string> {
  let config = `version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${join(dir, "data")}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:0
  secret: airgap-test-secret
`;
  if (options.tls) {
    config += `  tls:\n    certificate: ${options.tls.certificate}\n    key: ${options.tls.key}\n`;
  }
  if (options.htpasswd !== undefined) {
    await Deno.writeTextFile(join(dir, "htpasswd"), options.htpasswd);
    config += `auth:\n  htpasswd:\n    realm: airgap-test\n    path: ${join(dir, "htpasswd")}\n`;
  }
  if (options.extraConfig) config += options.extraConfig;
  return config;
}

/** Whether the registry at `host` answers (a TCP connect for TLS, `GET /v2/` otherwise) before it exits. */
async function answers(host: string, tls: boolean, exited: Promise<Deno.CommandStatus>): Promise<boolean> {
  let gone = false;
  exited.then(() => gone = true);
  const [hostname, port] = host.split(":");
  for (let i = 0; i < 100 && !gone; i++) {
    try {
      if (tls) {
        (await Deno.connect({ hostname, port: Number(port) })).close();
      } else {
        const response = await fetch(`http://${host}/v2/`);
        await response.body?.cancel();
      }
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return false;
}

let emptyAuthFile: string | undefined;
/** An empty auth file, so skopeo never picks up the user's credentials. */
function skopeoEnv(): Record<string, string> {
  if (!emptyAuthFile) {
    emptyAuthFile = Deno.makeTempFileSync({ prefix: "airgap-skopeo-auth-", suffix: ".json" });
    Deno.writeTextFileSync(emptyAuthFile, "{}");
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(emptyAuthFile!);
      } catch { /* gone */ }
    });
  }
  return { REGISTRY_AUTH_FILE: emptyAuthFile };
}

/** Run skopeo; throws with its stderr on failure; returns stdout. */
export async function skopeo(...args: string[]): Promise<string> {
  const output = await new Deno.Command(SKOPEO_BIN, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: skopeoEnv(),
  }).output();
  if (!output.success) {
    throw new Error(`skopeo ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** The manifest digest of an image in a registry, as skopeo (an independent client) sees it. */
export async function skopeoDigest(reference: string): Promise<string> {
  const raw = await new Deno.Command(SKOPEO_BIN, {
    args: ["inspect", "--raw", "--tls-verify=false", `docker://${reference}`],
    stdout: "piped",
    stderr: "piped",
    env: skopeoEnv(),
  }).output();
  if (!raw.success) throw new Error(`skopeo inspect ${reference}: ${new TextDecoder().decode(raw.stderr)}`);
  const hash = await crypto.subtle.digest("SHA-256", raw.stdout);
  return `sha256:${Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * The fast path for big corpora: write images straight into a test
 * registry's filesystem storage (distribution's on-disk layout: blob data
 * under `blobs/`, per-repository `_layers` and `_manifests` links), which
 * the running registry then serves through its real API. Thousands of
 * images in a second, where pushing them costs minutes.
 */
export async function seedStorage(registry: TestRegistry, images: GeneratedImage[]): Promise<void> {
  const root = join(registry.dir, "data", "docker", "registry", "v2");
  const written = new Set<string>();
  const write = async (path: string, bytes: Uint8Array | string) => {
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof bytes === "string") await Deno.writeTextFile(path, bytes);
    else await Deno.writeFile(path, bytes);
  };
  const blob = async (digest: string, bytes: Uint8Array) => {
    if (written.has(digest)) return;
    written.add(digest);
    const hex = digest.slice("sha256:".length);
    await write(join(root, "blobs", "sha256", hex.slice(0, 2), hex, "data"), bytes);
  };
  const link = (repo: string, kind: "_layers" | "_manifests/revisions", digest: string) =>
    write(join(root, "repositories", repo, kind, "sha256", digest.slice("sha256:".length), "link"), digest);
  const seedOne = async (image: GeneratedImage) => {
    const { digest } = image.root.descriptor;
    await blob(digest, image.root.bytes);
    await link(image.repository, "_manifests/revisions", digest);
    const tagDir = join(root, "repositories", image.repository, "_manifests", "tags", image.tag);
    await write(join(tagDir, "current", "link"), digest);
    await write(join(tagDir, "index", "sha256", digest.slice("sha256:".length), "link"), digest);
    for (const b of image.blobs) {
      await blob(b.descriptor.digest, b.bytes);
      const manifest = isManifestType(b.descriptor.mediaType);
      await link(image.repository, manifest ? "_manifests/revisions" : "_layers", b.descriptor.digest);
    }
  };
  // Many small files: write them 32 images at a time.
  for (let i = 0; i < images.length; i += 32) await Promise.all(images.slice(i, i + 32).map(seedOne));
}

/**
 * Run `fn` with a `start` that starts a real registry (as {@link startRegistry}); every registry it started is
 * stopped afterwards, whatever happens.
 */
export async function withRegistries<T>(
  fn: (start: (options?: RegistryOptions) => Promise<TestRegistry>) => Promise<T>,
): Promise<T> {
  const started: TestRegistry[] = [];
  try {
    return await fn(async (options) => {
      const registry = await startRegistry(options);
      started.push(registry);
      return registry;
    });
  } finally {
    for (const registry of started) await registry.stop();
  }
}

/** A small OCI image under a list entry's name (`repo:tag`), as `--source-registry HOST` asks for it: HOST/ENTRY. */
export function entryImage(entry: string, size = 1024): GeneratedImage {
  const colon = entry.lastIndexOf(":");
  return singleImage(entry.slice(0, colon), entry.slice(colon + 1), {
    format: "oci",
    layers: [{ seed: entry, size }],
    label: entry,
  });
}

/**
 * An interop test against real registries: skipped where `enabled` is false
 * (see {@link interopAvailable}), run in a fresh temporary directory with
 * {@link withRegistries}' `start`, so every registry it starts is stopped
 * and the directory removed however it ends.
 */
export function registryTest(
  name: string,
  enabled: boolean,
  fn: (dir: string, start: (options?: RegistryOptions) => Promise<TestRegistry>) => Promise<void>,
  options: { sanitizeOps?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: !enabled,
    ...options,
    fn: () => withTempDir((dir) => withRegistries((start) => fn(dir, start))),
  });
}

/** Put `images` into `store` with our own client (blobs, manifest, tag), then close it. */
export async function pushImages(
  store: Pick<Store, "push" | "tag" | "close">,
  images: GeneratedImage[],
): Promise<void> {
  for (const image of images) {
    for (const b of image.blobs) await store.push(image.repository, b.descriptor, b.bytes);
    await store.push(image.repository, image.root.descriptor, image.root.bytes);
    await store.tag(image.repository, image.tag, image.root.descriptor, image.root.bytes);
  }
  await store.close?.();
}

/**
 * A private home for CLI runs (`DIR/home`, with an empty `.docker/`): the
 * environment that points docker's, podman's and skopeo's credential files
 * there, so a test never reads the machine's logins.
 */
export async function privateHome(dir: string): Promise<Record<string, string>> {
  const home = join(dir, "home");
  await Deno.mkdir(join(home, ".docker"), { recursive: true });
  return { HOME: home, DOCKER_CONFIG: join(home, ".docker"), XDG_RUNTIME_DIR: join(home, "run") };
}

/** Write the docker `config.json` of a {@link privateHome}: `auths` maps a host to its base64 `user:password`. */
export async function writeDockerAuths(env: Record<string, string>, auths: Record<string, string>): Promise<void> {
  const entries = Object.fromEntries(Object.entries(auths).map(([host, auth]) => [host, { auth }]));
  await Deno.writeTextFile(join(env.DOCKER_CONFIG, "config.json"), JSON.stringify({ auths: entries }));
}

/** Run `fn` with a real registry that takes Basic auth for `alice` with `password` (htpasswd); stopped afterwards. */
export async function withBasicAuthRegistry(
  password: string,
  fn: (registry: TestRegistry) => Promise<void>,
): Promise<void> {
  const registry = await startRegistry({ htpasswd: `alice:${bcrypt.hashSync(password, 5)}\n` });
  try {
    await fn(registry);
  } finally {
    await registry.stop();
  }
}
