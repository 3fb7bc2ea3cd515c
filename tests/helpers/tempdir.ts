/** A temporary directory for the length of `fn`, removed afterwards whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>, prefix = "airgap-test-"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
