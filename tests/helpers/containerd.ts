/**
 * A real containerd for interop tests: Debian's `containerd`, run as root
 * with its own config, root, state and sockets in a temp dir (no CRI, so it
 * starts in a moment and touches nothing of the host's), driven by `ctr`.
 * Without root or the binaries the tests are skipped loudly — never under
 * CI=true, where that fails (as {@link interopAvailable}).
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type GeneratedImage, standardCorpus } from "../../lib/demo/corpus.ts";
import { type RegistryOptions, seedStorage, type TestRegistry } from "./registry.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from "../../lib/oci/media.ts";
import { encodeHeader, paddingSize, TAR_END } from "../../lib/format/tar.ts";

/** containerd's daemon and client (override for a non-Debian host). */
export const CONTAINERD_BIN = Deno.env.get("AIRGAP_CONTAINERD_BIN") ?? "/usr/bin/containerd";
export const CTR_BIN = Deno.env.get("AIRGAP_CTR_BIN") ?? "/usr/bin/ctr";

/** How root commands are run: directly as root, else through `sudo -n` (as .ci/run installs packages). */
let rootPrefixMemo: { prefix: string[] | undefined } | undefined;
function rootPrefix(): string[] | undefined {
  rootPrefixMemo ??= { prefix: findRootPrefix() };
  return rootPrefixMemo.prefix;
}
function findRootPrefix(): string[] | undefined {
  if (Deno.uid() === 0) return [];
  try {
    return new Deno.Command("sudo", { args: ["-n", "true"], stdout: "null", stderr: "null" }).outputSync().success
      ? ["sudo", "-n"]
      : undefined;
  } catch {
    return undefined;
  }
}

/** A command run as root (see {@link rootPrefix}). */
function asRoot(bin: string, args: string[], options: Omit<Deno.CommandOptions, "args"> = {}): Deno.Command {
  const prefix = rootPrefix() ?? [];
  return prefix.length === 0
    ? new Deno.Command(bin, { args, ...options })
    : new Deno.Command(prefix[0], { args: [...prefix.slice(1), bin, ...args], ...options });
}

/** Whether containerd tests can run: the binaries, and root or `sudo -n` (containerd mounts snapshots). */
export function containerdAvailable(): boolean {
  const missing = [CONTAINERD_BIN, CTR_BIN].filter((bin) => {
    try {
      Deno.statSync(bin);
      return false;
    } catch {
      return true;
    }
  });
  const root = rootPrefix() !== undefined;
  if (missing.length === 0 && root) return true;
  const why = missing.length > 0 ? `missing ${missing.join(", ")}` : "neither root nor sudo -n";
  if (Deno.env.get("CI") === "true") throw new Error(`CI=true but containerd tests cannot run: ${why}`);
  console.warn(`containerd tests skipped: ${why}`);
  return false;
}

/** A running containerd. */
export interface TestContainerd {
  /** Its gRPC socket. */
  address: string;
  /** Its temp dir (root, state, config). */
  dir: string;
  /** Run `ctr -a ADDRESS ARGS`; throws with its stderr unless it succeeds; its stdout. */
  ctr(...args: string[]): Promise<string>;
  /** Run `ctr` and return code, stdout and stderr whatever happens. */
  ctrResult(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** Start containerd in a fresh temp dir; resolves when `ctr version` answers. */
export async function startContainerd(): Promise<TestContainerd> {
  const dir = await Deno.makeTempDir({ prefix: "airgap-ctrd-" });
  const address = join(dir, "c.sock");
  await Deno.writeTextFile(
    join(dir, "config.toml"),
    `version = 2
root = "${join(dir, "root")}"
state = "${join(dir, "state")}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.btrfs"]
[grpc]
  address = "${address}"
[ttrpc]
  address = "${join(dir, "t.sock")}"
`,
  );
  const log = await Deno.open(join(dir, "containerd.log"), { write: true, create: true });
  const child = asRoot(CONTAINERD_BIN, ["--config", join(dir, "config.toml")], {
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logging = child.stderr.pipeTo(log.writable).catch(() => {});
  const decoder = new TextDecoder();
  const ctrResult = async (...args: string[]) => {
    const out = await asRoot(CTR_BIN, ["-a", address, ...args], { stdout: "piped", stderr: "piped" }).output();
    return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
  };
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await logging;
    // Snapshots may still be mounted when a test failed half-way; unmount what lies under the dir.
    for (const mount of (await Deno.readTextFile("/proc/self/mounts")).split("\n")) {
      const point = mount.split(" ")[1];
      if (point?.startsWith(dir)) await asRoot("umount", ["-l", point]).output();
    }
    // What containerd wrote belongs to root.
    if (Deno.uid() === 0) await Deno.remove(dir, { recursive: true });
    else await asRoot("rm", ["-rf", dir]).output();
  };
  for (let i = 0; i < 200; i++) {
    if ((await ctrResult("version")).code === 0) {
      return {
        address,
        dir,
        ctrResult,
        async ctr(...args: string[]) {
          const r = await ctrResult(...args);
          if (r.code !== 0) throw new Error(`ctr ${args.join(" ")}: ${r.stderr.trim()}`);
          return r.stdout;
        },
        stop,
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const text = await Deno.readTextFile(join(dir, "containerd.log")).catch(() => "");
  await stop();
  throw new Error(`containerd did not start: ${text.slice(-2000)}`);
}

/** Run `fn` with a fresh containerd, always stopped afterwards. */
export async function withContainerd<T>(fn: (containerd: TestContainerd) => Promise<T>): Promise<T> {
  const containerd = await startContainerd();
  try {
    return await fn(containerd);
  } finally {
    await containerd.stop();
  }
}

/** The host files a runnable image needs: `echo` and the glibc it links (amd64 Debian layout). */
const RUNNABLE_FILES = [
  ["bin/echo", "/usr/bin/echo", 0o755],
  ["lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", 0o755],
  ["lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2", 0o755],
] as const;

/**
 * A small image `ctr run` can start (linux/amd64): the host's `echo` and its
 * glibc in one layer, `Cmd` printing `message`; undefined when the host does
 * not have those files (another architecture or libc).
 */
export function runnableImage(repository: string, tag: string, message: string): GeneratedImage | undefined {
  const parts: Uint8Array[] = [];
  const dirs = new Set<string>();
  for (const [name, host, mode] of RUNNABLE_FILES) {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(host);
    } catch {
      return undefined;
    }
    const dir = name.slice(0, name.lastIndexOf("/") + 1);
    for (let i = dir.indexOf("/"); i !== -1; i = dir.indexOf("/", i + 1)) {
      const d = dir.slice(0, i + 1);
      if (!dirs.has(d)) parts.push(encodeHeader({ name: d, size: 0, type: "directory" }));
      dirs.add(d);
    }
    parts.push(
      encodeHeader({ name, size: bytes.byteLength, mode }),
      bytes,
      new Uint8Array(paddingSize(bytes.byteLength)),
    );
  }
  parts.push(TAR_END);
  const tar = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (tar.set(p, at), at + p.byteLength), 0);
  const layer = new Uint8Array(gzipSync(tar, { level: 1 }));
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/echo", message], Env: ["PATH=/bin"] },
    rootfs: { type: "layers", diff_ids: [digestOf(tar)] },
  }));
  const blob = (mediaType: string, bytes: Uint8Array) => ({
    descriptor: { mediaType, digest: digestOf(bytes), size: bytes.byteLength },
    bytes,
  });
  const blobs = [blob(OCI_CONFIG, config), blob(OCI_LAYER_GZIP, layer)];
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: blobs[0].descriptor,
    layers: [blobs[1].descriptor],
  }));
  return { repository, tag, root: blob(OCI_MANIFEST, manifest), blobs };
}

/** The list entries of the preload tests, as an operator writes them, and their fully qualified names. */
export const PRELOAD_ENTRIES: [entry: string, qualified: string][] = [
  ["rancher/rancher:v2.7.9", "docker.io/rancher/rancher:v2.7.9"],
  ["rancher/shell:v0.1.21", "docker.io/rancher/shell:v0.1.21"],
  ["rancher/mirrored-pause:3.6", "docker.io/rancher/mirrored-pause:3.6"],
  ["busybox:1.36", "docker.io/library/busybox:1.36"],
  ["quay.io/jetstack/cert-manager-controller:v1.12.3", "quay.io/jetstack/cert-manager-controller:v1.12.3"],
  ["rancher/airgap-hello:v1", "docker.io/rancher/airgap-hello:v1"],
];

/** What the runnable image of {@link PRELOAD_ENTRIES} prints. */
export const HELLO = "hello from an airgap archive";

/**
 * An upstream (a mirror, pulled with `-s`) holding the corpus images under the paths of
 * {@link PRELOAD_ENTRIES}, and the list of those entries in `dir`; the images by entry.
 */
export async function preloadUpstream(
  start: (options?: RegistryOptions) => Promise<TestRegistry>,
  dir: string,
): Promise<{ upstream: TestRegistry; list: string; images: Map<string, GeneratedImage> }> {
  const upstream = await start();
  const corpus = new Map(standardCorpus(1).map((i) => [i.repository, i]));
  const images = new Map<string, GeneratedImage>();
  for (const [entry] of PRELOAD_ENTRIES) {
    const path = entry.replace(/:[^:/]*$/, "");
    const from = path === "busybox" ? "library/busybox" : path.replace(/^quay\.io\//, "");
    const image = path === "rancher/airgap-hello"
      ? runnableImage(path, "v1", HELLO)
      : { ...corpus.get(from)!, repository: path };
    if (!image) throw new Error("this host has no /usr/bin/echo with glibc to build a runnable amd64 image from");
    images.set(entry, image);
  }
  await seedStorage(upstream, [...images.values()]);
  const list = join(dir, "list.txt");
  await Deno.writeTextFile(list, PRELOAD_ENTRIES.map(([e]) => `${e}\n`).join(""));
  return { upstream, list, images };
}

/** The image names of `ctr images ls -q` (or any one-per-line output), sorted. */
export const imageNames = (text: string): string[] =>
  text.split("\n").map((l) => l.trim()).filter((l) => l !== "").sort();
