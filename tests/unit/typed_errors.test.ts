/** Decisions on error classes in the transfer layer: a refused manifest, a full disk. */
import { assert, assertEquals } from "../helpers/assert.ts";
import { AirgapError, DiskFullError, ManifestRefusedError } from "../../lib/errors.ts";
import { explainRefusal } from "../../lib/copy/refusal.ts";
import { noSpaceError } from "../../lib/fsutil.ts";

Deno.test("explainRefusal: a refused manifest of an archive with foreign URLs says why; nothing else is touched", () => {
  const refused = new ManifestRefusedError("push manifest r:v1: 127.0.0.1:5000 returned HTTP 500", {
    op: "push manifest",
    status: 500,
  });
  // The copy engine names the image: the class survives the restating.
  const named = refused.withMessage(`r:v1: ${refused.message}`, { image: "r:v1", ...refused.context });
  const explained = explainRefusal(named, 2);
  assert(explained instanceof ManifestRefusedError);
  assert(explained.message.startsWith("r:v1: push manifest r:v1: 127.0.0.1:5000 returned HTTP 500 — "));
  assert(explained.message.includes("validation.manifests.urls.allow"));
  assertEquals(explained.context.image, "r:v1");
  assert(explainRefusal(named, 0) === named, "no foreign URLs kept: not the reason");
  // The class decides, not the context: the same op and status on another kind of error is left as it is.
  const other = new AirgapError("push manifest r:v1: HTTP 500", { op: "push manifest", status: 500 });
  assert(explainRefusal(other, 2) === other);
});

Deno.test("noSpaceError: a DiskFullError naming the file, kept when restated", () => {
  const full = noSpaceError("/cache/blobs/x.partial", 2048);
  assert(full instanceof DiskFullError);
  assertEquals(full.context.where, "/cache/blobs/x.partial");
  const named = full.withMessage(`image: ${full.message}`, { image: "image", ...full.context });
  assert(named instanceof DiskFullError);
  assertEquals(named.context.where, "/cache/blobs/x.partial");
});
