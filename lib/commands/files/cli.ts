/**
 * `airgap files ls|extract ARCHIVE`: the files an archive carries
 * (`files:` in airgap.yaml), listed, or written verified with their modes.
 * The work is lib/commands/files/extract.ts.
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { extractFiles, listArchivedFiles } from "./extract.ts";
import { formatBytes, formatTable, shortDigest, tableWidth } from "../../text.ts";
import { out } from "../shared/context.ts";
import { firstPart } from "../shared/resolve_options.ts";

/** Register `airgap files`. */
export function registerFiles(cli: Command): void {
  const files = cli.command("files").description("the files an archive carries (files: in airgap.yaml)");
  files.command("ls")
    .description("list the files of an archive: name, mode, size, sha256")
    .argument("<archive...>", "the archive, its first part, or all its parts")
    .option("--json", "print JSON")
    .action(async (archives: string[], options: { json?: boolean }) => {
      const list = await listArchivedFiles(resolve(firstPart(archives)));
      if (options.json) return out(JSON.stringify(list, null, 2));
      const rows = list.map((f) => [
        f.name,
        f.mode,
        f.carried ? formatBytes(f.size) : `${formatBytes(f.size)} (in the base)`,
        shortDigest(f.sha256),
        f.entry,
      ]);
      for (const line of formatTable(["FILE", "MODE", "SIZE", "SHA256", "REPOSITORY"], rows, { width: tableWidth() })) {
        out(line);
      }
      out("");
      out(`${list.length} files`);
    });
  files.command("extract")
    .description("write the files of an archive into a directory, verified, with their modes")
    .argument("<archive...>", "the archive, its first part, or all its parts")
    .option("-d, --dir <dir>", "the directory to write into", ".")
    .option("--file <name...>", "only these files (by name)")
    .option("--json", "print JSON")
    .action(async (archives: string[], options: { dir: string; file?: string[]; json?: boolean }) => {
      const written = await extractFiles(resolve(firstPart(archives)), {
        dir: resolve(options.dir),
        names: options.file,
      });
      if (options.json) return out(JSON.stringify(written, null, 2));
      for (const f of written) out(`wrote ${f.name} (${f.mode}, ${formatBytes(f.size)}, ${shortDigest(f.sha256)})`);
      out(`${written.length} files written to ${options.dir}, each verified against its sha256`);
    });
}
