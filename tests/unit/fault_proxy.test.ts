/**
 * The fault proxy's pure parts: request classification (which faults a
 * request can get) and the seeded PRNG (a seed means the same faults).
 */
import { assertEquals, assertNotEquals } from "../helpers/assert.ts";
import { mulberry32, requestKind } from "../helpers/fault_proxy.ts";

const D = "sha256:" + "ab".repeat(32);

Deno.test("fault proxy: registry requests are classified by method and path", () => {
  assertEquals(requestKind("GET", `/v2/rancher/rancher/blobs/${D}`), "blob-get");
  assertEquals(requestKind("HEAD", `/v2/rancher/rancher/blobs/${D}`), "head");
  assertEquals(requestKind("GET", "/v2/rancher/rancher/manifests/v2.7.9"), "manifest-get");
  assertEquals(requestKind("PUT", "/v2/mirror/rancher/rancher/manifests/v2.7.9"), "manifest-put");
  assertEquals(requestKind("POST", "/v2/rancher/rancher/blobs/uploads/"), "upload-post");
  assertEquals(requestKind("POST", `/v2/a/b/blobs/uploads/?mount=${D}&from=c/d`), "upload-post");
  assertEquals(requestKind("PATCH", "/v2/a/b/blobs/uploads/0b1c-uuid?_state=x"), "upload-patch");
  assertEquals(requestKind("PUT", `/v2/a/b/blobs/uploads/0b1c-uuid?_state=x&digest=${D}`), "upload-put");
  assertEquals(requestKind("GET", "/v2/"), "other");
});

Deno.test("fault proxy: the PRNG is a function of its seed", () => {
  const draw = (seed: number) => {
    const r = mulberry32(seed);
    return Array.from({ length: 8 }, () => r());
  };
  assertEquals(draw(42), draw(42));
  assertNotEquals(draw(42), draw(43));
  for (const x of draw(7)) assertEquals(x >= 0 && x < 1, true);
});
