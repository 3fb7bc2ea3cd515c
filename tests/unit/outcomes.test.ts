/**
 * The outcome vocabulary (lib/report/outcomes.ts) and the failed-list name
 * rule (lib/report/failures.ts): plurals agree with their counts, failed
 * images are never counted as done, and each command's list has its name.
 */
import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { formatBlobOutcomes, formatContents, formatFailed, formatImageOutcomes } from "../../lib/report/outcomes.ts";
import { failedListPath, keepGoingHelp } from "../../lib/report/failures.ts";
import { formatLoadSummary } from "../../lib/commands/load/cli.ts";

Deno.test("outcomes: one chart, one image, one blob; plural otherwise", () => {
  assertEquals(formatContents({ images: 1, charts: 1, blobs: 1, bytes: 10 }), "1 image, 1 chart, 1 blob, 10 B");
  assertEquals(formatContents({ images: 2, charts: 0, blobs: 3, bytes: 2048 }), "2 images, 3 blobs, 2.0 KiB");
  assertEquals(
    formatBlobOutcomes({ pushed: 1, mounted: 0, present: 2, bytes: 0 }),
    "1 blob pushed (0 B), 0 mounted, 2 already present",
  );
});

Deno.test("outcomes: a load with failures counts what was loaded and says how many failed", () => {
  assertEquals(
    formatImageOutcomes("loaded", { done: 14, present: 2 }) + formatFailed(2),
    "loaded 14 images (12 new, 2 already present); 2 images failed",
  );
  assertEquals(formatImageOutcomes("mirrored", { done: 1 }), "mirrored 1 image");
  const summary = formatLoadSummary(
    {
      images: 14,
      alreadyPresent: 0,
      tags: 14,
      blobs: { pushed: 3, mounted: 0, present: 1, mountedElsewhere: 1 },
      bytesPushed: 0,
      chartsInArchive: 1,
    },
    "reg:5000",
    1000,
    undefined,
    2,
  );
  assertEquals(
    summary.split("\n"),
    [
      "loaded 14 images into reg:5000 in 1.0s: 3 blobs pushed (0 B), 0 mounted, 1 already present; 1 further mount of these blobs into other repositories; 2 images failed",
      "the archive also carries 1 chart, not pushed: --push-charts pushes them to reg:5000/charts, --charts-dir DIR writes them as files",
    ],
  );
});

Deno.test("failed lists: NAME.COMMAND-failed.txt, and --help says so", () => {
  assertEquals(failedListPath(join("d", "x.tar"), "save"), join("d", "x.save-failed.txt"));
  assertEquals(failedListPath(join("d", "x.tar.001"), "load"), join("d", "x.tar.load-failed.txt"));
  assertEquals(failedListPath(join("d", "airgap.lock"), "mirror"), join("d", "airgap.mirror-failed.txt"));
  assertEquals(
    keepGoingHelp("load", "NAME"),
    "load every image that can be; list the others in NAME.load-failed.txt (exit code 3)",
  );
});

Deno.test("a blocked port is a permanent network error, grouped under its own cause", async () => {
  const { classifyFetchError, NetworkError } = await import("../../lib/error_kinds.ts");
  const { failureCause } = await import("../../lib/report/failures.ts");
  const e = classifyFetchError(new TypeError("Fetch failed: Requests to port 6000 are blocked"), "GET h:6000");
  assertEquals(e instanceof NetworkError && e.temporary, false);
  assertEquals(failureCause(e, "h:6000"), {
    registry: "h:6000",
    cause: "port blocked by the runtime (use another port)",
    unreachable: true,
  });
});
