import { systemErrorCode } from "./child-exit.js";

/**
 * Sends `signal` to every process of the group `pgid` (the child and whatever it started that
 * did not leave the group). False when no process is left in it; throws for anything else
 * (EPERM: a member changed its user, which the caller should hear about).
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  if (!(Number.isInteger(pgid) && pgid > 1)) throw new RangeError(`not a process group id: ${pgid}`);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error: unknown) {
    if (systemErrorCode(error) === "ESRCH") return false;
    throw error;
  }
}

/** True while at least one process (a zombie included) is in the group. */
export function groupExists(pgid: number): boolean {
  try {
    return signalGroup(pgid, 0);
  } catch {
    // EPERM: a member exists that we may not signal.
    return true;
  }
}
