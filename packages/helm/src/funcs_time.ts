/**
 * Sprig's time functions (`now`, `date`, `unixEpoch`, …) with Go's reference
 * layout (`2006-01-02 15:04:05`). Charts use them for annotations and
 * checksums, rarely for anything an image depends on, but an unrendered
 * template would cost the whole chart its exact image list.
 * @module
 */
import { execError } from "./errors.ts";
import type { TemplateFunction } from "./evaluate.ts";
import { comparableAs, toStr, type Value, withMethods } from "./gotypes.ts";

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
  return comparableAs(value, `${t.ms}|${t.offset}|${t.zone}`);
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

/** The regular expression for one layout element, and how its text sets a date field. */
function parsePart(chunk: string): { re: string; set?: (f: DateFields, text: string) => void } {
  const num =
    (key: "year" | "day" | "hour" | "minute") => (f: DateFields, text: string) => (f[key] = Number(text.trim()));
  switch (chunk) {
    case "2006":
      return { re: "\\d{4}", set: num("year") };
    case "06":
      return { re: "\\d\\d", set: (f, t) => (f.year = Number(t) + (Number(t) >= 69 ? 1900 : 2000)) };
    case "01":
    case "1":
      return { re: chunk === "01" ? "\\d\\d" : "\\d\\d?", set: (f, t) => (f.month = Number(t) - 1) };
    case "January":
    case "Jan":
      return {
        re: MONTHS.map((m) => (chunk === "Jan" ? m.slice(0, 3) : m)).join("|"),
        set: (f, t) => (f.month = MONTHS.findIndex((m) => m.startsWith(t))),
      };
    case "Monday":
    case "Mon":
      return { re: DAYS.map((d) => (chunk === "Mon" ? d.slice(0, 3) : d)).join("|") };
    case "02":
    case "_2":
    case "2":
      return { re: chunk === "02" ? "\\d\\d" : " ?\\d\\d?", set: num("day") };
    case "15":
    case "03":
    case "3":
      return { re: chunk === "3" ? "\\d\\d?" : "\\d\\d", set: num("hour") };
    case "04":
    case "4":
      return { re: chunk === "4" ? "\\d\\d?" : "\\d\\d", set: num("minute") };
    case "05":
    case "5":
      return {
        re: `${chunk === "5" ? "\\d\\d?" : "\\d\\d"}(?:[.,]\\d+)?`,
        set: (f, t) => (f.second = Number(t.replace(",", "."))),
      };
    case "PM":
    case "pm":
      return { re: "[AaPp][Mm]", set: (f, t) => (f.pm = t.toUpperCase() === "PM") };
    case "MST":
      return { re: "[A-Z]{3,5}|[+-]\\d{4}", set: (f, t) => (f.offset = t === "UTC" || t === "GMT" ? 0 : f.offset) };
  }
  if (/^[.,]/.test(chunk)) return { re: `[.,]\\d{${chunk[1] === "0" ? chunk.length - 1 : "1,9"}}`, set: fraction };
  return {
    re: `${chunk.startsWith("Z") ? "Z|" : ""}[+-]\\d\\d(?::?\\d\\d(?::?\\d\\d)?)?`,
    set: (f, t) => {
      if (t === "Z") return (f.offset = 0);
      const m = /([+-])(\d\d):?(\d\d)?/.exec(t)!;
      f.offset = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
    },
  };
}

interface DateFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  pm?: boolean;
  offset?: number;
}

function fraction(f: DateFields, text: string): void {
  f.second += Number(`0.${text.slice(1)}`);
}

/** Go's `time.ParseInLocation` (local zone unless the text carries an offset). */
function parseTime(layout: string, text: string): GoTime {
  const setters: ((f: DateFields, t: string) => void)[] = [];
  let source = "", last = 0;
  for (const m of layout.matchAll(LAYOUT)) {
    source += layout.slice(last, m.index).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const part = parsePart(m[0]);
    source += `(${part.re})`;
    setters.push(part.set ?? (() => {}));
    last = m.index + m[0].length;
  }
  source += layout.slice(last).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`^${source}$`).exec(text);
  if (!match) throw execError(`parsing time "${text}" as "${layout}": cannot parse`);
  const f: DateFields = { year: 0, month: 0, day: 1, hour: 0, minute: 0, second: 0 };
  setters.forEach((set, i) => set(f, match[i + 1]));
  if (f.pm !== undefined) f.hour = (f.hour % 12) + (f.pm ? 12 : 0);
  const wall = Date.UTC(f.year, f.month, f.day, f.hour, f.minute, 0) + f.second * 1000;
  if (f.offset !== undefined) return { ms: wall - f.offset * 60_000, offset: f.offset, zone: "" };
  const guess = zoneOffset(wall, "Local");
  return zoneOffset(wall - guess.offset * 60_000, "Local");
}

/** Go's `Duration.String` for a count of nanoseconds. */
function durationString(nanos: bigint): string {
  if (nanos === 0n) return "0s";
  const sign = nanos < 0n ? "-" : "";
  const n = nanos < 0n ? -nanos : nanos;
  if (n < 1_000_000_000n) {
    const [unit, size] = n < 1000n ? ["ns", 1n] : n < 1_000_000n ? ["µs", 1000n] : ["ms", 1_000_000n];
    return sign + decimal(n, size) + unit;
  }
  const hours = n / 3_600_000_000_000n, minutes = (n / 60_000_000_000n) % 60n;
  const seconds = decimal(n % 60_000_000_000n, 1_000_000_000n);
  return sign + (hours > 0n ? `${hours}h` : "") + (hours > 0n || minutes > 0n ? `${minutes}m` : "") + `${seconds}s`;
}

function decimal(n: bigint, unit: bigint): string {
  const whole = n / unit, rest = n % unit;
  if (rest === 0n) return String(whole);
  return `${whole}.${String(rest).padStart(String(unit).length - 1, "0").replace(/0+$/, "")}`;
}

/** Sprig's `durationRound`: the largest unit only (`2h`, `3mo`, `1y`). */
function durationRound(value: Value): string {
  let nanos: bigint;
  if (typeof value === "string") nanos = BigInt(Math.round(parseDuration(value) * 1e6));
  else if (typeof value === "object" && value !== null && times.has(value)) {
    nanos = BigInt(Date.now() - times.get(value)!.ms) * 1_000_000n;
  } else nanos = BigInt(toStr(value).split(".")[0] || "0");
  const u = nanos < 0n ? -nanos : nanos;
  const second = 1_000_000_000n, minute = 60n * second, hour = 60n * minute, day = 24n * hour;
  const year = 365n * day, month = 30n * day;
  const steps: [bigint, string][] = [[year, "y"], [month, "mo"], [day, "d"], [hour, "h"], [minute, "m"], [
    second,
    "s",
  ]];
  for (const [size, unit] of steps) if (u >= size) return `${u / size}${unit}`;
  return "0s";
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
    try {
      return dateModify(change, when);
    } catch {
      return when;
    }
  },
};

function dateModify(change: Value, when: Value): object {
  const t = asTime(when);
  return timeValue({ ...t, ms: t.ms + parseDuration(toStr(change)) });
}

/** The rest of Sprig's time functions and its snake_case aliases. */
Object.assign(timeFunctions, {
  date_in_zone: timeFunctions.dateInZone,
  date_modify: (change: Value, when: Value) => {
    try {
      return dateModify(change, when);
    } catch {
      return when;
    }
  },
  mustDateModify: dateModify,
  must_date_modify: dateModify,
  toDate: (layout: Value, text: Value) => {
    try {
      return timeValue(parseTime(toStr(layout), toStr(text)));
    } catch {
      return timeValue({ ms: new Date(0).setUTCFullYear(1, 0, 1), offset: 0, zone: "UTC" });
    }
  },
  mustToDate: (layout: Value, text: Value) => timeValue(parseTime(toStr(layout), toStr(text))),
  // Sprig reads only a string or an int64 here; a template's int constant or a YAML float gives 0s, as in Helm.
  duration: (seconds: Value) =>
    durationString(typeof seconds === "string" && /^[+-]?\d+$/.test(seconds) ? BigInt(seconds) * 1_000_000_000n : 0n),
  durationRound: (value: Value) => durationRound(value),
  ago: (when: Value) => {
    const ms = Math.round((Date.now() - asTime(when).ms) / 1000) * 1000;
    return durationString(BigInt(ms) * 1_000_000n);
  },
});
