/**
 * Every input bounded (issue 19, item 4; the limits are in lib/limits.ts and
 * docs/limits.md): a gzip bomb in a chart stops at the limit with bounded
 * memory, oversized declarations, lists, values files and locks are refused
 * with one line, YAML alias bombs are refused, echoed input is truncated, and
 * SIGTERM stops a run that is busy parsing.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { constants, crc32, deflateRawSync } from "node:zlib";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { airgap, measuredMain, V8_FLAGS } from "../helpers/cli.ts";
import { concatBytes as concat } from "../helpers/fuzz.ts";
import { withTempDir } from "../helpers/tempdir.ts";
import { AirgapError } from "../../lib/errors.ts";
import { echo } from "../../lib/text.ts";
import { LIMITS } from "../../lib/limits.ts";
import { encodeHeader, padding } from "../../lib/format/tar.ts";
import { loadDeclaration } from "../../lib/plan/declaration.ts";
import { checkDeclaration } from "../../lib/commands/check/check.ts";
import { parseLock, parseLockInSteps, readLock } from "../../lib/lock.ts";
import { parseImageList, readImageList } from "../../lib/sources/list.ts";
import { chartFileImages } from "../../lib/commands/images/images.ts";
import { loadChart } from "@airgap/helm";
import { parseReference } from "../../lib/ref.ts";
import { checkYaml } from "../../lib/plan/yaml.ts";
import { ConfigSchema } from "../../schemas/config.ts";

const CLI = new URL("../../cli.ts", import.meta.url);
const MiB = 1024 * 1024;

/**
 * A 3 MB chart whose one template is 3 GiB of zeros: the deflate stream of
 * 64 MiB of zeros (ended by a full flush, so it stands alone) repeated 48
 * times, after the chart's first members, in a gzip member with a true CRC
 * and length. Built in about a second instead of compressing 3 GiB.
 */
export function chartBomb(): Uint8Array {
  const zeros = new Uint8Array(64 * MiB);
  const repeats = 48;
  const chartYaml = new TextEncoder().encode("apiVersion: v2\nname: bomb\nversion: 1.0.0\n");
  const lead = concat([
    encodeHeader({ name: "bomb/Chart.yaml", size: chartYaml.byteLength }),
    chartYaml,
    padding(chartYaml.byteLength),
    encodeHeader({ name: "bomb/templates/zero.yaml", size: repeats * zeros.byteLength }),
  ]);
  const flush = { finishFlush: constants.Z_FULL_FLUSH, level: 9 };
  const segment = deflateRawSync(zeros, flush);
  const end = deflateRawSync(concat([padding(0), new Uint8Array(1024)]));
  let crc = crc32(lead);
  for (let i = 0; i < repeats; i++) crc = crc32(zeros, crc);
  crc = crc32(new Uint8Array(1024), crc);
  const total = lead.byteLength + repeats * zeros.byteLength + 1024;
  const trailer = new Uint8Array(8);
  new DataView(trailer.buffer).setUint32(0, crc >>> 0, true);
  new DataView(trailer.buffer).setUint32(4, total % 2 ** 32, true);
  return concat([
    new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]),
    deflateRawSync(lead, flush),
    ...Array(repeats).fill(segment),
    end,
    trailer,
  ]);
}

Deno.test({
  name: "a 3 MB chart inflating to 3 GiB: a one-line error, peak RSS under 250 MiB (subprocess)",
  async fn() {
    // Regression (issue 19): the whole compressed chart went to the inflater as one chunk (6.4 GB RSS).
    await withTempDir(async (dir) => {
      const bomb = chartBomb();
      assert(bomb.byteLength < 4 * MiB, `the bomb is ${bomb.byteLength} bytes`);
      const path = join(dir, "bomb.tgz");
      await Deno.writeFile(path, bomb);
      // The CLI's main, then the process's own peak RSS (Linux: VmHWM) on the last line of stderr.
      const run = await measuredMain(dir, ["images", "--chart", path]);
      assertEquals(run.code, 2, run.stderr);
      assertEquals(run.lines.length, 1, run.stderr);
      assertStringIncludes(run.lines[0], "error: bomb.tgz: chart too large");
      assertStringIncludes(run.lines[0], "100 MiB");
      console.log(`chart bomb: ${bomb.byteLength} bytes compressed, peak RSS ${run.peak ?? "unknown"} KiB`);
      if (run.peak !== undefined) assert(run.peak < 250 * 1024, `peak RSS ${run.peak} KiB`);
    });
  },
});

Deno.test("a chart and its packaged subcharts share one inflation budget", async () => {
  // Many small subcharts, each inflating to most of the limit, are refused like one large chart.
  const gzip = async (bytes: Uint8Array) =>
    new Uint8Array(
      await new Response(
        ReadableStream.from([bytes as Uint8Array<ArrayBuffer>]).pipeThrough(new CompressionStream("gzip")),
      ).arrayBuffer(),
    );
  const file = (name: string, data: Uint8Array) =>
    concat([encodeHeader({ name, size: data.byteLength }), data, padding(data.byteLength)]);
  const yaml = (name: string) => new TextEncoder().encode(`apiVersion: v2\nname: ${name}\nversion: 1.0.0\n`);
  const sub = await gzip(
    concat([file("sub/Chart.yaml", yaml("sub")), file("sub/big.txt", new Uint8Array(40 * MiB)), new Uint8Array(1024)]),
  );
  const parts = [file("top/Chart.yaml", yaml("top"))];
  for (let i = 0; i < 3; i++) parts.push(file(`top/charts/sub${i}.tgz`, sub));
  const top = await gzip(concat([...parts, new Uint8Array(1024)]));
  await assertRejects(() => loadChart(top, "top.tgz"), AirgapError, "chart too large");
});

Deno.test("oversized inputs are refused with one line naming the file and the limit", async () => {
  await withTempDir(async (dir) => {
    const write = async (name: string, size: number, line: string) => {
      const path = join(dir, name);
      await Deno.writeTextFile(path, line.repeat(Math.ceil(size / line.length)));
      return path;
    };
    const oneLine = (e: Error) => assert(!e.message.includes("\n") && e.message.length < 300, e.message);
    const declaration = await write("airgap.yaml", LIMITS.declaration + 1, "# padding\n");
    oneLine(await assertRejects(() => loadDeclaration(declaration), AirgapError, "declaration too large"));
    const problems = await checkDeclaration(declaration);
    assertEquals(problems.length, 1, problems.join("\n"));
    assertStringIncludes(problems[0], "declaration too large");
    const list = await write("list.txt", LIMITS.imageList + 1, "rancher/rancher:v2.7.9\n");
    oneLine(await assertRejects(() => readImageList(list), AirgapError, "image list too large"));
    assertRejects(() => Promise.resolve(parseImageList("a\n".repeat(LIMITS.imageList), "x")), AirgapError, "too large");
    const lock = await write("airgap.lock", LIMITS.lock + 1, " ");
    oneLine(await assertRejects(() => readLock(lock), AirgapError, "lock too large"));
    assertRejects(() => Promise.resolve(parseLock(" ".repeat(LIMITS.lock + 1), "x")), AirgapError, "lock too large");
    const values = await write("values.yaml", LIMITS.values + 1, "# padding\n");
    const chart = join(dir, "c.tgz");
    await Deno.writeFile(chart, new Uint8Array(0));
    oneLine(
      await assertRejects(
        () => chartFileImages({ path: chart, valuesFiles: [values] }),
        AirgapError,
        "values file too large",
      ),
    );
    // A file at the limit is read.
    const atLimit = await write("ok.txt", 0, "");
    await Deno.writeTextFile(atLimit, "rancher/rancher:v2.7.9\n" + "#".repeat(LIMITS.imageList - 24) + "\n");
    assertEquals((await readImageList(atLimit)).length, 1);
  });
});

Deno.test("the CLI: an oversized airgap.yaml is one error line, exit 2", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "airgap.yaml"), "# padding\n".repeat(LIMITS.declaration / 10 + 1));
    const result = await airgap(["check"], { cwd: dir });
    assertEquals(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split("\n");
    assertStringIncludes(lines[0], "airgap.yaml: declaration too large (256 KiB, over the limit of 256 KiB");
  });
});

Deno.test("YAML alias bombs are refused, not expanded", () => {
  const laughs = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 10; i++) {
    const prev = String.fromCharCode(96 + i);
    laughs.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${prev}`).join(", ")}]`,
    );
  }
  const checked = checkYaml(laughs.join("\n") + "\n", "airgap.yaml", ConfigSchema);
  assertEquals(checked.problems.length, 1, checked.problems.join("\n"));
  assertStringIncludes(checked.problems[0], "airgap.yaml:1:1: ");
  assertStringIncludes(checked.problems[0], "alias");
});

Deno.test("echoed input is truncated: a 50 MB reference is not printed whole", () => {
  const huge = "a".repeat(50 * 1000 * 1000);
  let message = "";
  try {
    parseReference(huge);
  } catch (e) {
    assert(e instanceof AirgapError, String(e));
    message = e.message;
  }
  assert(message.length < 400, `${message.length} characters`);
  assertStringIncludes(message, "(50000000 characters)");
  // A list line is echoed the same way; control characters are escaped, so an echo stays one line.
  assertEquals(echo("a\nb\u001b[31m"), "a\\x0ab\\x1b[31m");
  assertEquals(echo("abc", 2), "ab… (3 characters)");
  let listMessage = "";
  try {
    parseImageList(`${"b".repeat(100_000)}:1\n`, "list.txt");
  } catch (e) {
    listMessage = (e as Error).message;
  }
  assert(listMessage.startsWith("list.txt:1: invalid image reference") && listMessage.length < 400, listMessage);
});

Deno.test({
  name: "SIGTERM while parsing a maximal declaration and lists: exits non-zero with one line (subprocess)",
  ignore: Deno.build.os !== "linux", // reads /proc to know the handler is installed; signals differ on Windows
  async fn() {
    await withTempDir(async (dir) => {
      // A declaration at its limit naming lists at theirs: seconds of parsing and checking.
      const lists: string[] = [];
      for (let i = 0; i < 12; i++) {
        const name = `list${i}.txt`;
        let text = "";
        for (let n = 0; text.length < LIMITS.imageList - 100; n++) text += `rancher/image-${i}-${n}:v1.0.${n}\n`;
        await Deno.writeTextFile(join(dir, name), text);
        lists.push(name);
      }
      let yaml = `version: 1\nlists: [${lists.join(", ")}]\nimages:\n`;
      for (let n = 0; yaml.length < LIMITS.declaration - 100; n++) yaml += `  - rancher/inline-${n}:v${n}\n`;
      await Deno.writeTextFile(join(dir, "airgap.yaml"), yaml);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", V8_FLAGS, fileURLToPath(CLI), "check"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const output = child.output();
      // Wait until the process catches SIGTERM (its handler is installed), then send it.
      const caught = () => {
        try {
          const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
          const mask = BigInt(`0x${status.match(/SigCgt:\s*([0-9a-f]+)/)?.[1] ?? "0"}`);
          return (mask & (1n << 14n)) !== 0n; // SIGTERM is 15: bit 14
        } catch {
          return false;
        }
      };
      const hangGuard = Date.now() + 30_000;
      while (!caught() && Date.now() < hangGuard) await new Promise((r) => setTimeout(r, 5));
      const sent = performance.now();
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000); // a hang guard only
      const result = await output;
      clearTimeout(timer);
      const elapsed = Math.round(performance.now() - sent);
      const stderr = new TextDecoder().decode(result.stderr).trim();
      console.log(`SIGTERM while checking: exited ${result.code} after ${elapsed} ms`);
      assertEquals(result.code, 130, stderr);
      assertEquals(stderr.split("\n").length, 1, stderr);
      assertStringIncludes(stderr, "interrupted");
    });
  },
});

Deno.test("a large lock is validated in steps (signals are heard), with the same result and the same errors", async () => {
  const hex = (i: number) => i.toString(16).padStart(64, "0");
  const images = Array.from({ length: 1200 }, (_, i) => ({
    entry: `rancher/img-${i}:v1`,
    source: `docker.io/rancher/img-${i}:v1`,
    digest: `sha256:${hex(i)}`,
    mediaType: "application/vnd.oci.image.index.v1+json",
    size: 1234,
    platforms: ["linux/amd64"],
    blobs: { [`sha256:${hex(i + 5000)}`]: 10 },
  }));
  const text = JSON.stringify({ lockVersion: 1, images });
  assertEquals(await parseLockInSteps(text, "airgap.lock"), parseLock(text, "airgap.lock"));
  const bad = JSON.stringify({ lockVersion: 1, images: images.map((i, n) => n === 900 ? { ...i, size: -1 } : i) });
  const expected = (() => {
    try {
      parseLock(bad, "airgap.lock");
    } catch (e) {
      return (e as Error).message;
    }
  })();
  assertStringIncludes(String(expected), "images[900].size");
  await assertRejects(() => parseLockInSteps(bad, "airgap.lock"), AirgapError, expected);
});
