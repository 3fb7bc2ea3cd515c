/**
 * The planner's passes (lib/plan/passes.ts) on hand-built manifests, without
 * a registry or a cache: platform selection, foreign-layer rewriting, index
 * entries that follow their rewritten manifests, per-OS assembly, lock pins,
 * and the whole graph plan with its edits in the order they are persisted.
 */
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { type Descriptor, encodeJson, type ImageManifest, parseManifest } from "../../lib/oci/manifest.ts";
import * as media from "../../lib/oci/media.ts";
import { parsePlatformSelector } from "../../lib/oci/platform.ts";
import { REFERENCE_DIGEST, REFERENCE_TYPE } from "../../lib/oci/annotations.ts";
import type { LockedImage } from "../../schemas/lock.ts";
import {
  assembledRoot,
  checkLockPin,
  lockedPin,
  planGraph,
  repointEntries,
  rewriteForeignLayers,
  selectPlatforms,
  walkRoots,
} from "../../lib/plan/passes.ts";

const WHAT = "registry.test/app:1";

function blob(mediaType: string, text: string, extra: Partial<Descriptor> = {}): Descriptor {
  const bytes = new TextEncoder().encode(text);
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra };
}

/** A manifest document: its descriptor (with extra fields such as a platform) and bytes. */
function doc(mediaType: string, body: Record<string, unknown>, extra: Partial<Descriptor> = {}) {
  const bytes = encodeJson({ schemaVersion: 2, mediaType, ...body });
  return { bytes, descriptor: { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra } };
}

function image(name: string, layers: Descriptor[], platform?: { os: string; architecture: string }) {
  const config = blob(media.OCI_CONFIG, `{"os":"${platform?.os ?? "linux"}","name":"${name}"}`);
  const manifest = doc(media.OCI_MANIFEST, { config, layers }, platform ? { platform } : {});
  return { ...manifest, config };
}

const foreign = blob(media.OCI_NONDIST_LAYER_GZIP, "windows base", { urls: ["https://foreign.test/base"] });
const layer = blob(media.OCI_LAYER_GZIP, "app layer");
const linux = image("linux", [layer], { os: "linux", architecture: "amd64" });
const windows = image("windows", [foreign, layer], { os: "windows", architecture: "amd64" });
const arm = image("arm", [layer], { os: "linux", architecture: "arm64" });

function parsedImage(m: { bytes: Uint8Array; descriptor: Descriptor }): ImageManifest {
  return parseManifest(m.bytes, m.descriptor.mediaType, WHAT) as ImageManifest;
}

function fetchedOf(...docs: { bytes: Uint8Array; descriptor: Descriptor }[]) {
  return { what: WHAT, bytes: new Map(docs.map((d) => [d.descriptor.digest, d.bytes])) };
}

Deno.test("select platforms: an image is its own root; an index keeps the wanted entries, and says when it dropped some", () => {
  const single = selectPlatforms(linux, parsePlatformSelector(["linux/amd64"]), WHAT);
  assertEquals(single.kind, "image");
  assertEquals(walkRoots(single), [{ ...linux.descriptor, mediaType: media.OCI_MANIFEST }]);

  const index = doc(media.OCI_INDEX, { manifests: [linux.descriptor, arm.descriptor] });
  const one = selectPlatforms(index, parsePlatformSelector(["linux/amd64"]), WHAT);
  assert(one.kind === "index");
  assertEquals(one.kept, [linux.descriptor]);
  assertEquals(one.changed, true);
  const all = selectPlatforms(index, parsePlatformSelector(["all"]), WHAT);
  assert(all.kind === "index");
  assertEquals(all.changed, false);
  assertEquals(walkRoots(all), [linux.descriptor, arm.descriptor]);
  assertThrows(
    () => selectPlatforms(index, parsePlatformSelector(["windows/amd64"]), WHAT),
    Error,
    `${WHAT}: no manifest for platform`,
  );
});

Deno.test("rewrite foreign layers: include and skip make them distributable (skip leaves them out); keep changes nothing", () => {
  const manifest = parsedImage(windows);
  const include = rewriteForeignLayers(manifest, windows.bytes, "include", WHAT);
  assert(include.bytes !== undefined);
  assertEquals(include.layers.length, 1);
  assertEquals(include.layers[0].urls, ["https://foreign.test/base"]);
  assertEquals(include.layers[0].descriptor.mediaType, media.OCI_LAYER_GZIP);
  assertEquals(include.manifest.layers[0].urls, undefined);
  assertEquals(include.skipped, []);
  assertEquals(include.external, []);

  const skip = rewriteForeignLayers(manifest, windows.bytes, "skip", WHAT);
  assertEquals(skip.bytes, include.bytes, "skip rewrites exactly as include does");
  assertEquals(skip.skipped, [foreign.digest]);

  const keep = rewriteForeignLayers(manifest, windows.bytes, "keep", WHAT);
  assertEquals(keep.bytes, undefined);
  assertEquals(keep.external, [foreign]);
  assertEquals(rewriteForeignLayers(parsedImage(linux), linux.bytes, "include", WHAT).bytes, undefined);
});

Deno.test("repoint entries: a rewritten manifest's entry and its attestation follow the new digest; others stay the same objects", () => {
  const attestation: Descriptor = {
    ...blob(media.OCI_MANIFEST, "attestation"),
    annotations: { [REFERENCE_TYPE]: "attestation-manifest", [REFERENCE_DIGEST]: windows.descriptor.digest },
  };
  const entries = [linux.descriptor, windows.descriptor, attestation];
  const moved = blob(media.OCI_MANIFEST, "rewritten windows");
  const out = repointEntries(
    entries,
    new Map([[windows.descriptor.digest, moved], [linux.descriptor.digest, linux.descriptor]]),
  );
  assert(out[0] === linux.descriptor);
  assertEquals(out[1], { ...windows.descriptor, digest: moved.digest, size: moved.size });
  assertEquals(out[2].annotations?.[REFERENCE_DIGEST], moved.digest);
  const none = repointEntries(entries, new Map());
  assert(none.every((e, i) => e === entries[i]));
});

Deno.test("assemble per-OS: Docker entries make a manifest list, others an OCI index; the same entries give the same digest", () => {
  const docker = { ...linux.descriptor, mediaType: media.DOCKER_MANIFEST };
  const list = assembledRoot([docker]);
  assertEquals(list.descriptor.mediaType, media.DOCKER_MANIFEST_LIST);
  assertEquals(list.descriptor.digest, digestOf(list.bytes));
  assertEquals(assembledRoot([docker]).descriptor.digest, list.descriptor.digest);
  assertEquals(assembledRoot([linux.descriptor, docker]).descriptor.mediaType, media.OCI_INDEX);
});

Deno.test("lock pins: the saved root must be the pinned one; a locked tag resolves to its pin", () => {
  const locked = { entry: "app:1", digest: linux.descriptor.digest } as LockedImage;
  checkLockPin(undefined, windows.descriptor, WHAT);
  checkLockPin(locked, linux.descriptor, WHAT);
  assertThrows(
    () => checkLockPin(locked, windows.descriptor, WHAT),
    Error,
    `${WHAT}: resolves to ${windows.descriptor.digest} but airgap.lock pins ${linux.descriptor.digest}`,
  );
  assertEquals(lockedPin(locked, "1", "1"), linux.descriptor.digest);
  assertEquals(lockedPin({ ...locked, upstreamDigest: "sha256:up" }, "1", "1"), "sha256:up");
  assertEquals(lockedPin(locked, "1-windows-1809", "1"), undefined);
  const assembled = { ...locked, assembled: { "1-windows-1809": windows.descriptor.digest } };
  assertEquals(lockedPin(assembled, "1-windows-1809", "1"), windows.descriptor.digest);
  assertEquals(lockedPin(assembled, "1", "1"), undefined);
});

Deno.test("graph plan: an unchanged image is saved as it is, with no edits", () => {
  const selected = selectPlatforms(linux, parsePlatformSelector(["linux/amd64"]), WHAT);
  const plan = planGraph(selected, fetchedOf(linux), "include");
  assertEquals(plan.root, {
    mediaType: media.OCI_MANIFEST,
    digest: linux.descriptor.digest,
    size: linux.descriptor.size,
  });
  assertEquals(plan.edits, []);
  assertEquals(plan.manifests, []);
  assertEquals([...plan.blobs.keys()], [linux.config.digest, layer.digest]);
  assertEquals([...plan.configs], [linux.config.digest]);
  assertEquals(plan.filtered, false);
});

Deno.test("graph plan: a foreign layer rewrites its manifest and the index above it; edits are children first, the root last", () => {
  const nested = doc(media.OCI_INDEX, { manifests: [arm.descriptor] });
  const index = doc(media.OCI_INDEX, { manifests: [windows.descriptor, linux.descriptor, nested.descriptor] });
  const selected = selectPlatforms(index, parsePlatformSelector(["all"]), WHAT);
  assert(selected.kind === "index");
  const plan = planGraph(selected, fetchedOf(windows, linux, nested, arm), "skip");

  const rewritten = rewriteForeignLayers(parsedImage(windows), windows.bytes, "skip", WHAT).bytes!;
  const savedWindows = { mediaType: media.OCI_MANIFEST, digest: digestOf(rewritten), size: rewritten.byteLength };
  assertEquals(plan.rewritten, { [windows.descriptor.digest]: savedWindows.digest });
  assertEquals(plan.edits.length, 2);
  assertEquals(plan.edits[0], { descriptor: savedWindows, bytes: rewritten, upstream: windows.descriptor.digest });
  assertEquals(plan.edits[1].descriptor, plan.root);
  assertEquals(plan.edits[1].upstream, undefined);
  assertEquals(plan.filtered, false);
  assertEquals(plan.rootEntries?.[0].digest, savedWindows.digest);
  assert(plan.rootEntries?.[1] === selected.kept[1], "an entry that did not move is the same object");
  // Manifests as saved, a nested index after its children.
  assertEquals(plan.manifests.map((m) => m.digest), [
    savedWindows.digest,
    linux.descriptor.digest,
    arm.descriptor.digest,
    nested.descriptor.digest,
  ]);
  assertEquals([...plan.absent], [foreign.digest]);
  assertEquals([...plan.foreignLayers.keys()], [foreign.digest]);
  assertEquals(plan.externalLayers.size, 0);
  assertEquals([...plan.configs], [windows.config.digest, linux.config.digest, arm.config.digest]);
  assertEquals(
    [...plan.blobs.keys()],
    [windows.config.digest, foreign.digest, layer.digest, linux.config.digest, arm.config.digest],
  );
});

Deno.test("graph plan: a filtered index is a new root; keep leaves the manifests alone and lists the external layers", () => {
  const index = doc(media.OCI_INDEX, { manifests: [windows.descriptor, arm.descriptor] });
  const selected = selectPlatforms(index, parsePlatformSelector(["windows/amd64"]), WHAT);
  const plan = planGraph(selected, fetchedOf(windows), "keep");
  assertEquals(plan.filtered, true);
  assertEquals(plan.edits.length, 1);
  assertEquals(plan.edits[0].descriptor, plan.root);
  assertEquals(JSON.parse(new TextDecoder().decode(plan.edits[0].bytes)).manifests, [windows.descriptor]);
  assertEquals(plan.rewritten, {});
  assertEquals([...plan.externalLayers.values()], [foreign]);
  assert(!plan.blobs.has(foreign.digest), "a layer left at its URLs is not carried");

  const assembled = planGraph({ kind: "assembled", entries: [linux.descriptor] }, fetchedOf(linux), "include");
  assertEquals(assembled.root, assembledRoot([linux.descriptor]).descriptor);
  assertEquals(assembled.edits.map((e) => e.descriptor), [assembled.root]);
  assertThrows(
    () => planGraph({ kind: "assembled", entries: [arm.descriptor] }, fetchedOf(), "include"),
    Error,
    "was not fetched",
  );
});
