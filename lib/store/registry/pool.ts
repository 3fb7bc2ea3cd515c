/**
 * One registry store per host for the life of a command, so tokens,
 * connections and the "which repository holds which blob" knowledge used
 * for cross-repository mounts are shared by every image.
 * @module
 */
import { createRegistryClient, type RegistrySettings } from "./client.ts";
import { type RegistryStore, registryStore, type RegistryStoreOptions } from "./store.ts";
import type { NetworkEvents, Timeouts } from "../../transport/http.ts";
import { createSession, type NetworkSession } from "../../transport/session.ts";

/** Network settings of a run (command line), applied to every registry of a pool. */
export interface NetworkOptions {
  /** Replace every registry's timeouts (`--timeout`); otherwise `registries.HOST.timeout` or the defaults. */
  timeouts?: Partial<Timeouts>;
  /** Waiting and retry notifications (progress). */
  events?: NetworkEvents;
  /** Cancels every request of the pool, transfers in flight included. */
  signal?: AbortSignal;
}

/**
 * Per-host settings with the run's network options applied to every host,
 * declared or not — for what reads settings by host (source downloads).
 */
export function withNetwork(
  settings: ReadonlyMap<string, RegistrySettings>,
  network: NetworkOptions | undefined,
): ReadonlyMap<string, RegistrySettings> {
  if (!network) return settings;
  const apply = (own: RegistrySettings = {}): RegistrySettings => ({
    ...own,
    timeouts: network.timeouts ?? own.timeouts,
    events: network.events ?? own.events,
    signal: network.signal ?? own.signal,
  });
  const merged = new Map([...settings].map(([host, own]) => [host, apply(own)]));
  return new Proxy(merged, {
    get(target, key) {
      if (key === "get") return (host: string) => target.get(host) ?? apply();
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A lazily filled set of registry stores, sharing the run's network session. */
export interface RegistryPool {
  get(host: string): RegistryStore;
  /** The run's network session: every store's client, and foreign-layer URLs, go through it. */
  readonly session: NetworkSession;
  /** Every store opened so far. */
  all(): RegistryStore[];
  close(): Promise<void>;
}

/** Create a pool; `settings` holds per-host connection settings, `network` the run's flags. */
export function registryPool(
  settings: ReadonlyMap<string, RegistrySettings> = new Map(),
  options: RegistryStoreOptions & { defaults?: RegistrySettings; network?: NetworkOptions } = {},
): RegistryPool {
  const network = options.network ?? {};
  const session = createSession({ hosts: settings, defaults: options.defaults, ...network });
  const stores = new Map<string, RegistryStore>();
  return {
    session,
    get(host) {
      let store = stores.get(host);
      if (!store) {
        const own = session.settings(host);
        const client = createRegistryClient(host, {
          ...own,
          session,
          concurrency: options.concurrency ?? own.concurrency,
        });
        store = registryStore(client, options);
        stores.set(host, store);
      }
      return store;
    },
    all: () => [...stores.values()],
    async close() {
      for (const store of stores.values()) await store.close?.();
      stores.clear();
      session.close();
    },
  };
}
