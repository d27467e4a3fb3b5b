import { watch, type FSWatcher } from "node:fs";

export interface DirectoryWatcherOptions {
  /** Directories watched for the watcher's whole life; they must exist. */
  readonly directories: readonly string[];
  /**
   * A directory that may not exist yet, or may be replaced (a `..data` symlink swap): it is
   * watched again after every change, so the watch follows the current directory.
   */
  readonly rearmedDirectory?: string;
  /** Quiet time after the last event before `onChange` runs, so one rotation's renames count once. */
  readonly debounceMs: number;
  readonly onChange: () => void;
}

/**
 * Watches directories rather than files: the sidecar replaces each file by renaming a new one
 * over it, and a watch on the old file's inode would never see the next rotation.
 */
export class DirectoryWatcher {
  readonly #options: DirectoryWatcherOptions;
  readonly #fixed: FSWatcher[] = [];
  #rearmed: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: DirectoryWatcherOptions) {
    this.#options = options;
    for (const directory of new Set(options.directories)) {
      const watcher = this.#watch(directory);
      if (watcher !== undefined) this.#fixed.push(watcher);
    }
    this.rearm();
  }

  /** Watches `rearmedDirectory` again, if it exists now. */
  rearm(): void {
    const directory = this.#options.rearmedDirectory;
    if (directory === undefined || this.#closed) return;
    this.#rearmed?.close();
    this.#rearmed = this.#watch(directory);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const watcher of this.#fixed) watcher.close();
    this.#rearmed?.close();
  }

  #watch(directory: string): FSWatcher | undefined {
    let watcher: FSWatcher;
    try {
      watcher = watch(directory, { persistent: false }, () => this.#schedule());
    } catch {
      // Not there (yet): a change in its parent, or the next reload, arms it.
      return undefined;
    }
    // A watched directory that is removed (the old `..data` target) ends its watch.
    watcher.on("error", () => watcher.close());
    return watcher;
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#options.onChange(), this.#options.debounceMs);
    this.#timer.unref();
  }
}
