/**
 * Helm charts as OCI artifacts, the way `helm push` stores them: a manifest
 * whose config (`application/vnd.cncf.helm.config.v1+json`) is the chart's
 * Chart.yaml metadata as JSON and whose one layer
 * (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`) is the exact
 * `.tgz`. Charts travel in archives this way, so the copy engine, the
 * de-duplication and the verification that serve images serve them too;
 * index.json marks them with `io.airgap.kind: chart`.
 * @module
 */
import { CHART_NAME_ANNOTATION, CHART_VERSION_ANNOTATION, KIND_ANNOTATION } from "./annotations.ts";
import { AirgapError } from "../errors.ts";
import { digestOf } from "./digest.ts";
import type { Descriptor } from "./manifest.ts";
import { HELM_CHART_CONFIG, HELM_CHART_LAYER, OCI_MANIFEST } from "./media.ts";

/** The layer media type older Helm versions (before 3.8) pushed. */
export const LEGACY_HELM_CHART_LAYER = "application/tar+gzip";

/** A chart artifact: three blobs, ready to be stored. */
export interface ChartArtifact {
  /** The chart's name (Chart.yaml). */
  name: string;
  /** The chart's version (Chart.yaml). */
  version: string;
  /** The name it is listed under: `charts/<name>:<tag>`. */
  entry: string;
  /** The OCI manifest. */
  manifest: { descriptor: Descriptor; bytes: Uint8Array };
  /** The config: Chart.yaml as JSON. */
  config: { descriptor: Descriptor; bytes: Uint8Array };
  /** The chart `.tgz`, byte for byte. */
  chart: { descriptor: Descriptor; bytes: Uint8Array };
  /** The annotations of its index.json entry (beyond the name and entry). */
  annotations: Record<string, string>;
}

/** The OCI tag of a chart version: Helm writes `+` (not allowed in tags) as `_`. */
export function chartTag(version: string): string {
  return version.replaceAll("+", "_");
}

/** Where a chart is listed in an archive and pushed by default: `charts/<name>:<tag>`. */
export function chartEntry(name: string, version: string): string {
  return `charts/${name}:${chartTag(version)}`;
}

/** Is this index.json entry a chart (not an image)? */
export function isChartEntry(entry: { annotations?: Record<string, string> }): boolean {
  return entry.annotations?.[KIND_ANNOTATION] === "chart";
}

/** Go's json.Marshal escapes <, >, & and two line separators; do the same so the bytes match Helm's. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" ? value : String(value);
}

function list<T>(value: unknown, map: (item: unknown) => T | undefined): T[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const out = value.map(map).filter((v): v is T => v !== undefined);
  return out.length > 0 ? out : undefined;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value as Record<string, unknown> : {};
}

function compact(entries: [string, unknown][]): Record<string, unknown> {
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined && v !== false));
}

/**
 * The chart config blob: Chart.yaml's metadata as Helm marshals its
 * `chart.Metadata` (field order, empty fields left out, annotation keys
 * sorted).
 */
export function chartConfigJson(metadata: Record<string, unknown>): Uint8Array {
  const annotations = record(metadata.annotations);
  const sortedAnnotations = Object.keys(annotations).sort().map((k) => [k, text(annotations[k]) ?? ""]);
  const config = compact([
    ["name", text(metadata.name)],
    ["home", text(metadata.home)],
    ["sources", list(metadata.sources, text)],
    ["version", text(metadata.version)],
    ["description", text(metadata.description)],
    ["keywords", list(metadata.keywords, text)],
    [
      "maintainers",
      list(metadata.maintainers, (m) => {
        const r = record(m);
        return compact([["name", text(r.name)], ["email", text(r.email)], ["url", text(r.url)]]);
      }),
    ],
    ["icon", text(metadata.icon)],
    ["apiVersion", text(metadata.apiVersion)],
    ["condition", text(metadata.condition)],
    ["tags", text(metadata.tags)],
    ["appVersion", text(metadata.appVersion)],
    ["deprecated", metadata.deprecated === true ? true : undefined],
    ["annotations", sortedAnnotations.length > 0 ? Object.fromEntries(sortedAnnotations) : undefined],
    ["kubeVersion", text(metadata.kubeVersion)],
    [
      "dependencies",
      list(metadata.dependencies, (d) => {
        const r = record(d);
        return {
          name: text(r.name) ?? "",
          ...compact([["version", text(r.version)]]),
          repository: text(r.repository) ?? "",
          ...compact([
            ["condition", text(r.condition)],
            ["tags", list(r.tags, text)],
            ["enabled", r.enabled === true ? true : undefined],
            [
              "import-values",
              Array.isArray(r["import-values"]) && r["import-values"].length ? r["import-values"] : undefined,
            ],
            ["alias", text(r.alias)],
          ]),
        };
      }),
    ],
    ["type", text(metadata.type)],
  ]);
  return new TextEncoder().encode(goJson(config));
}

/** Build the OCI artifact of a chart `.tgz` whose Chart.yaml is `metadata`. */
export function chartArtifact(tgz: Uint8Array, metadata: Record<string, unknown>): ChartArtifact {
  const name = text(metadata.name);
  const version = text(metadata.version);
  if (!name || !version) throw new AirgapError("a chart needs a name and a version in Chart.yaml");
  const configBytes = chartConfigJson(metadata);
  const config: Descriptor = {
    mediaType: HELM_CHART_CONFIG,
    digest: digestOf(configBytes),
    size: configBytes.byteLength,
  };
  const chart: Descriptor = { mediaType: HELM_CHART_LAYER, digest: digestOf(tgz), size: tgz.byteLength };
  const manifestBytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: [chart],
    annotations: { "org.opencontainers.image.title": name, "org.opencontainers.image.version": version },
  }));
  const manifest: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest: digestOf(manifestBytes),
    size: manifestBytes.byteLength,
  };
  return {
    name,
    version,
    entry: chartEntry(name, version),
    manifest: { descriptor: manifest, bytes: manifestBytes },
    config: { descriptor: config, bytes: configBytes },
    chart: { descriptor: chart, bytes: tgz },
    annotations: {
      [KIND_ANNOTATION]: "chart",
      [CHART_NAME_ANNOTATION]: name,
      [CHART_VERSION_ANNOTATION]: version,
    },
  };
}

/** The chart layer of an artifact manifest (current or legacy media type), or undefined. */
export function chartLayer(manifest: unknown): Descriptor | undefined {
  const layers = record(manifest).layers;
  if (!Array.isArray(layers)) return undefined;
  return layers.find((l) => [HELM_CHART_LAYER, LEGACY_HELM_CHART_LAYER].includes(record(l).mediaType as string)) as
    | Descriptor
    | undefined;
}
