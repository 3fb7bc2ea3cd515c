/**
 * Keep a registry with a benchmark corpus running, for profiling by hand:
 *   deno run -A bench/serve_corpus.ts [rancher|large] [count]
 * Prints the host and writes the image list to $TMPDIR/airgap-bench-list.txt.
 */
import { join } from "node:path";
import { createRegistryClient } from "../lib/store/registry/client.ts";
import { registryStore } from "../lib/store/registry/store.ts";
import { startRegistry } from "../tests/helpers/registry.ts";
import { largeShapes, pushShapes, rancherShapes } from "./corpus.ts";

const [kind = "rancher", count] = Deno.args;
const registry = await startRegistry();
const store = registryStore(createRegistryClient(registry.host));
const shapes = kind === "large" ? largeShapes(Number(count ?? 6)) : rancherShapes(Number(count ?? 120));
const { names, uniqueBytes } = await pushShapes(store, shapes);
const list = join(Deno.env.get("TMPDIR") ?? "/tmp", "airgap-bench-list.txt");
await Deno.writeTextFile(list, names.join("\n") + "\n");
console.log(`${registry.host} ${names.length} images ${uniqueBytes} bytes, list in ${list}`);
Deno.addSignalListener("SIGINT", async () => {
  await registry.stop();
  Deno.exit(0);
});
await new Promise(() => {});
