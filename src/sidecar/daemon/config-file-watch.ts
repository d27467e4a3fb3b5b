import { watch } from "chokidar";

/** Edits closer together than this (an editor's save in several writes) make one reload. */
export const CONFIG_RELOAD_DEBOUNCE_MS = 200;

/** Stops watching; resolves once a reload already under way has finished. */
export type StopConfigWatch = () => Promise<void>;

/**
 * Watches the configuration file and calls `onChange` once per burst of edits, never two at a
 * time. An editor that saves by renaming a new file over the old one is seen too (chokidar's
 * `atomic` handling); `awaitWriteFinish` spares the reload a half-written file. `onChange`
 * reports its own errors: a rejection is dropped. Resolves once watching.
 */
export async function watchConfigFile(path: string, onChange: () => Promise<void>): Promise<StopConfigWatch> {
  const watcher = watch(path, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
  let running: Promise<void> = Promise.resolve();
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (debounce !== undefined) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      running = running.then(onChange).catch(() => undefined);
    }, CONFIG_RELOAD_DEBOUNCE_MS);
  };
  watcher.on("add", schedule).on("change", schedule);
  await new Promise<void>((resolveReady) => watcher.once("ready", resolveReady));
  return async () => {
    if (debounce !== undefined) clearTimeout(debounce);
    await watcher.close();
    await running;
  };
}
