/** A temporary directory for the length of `fn`, removed afterwards whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>, prefix = "airgap-test-"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A new directory on another file system than the temporary one — the tmpfs
 * `/dev/shm`, standing for a USB disk (no hard link can reach it) — or
 * undefined when there is none: under CI=true that throws (a missing
 * prerequisite fails), otherwise it is said loudly and the caller skips.
 */
export async function otherFileSystemDir(prefix: string): Promise<string | undefined> {
  if (await Deno.stat("/dev/shm").then((i) => i.isDirectory, () => false)) {
    return await Deno.makeTempDir({ prefix, dir: "/dev/shm" });
  }
  if (Deno.env.get("CI") === "true") throw new Error("no /dev/shm to stand for another file system");
  console.warn("SKIPPING: no /dev/shm to stand for another file system");
  return undefined;
}
