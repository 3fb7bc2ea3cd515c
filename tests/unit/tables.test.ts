/**
 * Every table airgap prints (plan, ls, diff, the plan's sources) fits the
 * terminal: rendered at 80, 100 and 120 columns from Rancher's real image list
 * (712 names), no line is wider than the terminal and no two different images
 * print the same name. A seeded generator of name sets (long and short names,
 * shared prefixes and suffixes) proves the same for `fitNames` and the tables;
 * and `airgap ls` is run as a person runs it, in an 80-column terminal.
 *
 * Longer run: `AIRGAP_TABLE_CASES=20000 deno test -A tests/unit/tables.test.ts`
 * (the seed is `AIRGAP_TABLE_SEED`, default 1).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { join } from "node:path";
import { hasShared, SHARED_DATA } from "../helpers/helm.ts";
import { generatorRun, mulberry32 } from "../helpers/seeded.ts";
import { fitList, fitNames, formatTable, shortId, truncateMiddle, wrapLine } from "../../lib/text.ts";
import { formatPlan, formatSources } from "../../lib/commands/plan/cli.ts";
import { formatListing } from "../../lib/commands/ls/cli.ts";
import { formatDiff } from "../../lib/commands/diff/cli.ts";
import type { Plan, PlannedImage } from "../../lib/plan/planner.ts";
import type { Listing } from "../../lib/commands/verify/inspect.ts";
import type { LockDiff } from "../../lib/commands/diff/diff.ts";
import type { LockedImage } from "../../schemas/lock.ts";
import type { ResolvedSources } from "../../lib/plan/fetch_sources.ts";
import { airgap } from "../helpers/cli.ts";
import { standardCorpus } from "../../lib/demo/corpus.ts";
import { createArchive } from "../../lib/store/archive.ts";

const WIDTHS = [80, 100, 120];
const LIST = "rancher-images-v2.7.9.txt";
const PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x", "linux/ppc64le", "windows/amd64"];

/** A deterministic digest for `text` (not a real hash: enough to be distinct and stable). */
function digestOf(text: string, salt = 0): string {
  let h = 2166136261 ^ salt;
  let hex = "";
  for (let round = 0; hex.length < 64; round++) {
    for (const c of `${round}${text}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
    hex += (h >>> 0).toString(16).padStart(8, "0");
  }
  return `sha256:${hex.slice(0, 64)}`;
}

/** A plan of `names` with every kind of row and note: new/changed/unchanged, filtered, assembled, removed. */
function planOf(names: string[], random: () => number): Plan {
  const images = names.map((entry, i): PlannedImage => {
    const digest = digestOf(entry);
    const platforms = PLATFORMS.slice(0, Math.floor(random() * (PLATFORMS.length + 1)));
    const lockStatus = (["new", "changed", "unchanged"] as const)[i % 3];
    const image = {
      request: { entry, origin: `${LIST}:${i + 1}` },
      name: `docker.io/${entry}`,
      sourceName: `docker.io/${entry}`,
      descriptor: { mediaType: "application/vnd.oci.image.index.v1+json", digest, size: 1000 },
      upstreamDigest: i % 4 === 0 ? digestOf(entry, 1) : digest,
      platforms,
      ...(i % 50 === 7 ? { assembled: { [`${entry.split(":")[1]}-windows-1809`]: digestOf(entry, 2) } } : {}),
    } as unknown as PlannedImage["image"];
    return {
      image,
      lockStatus,
      missing: i % 5 === 0 ? [] : [{ mediaType: "x", digest: digestOf(entry, 3), size: Math.floor(random() * 2e9) }],
      ...(lockStatus === "changed" ? { previousDigest: digestOf(entry, 4) } : {}),
    };
  });
  return {
    images,
    blobs: new Map(names.map((n) => [digestOf(n, 5), 1])),
    totalBytes: 123456789012,
    fetchBytes: 1234567890,
    fetchBlobs: 4321,
    removed: names.slice(0, 3).map((entry) => ({ entry, digest: digestOf(entry, 6) }) as unknown as LockedImage),
    delta: { source: "/media/usb/previous/airgap.lock", blobs: 321, bytes: 987654321, fetchBytes: 12345 },
  };
}

/** A listing of `names` (some charts, some signed, a delta's carried sizes). */
function listingOf(names: string[], random: () => number): Listing {
  return {
    archive: "/media/usb/rancher.tar",
    parts: ["/media/usb/rancher.tar.001", "/media/usb/rancher.tar.002"],
    size: 12345678901,
    blobs: 4567,
    bytes: 12300000000,
    base: digestOf("base"),
    images: names.map((entry, i) => {
      const size = Math.floor(random() * 3e9);
      return {
        entry,
        name: `docker.io/${entry}`,
        digest: digestOf(entry),
        mediaType: "application/vnd.oci.image.index.v1+json",
        kind: i % 40 === 3 ? "chart" : "image",
        platforms: PLATFORMS.slice(0, Math.floor(random() * (PLATFORMS.length + 1))),
        size,
        carried: i % 3 === 0 ? Math.floor(size / 3) : size,
        artifacts: i % 7,
        ...(i % 14 === 1 ? { verifiedSignatures: 1 } : {}),
      };
    }),
  };
}

/** A diff of `names`: added, removed, changed and re-tagged entries. */
function diffOf(names: string[]): LockDiff {
  const locked = (entry: string, salt = 0) => ({ entry, digest: digestOf(entry, salt) }) as unknown as LockedImage;
  const quarter = Math.ceil(names.length / 4);
  return {
    added: names.slice(0, quarter).map((n) => locked(n)),
    removed: names.slice(quarter, 2 * quarter).map((n) => locked(n)),
    changed: names.slice(2 * quarter, 3 * quarter).map((n) => ({ before: locked(n, 1), after: locked(n) })),
    retagged: names.slice(3 * quarter).map((n) => ({ before: locked(`${n}-old`), after: locked(n) })),
    unchanged: 3,
    newBlobs: 12,
    newBytes: 123456789,
  };
}

/** The IMAGE cells of a table: the text between the IMAGE header's column and the next header's. */
function imageCells(lines: string[], next: string): string[] {
  const header = lines.findIndex((l) => l.includes("IMAGE") && l.includes(next));
  const start = lines[header].indexOf("IMAGE");
  const end = lines[header].indexOf(next);
  const rows: string[] = [];
  for (const line of lines.slice(header + 1)) {
    if (line === "") break;
    rows.push(line.slice(start, end).trimEnd());
  }
  return rows;
}

/** No line wider than `width`. */
function assertFits(lines: string[], width: number, what: string): void {
  for (const line of lines) assert(line.length <= width, `${what} at ${width}: ${line.length} > ${width}: ${line}`);
}

/** Different names print differently (and the same name the same). */
function assertDistinct(names: string[], printed: string[], what: string, stub = 24): void {
  assertEquals(printed.length, names.length, what);
  const byPrint = new Map<string, string>();
  names.forEach((name, i) => {
    const seen = byPrint.get(printed[i]);
    assert(seen === undefined || seen === name, `${what}: "${seen}" and "${name}" both print as "${printed[i]}"`);
    byPrint.set(printed[i], name);
    if (name.length <= stub || printed[i].length >= name.length) return;
    assert(printed[i].length >= stub, `${what}: "${name}" cut to a stub "${printed[i]}"`);
  });
}

/** Render every table of `names` at `width` and check the two rules. */
function checkTables(names: string[], width: number, seed: number, what: string): void {
  const plan = planOf(names, mulberry32(seed));
  const planLines = formatPlan(plan, width).split("\n");
  assertFits(planLines, width, `${what} plan`);
  const planNames = [...plan.images.map((p) => p.image.request.entry), ...plan.removed.map((r) => r.entry)];
  assertDistinct(planNames, imageCells(planLines, "DIGEST"), `${what} plan at ${width}`);

  const listing = listingOf(names, mulberry32(seed));
  const lsLines = formatListing(listing, width);
  assertFits(lsLines, width, `${what} ls`);
  const lsNames = listing.images.map((i) => i.kind === "image" ? i.entry : `${i.entry} (${i.kind})`);
  assertDistinct(lsNames, imageCells(lsLines, "DIGEST"), `${what} ls at ${width}`);

  const diff = diffOf(names);
  const diffLines = formatDiff(diff, "/media/usb/previous/airgap.lock", width);
  assertFits(diffLines, width, `${what} diff`);
  const diffNames = [
    ...[...diff.added, ...diff.removed].map((i) => i.entry),
    ...diff.changed.map((c) => c.after.entry),
    ...diff.retagged.map((r) => `${r.before.entry} -> ${r.after.entry}`),
  ];
  const printed = diffLines.slice(0, diffNames.length).map((l) => l.slice(2).replace(/ {2}\S+( -> \S+)?$/, ""));
  assertDistinct(diffNames, printed, `${what} diff at ${width}`);
}

Deno.test({
  name: "tables: plan, ls and diff of Rancher's 712 images fit 80, 100 and 120 columns, every image distinct",
  ignore: !hasShared(LIST),
  fn() {
    const names = Deno.readTextFileSync(join(SHARED_DATA, LIST)).split("\n").map((l) => l.trim()).filter(Boolean);
    assert(names.length >= 700, `${names.length} names`);
    for (const width of WIDTHS) checkTables(names, width, 1, "rancher");
    // The case the issue reported: rancher and rancher-agent printed alike.
    const lines = formatListing(listingOf(["rancher/rancher:v2.7.9", "rancher/rancher-agent:v2.7.9"], () => 0), 60);
    const cells = imageCells(lines, "DIGEST");
    assert(cells[0] !== cells[1], cells.join(" / "));
  },
});

/** A random name set: long and short names, shared registries, repositories, prefixes, suffixes and tags. */
function randomNames(random: () => number): string[] {
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  const word = () => "abcdefghijklmnopqrstuvwxyz0123456789-".slice(0, 2 + Math.floor(random() * 30));
  const hosts = ["", "registry.rancher.com/", "quay.io/", "very-long-registry-host.internal.example.com:5000/"];
  const prefixes = ["rancher/", "rancher/mirrored-", "rancher/mirrored-cluster-api-", "a/"];
  const suffixes = ["", "-controller", "-agent", "-webhook-controller-manager"];
  const tags = [":v1", ":v2.7.9", ":v1.26.6-rke2r1-build20230718", "@" + digestOf("tag")];
  const count = 1 + Math.floor(random() * 60);
  const names = new Set<string>();
  while (names.size < count) {
    const middle = random() < 0.5 ? word() : word().split("").reverse().join("");
    names.add(`${pick(hosts)}${pick(prefixes)}${middle}${pick(suffixes)}${pick(tags)}`);
  }
  return [...names];
}

Deno.test("tables: random name sets (seeded) stay within the width and distinct, in fitNames and every table", () => {
  const { cases, seed, report } = generatorRun("tables", {
    cases: 300,
    env: { cases: "AIRGAP_TABLE_CASES", seed: "AIRGAP_TABLE_SEED" },
  });
  const random = mulberry32(seed);
  for (let n = 0; n < cases; n++) {
    const names = randomNames(random);
    const width = 8 + Math.floor(random() * 90);
    const fitted = fitNames(names, width);
    assertDistinct(names, names.map((name) => fitted.get(name)!), `case ${n} fitNames at ${width}`, 0);
    for (const name of names) {
      const cut = fitted.get(name)!;
      assert(cut.length <= width, `case ${n}: "${cut}" wider than ${width}`);
      if (name.length <= width) assertEquals(cut, name);
    }
    if (n % 10 === 0) checkTables(names, WIDTHS[n % 3], seed + n, `case ${n}`);
  }
  report();
});

Deno.test("tables: names fit in the middle, lists keep their first items, digests are image IDs", () => {
  assertEquals(truncateMiddle("abcdefghij", 5), "ab…ij");
  assertEquals(fitList("linux/amd64,linux/arm64,linux/s390x", 30), "linux/amd64,linux/arm64 +1");
  assertEquals(fitList("linux/amd64,linux/arm64,linux/s390x", 14), "linux/amd64 +2");
  assertEquals(fitList("linux/amd64,linux/arm64,linux/s390x", 13), "3 platforms");
  assertEquals(shortId(digestOf("x")), digestOf("x").slice(7, 19));
  // Two names whose plain middle cut is the same both move their cut.
  const a = "registry.example.com/rancher/mirrored-aaa-controller:v1.4.4";
  const b = "registry.example.com/rancher/mirrored-bbb-controller:v1.4.4";
  const fitted = fitNames([a, b], 30);
  assert(fitted.get(a) !== fitted.get(b));
  assert(fitted.get(a) !== truncateMiddle(a, 30));
  // A list column gives way before the name does.
  const table = formatTable(["IMAGE", "PLATFORMS"], [[a, PLATFORMS.join(",")]], { width: 80, shrink: [0], lists: [1] });
  assertEquals(table[1], `${a}  linux/amd64 +5`);
  assertEquals(wrapLine("one two three", 8), ["one two", "  three"]);
});

Deno.test("tables: a plan's notes are lines below the table, not a wider DIGEST column", () => {
  const plan = planOf(["rancher/rancher:v2.7.9", "rancher/flannel:v3"], () => 0.9);
  const lines = formatPlan(plan, 80).split("\n");
  assertEquals(lines[0].replace(/ +/g, " "), "LOCK TO FETCH IMAGE DIGEST PLATFORMS");
  assert(lines.some((l) => l.startsWith("* saved root differs from upstream's")), lines.join("\n"));
  assert(lines.every((l) => !l.includes("(filtered from")), lines.join("\n"));
  const changed = plan.images[1];
  assert(
    lines.includes(
      `rancher/flannel:v3: changed, ${shortId(changed.previousDigest!)} → ${shortId(changed.image.descriptor.digest)}`,
    ),
    lines.join("\n"),
  );
  const sources = {
    summaries: [{
      status: "new",
      label: "rancher-images.txt (https://github.com/rancher/rancher/releases/download/v2.7.9/rancher-images.txt)",
      locked: { digest: digestOf("list") },
      images: 712,
      verified: "sha256 from the release",
    }],
  } as unknown as ResolvedSources;
  assertFits(formatSources(sources, 80).split("\n"), 80, "sources");
});

Deno.test("tables: `airgap ls` in an 80-column terminal (COLUMNS=80), as a person sees it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "airgap-tables-" });
  try {
    const images = standardCorpus(0.1);
    const long = "registry.rancher.com/rancher/mirrored-cluster-api-controller-manager-and-webhooks";
    const entries = [
      "rancher/rancher:v2.7.9",
      "rancher/rancher-agent:v2.7.9",
      ...images.slice(2).map((_, i) => `${long}-${i}:v1.4.4`),
    ];
    const path = join(dir, "images.tar");
    const writer = await createArchive(path, {
      images: images.map((image, i) => ({
        descriptor: image.root.descriptor,
        name: `docker.io/${entries[i]}`,
        entry: entries[i],
      })),
      blobs: images.flatMap((i) => [i.root.descriptor, ...i.blobs.map((b) => b.descriptor)]),
    });
    for (const image of images) {
      for (const blob of [image.root, ...image.blobs]) await writer.push("", blob.descriptor, blob.bytes);
    }
    await writer.finish();
    const result = await airgap(["ls", path], { env: { COLUMNS: "80" } });
    assertEquals(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assertFits(lines, 80, "ls");
    assertDistinct(entries, imageCells(lines, "DIGEST"), "ls at 80");
    assert(lines.some((l) => l.includes("rancher/rancher-agent:v2.7.9")), result.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
