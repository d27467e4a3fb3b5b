import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { Socket } from "node:net";

/**
 * Ends the child's process group when the sidecar dies without stopping it, kill -9 included.
 *
 * A tiny `/bin/sh` per child holds the read end of a pipe whose write end only the sidecar
 * has (Node opens it close-on-exec, so the app never inherits it). The kernel closes it when
 * the sidecar dies, however it dies; `read` then sees EOF and the watchdog sends SIGTERM to
 * the group, and SIGKILL after the grace period if anything is left.
 *
 * Why not only a parent-death signal (`setpriv --pdeathsig`, PR_SET_PDEATHSIG): it reaches
 * the child alone, not the grandchildren it started; it is cleared when the child execs a
 * setuid or file-capability binary; it fires when the forking thread ends, not the process;
 * it has a window between fork and prctl; and wrapping cmd in setpriv would turn a missing
 * command into setpriv's exit status instead of our spawn error. The pipe has none of these.
 * The watchdog runs in its own session and ignores the usual signals, so Ctrl-C or a signal
 * to the sidecar's group does not end it before it is needed. `kill -s SIG -- -PGID` is the
 * form dash (Debian's /bin/sh) and busybox both accept for a process group.
 */
const WATCHDOG_SCRIPT = [
  "trap '' HUP INT QUIT TERM USR1 USR2 PIPE",
  "while read -r _; do :; done",
  'kill -s TERM -- "-$1" 2>/dev/null || exit 0',
  "n=0",
  'while kill -s 0 -- "-$1" 2>/dev/null; do',
  '  if [ "$n" -ge "$2" ]; then kill -s KILL -- "-$1" 2>/dev/null; exit 0; fi',
  "  sleep 0.1; n=$((n + 1))",
  "done",
].join("\n");

export const WATCHDOG_SHELL = "/bin/sh";

export interface Watchdog {
  /** The watchdog's own PID, for tests. */
  readonly pid: number | undefined;
  /** The group ended normally: the watchdog exits without signalling anything. */
  disarm(): void;
}

/**
 * Starts the watchdog of process group `pgid`. `onUnavailable` hears once why it could not
 * start (no /bin/sh, as in a distroless image): the child then outlives a kill -9 of the
 * sidecar, and the caller warns.
 */
export function startWatchdog(
  pgid: number,
  gracePeriodMs: number,
  onUnavailable: (error: Error) => void,
): Watchdog {
  const tenths = String(Math.max(1, Math.ceil(gracePeriodMs / 100)));
  let watchdog: ChildProcess;
  try {
    watchdog = spawn(WATCHDOG_SHELL, ["-c", WATCHDOG_SCRIPT, "spiffe-sidecar-watchdog", String(pgid), tenths], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
      // Its own PATH: `sleep` must be found whatever the sidecar's environment holds.
      env: { PATH: "/usr/bin:/bin" },
    });
  } catch (error: unknown) {
    onUnavailable(error instanceof Error ? error : new Error(String(error)));
    return { pid: undefined, disarm: () => undefined };
  }
  let armed = true;
  watchdog.once("error", (error) => {
    armed = false;
    onUnavailable(error);
  });
  // The watchdog must never keep the sidecar's event loop alive.
  watchdog.unref();
  if (watchdog.stdin instanceof Socket) watchdog.stdin.unref();
  // EPIPE here only means the watchdog is already gone.
  watchdog.stdin?.on("error", () => undefined);
  return {
    pid: watchdog.pid,
    disarm() {
      if (!armed) return;
      armed = false;
      // SIGKILL, not EOF: an EOF would make it signal the group, whose id may be reused by now.
      watchdog.kill("SIGKILL");
    },
  };
}
