/**
 * Regenerates lib/example.ts from airgap.example.yaml (run: `deno task example`).
 * The example is built into the program as a module because a compiled binary
 * has no repository to read; tests/unit/check.test.ts fails when the two differ.
 * @module
 */
const root = new URL("../", import.meta.url);
const text = await Deno.readTextFile(new URL("airgap.example.yaml", root));
const head = `/**
 * The commented example declaration (airgap.example.yaml), built into the
 * program so that \`airgap init\` works from a compiled binary, which has no
 * repository to read. A test keeps it equal to airgap.example.yaml; regenerate
 * it with \`deno task example\`.
 * @module
 */

/** The text of airgap.example.yaml. */
export const EXAMPLE_DECLARATION: string = [
`;
const body = text.split("\n").map((line) => `  ${JSON.stringify(line)},\n`).join("");
await Deno.writeTextFile(new URL("lib/commands/init/example.ts", root), `${head}${body}].join("\\n");\n`);
