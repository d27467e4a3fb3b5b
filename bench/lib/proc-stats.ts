import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, almost always 100). */
const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function statusField(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text);
  if (match?.[1] === undefined) throw new Error(`/proc status has no ${field}`);
  return Number(match[1]);
}

/** Resident set size of the process, in KiB (VmRSS of /proc/PID/status). */
export function rssKiB(pid: number): number {
  return statusField(readFileSync(`/proc/${pid}/status`, "utf8"), "VmRSS");
}

/** User plus system CPU time of every thread of the process, in milliseconds. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses; the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

export interface ContextSwitches {
  /** Summed over every thread: each one is a wake-up of some thread. */
  readonly allThreads: number;
  /** The main thread only (what /proc/PID/status reports). */
  readonly mainThread: number;
  readonly threads: number;
}

function switchesOf(statusText: string): number {
  return statusField(statusText, "voluntary_ctxt_switches") + statusField(statusText, "nonvoluntary_ctxt_switches");
}

export function contextSwitches(pid: number): ContextSwitches {
  let allThreads = 0;
  let threads = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      allThreads += switchesOf(readFileSync(`/proc/${pid}/task/${task}/status`, "utf8"));
      threads += 1;
    } catch {
      // A thread that ended between the listing and the read has nothing left to count.
    }
  }
  return { allThreads, mainThread: switchesOf(readFileSync(`/proc/${pid}/status`, "utf8")), threads };
}

export function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
