/**
 * Real CNCF distribution registries for interop tests: each on a free
 * loopback port with its own storage, started and stopped by the test.
 */
import { dirname, join } from "node:path";
import type { GeneratedImage } from "../../lib/demo/corpus.ts";
import { isManifestType } from "../../lib/oci/media.ts";

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

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
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

/** Start a distribution registry on a free port; resolves when /v2/ answers. */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "airgap-registry-" });
  const logPath = join(dir, "registry.log");
  // distribution writes its access log (one line per request) to stdout
  const accessPath = join(dir, "access.log");
  for (let attempt = 0;; attempt++) {
    const port = freePort();
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
  addr: 127.0.0.1:${port}
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
    await Deno.writeTextFile(join(dir, "config.yml"), config);
    const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
    const access = await Deno.open(accessPath, { write: true, create: true, truncate: true });
    const child = new Deno.Command(REGISTRY_BIN, {
      args: ["serve", join(dir, "config.yml")],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Write each chunk synchronously: FsFile.writable delays writes, and the
    // access log must be readable while the registry runs.
    const drain = async (stream: ReadableStream<Uint8Array>, file: Deno.FsFile) => {
      try {
        for await (const chunk of stream) file.writeSync(chunk);
      } catch { /* process gone */ }
      file.close();
    };
    const pump = Promise.all([drain(child.stderr, log), drain(child.stdout, access)]);
    const host = `127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 100; i++) {
      try {
        if (options.tls) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          conn.close();
        } else {
          const response = await fetch(`http://${host}/v2/`);
          await response.body?.cancel();
        }
        ready = true;
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
      const status = await Promise.race([child.status, new Promise((r) => setTimeout(() => r(undefined), 0))]);
      if (status) break;
    }
    if (!ready) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await pump;
      if (attempt < 3) continue; // the port was taken in between: try another
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
