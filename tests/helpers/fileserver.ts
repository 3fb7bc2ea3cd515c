import { createHash } from "node:crypto";

/**
 * A static HTTP file server for tests — what a chart repository
 * (`index.yaml` + `.tgz`) or a release's assets directory is — on a free
 * loopback port, with a request log, optional redirects and Basic auth.
 */

/** A served file: bytes or text, or a redirect to another path or URL. */
export type Served = Uint8Array | string | { redirect: string };

/** A running file server. */
export interface FileServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  /** The files, by path (`/v2.7.9/rancher-images.txt`); change them while it runs. */
  files: Map<string, Served>;
  /** Paths requested so far, in order. */
  requests: string[];
  /** Authorization headers received, in order ("" when none). */
  authorizations: string[];
  close(): Promise<void>;
}

/** Serve `files`; with `basicAuth`, every request must carry those credentials. */
export function serveFiles(
  files: Record<string, Served>,
  options: { basicAuth?: { username: string; password: string } } = {},
): FileServer {
  const map = new Map(Object.entries(files));
  const requests: string[] = [];
  const authorizations: string[] = [];
  const expected = options.basicAuth
    ? `Basic ${btoa(`${options.basicAuth.username}:${options.basicAuth.password}`)}`
    : undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    requests.push(path);
    authorizations.push(request.headers.get("authorization") ?? "");
    if (expected && request.headers.get("authorization") !== expected) {
      return new Response("unauthorized", { status: 401, headers: { "www-authenticate": 'Basic realm="test"' } });
    }
    const file = map.get(path);
    if (file === undefined || request.method !== "GET") return new Response("not found", { status: 404 });
    if (typeof file === "object" && "redirect" in file) {
      return new Response(null, { status: 302, headers: { location: file.redirect } });
    }
    const body = typeof file === "string" ? new TextEncoder().encode(file) : file;
    return new Response(body as Uint8Array<ArrayBuffer>, { headers: { "content-length": String(body.byteLength) } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    files: map,
    requests,
    authorizations,
    close: () => server.shutdown(),
  };
}

/** `sha256sum` output for some files: `<hex>  <name>` lines. */
export function sha256sums(files: Record<string, Uint8Array | string>): string {
  const lines: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    lines.push(`${createHash("sha256").update(bytes).digest("hex")}  ${name}`);
  }
  return lines.join("\n") + "\n";
}

/** A chart repository's index.yaml (as `helm repo index` writes it) with digests and relative or absolute URLs. */
export function chartIndex(
  charts: { name: string; version: string; url: string; bytes: Uint8Array; appVersion?: string }[],
): string {
  const byName = new Map<string, string[]>();
  for (const c of charts) {
    const digest = createHash("sha256").update(c.bytes).digest("hex");
    const lines = [
      `  - apiVersion: v2`,
      `    name: ${c.name}`,
      `    version: ${c.version}`,
      ...(c.appVersion ? [`    appVersion: ${c.appVersion}`] : []),
      `    created: "2023-08-01T00:00:00Z"`,
      `    digest: ${digest}`,
      `    urls:`,
      `    - ${c.url}`,
    ];
    byName.set(c.name, [...(byName.get(c.name) ?? []), ...lines]);
  }
  const entries = [...byName].map(([name, lines]) => `  ${name}:\n${lines.join("\n")}`).join("\n");
  return `apiVersion: v1\nentries:\n${entries}\ngenerated: "2023-08-01T00:00:00Z"\n`;
}
