/**
 * Sprig's time functions (`now`, `date`, `unixEpoch`, …) with Go's reference
 * layout (`2006-01-02 15:04:05`). Charts use them for annotations and
 * checksums, rarely for anything an image depends on, but an unrendered
 * template would cost the whole chart its exact image list.
 * @module
 */
import { execError } from "./errors.ts";
import type { TemplateFunction } from "./evaluate.ts";
import { toStr, type Value, withMethods } from "./gotypes.ts";

/** A Go `time.Time`: an instant and the zone it is shown in (offset in minutes east of UTC). */
interface GoTime {
  ms: number;
  offset: number;
  zone: string;
}

const times = new WeakMap<object, GoTime>();

function timeValue(t: GoTime): object {
  const value = withMethods({}, {
    String: () => format(t, "2006-01-02 15:04:05.999999999 -0700 MST"),
    Unix: () => BigInt(Math.floor(t.ms / 1000)),
    UTC: () => timeValue({ ms: t.ms, offset: 0, zone: "UTC" }),
    Format: (layout: Value) => format(t, toStr(layout)),
    Year: () => BigInt(fields(t).getUTCFullYear()),
  });
  times.set(value, t);
  return value;
}

/** A time from a Go time value or Unix seconds, as Sprig's `date` accepts. */
function asTime(value: Value): GoTime {
  if (typeof value === "object" && value !== null && times.has(value)) return times.get(value)!;
  if (typeof value === "bigint" || typeof value === "number") {
    return { ms: Number(value) * 1000, offset: 0, zone: "UTC" };
  }
  throw execError(`expected a time, got ${toStr(value)}`);
}

/** The instant shifted by its zone offset, read with the UTC getters. */
function fields(t: GoTime): Date {
  return new Date(t.ms + t.offset * 60_000);
}

function zoneOffset(ms: number, zone: string): GoTime {
  if (zone === "" || zone === "UTC") return { ms, offset: 0, zone: "UTC" };
  if (zone === "Local") return { ms, offset: -new Date(ms).getTimezoneOffset(), zone: "Local" };
  let name: string | undefined;
  try {
    name = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
      .formatToParts(new Date(ms)).find((p) => p.type === "timeZoneName")?.value;
  } catch {
    throw execError(`unknown time zone ${zone}`);
  }
  const m = /GMT([+-])(\d\d):(\d\d)/.exec(name ?? "");
  const offset = m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  return { ms, offset, zone };
}

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const LAYOUT =
  /January|Jan(?![a-z])|Monday|Mon(?![a-z])|MST|2006|002|__2|_2|01|02|03|04|05|06|15|1|2|3|4|5|PM|pm|-07:00:00|-070000|-0700|-07:00|-07|Z07:00:00|Z070000|Z0700|Z07:00|Z07|[.,](?:0+|9+)(?!\d)/g;

function pad(n: number, width = 2, fill = "0"): string {
  return String(n).padStart(width, fill);
}

function zoneText(offset: number, chunk: string): string {
  if (chunk.startsWith("Z") && offset === 0) return "Z";
  const sign = offset < 0 ? "-" : "+";
  const hours = pad(Math.floor(Math.abs(offset) / 60)), minutes = pad(Math.abs(offset) % 60);
  const body = chunk.replace(/^Z/, "-");
  if (body === "-07") return `${sign}${hours}`;
  if (body === "-0700" || body === "-070000") return `${sign}${hours}${minutes}${body.length > 5 ? "00" : ""}`;
  return `${sign}${hours}:${minutes}${body.length > 6 ? ":00" : ""}`;
}

/** Go's `Time.Format` for the common layout elements. */
function format(t: GoTime, layout: string): string {
  const d = fields(t);
  const hour = d.getUTCHours();
  const nanos = (t.ms % 1000 + 1000) % 1000 * 1_000_000;
  return layout.replace(LAYOUT, (chunk) => {
    switch (chunk) {
      case "January":
        return MONTHS[d.getUTCMonth()];
      case "Jan":
        return MONTHS[d.getUTCMonth()].slice(0, 3);
      case "Monday":
        return DAYS[d.getUTCDay()];
      case "Mon":
        return DAYS[d.getUTCDay()].slice(0, 3);
      case "MST":
        // Go prints the zone's abbreviation; without a zone database we show the offset, as Go does for unnamed zones.
        return t.zone === "UTC" ? "UTC" : zoneText(t.offset, "-0700");
      case "2006":
        return pad(d.getUTCFullYear(), 4);
      case "06":
        return pad(d.getUTCFullYear() % 100);
      case "002":
        return pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3);
      case "01":
        return pad(d.getUTCMonth() + 1);
      case "1":
        return String(d.getUTCMonth() + 1);
      case "02":
        return pad(d.getUTCDate());
      case "_2":
        return pad(d.getUTCDate(), 2, " ");
      case "2":
        return String(d.getUTCDate());
      case "15":
        return pad(hour);
      case "03":
        return pad(hour % 12 || 12);
      case "3":
        return String(hour % 12 || 12);
      case "04":
        return pad(d.getUTCMinutes());
      case "4":
        return String(d.getUTCMinutes());
      case "05":
        return pad(d.getUTCSeconds());
      case "5":
        return String(d.getUTCSeconds());
      case "PM":
        return hour >= 12 ? "PM" : "AM";
      case "pm":
        return hour >= 12 ? "pm" : "am";
    }
    if (/^[.,]/.test(chunk)) {
      const digits = String(nanos).padStart(9, "0").slice(0, chunk.length - 1);
      if (chunk[1] === "0") return chunk[0] + digits;
      const trimmed = digits.replace(/0+$/, "");
      return trimmed ? chunk[0] + trimmed : "";
    }
    return zoneText(t.offset, chunk);
  });
}

/** Go's `time.ParseDuration` for `dateModify`: `-1.5h`, `10m30s`. */
function parseDuration(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const m = /^([+-]?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(text.trim());
  if (!m) throw execError(`time: invalid duration "${text}"`);
  let total = 0;
  for (const [, amount, unit] of m[2].matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(amount) * units[unit];
  }
  return m[1] === "-" ? -total : total;
}

/** Sprig's time functions, in the local zone as Helm runs them unless a zone is named. */
export const timeFunctions: Record<string, TemplateFunction> = {
  now: () => timeValue(zoneOffset(Date.now(), "Local")),
  date: (layout, when) => format(asTime(when), toStr(layout)),
  dateInZone: (layout, when, zone) => format(zoneOffset(asTime(when).ms, toStr(zone)), toStr(layout)),
  htmlDate: (when) => format(asTime(when), "2006-01-02"),
  htmlDateInZone: (when, zone) => format(zoneOffset(asTime(when).ms, toStr(zone)), "2006-01-02"),
  unixEpoch: (when) => String(Math.floor(asTime(when).ms / 1000)),
  dateModify: (change, when) => {
    const t = asTime(when);
    return timeValue({ ...t, ms: t.ms + parseDuration(toStr(change)) });
  },
};
