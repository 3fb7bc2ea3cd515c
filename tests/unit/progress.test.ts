import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { createReporter, formatEta, ProgressTracker } from "../../lib/report/progress.ts";
import type { Descriptor } from "../../lib/oci/manifest.ts";
import type { CopyEvent } from "../../lib/copy/engine.ts";
import { formatTable, truncateMiddle } from "../../lib/text.ts";

const d = (n: number, size: number, mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"): Descriptor => ({
  digest: `sha256:${String(n).padStart(64, "0")}`,
  size,
  mediaType,
});
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

// Two images in two repositories sharing a base layer: the copy engine reports
// the shared layer once per repository, and a manifest for each image.
const shared = d(1, 1000);
const imageA = { label: "a:1", graph: [d(10, 100, MANIFEST), d(11, 50), shared, d(12, 500)] };
const imageB = { label: "b:1", graph: [d(20, 100, MANIFEST), d(21, 50), shared] };

function copyEvents(): CopyEvent[] {
  const events: CopyEvent[] = [];
  for (const image of [imageA, imageB]) {
    for (const blob of image.graph.slice(1)) {
      events.push({ type: "bytes", bytes: blob.size, descriptor: blob, label: image.label });
      events.push({ type: "blob", descriptor: blob, outcome: "pushed", label: image.label });
    }
    events.push({ type: "manifest", descriptor: image.graph[0], outcome: "pushed", label: image.label });
    events.push({ type: "image", descriptor: image.graph[0], label: image.label });
  }
  return events;
}

Deno.test("progress counts each blob once however many repositories share it, and never passes a total", () => {
  const tracker = new ProgressTracker({ images: [imageA, imageB] });
  const start = tracker.counts();
  assertEquals(start.blobs.total, 6); // unique digests: 2 manifests, 2 configs, the shared layer, one more layer
  assertEquals(start.images.total, 2);
  assertEquals(start.bytes.total, 100 + 50 + 1000 + 500 + 100 + 50);
  for (const event of copyEvents()) {
    if (event.type === "bytes") tracker.bytes(event.bytes, event.descriptor, event.label);
    else if (event.type === "image") tracker.imageDone(event.label);
    else tracker.blobDone(event.descriptor.digest);
    const c = tracker.counts();
    assert(c.blobs.done <= c.blobs.total, `${c.blobs.done}/${c.blobs.total} blobs`);
    assert(c.bytes.done <= c.bytes.total, `${c.bytes.done}/${c.bytes.total} bytes`);
    assert(c.images.done <= c.images.total, `${c.images.done}/${c.images.total} images`);
  }
  const end = tracker.counts();
  assertEquals([end.blobs.done, end.images.done, end.bytes.done], [6, 2, end.bytes.total]);
});

Deno.test("progress: a retried download and an image already at the target still add up", () => {
  const tracker = new ProgressTracker({ images: [imageA] });
  const layer = imageA.graph[3];
  tracker.bytes(400, layer, "a:1");
  tracker.bytes(500, layer, "a:1"); // retried from scratch
  assertEquals(tracker.counts().bytes.done, 500);
  assertEquals(tracker.counts().inFlight, ["a:1"]);
  // The root was found at the destination: its children are never visited, the image is complete.
  tracker.imageDone("a:1");
  const c = tracker.counts();
  assertEquals([c.blobs.done, c.bytes.done, c.inFlight.length], [4, c.bytes.total, 0]);
  // Blobs outside the plan (a delta's base, a chart elsewhere) are not counted.
  assertEquals(tracker.blobDone(d(99, 5).digest), false);
});

Deno.test("formatEta", () => {
  assertEquals(formatEta(100, 0, 5000), "");
  assertEquals(formatEta(100, 100, 1000), "");
  assertEquals(formatEta(1000, 100, 4000), "ETA 40s");
  assertEquals(formatEta(1000, 10, 4000), "ETA 6m 40s");
});

function capture(options: Parameters<typeof createReporter>[0]) {
  let text = "";
  let clock = 0;
  const reporter = createReporter({ ...options, now: () => clock, write: (t) => text += t });
  return { reporter, text: () => text, advance: (ms: number) => clock += ms };
}

Deno.test("progress on a terminal: one redrawn line cut to the width, cleared at the end", () => {
  const out = capture({ live: true, width: 60, ansi: true });
  const phase = out.reporter.phase("saving", { images: [imageA, imageB], source: "registry.example" });
  for (const event of copyEvents()) {
    out.advance(150);
    phase.copyEvent(event);
  }
  phase.end();
  const frames = out.text().split("\r").filter((f) => f.length > 0);
  assert(frames.length > 3, out.text());
  for (const frame of frames) {
    const visible = frame.replaceAll("\x1b[K", "");
    assert(visible.length <= 59, `too wide: ${JSON.stringify(visible)}`);
    assert(!visible.includes("\n"), "a live frame has no newline");
    const blobs = visible.match(/(\d+)\/(\d+) blobs/);
    if (blobs) assert(Number(blobs[1]) <= Number(blobs[2]), visible);
  }
  assertStringIncludes(out.text(), "saving: 2/2 images, 6/6 blobs");
  assert(out.text().endsWith("\r\x1b[K"), "the live line is cleared at the end");
});

Deno.test("progress on a terminal with NO_COLOR: no escape sequences", () => {
  const out = capture({ live: true, width: 200, ansi: false });
  const phase = out.reporter.phase("pushing", { images: [imageA, imageB] });
  for (const event of copyEvents()) {
    out.advance(150);
    phase.copyEvent(event);
  }
  out.reporter.info("a message between frames");
  phase.end();
  assert(!out.text().includes("\x1b"), JSON.stringify(out.text()));
  assertStringIncludes(out.text(), "a message between frames\n");
});

Deno.test("progress without a terminal: plain lines at the interval, one per image with verbose", () => {
  const out = capture({ live: false, interval: 1000, verbose: true });
  const phase = out.reporter.phase("pushing", { images: [imageA, imageB], done: "loaded" });
  for (const event of copyEvents()) {
    out.advance(400);
    phase.copyEvent(event);
  }
  phase.end();
  const lines = out.text().split("\n").filter((l) => l);
  assert(!out.text().includes("\r") && !out.text().includes("\x1b"), JSON.stringify(out.text()));
  const status = lines.filter((l) => l.startsWith("pushing: "));
  assert(status.length >= 3 && status.length <= 6, lines.join("\n")); // 12 events × 400 ms at 1000 ms, and the end
  assertEquals(lines.filter((l) => l.startsWith("loaded ")), ["loaded a:1 (1/2)", "loaded b:1 (2/2)"]);
  assertStringIncludes(status.at(-1)!, "pushing: 2/2 images, 6/6 blobs"); // where it ended
  for (const line of status) {
    const [, done, total] = line.match(/(\d+)\/(\d+) blobs/)!;
    assert(Number(done) <= Number(total), line);
  }
});

Deno.test("progress says what it waits for when nothing moves", () => {
  const out = capture({ live: false, interval: 0, stallSeconds: 5 });
  const phase = out.reporter.phase("saving", { images: [imageA], source: "127.0.0.1:6001" });
  out.advance(6000);
  phase.tick();
  assertStringIncludes(out.text(), "waiting for 127.0.0.1:6001 (6 s)");
  phase.blobDone(imageA.graph[1]);
  out.reporter.waiting("quay.io", 12); // the transport's note wins over the guess
  assert(out.text().trimEnd().endsWith("waiting for quay.io (12 s)"), out.text());
  phase.blobDone(imageA.graph[2]); // progress clears it
  phase.end();
  assert(!out.text().trimEnd().split("\n").at(-1)!.includes("waiting"), out.text());
});

Deno.test("quiet: only results and errors — no progress, information, waiting notes or warnings", () => {
  const out = capture({ live: true, quiet: true });
  const phase = out.reporter.phase("saving", { images: [imageA] });
  for (const event of copyEvents()) phase.copyEvent(event);
  out.reporter.info("resolving 2 images");
  out.reporter.waiting("quay.io", 3);
  phase.end();
  out.reporter.warn("something to know");
  assertEquals(out.text(), "");
  const loud = capture({ live: false });
  loud.reporter.warn("something to know");
  assertEquals(loud.text(), "warning: something to know\n");
});

Deno.test("waiting outside a phase prints a plain line without a terminal", () => {
  const out = capture({ live: false });
  out.reporter.waiting("quay.io", 10);
  assertEquals(out.text(), "waiting for quay.io (10 s)\n");
});

Deno.test("tables: cut the name column in the middle to fit, keep the others", () => {
  const rows = [["registry.example.com/rancher/mirrored-cluster-api-controller:v1.4.4", "sha256:0123", "linux/amd64"]];
  const wide = formatTable(["IMAGE", "DIGEST", "PLATFORMS"], rows);
  assertEquals(wide[1], rows[0].join("  "));
  const narrow = formatTable(["IMAGE", "DIGEST", "PLATFORMS"], rows, { width: 50, shrink: [0] });
  for (const line of narrow) assert(line.length <= 50, line);
  assertEquals(narrow[1], "registry.exa…ller:v1.4.4  sha256:0123  linux/amd64");
  assertEquals(truncateMiddle("abcdefghij", 5), "ab…ij");
  assertEquals(truncateMiddle("abc", 5), "abc");
});
