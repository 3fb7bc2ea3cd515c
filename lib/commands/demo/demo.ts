/**
 * `airgap demo` (`deno task demo`): the whole job on an embedded default.
 * Generates a small but real set of images, serves them from an embedded
 * "upstream" registry, writes an airgap.yaml like a user would, runs
 * `plan`, `save`, `ls`, `load` (into an embedded writable registry) and
 * `verify` exactly as a user would, then shows what moved and where. No
 * external service, no network beyond loopback.
 * @module
 */
import { join } from "node:path";
import { formatBytes, shortDigest } from "../../text.ts";
import {
  corpusBlobs,
  type GeneratedImage,
  multiPlatformImage,
  standardCorpus,
  WINDOWS_1809,
  WINDOWS_LTSC2022,
} from "../../demo/corpus.ts";
import { openCache } from "../../store/cache.ts";
import { createRegistryClient } from "../../store/registry/client.ts";
import { registryStore } from "../../store/registry/store.ts";
import { serveCommand } from "../serve/serve.ts";

/** Options of {@link demoCommand}. */
export interface DemoOptions {
  /** Runs the CLI as a user would (the real `main`), returning its exit code. */
  run: (args: string[]) => Promise<number>;
  /** Where to work; a temporary directory (removed afterwards) when not given. */
  dir?: string;
  /** Print a line. */
  say: (line: string) => void;
}

/**
 * The demo's images: multi-platform lists and indexes, shared layers, an
 * artifact, and a Linux+Windows image whose Windows base layer is foreign
 * (served from `foreignBase`, standing in for Microsoft's host).
 */
export function demoImages(foreignBase: string): GeneratedImage[] {
  const wins = multiPlatformImage("rancher/wins", "v0.4.11", "docker", [
    {
      format: "docker",
      platform: { os: "linux", architecture: "amd64" },
      layers: [{ seed: "wins-linux", size: 96 * 1024 }],
    },
    {
      format: "docker",
      platform: WINDOWS_1809,
      layers: [{ seed: "wins-1809", size: 128 * 1024 }],
      foreignBase: { seed: "windows-servercore-1809", size: 512 * 1024, urlBases: [foreignBase] },
    },
    {
      format: "docker",
      platform: WINDOWS_LTSC2022,
      layers: [{ seed: "wins-ltsc2022", size: 128 * 1024 }],
      foreignBase: { seed: "windows-servercore-ltsc2022", size: 512 * 1024, urlBases: [foreignBase] },
    },
  ]);
  return [...standardCorpus(8), wins];
}

/** Serve foreign layers by hex digest, as Microsoft's host serves Windows base layers. */
function startForeignHost() {
  const byHex = new Map<string, Uint8Array>();
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    requests++;
    const bytes = byHex.get(new URL(request.url).pathname.split("/").pop() ?? "");
    return bytes ? new Response(bytes as Uint8Array<ArrayBuffer>) : new Response("not found\n", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/layers`,
    /** Serve the foreign layers of these images. */
    add(images: GeneratedImage[]) {
      for (const image of images) {
        for (const blob of image.foreign ?? []) byHex.set(blob.descriptor.digest.slice("sha256:".length), blob.bytes);
      }
    },
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

/** Run the demo; returns the exit code (non-zero if any step failed). */
export async function demoCommand(options: DemoOptions): Promise<number> {
  const { say } = options;
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "airgap-demo-" });
  await Deno.mkdir(dir, { recursive: true });
  // The foreign host listens first: the images name it in their layers' urls.
  const microsoft = startForeignHost();
  const images = demoImages(microsoft.url);
  microsoft.add(images);
  const started = performance.now();
  const upstream = await startUpstream(join(dir, "upstream-registry"), images);
  // The site's private registry, empty, accepting pushes.
  const site = await serveCommand({ source: join(dir, "site-registry"), listen: "127.0.0.1:0", writable: true });
  try {
    const hosts = {
      upstream: upstream.server.url.replace(/^https?:\/\//, ""),
      site: site.server.url.replace(/^https?:\/\//, ""),
    };
    say(`upstream registry (the internet): ${upstream.server.url}, ${images.length} images`);
    say(`foreign layer host (Microsoft's CDN for Windows base layers): ${microsoft.url}`);
    say(`site registry (inside the air gap): ${site.server.url}, empty`);
    say(`working in ${dir}`);
    await writeDeclaration(dir, images, hosts);
    const code = await runSteps(dir, options);
    if (code !== 0) return code;
    const ok = await showWhatMoved(dir, hosts, say);
    say(
      `the Windows base layer came from the foreign host (${microsoft.requests()} request(s)) and now sits in the site registry as an ordinary blob`,
    );
    const archive = join(dir, "demo-images.tar");
    const size = (await Deno.stat(archive)).size;
    say("");
    say(
      `${ok.all ? "done" : "FAILED"}: ${ok.images} images carried in ${formatBytes(size)} through ${
        archive.replace(dir, ".")
      } in ${((performance.now() - started) / 1000).toFixed(1)}s`,
    );
    return ok.all ? 0 : 1;
  } finally {
    await site.close();
    await upstream.close();
    await microsoft.close();
    if (!options.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The "internet": an embedded registry serving the generated images. */
async function startUpstream(upstreamDir: string, images: GeneratedImage[]) {
  const upstreamCache = await openCache(upstreamDir);
  for (const blob of corpusBlobs(images).values()) await upstreamCache.putBytes(blob.descriptor, blob.bytes);
  // The pause image is published without a namespace (listed as "mirrored-pause:3.6", like busybox).
  const published = (i: GeneratedImage) =>
    i.repository === "rancher/mirrored-pause"
      ? `docker.io/library/mirrored-pause:${i.tag}`
      : `docker.io/${i.repository}:${i.tag}`;
  await upstreamCache.recordTags(images.map((i) => ({ name: published(i), descriptor: i.root.descriptor })));
  return await serveCommand({ source: upstreamDir, listen: "127.0.0.1:0" });
}

/** An image list and an airgap.yaml, as a user would write them. */
async function writeDeclaration(dir: string, images: GeneratedImage[], hosts: { upstream: string; site: string }) {
  const entries = images.filter((i) => i.repository !== "rancher/wins").map((i) =>
    i.repository === "rancher/mirrored-pause" ? `mirrored-pause:${i.tag}` : `${i.repository}:${i.tag}`
  );
  await Deno.writeTextFile(
    join(dir, "demo-images.txt"),
    "# like rancher-images.txt: one image per line (CRLF is fine)\r\n" +
      entries.slice(2).join("\r\n") + "\r\n",
  );
  await Deno.writeTextFile(
    join(dir, "airgap.yaml"),
    `# generated by airgap demo — compare airgap.example.yaml
platforms: [linux/amd64, linux/arm64]
sourceRegistry: ${hosts.upstream}
images:
  - ${entries[0]}
  - ref: ${entries[1]}
    platforms: [all]
  - rancher/wins:v0.4.11
lists:
  - demo-images.txt
# Windows nodes run Server 2019 (1809): its images join the Linux ones under one tag.
windows:
  versions: [1809]
  images:
    - rancher/wins:v0.4.11
target:
  registry: ${hosts.site}
output: demo-images.tar
cache: cache
`,
  );
}

/** plan, save, ls, load, verify and a second save, each through the real CLI; the first failing exit code. */
async function runSteps(dir: string, { run, say }: DemoOptions): Promise<number> {
  const yaml = join(dir, "airgap.yaml");
  const archive = join(dir, "demo-images.tar");
  const steps: [string, string[]][] = [
    ["airgap plan", ["plan", "-f", yaml]],
    ["airgap save", ["save", "-f", yaml]],
    ["airgap ls", ["ls", archive]],
    ["airgap load", ["load", archive, "-f", yaml]],
    ["airgap verify", ["verify", archive]],
    ["airgap save (again: everything is cached now)", ["save", "-f", yaml, "-q"]],
  ];
  for (const [title, args] of steps) {
    say("");
    say(`$ ${title.split(" (")[0]} ${args.slice(1).map((a) => a.replace(dir, ".")).join(" ")}`);
    const code = await run(args);
    if (code !== 0) {
      say(`demo: ${title} failed with exit code ${code}`);
      return code;
    }
  }
  return 0;
}

/** What moved and where: every image of the lock at the site, checked by digest. */
async function showWhatMoved(
  dir: string,
  hosts: { upstream: string; site: string },
  say: (line: string) => void,
): Promise<{ all: boolean; images: number }> {
  say("");
  say("what moved and where:");
  const target = registryStore(createRegistryClient(hosts.site));
  const archived = JSON.parse(await Deno.readTextFile(join(dir, "airgap.lock"))) as {
    images: { entry: string; digest: string; upstreamDigest?: string; platforms: string[] }[];
  };
  let all = true;
  for (const image of archived.images) {
    const name = image.entry.includes("/") ? image.entry : `rancher/${image.entry}`;
    const [repo, tag] = [name.slice(0, name.lastIndexOf(":")), name.slice(name.lastIndexOf(":") + 1)];
    const head = await target.head(repo, tag);
    const same = head?.digest === image.digest;
    all &&= same;
    say(
      `  ${hosts.upstream}/${image.entry} -> ${hosts.site}/${name} ${shortDigest(image.digest)} ${
        image.upstreamDigest ? `(platforms ${image.platforms.join(",")} of a wider index) ` : ""
      }${same ? "identical" : `MISMATCH (${head?.digest ?? "missing"})`}`,
    );
  }
  await target.close?.();
  return { all, images: archived.images.length };
}
