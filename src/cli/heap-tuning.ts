import { setFlagsFromString } from "node:v8";

/**
 * V8 heap settings for a long-running sidecar. The CLI entry imports this module first, so
 * every way of starting it (the npm bin, the Docker image, a systemd unit, a single executable)
 * gets them without node flags; both flags are read by V8 when it acts on them, so setting them
 * at run time works (measured below with the flags set here, not on the command line).
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

for (const flag of [SEMI_SPACE_GROWTH, MEMORY_REDUCER_NEVER_STARTS]) setFlagsFromString(flag);
