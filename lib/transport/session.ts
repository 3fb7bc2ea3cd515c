/**
 * One network session per run: built once from the declaration's per-host
 * settings (CA file, insecure, credentials, timeouts, bounds) and the run's
 * flags (`--timeout`, progress events, the Ctrl-C signal), and handed to
 * every HTTP user — the registry clients, source downloads (Rancher release
 * files, chart repositories) and foreign-layer URLs — so no code path builds
 * a bare transport without the run's CA, timeouts, progress or cancellation.
 * Transports are shared by what tells them apart (CA file and timeouts), so
 * TLS clients and their connections are reused across hosts and images.
 * @module
 */
import { AirgapError } from "../errors.ts";
import type { RegistrySettings } from "../store/registry/client.ts";
import { createTransport, type NetworkEvents, type Timeouts, type Transport } from "./http.ts";

/** What a session is built from. */
export interface SessionOptions {
  /** Declared settings by `host[:port]` (airgap.yaml `registries`). */
  hosts?: ReadonlyMap<string, RegistrySettings>;
  /** Settings of hosts not declared (and under every declared one). */
  defaults?: RegistrySettings;
  /** `--timeout`: replaces every host's timeouts. */
  timeouts?: Partial<Timeouts>;
  /** Waiting and retry notifications (progress). */
  events?: NetworkEvents;
  /** The run's cancellation: every request listens. */
  signal?: AbortSignal;
}

/** The network of one run. */
export interface NetworkSession {
  /** The run's cancellation. */
  readonly signal?: AbortSignal;
  /** The run's notifications. */
  readonly events: NetworkEvents;
  /** The settings of one host: declared ones with the run's flags applied, or the defaults. */
  settings(host: string): RegistrySettings;
  /** Is plain HTTP to `host` declared acceptable (loopback always is, see origin.ts)? */
  insecure(host: string): boolean;
  /** The transport for requests to `host` (its CA and timeouts), shared with hosts configured alike. */
  transport(host: string): Transport;
  /** Release every TLS client. */
  close(): void;
}

/** Build the session of a run. */
export function createSession(options: SessionOptions = {}): NetworkSession {
  const hosts = options.hosts ?? new Map<string, RegistrySettings>();
  const events = options.events ?? {};
  const transports = new Map<string, Transport>();
  const declared = (host: string) => hosts.get(host); // exact host[:port], as Docker matches credentials
  const insecure = (host: string) => declared(host)?.insecure === true || options.defaults?.insecure === true;
  const settings = (host: string): RegistrySettings => {
    const own = { ...options.defaults, ...declared(host) };
    return {
      ...own,
      timeouts: options.timeouts ?? own.timeouts,
      events: options.events ?? own.events,
      signal: options.signal ?? own.signal,
    };
  };
  return {
    signal: options.signal,
    events,
    settings,
    insecure,
    transport(host) {
      const own = settings(host);
      const key = JSON.stringify([own.caFile ?? "", own.timeouts ?? {}]);
      let transport = transports.get(key);
      if (!transport) {
        try {
          transport = createTransport({ caFile: own.caFile, insecure, timeouts: own.timeouts, events: own.events });
        } catch (e) {
          throw new AirgapError(`${host}: ${(e as Error).message}`, { where: host }, { cause: e });
        }
        transports.set(key, transport);
      }
      return transport;
    },
    close() {
      for (const transport of transports.values()) transport.close();
      transports.clear();
    },
  };
}
