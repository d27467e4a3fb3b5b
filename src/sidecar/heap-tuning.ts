import { setFlagsFromString } from "node:v8";

/**
 * V8 heap settings for a long-running sidecar, set by the daemon itself (`applyDaemonHeapFlags`)
 * so that every way of starting it (the npm bin, the Docker image, a systemd unit, a single
 * executable) gets them without node flags. Both are read by V8 when it acts on them, so
 * setting them at run time works (measured below with the flags set that way).
 */

/**
 * New space keeps its initial 1 MiB semi-spaces instead of doubling up to 8 MiB under a
 * rotation load: the bench's rotations (bench/rot-driver, 3,000 rotations, 2026-12-06) left
 * 85.1 MiB RSS without it and 72.3 MiB with it, new space 16 MiB against 2 MiB
 * (`v8.getHeapSpaceStatistics`); CPU per 1,000 rotations stayed within the run-to-run noise.
 */
const SEMI_SPACE_GROWTH = "--semi-space-growth-factor=1";

/**
 * V8's memory reducer collects garbage up to three times, 8 s apart, once activity stops: each
 * round wakes the main thread and the four GC workers, ~100 wake-ups a minute after every
 * update for an idle sidecar whose next event is an hour away (bench idle scenario, per-thread
 * `/proc/PID/task/TID/status` switches, 2026-12-06). Starting it never removes them: 0 wake-ups
 * in the idle minute instead of 78-108. The price is the reducer's shrink of an idle heap
 * (about 4 MiB of RSS after start); the sidecar's garbage is still collected by the regular
 * GCs its next update triggers. setTimeout's largest delay, so V8's timer never fires.
 */
const MEMORY_REDUCER_NEVER_STARTS = `--gc-memory-reducer-start-delay-ms=${2 ** 31 - 1}`;

/**
 * Sets the flags; called once the daemon has started, never in a one-shot run. Changing any V8
 * flag changes the hash that V8 checks code caches against, so every built-in module Node loads
 * afterwards is compiled from source instead of from Node's embedded cache: set at the first
 * line of the CLI, they cost a one-shot ~45-65 ms of CPU (281-299 ms against 215-253 ms, 8 runs
 * each, twice, 2026-12-06), and the single executable's own code cache had to be trained under
 * them. By the time the daemon has started, grpc-js, HTTP/2 and the rest are loaded, and new
 * space has grown only through the start-up's few scavenges (4 in a one-shot).
 */
export function applyDaemonHeapFlags(): void {
  for (const flag of [SEMI_SPACE_GROWTH, MEMORY_REDUCER_NEVER_STARTS]) setFlagsFromString(flag);
}
