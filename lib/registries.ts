/**
 * One registry store per host for the life of a command, so tokens,
 * connections and the "which repository holds which blob" knowledge used
 * for cross-repository mounts are shared by every image.
 * @module
 */
import { createRegistryClient, type RegistrySettings } from "./store/registry/client.ts";
import { type RegistryStore, registryStore, type RegistryStoreOptions } from "./store/registry/store.ts";

/** A lazily filled set of registry stores. */
export interface RegistryPool {
  get(host: string): RegistryStore;
  /** Every store opened so far. */
  all(): RegistryStore[];
  close(): Promise<void>;
}

/** Create a pool; `settings` holds per-host connection settings. */
export function registryPool(
  settings: ReadonlyMap<string, RegistrySettings> = new Map(),
  options: RegistryStoreOptions & { defaults?: RegistrySettings } = {},
): RegistryPool {
  const stores = new Map<string, RegistryStore>();
  return {
    get(host) {
      let store = stores.get(host);
      if (!store) {
        const client = createRegistryClient(host, { ...options.defaults, ...settings.get(host) });
        store = registryStore(client, options);
        stores.set(host, store);
      }
      return store;
    },
    all: () => [...stores.values()],
    async close() {
      for (const store of stores.values()) await store.close?.();
      stores.clear();
    },
  };
}
