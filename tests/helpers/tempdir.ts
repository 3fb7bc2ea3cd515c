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

/** Mount a small tmpfs of `size` at `dir`, as root only; false (a warning) without root, a failure under CI=true. */
export async function tmpfs(dir: string, size: string): Promise<boolean> {
  await Deno.mkdir(dir, { recursive: true });
  const mount = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir] })
    .output().catch(() => undefined);
  if (mount?.success) return true;
  const message = "a disk-full test needs root to mount a small tmpfs";
  if (Deno.env.get("CI") === "true") throw new Error(message);
  console.warn(`SKIPPING: ${message}`);
  return false;
}
