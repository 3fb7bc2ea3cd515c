import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { children, encodeJson, parseManifest } from "../../lib/oci/manifest.ts";
import * as media from "../../lib/oci/media.ts";
import {
  filterIndex,
  formatPlatform,
  parsePlatform,
  parsePlatformSelector,
  platformMatches,
} from "../../lib/oci/platform.ts";
import { digestOf, ensureVerified, verifyingStream } from "../../lib/oci/digest.ts";
import { multiPlatformImage, singleImage } from "../../lib/demo/corpus.ts";
import { bytesStream, readAll } from "../../lib/store/types.ts";

const D = (c: string) => `sha256:${c.repeat(64)}`;

Deno.test("parseManifest recognises every manifest kind", () => {
  const docker = singleImage("a", "b", { format: "docker", layers: [{ seed: "x", size: 10 }] });
  assertEquals(parseManifest(docker.root.bytes, undefined, "t").mediaType, media.DOCKER_MANIFEST);
  const bare = singleImage("a", "b", { format: "oci", omitMediaType: true, layers: [{ seed: "x", size: 10 }] });
  const parsed = parseManifest(bare.root.bytes, undefined, "t");
  assertEquals(parsed.mediaType, media.OCI_MANIFEST);
  assertEquals(children(parsed).length, 2);
  const list = multiPlatformImage("a", "b", "docker", [
    { format: "docker", platform: { os: "linux", architecture: "amd64" }, layers: [{ seed: "y", size: 5 }] },
  ]);
  const index = parseManifest(list.root.bytes, undefined, "t");
  assertEquals(index.kind, "index");
  assertEquals(index.mediaType, media.DOCKER_MANIFEST_LIST);
  const bareIndex = encodeJson({ schemaVersion: 2, manifests: [] });
  assertEquals(parseManifest(bareIndex, undefined, "t").mediaType, media.OCI_INDEX);
});

Deno.test("parseManifest refuses schema 1, junk and bad descriptors with the image named", () => {
  assertThrows(
    () => parseManifest(encodeJson({ schemaVersion: 1, fsLayers: [] }), undefined, "img"),
    Error,
    "schema 1",
  );
  assertThrows(
    () => parseManifest(new TextEncoder().encode("{"), undefined, "img"),
    Error,
    "img: manifest is not valid JSON",
  );
  assertThrows(
    () =>
      parseManifest(
        encodeJson({
          schemaVersion: 2,
          mediaType: media.OCI_MANIFEST,
          config: { mediaType: media.OCI_CONFIG, digest: "sha256:nothex", size: 1 },
          layers: [],
        }),
        undefined,
        "img",
      ),
    Error,
    "config has a malformed digest",
  );
  assertThrows(
    () => parseManifest(encodeJson({ schemaVersion: 2, mediaType: "text/plain" }), undefined, "img"),
    Error,
    "unsupported manifest media type",
  );
});

Deno.test("platform parsing and matching follow the image-index rules", () => {
  assertEquals(parsePlatform("linux/arm64"), { os: "linux", architecture: "arm64", variant: "v8" });
  assertEquals(parsePlatform("linux/x86_64"), { os: "linux", architecture: "amd64", variant: undefined });
  assertEquals(formatPlatform({ os: "linux", architecture: "arm", variant: "v7" }), "linux/arm/v7");
  assertThrows(() => parsePlatform("linux"), Error, "OS/ARCH");
  const arm64 = parsePlatform("linux/arm64/v8");
  assert(platformMatches(arm64, { os: "linux", architecture: "arm64" }));
  assert(platformMatches(arm64, { os: "linux", architecture: "arm64", variant: "v8" }));
  assert(!platformMatches(arm64, { os: "linux", architecture: "arm", variant: "v7" }));
  assert(!platformMatches(parsePlatform("linux/amd64"), { os: "windows", architecture: "amd64" }));
  const win = { ...parsePlatform("windows/amd64"), osVersions: ["10.0.17763"] };
  assert(platformMatches(win, { os: "windows", architecture: "amd64", "os.version": "10.0.17763.4974" }));
  assert(!platformMatches(win, { os: "windows", architecture: "amd64", "os.version": "10.0.20348.2031" }));
  assertEquals(parsePlatformSelector(["linux/amd64,linux/arm64", "all"]), { all: true });
  assertEquals(parsePlatformSelector(undefined), { all: false, platforms: [parsePlatform("linux/amd64")] });
});

Deno.test("filterIndex keeps matching children's exact descriptors and rewrites only the index", () => {
  const image = multiPlatformImage("a", "b", "oci", [
    { format: "oci", platform: { os: "linux", architecture: "amd64" }, layers: [{ seed: "1", size: 5 }] },
    {
      format: "oci",
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
      layers: [{ seed: "2", size: 5 }],
    },
  ]);
  const index = parseManifest(image.root.bytes, undefined, "t");
  if (index.kind !== "index") throw new Error("expected an index");
  const all = filterIndex(index, image.root.bytes, { all: true }, "t");
  assertEquals(all.changed, false);
  assertEquals(all.bytes, image.root.bytes);
  const both = filterIndex(index, image.root.bytes, parsePlatformSelector(["linux/amd64", "linux/arm64"]), "t");
  assertEquals(both.changed, false);
  const one = filterIndex(index, image.root.bytes, parsePlatformSelector(["linux/arm64"]), "t");
  assertEquals(one.changed, true);
  assertEquals(one.kept.map((k) => k.digest), [index.manifests[1].digest]);
  const reparsed = parseManifest(one.bytes, undefined, "t");
  assertEquals(children(reparsed), [index.manifests[1]]);
  assertThrows(
    () => filterIndex(index, image.root.bytes, parsePlatformSelector(["linux/s390x"]), "img"),
    Error,
    "img: no manifest for platform linux/s390x (available: linux/amd64, linux/arm64/v8)",
  );
});

Deno.test("filterIndex keeps BuildKit attestations of kept images only", () => {
  const amd = {
    mediaType: media.OCI_MANIFEST,
    digest: D("1"),
    size: 1,
    platform: { os: "linux", architecture: "amd64" },
  };
  const arm = {
    mediaType: media.OCI_MANIFEST,
    digest: D("2"),
    size: 1,
    platform: { os: "linux", architecture: "arm64" },
  };
  const att = (ref: string, c: string) => ({
    mediaType: media.OCI_MANIFEST,
    digest: D(c),
    size: 1,
    platform: { os: "unknown", architecture: "unknown" },
    annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": ref },
  });
  const raw = {
    schemaVersion: 2,
    mediaType: media.OCI_INDEX,
    manifests: [amd, arm, att(D("1"), "3"), att(D("2"), "4")],
  };
  const bytes = encodeJson(raw);
  const index = parseManifest(bytes, undefined, "t");
  if (index.kind !== "index") throw new Error("expected an index");
  const kept = filterIndex(index, bytes, parsePlatformSelector(["linux/amd64"]), "t").kept.map((k) => k.digest);
  assertEquals(kept, [D("1"), D("3")]);
});

Deno.test("verifying streams fail on a wrong digest or size, and are not verified twice", async () => {
  const bytes = new TextEncoder().encode("hello world");
  const good = { digest: digestOf(bytes), size: bytes.byteLength };
  assertEquals(await readAll(bytesStream(bytes).pipeThrough(verifyingStream(good, "x")), 100), bytes);
  let failed = "";
  try {
    await readAll(bytesStream(bytes).pipeThrough(verifyingStream({ ...good, digest: D("0") }, "blob x")), 100);
  } catch (e) {
    failed = (e as Error).message;
  }
  assert(failed.includes("blob x: digest mismatch"), failed);
  try {
    await readAll(bytesStream(bytes).pipeThrough(verifyingStream({ ...good, size: 5 }, "blob y")), 100);
    failed = "";
  } catch (e) {
    failed = (e as Error).message;
  }
  assert(failed.includes("blob y: size mismatch"), failed);
  const verified = bytesStream(bytes).pipeThrough(verifyingStream(good, "x"));
  assert(ensureVerified(verified, good, "x") === verified);
  const other = bytesStream(bytes);
  assert(ensureVerified(other, good, "x") !== other);
});
