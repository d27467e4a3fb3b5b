import { watch } from "chokidar";

/** chokidar ignores a `change` within this long of the previous one for the same file. */
const CHOKIDAR_CHANGE_THROTTLE_MS = 50;

/** Stops watching; resolves once a call of `onChange` already under way has finished. */
export type StopWatching = () => Promise<void>;

/**
 * Watches `files` (each may be missing yet, and may be replaced by a rename) and calls
 * `onChange` once per burst of events, never two at a time, and once more a little later:
 * chokidar drops a change that follows another within 50 ms, and that second write is often
 * the one that matters. Callers skip unchanged content, so the extra call is free.
 * `onChange` reports its own errors: a rejection is dropped. Resolves once watching, so a
 * change made after it resolves is seen.
 */
export async function watchFiles(files: readonly string[], onChange: () => Promise<void>, debounceMs: number): Promise<StopWatching> {
  // Waiting for the size to settle spares the caller a half-written file.
  const watcher = watch([...files], { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
  const timers = new Set<NodeJS.Timeout>();
  let running: Promise<void> = Promise.resolve();
  const runAfter = (ms: number): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      running = running.then(onChange).catch(() => undefined);
    }, ms);
    timers.add(timer);
    return timer;
  };
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (debounce !== undefined) {
      clearTimeout(debounce);
      timers.delete(debounce);
    }
    debounce = runAfter(debounceMs);
    runAfter(debounceMs + CHOKIDAR_CHANGE_THROTTLE_MS * 2);
  };
  watcher.on("add", schedule).on("change", schedule).on("unlink", schedule);
  await new Promise<void>((resolve) => watcher.once("ready", resolve));
  return async () => {
    for (const timer of timers) clearTimeout(timer);
    await watcher.close();
    await running;
  };
}
