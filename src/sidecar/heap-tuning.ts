import { setFlagsFromString } from "node:v8";

/**
 * V8 heap settings for a long-running sidecar, set by the daemon itself so that every way of
 * starting it (the npm bin, the Docker image, a systemd unit, a single executable) gets them
 * without node flags that the app would inherit through NODE_OPTIONS.
 *
 * New space keeps the size it has instead of doubling up to 8 MiB semi-spaces under a rotation
 * load: 3,000 rotations left 85.1 MiB RSS without it and 72.3 MiB with it, new space 16 MiB
 * against 2 MiB (`v8.getHeapSpaceStatistics`), CPU per 1,000 rotations within the noise
 * (2026-12-06). V8 reads the factor each time it would grow new space, so setting it at run time
 * works. It is set once the daemon has started, never in a one-shot run: from the CLI's first
 * line it made a one-shot's start-up scavenge more often (281-299 ms of CPU against 215-253 ms,
 * 8 runs each, twice). And late because any flag change makes Node compile every built-in module
 * loaded afterwards from source rather than from its embedded code cache (V8 checks a cache
 * against the flags), which cost ~2.5 MiB of RSS at start per change; by the time the daemon
 * has started, grpc-js, HTTP/2 and the rest are loaded.
 *
 * V8's memory reducer is left on, on purpose. It collects garbage up to three times, 8 s apart,
 * once activity stops (about 100 wake-ups over all threads, 30 on the main thread, after start
 * and after each update), and in exchange gives the idle heap back: stopped from the CLI's first
 * line (`--gc-memory-reducer-start-delay-ms` at its maximum) an idle sidecar had 0 wake-ups but
 * stayed at 61.3-61.6 MiB RSS, against 53.8-54.0 MiB 35 s after start with it on (3 starts each,
 * `run` with a child and a 1 h SVID, 2026-12-06). Memory is what a per-pod sidecar is short of.
 */
export function capNewSpace(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}
