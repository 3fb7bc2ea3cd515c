/**
 * A split archive's parts, checked by name and size (`partProblems`) and,
 * when reading fails, by hashing them against `NAME.SHA256SUMS`
 * (`diagnoseParts`): a seeded generator writes small part sets, applies one
 * fault — a missing part, an extra part, a short part, a short last part, two
 * parts swapped — with or without a sums file, and checks that the message
 * names the part(s) at fault by file name. Faults that no check can see are
 * not claimed: without a sums file, an extra part or a swap of two parts of
 * the same size leave nothing to tell them by.
 *
 * Longer run: `AIRGAP_MEDIA_CASES=5000 deno test -A tests/unit/media_parts.test.ts`
 * (seed: `AIRGAP_MEDIA_SEED`, default 1).
 */
import { basename, join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { generatorRun, mulberry32 } from "../helpers/seeded.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { diagnoseParts, partProblems, readParts, writeSums } from "../../lib/format/checksums.ts";
import { checkOutputDirectory, findVolumes, partName } from "../../lib/format/volumes.ts";

type Fault = "missing" | "extra" | "short" | "short-last" | "swap";

/** One case: write the parts, damage them, and say which file names the message must contain (none: not claimed). */
async function runCase(dir: string, random: () => number, n: number): Promise<string> {
  const count = 2 + Math.floor(random() * 6);
  const part = 16 + Math.floor(random() * 48);
  const lastSize = 1 + Math.floor(random() * part);
  const base = join(dir, `case${n}.tar`);
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = Uint8Array.from({ length: i === count - 1 ? lastSize : part }, () => Math.floor(random() * 256));
    paths.push(partName(base, i));
    await Deno.writeFile(paths[i], bytes);
  }
  const sums = random() < 0.5;
  if (sums) await writeSums(base, paths);
  const faults: Fault[] = ["missing", "extra", "short", "short-last", "swap"];
  const fault = faults[Math.floor(random() * faults.length)];
  const pick = (below: number) => Math.floor(random() * below);
  const name = (i: number) => basename(paths[i]);
  let expect: string[] = [];
  if (fault === "missing") {
    const i = pick(count);
    await Deno.remove(paths[i]);
    expect = sums || i < count - 1 ? [name(i)] : [`a part after ${name(i - 1)} may be missing`];
  } else if (fault === "extra") {
    await Deno.copyFile(paths[pick(count)], partName(base, count));
    expect = sums ? [basename(partName(base, count)), "an extra part"] : [];
  } else if (fault === "short" && count > 2) {
    const i = pick(count - 1);
    await truncate(paths[i], pick(part));
    expect = [name(i), "short"];
  } else if (fault === "short-last" || fault === "short") {
    await truncate(paths[count - 1], pick(lastSize));
    expect = [name(count - 1), sums ? "damaged or short" : "may be short"];
  } else {
    const i = pick(count);
    const j = (i + 1 + pick(count - 1)) % count;
    await Deno.rename(paths[i], `${base}.x`);
    await Deno.rename(paths[j], paths[i]);
    await Deno.rename(`${base}.x`, paths[j]);
    const sameSize = i !== count - 1 && j !== count - 1 || lastSize === part;
    expect = sums || !sameSize ? [name(Math.min(i, j)), name(Math.max(i, j)), "swapped"] : [];
  }
  if (expect.length === 0) return `${fault}: not claimed`;
  const found = await findVolumes(paths[0]).catch(() => [paths[0]]);
  const message = await diagnoseParts(found);
  assert(message, `case ${n} (${fault}, ${count} parts of ${part}, last ${lastSize}, sums ${sums}): no diagnosis`);
  for (const text of expect) {
    assert(message.includes(text), `case ${n} (${fault}, ${count} parts, sums ${sums}): "${message}" lacks "${text}"`);
  }
  return fault;
}

async function truncate(path: string, size: number): Promise<void> {
  const file = await Deno.open(path, { write: true });
  await file.truncate(size);
  file.close();
}

Deno.test("media parts: a seeded generator's missing, extra, short and swapped parts are named by file", async () => {
  const { cases, seed, report } = generatorRun("media parts", {
    cases: 200,
    env: { cases: "AIRGAP_MEDIA_CASES", seed: "AIRGAP_MEDIA_SEED" },
  });
  const random = mulberry32(seed);
  const seen = new Map<string, number>();
  await withTempDir(async (dir) => {
    for (let n = 0; n < cases; n++) {
      const fault = await runCase(dir, random, n);
      seen.set(fault, (seen.get(fault) ?? 0) + 1);
    }
  });
  for (const fault of ["missing", "extra", "short", "swap"]) assert((seen.get(fault) ?? 0) > 0, `no ${fault} case`);
  report(` (${[...seen].map(([f, c]) => `${f} ${c}`).join(", ")})`);
});

Deno.test("media parts: intact parts have no problems; names, not offsets", async () => {
  await withTempDir(async (dir) => {
    const base = join(dir, "x.tar");
    const paths = [0, 1, 2].map((i) => partName(base, i));
    for (const [i, p] of paths.entries()) await Deno.writeFile(p, new Uint8Array(i === 2 ? 5 : 10).fill(i));
    await writeSums(base, paths);
    const check = await readParts(base);
    assertEquals(check.listed, ["x.tar.001", "x.tar.002", "x.tar.003"]);
    const sizes = new Map(paths.map((p) => [p, Deno.statSync(p).size]));
    assertEquals(partProblems(check, sizes), []);
    assertEquals(await diagnoseParts(paths), undefined);
    await Deno.remove(paths[1]);
    assertEquals(partProblems(await readParts(base), sizes), [
      "x.tar.002 (part 2 of 3) is missing (x.tar.SHA256SUMS lists it)",
    ]);
  });
});

Deno.test("an output directory that does not exist is refused, naming its missing part; nothing is created", async () => {
  await withTempDir(async (dir) => {
    await checkOutputDirectory(join(dir, "x.tar"));
    const error = await checkOutputDirectory(join(dir, "media", "usb0", "x.tar")).catch((e: Error) => e);
    assertEquals(
      error?.message,
      `cannot write ${join(dir, "media", "usb0", "x.tar")}: ${
        join(dir, "media", "usb0")
      } does not exist (${dir} has no media); airgap does not create directories — check the path, or create it first`,
    );
    await Deno.writeTextFile(join(dir, "file"), "");
    const notDir = await checkOutputDirectory(join(dir, "file", "x.tar")).catch((e: Error) => e);
    assertEquals(
      notDir?.message,
      `cannot write ${join(dir, "file", "x.tar")}: ${join(dir, "file")} is not a directory`,
    );
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["file"]);
  });
});

Deno.test("media parts regression (generator seed 1, case 30): two parts swapped, the larger last", async () => {
  await withTempDir(async (dir) => {
    const base = join(dir, "x.tar");
    const paths = [partName(base, 0), partName(base, 1)];
    await Deno.writeFile(paths[0], new Uint8Array(3));
    await Deno.writeFile(paths[1], new Uint8Array(63));
    assertEquals(
      await diagnoseParts(paths),
      "x.tar.001 (part 1) is smaller than x.tar.002, the last: the two are swapped (or x.tar.001 is short)",
    );
  });
});
