/**
 * Semantic versions and constraints as Masterminds/semver v3 (behind Sprig's
 * `semverCompare`) reads them, for checks like
 * `semverCompare ">=1.21-0" .Capabilities.KubeVersion.GitVersion`.
 * @module
 */
import { execError } from "./errors.ts";

/** A parsed version; missing minor/patch are 0. */
export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: string;
  metadata: string;
  original: string;
}

const VERSION =
  /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

/** Parse a version leniently (`v1.28`, `1.28.3-gke.100`, `v1.27.4+k3s1`). */
export function parseSemver(text: string): SemVer {
  const m = VERSION.exec(text.trim());
  if (!m) throw execError(`invalid semantic version "${text}"`);
  return {
    major: Number(m[1]),
    minor: Number(m[2] ?? 0),
    patch: Number(m[3] ?? 0),
    prerelease: m[4] ?? "",
    metadata: m[5] ?? "",
    original: text,
  };
}

function comparePrerelease(a: string, b: string): number {
  if (a === b) return 0;
  if (a === "") return 1;
  if (b === "") return -1;
  const x = a.split("."), y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === undefined) return -1;
    if (y[i] === undefined) return 1;
    const nx = /^\d+$/.test(x[i]), ny = /^\d+$/.test(y[i]);
    if (nx && ny && Number(x[i]) !== Number(y[i])) return Number(x[i]) < Number(y[i]) ? -1 : 1;
    if (nx !== ny) return nx ? -1 : 1;
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

/** -1, 0 or 1, ignoring build metadata. */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (const key of ["major", "minor", "patch"] as const) {
    if (a[key] !== b[key]) return a[key] < b[key] ? -1 : 1;
  }
  return comparePrerelease(a.prerelease, b.prerelease);
}

interface Constraint {
  op: string;
  con: SemVer;
  /** The whole version was a wildcard (`*`, `x`). */
  any: boolean;
  minorDirty: boolean;
  patchDirty: boolean;
}

const ATOM =
  /(!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*(v?(?:\d+|[xX*])(?:\.(?:\d+|[xX*]))?(?:\.(?:\d+|[xX*]))?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)/g;

function parseAtom(op: string, text: string): Constraint {
  const m = /^v?([^.+-]+)(?:\.([^.+-]+))?(?:\.([^.+-]+))?(-[^+]+)?(\+.*)?$/.exec(text)!;
  const isX = (part?: string) => part === undefined || /^[xX*]$/.test(part);
  const any = /^[xX*]$/.test(m[1]);
  const minorDirty = any || isX(m[2]);
  const patchDirty = minorDirty || isX(m[3]);
  const version = `${any ? 0 : m[1]}.${minorDirty ? 0 : m[2]}.${patchDirty ? 0 : m[3]}${m[4] ?? ""}`;
  const normalisedOp = op === "=>" ? ">=" : op === "=<" ? "<=" : op === "~>" ? "~" : op || "=";
  return { op: normalisedOp, con: parseSemver(version), any, minorDirty, patchDirty };
}

function check(v: SemVer, c: Constraint): boolean {
  // A prerelease only satisfies constraints that themselves name a prerelease.
  if (v.prerelease !== "" && c.con.prerelease === "") return false;
  if (c.any) return c.op !== "!=";
  const cmp = compareSemver(v, c.con);
  const dirty = c.minorDirty || c.patchDirty;
  const tilde = () =>
    cmp >= 0 && ((c.con.major === 0 && c.con.minor === 0 && c.con.patch === 0 && !dirty) ||
      (v.major === c.con.major && (c.minorDirty || v.minor === c.con.minor)));
  switch (c.op) {
    case "=":
      return dirty ? tilde() : cmp === 0;
    case "!=":
      return dirty ? !tilde() : cmp !== 0;
    case ">":
      if (!dirty) return cmp > 0;
      if (v.major !== c.con.major) return v.major > c.con.major;
      if (c.minorDirty) return false;
      return v.minor > c.con.minor;
    case ">=":
      return cmp >= 0;
    case "<":
      return cmp < 0;
    case "<=":
      if (!dirty) return cmp <= 0;
      if (v.major !== c.con.major) return v.major < c.con.major;
      if (c.minorDirty) return true;
      return v.minor <= c.con.minor;
    case "~":
      return tilde();
    case "^":
      if (cmp < 0) return false;
      if (c.con.major > 0 || c.minorDirty) return v.major === c.con.major;
      if (c.con.minor > 0 || c.patchDirty) return v.major === 0 && v.minor === c.con.minor;
      return v.major === 0 && v.minor === 0 && v.patch === c.con.patch;
  }
  return false;
}

/** Parse `">= 1.2, < 2 || ^3"` into OR-groups of AND-ed atoms. */
export function parseConstraint(text: string): Constraint[][] {
  const groups = text.split("||").map((group) => {
    const expanded = group.replace(/(\S+)\s+-\s+(\S+)/g, ">= $1, <= $2");
    const atoms = Array.from(expanded.matchAll(ATOM), (m) => parseAtom(m[1] ?? "", m[2]));
    const leftover = expanded.replace(ATOM, "").replace(/[\s,]/g, "");
    if (atoms.length === 0 || leftover !== "") throw execError(`improper constraint: ${text}`);
    return atoms;
  });
  return groups;
}

/** Sprig's `semverCompare`: does `version` satisfy `constraint`? */
export function semverSatisfies(constraint: string, version: string): boolean {
  const v = parseSemver(version);
  return parseConstraint(constraint).some((group) => group.every((c) => check(v, c)));
}
