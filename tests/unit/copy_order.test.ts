/**
 * The copy engine's order and cancellation rules, on in-memory stores (the
 * real-registry proof is tests/interop/copy_order.test.ts): tags come after
 * every graph, one at a time per repository; without keepGoing the first
 * failure aborts the transfers in flight, with it they finish; digest-only
 * entries of one repository never conflict; artifacts go in subject order.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { copyGraph, type CopyRoot } from "../../lib/copy/engine.ts";
import { targetMap } from "../../lib/copy/targets.ts";
import { type ArtifactTarget, subjectWaves } from "../../lib/artifacts/deliver.ts";
import { makeManifest } from "../../lib/demo/corpus.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { type Descriptor, encodeJson } from "../../lib/oci/manifest.ts";
import { OCI_INDEX } from "../../lib/oci/media.ts";
import { ARTIFACT_ANNOTATION, SUBJECT_ANNOTATION } from "../../lib/oci/annotations.ts";
import { bytesStream, type Content, type PushOutcome, type Store, type StoreOptions } from "../../lib/store/types.ts";
import type { ArchiveIndexEntry } from "../../lib/store/archive.ts";

const child = makeManifest({ format: "oci", layers: [{ seed: "order-child", size: 300 }], label: "child" });
const other = makeManifest({ format: "docker", layers: [{ seed: "order-other", size: 300 }], label: "other" });
const indexBytes = encodeJson({
  schemaVersion: 2,
  mediaType: OCI_INDEX,
  manifests: [child.manifest.descriptor, other.manifest.descriptor],
});
const index = {
  descriptor: { mediaType: OCI_INDEX, digest: digestOf(indexBytes), size: indexBytes.byteLength },
  bytes: indexBytes,
};
const all = new Map(
  [index, child.manifest, other.manifest, ...child.blobs, ...other.blobs].map((b) => [b.descriptor.digest, b.bytes]),
);

/** A source holding the three graphs. */
const source: Store = {
  description: "test source",
  concurrency: 4,
  exists: () => Promise.resolve(true),
  fetch: (_repo, desc) => Promise.resolve(bytesStream(all.get(desc.digest)!)),
  push: () => Promise.reject(new Error("read-only")),
  tag: () => Promise.reject(new Error("read-only")),
  resolve: () => Promise.reject(new Error("read-only")),
};

interface Call {
  op: "push" | "tag";
  repo: string;
  digest: string;
  tag?: string;
  start: number;
  end?: number;
}

/** A graph-verifying destination that records every push and tag, each taking a few turns of the event loop. */
function recordingStore(
  hooks: { push?: (desc: Descriptor, options?: StoreOptions) => Promise<void>; tag?: (repo: string) => void } = {},
) {
  const calls: Call[] = [];
  const held = new Set<string>();
  let clock = 0;
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  };
  const store: Store & { calls: Call[] } = {
    description: "recording store",
    concurrency: 4,
    verifiesGraphs: true,
    calls,
    exists: (repo, desc) => Promise.resolve(held.has(`${repo}@${desc.digest}`)),
    fetch: () => Promise.reject(new Error("write-only")),
    resolve: () => Promise.reject(new Error("write-only")),
    async push(repo: string, desc: Descriptor, content: Content, options?: StoreOptions): Promise<PushOutcome> {
      const call: Call = { op: "push", repo, digest: desc.digest, start: ++clock };
      calls.push(call);
      if (typeof content === "function") { for await (const _ of await content()) { /* drain */ } }
      await hooks.push?.(desc, options);
      await turns(1 + (desc.digest.charCodeAt(10) % 4));
      held.add(`${repo}@${desc.digest}`);
      call.end = ++clock;
      return "pushed";
    },
    async tag(repo: string, tag: string, desc: Descriptor) {
      const call: Call = { op: "tag", repo, digest: desc.digest, tag, start: ++clock };
      calls.push(call);
      hooks.tag?.(repo);
      await turns(2);
      call.end = ++clock;
    },
  };
  return store;
}

const root = (descriptor: Descriptor, tags: string[], repo = "r"): CopyRoot => ({
  srcRepo: repo,
  dstRepo: repo,
  descriptor,
  tags,
  label: `${repo}:${tags[0] ?? descriptor.digest}`,
});

Deno.test("tags come after every graph of their repository, one at a time", async () => {
  const dst = recordingStore();
  await copyGraph({
    src: source,
    dst,
    roots: [
      root(index.descriptor, ["index"]),
      root(child.manifest.descriptor, ["child", "child-too"]),
      root(other.manifest.descriptor, ["other"]),
    ],
  });
  const pushes = dst.calls.filter((c) => c.op === "push");
  const tags = dst.calls.filter((c) => c.op === "tag");
  assertEquals(tags.length, 4);
  const lastPush = Math.max(...pushes.map((p) => p.end!));
  assert(tags.every((t) => t.start > lastPush), "a tag started before every push was acknowledged");
  const sorted = [...tags].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    assert(sorted[i].start > sorted[i - 1].end!, "two tags of one repository at once");
  }
  // Every manifest pushed once, after each of its children.
  const done = new Map(pushes.map((p) => [p.digest, p]));
  assertEquals(done.size, pushes.length);
  for (const d of [child.manifest.descriptor, other.manifest.descriptor]) {
    assert(done.get(d.digest)!.end! < done.get(index.descriptor.digest)!.start);
  }
});

/**
 * A destination where the layer of the index's other child fails once the
 * child's layer is in flight; that one then waits for its signal, or for
 * the next turn of the event loop after the failure.
 */
function failingStore() {
  const aborted: string[] = [];
  const failing = other.blobs[other.blobs.length - 1].descriptor.digest;
  let release!: () => void;
  const safety = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const inFlight = new Promise<void>((resolve) => (started = resolve));
  const timer = setTimeout(release, 10_000); // never hang: fail the assertion instead
  const dst = recordingStore({
    async push(desc, options) {
      if (desc.digest === failing) {
        await inFlight;
        setTimeout(release, 0);
        throw new Error("refused");
      }
      if (desc.mediaType.includes("layer") || desc.mediaType.includes("rootfs")) {
        started();
        await Promise.race([
          safety,
          new Promise<void>((resolve) => options?.signal?.addEventListener("abort", () => resolve(), { once: true })),
        ]);
        if (options?.signal?.aborted) {
          aborted.push(desc.digest);
          throw options.signal.reason;
        }
      }
    },
  });
  return { dst, aborted, done: () => clearTimeout(timer) };
}

Deno.test("without keepGoing, the first failure aborts the transfers in flight", async () => {
  const { dst, aborted, done } = failingStore();
  try {
    await assertRejects(
      () => copyGraph({ src: source, dst, roots: [root(index.descriptor, ["index"])], concurrency: 4 }),
      Error,
      "refused",
    );
    assertEquals(aborted, [child.blobs[child.blobs.length - 1].descriptor.digest]);
  } finally {
    done();
  }
});

Deno.test("with keepGoing, a failure leaves the other transfers running", async () => {
  const { dst, aborted, done } = failingStore();
  try {
    const result = await copyGraph({
      src: source,
      dst,
      roots: [root(index.descriptor, ["index"]), root(child.manifest.descriptor, ["child"])],
      concurrency: 4,
      keepGoing: true,
    });
    assertEquals(aborted, []);
    assertEquals(result.failed.map((f) => f.root.label), ["r:index"]);
  } finally {
    done();
  }
});

Deno.test("digest-only entries of one repository never conflict; two tags of one name with different digests do", () => {
  const image = (entry: string, digest: string) => ({ entry, descriptor: { mediaType: OCI_INDEX, digest, size: 1 } });
  const a = `sha256:${"a".repeat(64)}`;
  const b = `sha256:${"b".repeat(64)}`;
  const targets = targetMap(
    [image(`rancher/shell@${a}`, a), image(`rancher/shell@${b}`, b), image("rancher/shell:v1", a)],
    (i) => i.entry,
    "reg.local",
    "",
  );
  assertEquals([...targets.keys()], [
    `reg.local/rancher/shell@${a}`,
    `reg.local/rancher/shell@${b}`,
    "reg.local/rancher/shell:v1",
  ]);
  assertThrows(
    () => targetMap([image("rancher/shell:v1", a), image("rancher/shell:v1", b)], (i) => i.entry, "reg.local", ""),
    Error,
    "different digests",
  );
});

Deno.test("artifacts go in subject order: a referrer of a referrer waits for it; a cycle does not hang", () => {
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const artifact = (d: string, subject: string, repo = "r"): ArtifactTarget => ({
    artifact: {
      descriptor: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digest(d), size: 1 },
      name: `x/${repo}@${digest(d)}`,
      entry: `${repo}@${digest(d)}`,
      annotations: { [ARTIFACT_ANNOTATION]: "referrer", [SUBJECT_ANNOTATION]: digest(subject) },
    } as ArchiveIndexEntry,
    srcRepo: "",
    repo,
  });
  const sbom = artifact("1", "0");
  const signature = artifact("2", "1");
  const signatureOfSignature = artifact("3", "2");
  const elsewhere = artifact("4", "1", "other"); // its subject is not an artifact of its repository
  const waves = subjectWaves([signatureOfSignature, signature, sbom, elsewhere]);
  assertEquals(waves.map((w) => w.map((t) => t.artifact.descriptor.digest[7])), [["1", "4"], ["2"], ["3"]]);
  const cycle = subjectWaves([artifact("5", "6"), artifact("6", "5")]);
  assertEquals(cycle.flat().length, 2);
});

Deno.test("roots from several sources in one copy: a shared child is fetched and pushed once, before its parents", async () => {
  const fetched: string[] = [];
  const counting = (name: string): Store => ({
    ...source,
    description: name,
    fetch: (repo, desc, options) => {
      fetched.push(`${name} ${desc.digest}`);
      return source.fetch(repo, desc, options);
    },
  });
  const dst = recordingStore();
  await copyGraph({
    src: counting("a"),
    dst,
    roots: [root(index.descriptor, ["index"]), { ...root(child.manifest.descriptor, ["child"]), src: counting("b") }],
  });
  const pushes = dst.calls.filter((c) => c.op === "push");
  assertEquals(pushes.filter((p) => p.digest === child.manifest.descriptor.digest).length, 1);
  const childDone = pushes.find((p) => p.digest === child.manifest.descriptor.digest)!.end!;
  assert(childDone < pushes.find((p) => p.digest === index.descriptor.digest)!.start);
  assert(dst.calls.filter((c) => c.op === "tag").every((t) => t.start > childDone));
  assertEquals(new Set(fetched.map((f) => f.split(" ")[1])).size, fetched.length, "something was fetched twice");
});

Deno.test("an image alone in its repository is tagged without waiting for other repositories", async () => {
  let tagged!: () => void;
  const otherTagged = new Promise<void>((resolve) => (tagged = resolve));
  const timer = setTimeout(tagged, 10_000); // never hang: fail the assertion instead
  let waited = false;
  const dst = recordingStore({
    async push(desc) {
      if (desc.digest !== index.descriptor.digest) return;
      await otherTagged;
      waited = dst.calls.some((c) => c.op === "tag" && c.repo === "alone");
    },
    tag: (repo) => repo === "alone" && tagged(),
  });
  try {
    await copyGraph({
      src: source,
      dst,
      roots: [root(index.descriptor, ["index"], "slow"), root(other.manifest.descriptor, ["other"], "alone")],
    });
    assert(waited, "the lone image's tag waited for the other repository's graph");
  } finally {
    clearTimeout(timer);
  }
});
