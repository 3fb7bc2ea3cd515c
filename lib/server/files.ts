/**
 * `GET /files/NAME`: a carried file (`files:` in airgap.yaml) as a plain
 * HTTP download, so an install script inside the gap can `curl` it from
 * the server that serves the images. The file is found by its artifact
 * (lib/files/artifact.ts) in a repository named `files/NAME` under any
 * naming (`--registry-name` adds a prefix), and its bytes stream from the
 * store verified against their digest, as a blob does. Who may read is
 * decided by the same access rules as the registry API (a read: open, or a
 * user with `--auth-pulls`). Read-only: there is no way to upload here.
 * @module
 */
import { readFileArtifact } from "../files/artifact.ts";
import { MAX_MANIFEST_SIZE } from "../oci/manifest.ts";
import { readAll } from "../store/types.ts";
import { plainError } from "./error_codes.ts";
import { type Exchange, sendStream } from "./responses.ts";
import type { ServerContext } from "./routes.ts";

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** GET or HEAD `/files/NAME`. */
export async function getFile(ex: Exchange, ctx: ServerContext, name: string): Promise<void> {
  const found = SAFE_NAME.test(name) ? await findFile(ctx, name) : undefined;
  if (!found) throw plainError(404, `no file named ${name}`);
  const { repo, layer, mode } = found;
  await sendStream(ex, 200, {
    "content-type": "application/octet-stream",
    "content-length": String(layer.size),
    "content-disposition": `attachment; filename="${name}"`,
    "docker-content-digest": layer.digest,
    etag: `"${layer.digest}"`,
    "x-airgap-file-mode": mode,
  }, () => ctx.store.fetch(repo, layer));
}

async function findFile(ctx: ServerContext, name: string) {
  const { catalog, store } = ctx;
  const wanted = `files/${name.toLowerCase()}`;
  const candidates = catalog.repositories().filter((r) => r === wanted || r.endsWith(`/${wanted}`));
  for (const repo of candidates) {
    for (const tag of catalog.tags(repo)) {
      const root = catalog.tagged(repo, tag);
      if (!root || root.size > MAX_MANIFEST_SIZE) continue;
      const bytes = await readAll(await store.fetch(repo, root), MAX_MANIFEST_SIZE);
      const artifact = readFileArtifact(bytes, `${repo}:${tag}`);
      if (artifact?.name !== name) continue;
      const layer = await catalog.blob(repo, artifact.layer.digest);
      if (!layer || !(await store.exists(repo, layer).catch(() => false))) continue;
      return { repo, layer, mode: `0${artifact.mode.toString(8).padStart(3, "0")}` };
    }
  }
  return undefined;
}
