import { setFlagsFromString } from "node:v8";

/**
 * V8 heap settings for a long-running sidecar, set by the sidecar itself so that every way of
 * starting it (the npm bin, the Docker image, a systemd unit, a single executable) gets them
 * without node flags. Both are read by V8 when it acts on them, so setting them at run time
 * works (measured with the flags set that way).
 */

/**
 * V8's memory reducer collects garbage up to three times, 8 s apart, once activity stops: each
 * round wakes the main thread and the four GC workers, ~100 wake-ups a minute after every
 * update for an idle sidecar whose next event is an hour away (bench idle scenario, per-thread
 * `/proc/PID/task/TID/status` switches, 2026-12-06). Starting it never removes them: 0 wake-ups
 * in the idle minute instead of 78-108. The price is the reducer's shrink of an idle heap
 * (about 4 MiB of RSS a few seconds after start); the sidecar's garbage is still collected by
 * the regular GCs its next update triggers. The delay is setTimeout's largest, so V8's timer
 * never fires.
 *
 * V8 arms the reducer while the old generation first grows, during start-up (a
 * `Mark-Compact (reduce)` 8 s after start with the flag set once the daemon had started), so
 * this runs at the CLI's first line (`src/cli/start-heap-flags.ts`). One-shot CPU with it there:
 * 215-225 ms against 209-234 ms without (8 runs each, three rounds, 2026-12-06).
 */
export function stopMemoryReducer(): void {
  setFlagsFromString(`--gc-memory-reducer-start-delay-ms=${2 ** 31 - 1}`);
}

/**
 * New space keeps the size it has instead of doubling up to 8 MiB semi-spaces under a rotation
 * load: the bench's rotations (3,000 rotations, 2026-12-06) left 85.1 MiB RSS without it and
 * 72.3 MiB with it, new space 16 MiB against 2 MiB (`v8.getHeapSpaceStatistics`); CPU per
 * 1,000 rotations stayed within the run-to-run noise. Set once the daemon has started, never in
 * a one-shot run: from the CLI's first line it made a one-shot's start-up scavenge more often,
 * 281-299 ms of CPU against 215-253 ms (8 runs each, twice, 2026-12-06).
 */
export function capNewSpace(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}
