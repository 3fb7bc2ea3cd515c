/**
 * The JSON documents `--json` prints (plan, ls, verify, diff, images): one
 * schema each, so CI scripts can rely on them and `airgap schema --of plan`
 * (…) can hand them out. The commands' tests validate their output against
 * the JSON Schemas generated here.
 * @module
 */
import { z } from "zod";
import { LockedImageSchema, LockedSourceSchema } from "./lock.ts";

const digest = z.string().regex(/^sha(256|512):[a-f0-9]+$/).describe("A content digest, sha256:…");
const count = z.number().int().nonnegative();
const bytes = z.number().int().nonnegative().describe("Bytes");

/** `airgap plan --json`. */
export const PlanOutputSchema = z.strictObject({
  images: z.array(z.strictObject({
    entry: z.string().describe("The entry as written"),
    source: z.string().describe("The reference it is fetched from"),
    origin: z.string().describe("Where it was declared, e.g. rancher-images.txt:12"),
    digest: digest.describe("The root digest saved"),
    upstreamDigest: digest.describe("The root digest upstream (differs when platforms were dropped)"),
    previousDigest: digest.optional().describe("For a changed image: the digest the previous lock pinned"),
    platforms: z.array(z.string()).describe("Platforms kept (os/arch[/variant]); empty for a single manifest"),
    assembled: z.record(z.string(), digest).optional().describe("Per-OS tags the index was assembled from"),
    rewritten: z.record(digest, digest).optional().describe("Manifests rewritten: upstream digest → saved digest"),
    foreignLayers: count.optional().describe("Foreign layers made distributable"),
    file: LockedImageSchema.shape.file.describe("For a declared file (files:): name, mode, where from, sha256, size"),
    lock: z.enum(["new", "changed", "unchanged"]).describe("Compared with the previous lock"),
    missingBlobs: count.describe("Blobs of this image missing from the cache"),
    missingBytes: bytes.describe("Their bytes"),
  })).describe("Every image, in order"),
  removed: z.array(z.string()).describe("Entries of the previous lock no longer declared"),
  sources: z.array(LockedSourceSchema.extend({
    status: z.enum(["new", "changed", "unchanged"]),
    images: count.describe("Images the source contributed"),
  })).describe("Release lists and charts"),
  totalBytes: bytes.describe("Unique bytes of all images"),
  uniqueBlobs: count.describe("Unique blobs of all images, manifests included"),
  fetchBytes: bytes.describe("Unique bytes missing from the cache"),
  fetchBlobs: count.describe("Unique blobs missing from the cache"),
  delta: z.strictObject({
    source: z.string().describe("The base (--since)"),
    blobs: count.describe("Blobs the new side references and the base does not"),
    bytes: bytes.describe("Their bytes"),
    fetchBytes: bytes.describe("Of the delta, bytes still to fetch"),
  }).optional().describe("With --since: what the delta carries"),
});

/** `airgap ls --json`. */
export const LsOutputSchema = z.strictObject({
  archive: z.string().describe("The archive path"),
  parts: z.array(z.string()).describe("Its files (several when split)"),
  size: bytes.describe("Size of the archive (all parts)"),
  blobs: count.describe("Blobs the archive holds"),
  bytes: bytes.describe("Bytes of those blobs (as verify's bytes; size adds the tar's headers and index)"),
  base: digest.optional().describe("For a delta: the digest of its base lock"),
  images: z.array(z.strictObject({
    entry: z.string().describe("The entry as written"),
    name: z.string().describe("The image's name in index.json"),
    digest: digest.describe("Root digest"),
    mediaType: z.string().describe("Root media type"),
    kind: z.string().describe("image, chart for Helm charts, or file for declared files"),
    platforms: z.array(z.string()).describe("Platforms, os/arch[/variant]"),
    size: bytes.describe("Bytes of the image's graph"),
    carried: bytes.describe("Of which carried by this archive"),
    artifacts: count.describe("Signatures, attestations, SBOMs and referrers carried with it"),
    verifiedSignatures: count.optional().describe("Cosign signatures verified at save time (from the lock)"),
    file: z.strictObject({
      name: z.string().describe("Its name inside the gap"),
      mode: z.string().describe("Its mode when extracted, octal"),
      from: z.string().describe("Where it came from, as declared"),
      sha256: digest.describe("SHA-256 of its bytes"),
      size: bytes.describe("Its size"),
    }).optional().describe("For a declared file: what the lock says of it"),
  })).describe("Every index.json entry, in order"),
});

/** `airgap verify --json`. */
export const VerifyOutputSchema = z.strictObject({
  archive: z.string().describe("The archive path"),
  parts: z.array(z.string()).describe("Its files"),
  blobs: count.describe("Blobs the archive holds"),
  bytes: bytes.describe("Bytes re-hashed"),
  images: count.describe("Images (charts not included)"),
  charts: count.describe("Helm charts"),
  artifacts: count.describe("Signatures, attestations, SBOMs and referrers carried with the images"),
  fromBase: count.describe("Blobs the archive relies on its base for (deltas)"),
  problems: z.array(z.strictObject({
    subject: z.string().describe("The image, blob or part concerned"),
    message: z.string().describe("What is wrong"),
  })).describe("Everything found wrong; empty when the archive is sound"),
  ok: z.boolean().describe("No problems"),
});

/** `airgap diff --json`. */
export const DiffOutputSchema = z.strictObject({
  added: z.array(LockedImageSchema).describe("Entries only in NEW"),
  removed: z.array(LockedImageSchema).describe("Entries only in OLD"),
  changed: z.array(z.strictObject({ before: LockedImageSchema, after: LockedImageSchema })).describe(
    "Same entry, new digest",
  ),
  retagged: z.array(z.strictObject({ before: LockedImageSchema, after: LockedImageSchema })).describe(
    "A digest of OLD under a new entry",
  ),
  unchanged: count.describe("Entries that kept their digest"),
  newBlobs: count.describe("Blobs NEW references that OLD does not (what a delta carries)"),
  newBytes: bytes.describe("Their bytes"),
});

/** `airgap images --json`. */
export const ImagesOutputSchema = z.array(z.strictObject({
  entry: z.string().describe("The entry as written"),
  origins: z.array(z.string()).describe("Every place it came from"),
})).describe("The final image list, de-duplicated and sorted");

const outcome = z.enum(["pushed", "mounted", "exists"]).describe(
  "pushed: uploaded (save: written into the archive); mounted: from another repository of the target; exists: the destination had it",
);

/**
 * `airgap save|load|mirror --json`: one event per line (NDJSON). `start`
 * when the transfer begins (after resolution), a `blob` per blob as it lands,
 * then an `image` per image (after the check at the destination; failed ones
 * with their cause under --keep-going), a `warning` whenever one is printed,
 * and last either `summary` (exit 0, or 3 when images were left out) or one
 * `error` (any other non-zero exit; no summary follows).
 */
export const EventSchema = z.discriminatedUnion("event", [
  z.strictObject({
    event: z.literal("start").describe("The transfer begins"),
    command: z.enum(["save", "load", "mirror"]).describe("The command"),
    images: count.describe("Images to transfer"),
    blobs: count.describe("Unique blobs (manifests included) the destination must end up holding"),
    bytes: bytes.describe("Their bytes"),
  }),
  z.strictObject({
    event: z.literal("blob").describe("A blob or manifest is at the destination"),
    digest: digest.describe("Its digest"),
    size: bytes.describe("Its size"),
    kind: z.enum(["blob", "manifest"]).describe("A config or layer, or a manifest or index"),
    outcome,
  }),
  z.strictObject({
    event: z.literal("image").describe("An image's outcome"),
    entry: z.string().describe("The entry as written"),
    target: z.string().optional().describe(
      "load, mirror: the name at the target (registry/repository:tag, or registry/repository@digest for a digest-only entry)",
    ),
    digest: digest.optional().describe("Its root digest (absent for a failed image that never resolved)"),
    outcome: z.enum(["saved", "loaded", "mirrored", "failed"]).describe("What happened to it"),
    error: z.string().optional().describe("For a failed image: the one-line reason"),
    cause: z.string().optional().describe("For a failed image: the grouped cause, e.g. not found (manifest unknown)"),
    registry: z.string().optional().describe("For a failed image: the registry the failure came from"),
  }),
  z.strictObject({
    event: z.literal("warning").describe("A warning (also printed on stderr)"),
    message: z.string().describe("The warning, one line"),
  }),
  z.strictObject({
    event: z.literal("error").describe("The run failed: always the last line, no summary follows"),
    message: z.string().describe("The error, one line"),
    exitCode: count.describe("The exit code"),
    problems: z.array(z.string()).optional().describe("Each problem, when there are several (check, resolution)"),
    cause: z.string().optional().describe("Why, as grouped in reports (lib/failures.ts), when known"),
    registry: z.string().optional().describe("The registry the failure came from, when known"),
  }),
  z.strictObject({
    event: z.literal("summary").describe("The run succeeded (exit 0, or 3 when --keep-going left images out)"),
    command: z.enum(["save", "load", "mirror"]).describe("The command"),
    images: count.describe("Images saved, loaded or mirrored (not tags)"),
    failed: count.describe("Images left out (--keep-going)"),
    failedList: z.string().optional().describe("The list naming the images left out"),
    alreadyPresent: count.optional().describe("load, mirror: of the images, those whose root the target held already"),
    blobs: z.strictObject({
      pushed: count.describe("Uploaded (save: written into the archive)"),
      mounted: count.describe("Mounted from another repository"),
      exists: count.describe("Already at the destination"),
    }).describe("Unique blobs by outcome"),
    bytes: bytes.describe("Bytes uploaded (save: blob bytes written into the archive)"),
    fetchedBlobs: count.optional().describe("save, mirror: downloads from the source registries"),
    fetchedBytes: bytes.optional().describe("save, mirror: bytes downloaded"),
    artifacts: count.describe("Signatures, attestations, SBOMs and referrers carried or pushed"),
    archive: z.string().optional().describe("save: the archive written (its first part when split)"),
    parts: z.array(z.string()).optional().describe("save: every file of the archive"),
    archiveBytes: bytes.optional().describe("save: size of the archive (all parts)"),
    target: z.string().optional().describe("load, mirror: the target registry with its prefix"),
    lock: z.string().optional().describe("The lock written, if any"),
    elapsedMs: count.describe("Wall time in milliseconds"),
  }),
]).describe("One line of save, load or mirror --json");

/** One line of `save|load|mirror --json`. */
export type Event = z.infer<typeof EventSchema>;

/** Every `--json` document by command, for `airgap schema --of COMMAND`. */
export const OUTPUT_SCHEMAS = {
  plan: PlanOutputSchema,
  ls: LsOutputSchema,
  verify: VerifyOutputSchema,
  diff: DiffOutputSchema,
  images: ImagesOutputSchema,
  events: EventSchema,
} as const;

/** JSON Schema of a command's `--json` document. */
export function outputJsonSchema(command: keyof typeof OUTPUT_SCHEMAS): unknown {
  return z.toJSONSchema(OUTPUT_SCHEMAS[command]);
}
