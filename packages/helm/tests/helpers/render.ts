/**
 * Render template text in one call, for the engine's own tests: the template
 * engine's parts (`src/template.ts`) are private to the package, so this
 * helper lives with the package's tests rather than in the application's.
 * @module
 */
import { createEngine, parseTemplates } from "../../src/template.ts";

/** Render `text` as a template file named `test.yaml`, with optional extra files (helpers). */
export function render(text: string, data: unknown = {}, helpers: Record<string, string> = {}): string {
  const sources = [{ name: "test.yaml", text }, ...Object.entries(helpers).map(([name, text]) => ({ name, text }))];
  const { templates, errors } = parseTemplates(sources);
  if (errors.length > 0) throw errors[0];
  return createEngine(templates).render("test.yaml", data);
}
