import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { applySet, coalesceGlobals, coalesceTables, mergeValues, parseSet, parseValues } from "../src/values.ts";

Deno.test("--set: dotted keys build nested maps; several pairs per argument", () => {
  assertEquals(parseSet(["a.b.c=x"]), { a: { b: { c: "x" } } });
  assertEquals(parseSet(["a.b=1,a.c=two", "d=3"]), { a: { b: 1n, c: "two" }, d: 3n });
});

Deno.test("--set: values are typed like Helm's strvals", () => {
  assertEquals(parseSet(["t=true,f=FALSE,n=null,z=0,i=42,neg=-7,lead=007,f1=1.5,s=v1.2,e="]), {
    t: true,
    f: false,
    n: null,
    z: 0n,
    i: 42n,
    neg: -7n,
    lead: "007",
    f1: "1.5",
    s: "v1.2",
    e: "",
  });
  // --set-string keeps everything a string.
  assertEquals(parseSet(["i=42,t=true"], true), { i: "42", t: "true" });
});

Deno.test("--set: {a,b} lists, [i] indexes, nested list items", () => {
  assertEquals(parseSet(["l={a,b,3}"]), { l: ["a", "b", 3n] });
  assertEquals(parseSet(["l={}"]), { l: [] });
  assertEquals(parseSet(["arr[1]=x"]), { arr: [null, "x"] });
  assertEquals(parseSet(["c[0].name=n,c[0].image=i:1"]), { c: [{ name: "n", image: "i:1" }] });
  assertEquals(parseSet(["m[0][1]=v"]), { m: [[null, "v"]] });
  assertEquals(parseSet(["l={a,b},x=y"]), { l: ["a", "b"], x: "y" });
});

Deno.test("--set: backslash escapes dots, commas and equals", () => {
  assertEquals(parseSet(["nodeSelector.kubernetes\\.io/os=linux"]), { nodeSelector: { "kubernetes.io/os": "linux" } });
  assertEquals(parseSet(["noProxy=a\\,b\\,c"]), { noProxy: "a,b,c" });
  assertEquals(parseSet(["k=a\\=b"]), { k: "a=b" });
});

Deno.test("--set: later settings win and merge into existing maps", () => {
  const values = { image: { repository: "r", tag: "1" }, keep: true };
  applySet(values, "image.tag=2");
  assertEquals(values, { image: { repository: "r", tag: 2n }, keep: true });
});

Deno.test("--set: malformed arguments are usage errors naming the argument", () => {
  for (const bad of ["a", "a,b=c", "=x", "a[x]=1", "l={a,b", "a[1]x"]) {
    assertThrows(() => parseSet([bad]), (e: Error) => e.message.startsWith(`--set ${bad}:`), bad);
  }
});

Deno.test("values: chart defaults fill in under user values; null deletes a default", () => {
  const defaults = { image: { repository: "r", tag: "1", pullPolicy: "IfNotPresent" }, replicas: 1, extra: { a: 1 } };
  const user = { image: { tag: "2" }, extra: null, added: "x" };
  assertEquals(coalesceTables(user, defaults), {
    image: { repository: "r", tag: "2", pullPolicy: "IfNotPresent" },
    replicas: 1,
    added: "x",
  });
});

Deno.test("values: parent globals override a subchart's own globals", () => {
  const section = { global: { registry: "sub", only: "sub" }, x: 1 };
  coalesceGlobals(section, { global: { registry: "parent", nested: { a: 1 } } });
  assertEquals(section, { global: { registry: "parent", only: "sub", nested: { a: 1 } }, x: 1 });
});

Deno.test("values: values files are YAML 1.1, later files win", () => {
  assertEquals(parseValues("a: yes\nb: 0777\nc: 2024-01-02\n", "v.yaml"), { a: true, b: 511, c: "2024-01-02" });
  assertEquals(parseValues("", "empty.yaml"), {});
  assertThrows(() => parseValues("- a\n- b\n", "list.yaml"), /list\.yaml: values must be a map/);
  assertEquals(mergeValues({ a: { b: 1, c: 2 } }, { a: { c: 3 } }), { a: { b: 1, c: 3 } });
});

Deno.test("values: an anchor that contains itself (through an alias or a merge key) is refused, never recursed", () => {
  // The merge-key forms overflowed the stack ("Maximum call stack size exceeded") where yaml.v2 refuses them.
  for (const text of ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a {<<: *a}\n", "x: &x\n  <<: *x\n  y: 1\n"]) {
    assertThrows(() => parseValues(text, "v.yaml"), (e: Error) => e.message.includes("anchor value contains itself"));
  }
  // An anchor merged twice, or used beside itself, is no cycle.
  assertEquals(parseValues("b: &b {k: 1}\nc: {<<: [*b, *b], z: 2}\nd: *b\n", "v.yaml"), {
    b: { k: 1 },
    c: { k: 1, z: 2 },
    d: { k: 1 },
  });
});
