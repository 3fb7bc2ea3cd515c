/**
 * The --json event stream's pure parts (lib/events.ts): each event valid
 * against the zod schema, `start` once for the transfer, each blob once, a
 * warning both ways, and the error event's cause where it is known.
 */
import { assertEquals } from "../helpers/assert.ts";
import { errorEvent, eventReporter, failedImageEvent } from "../../lib/report/events.ts";
import { createReporter } from "../../lib/report/progress.ts";
import { AirgapError } from "../../lib/errors.ts";
import { NotFoundError } from "../../lib/error_kinds.ts";
import type { Descriptor } from "../../lib/oci/manifest.ts";
import { type Event, EventSchema, outputJsonSchema } from "../../schemas/output.ts";

const d = (n: number, size: number, mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"): Descriptor => ({
  digest: `sha256:${String(n).padStart(64, "0")}`,
  size,
  mediaType,
});

function capture() {
  const events: Event[] = [];
  let stderr = "";
  const inner = createReporter({ live: false, write: (t) => stderr += t, interval: 1e9 });
  const reporter = eventReporter(inner, (e) => events.push(EventSchema.parse(e)), "load");
  return { reporter, events, stderr: () => stderr };
}

Deno.test("events: start once when the transfer begins, each blob once, warnings on both sides", () => {
  const { reporter, events, stderr } = capture();
  reporter.phase("resolving", { images: [{ label: "a", graph: [] }] }).end(); // no graphs: not the transfer
  assertEquals(events, []);
  const shared = d(1, 1000);
  const a = { label: "a", graph: [d(10, 100), shared] };
  const b = { label: "b", graph: [d(20, 100), shared] };
  const phase = reporter.phase("pushing", { images: [a, b] });
  for (const image of [a, b]) {
    for (const blob of image.graph) phase.copyEvent({ type: "blob", descriptor: blob, outcome: "pushed", label: "x" });
  }
  phase.copyEvent({ type: "image", label: "a", descriptor: a.graph[0] });
  phase.end();
  reporter.phase("pushing", { images: [a] }).end(); // a second transfer phase (a save's retry): no second start
  reporter.warn("something to know");
  assertEquals(events[0], { event: "start", command: "load", images: 2, blobs: 3, bytes: 1200 });
  assertEquals(events.filter((e) => e.event === "start").length, 1);
  assertEquals(events.filter((e) => e.event === "blob").map((e) => e.event === "blob" && e.digest), [
    a.graph[0].digest,
    shared.digest,
    b.graph[0].digest,
  ]);
  assertEquals(events.at(-1), { event: "warning", message: "something to know" });
  assertEquals(stderr(), "warning: something to know\n");
});

Deno.test("events: an error's cause and registry when the transport typed it, or all failures share one", () => {
  const notFound = new NotFoundError("quay.io/x:v1: not found", { where: "quay.io", code: "MANIFEST_UNKNOWN" });
  const typed = EventSchema.parse(errorEvent(notFound, 1));
  assertEquals(typed, {
    event: "error",
    message: "quay.io/x:v1: not found",
    exitCode: 1,
    cause: "not found (manifest unknown)",
    registry: "quay.io",
  });
  const plain = EventSchema.parse(errorEvent(new AirgapError("bad archive"), 1, ["a", "b"]));
  assertEquals(plain, { event: "error", message: "bad archive", exitCode: 1, problems: ["a", "b"] });
  const failure = (entry: string) => ({ entry, origin: "l.txt:1", registry: "docker.io", error: notFound });
  const grouped = errorEvent(new AirgapError("2 of 2 images could not be resolved"), 1, [], [
    failure("a"),
    failure("b"),
  ]);
  assertEquals([grouped.event === "error" && grouped.cause, grouped.event === "error" && grouped.registry], [
    "not found (manifest unknown)",
    "docker.io",
  ]);
  const image = EventSchema.parse(failedImageEvent(failure("rancher/a:v1")));
  assertEquals(image, {
    event: "image",
    entry: "rancher/a:v1",
    outcome: "failed",
    error: "quay.io/x:v1: not found",
    cause: "not found (manifest unknown)",
    registry: "docker.io",
  });
});

Deno.test("events: airgap schema --of events describes every key", () => {
  const missing: string[] = [];
  let keys = 0;
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== "object") return;
    const schema = node as { properties?: Record<string, { description?: string }>; [k: string]: unknown };
    for (const [key, value] of Object.entries(schema.properties ?? {})) {
      keys++;
      if (!value.description) missing.push(`${path}.${key}`);
      walk(value, `${path}.${key}`);
    }
    for (const list of ["anyOf", "oneOf"]) {
      for (const [i, sub] of ((schema[list] as unknown[]) ?? []).entries()) walk(sub, `${path}[${i}]`);
    }
  };
  walk(outputJsonSchema("events"), "event");
  assertEquals(missing, []);
  assertEquals(keys > 40, true, `${keys} keys walked`);
});
