/**
 * Token reuse (lib/store/registry/client.ts `scopesCover`): a token asked for
 * some scopes is reused for a request exactly when, for every scope the
 * request needs, the token names the same resource with at least those
 * actions. Checked against a model (sets of resource→actions) by a seeded
 * generator; AIRGAP_SCOPE_CASES=N runs more cases.
 */
import { scopesCover } from "../../lib/store/registry/client.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { generatorRun, rand } from "../helpers/seeded.ts";

const RUN = generatorRun("token scopes", { cases: 2000, env: { cases: "AIRGAP_SCOPE_CASES" } });

Deno.test("token scopes: a push token covers pull of the same repository, never another repository", () => {
  assert(scopesCover(["repository:a/b:pull,push"], ["repository:a/b:pull"]));
  assert(scopesCover(["repository:a/b:pull,push"], ["repository:a/b:push"]));
  assert(!scopesCover(["repository:a/b:pull"], ["repository:a/b:pull,push"]));
  assert(!scopesCover(["repository:a/b:pull,push"], ["repository:a/bc:pull"]));
  assert(!scopesCover(["repository:a/b:pull,push"], ["repository:a/b:pull", "repository:c:pull"]));
  assert(scopesCover(["repository:a/b:pull,push", "repository:c:pull"], ["repository:a/b:push", "repository:c:pull"]));
});

Deno.test(`token scopes: generator against the model (${RUN.cases} cases, seed ${RUN.seed})`, () => {
  const r = rand(RUN.seed);
  const pick = r.pick;
  const repos = ["a", "a/b", "b", "lib/x"];
  const actionSets = [["pull"], ["push"], ["pull", "push"], ["push", "pull"], ["delete"]];
  const scopes = (n: number) =>
    Array.from({ length: n }, () => `repository:${pick(repos)}:${pick(actionSets).join(",")}`);
  const model = (held: string[], wanted: string[]) =>
    wanted.every((w) => {
      const [, repo, actions] = w.split(":");
      return held.some((h) => {
        const [, r, a] = h.split(":");
        return r === repo && actions.split(",").every((x) => a.split(",").includes(x));
      });
    });
  for (let i = 0; i < RUN.cases; i++) {
    const held = scopes(1 + r.int(3));
    const wanted = scopes(1 + r.int(2));
    assertEquals(scopesCover(held, wanted), model(held, wanted), `case ${i}: ${held} ⊇ ${wanted}`);
  }
  RUN.report();
});
