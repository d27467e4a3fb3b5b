import type { Logger } from "../logger.js";

/** What the watch needs of the X.509-SVID written last. */
export interface WrittenSvid {
  readonly spiffeId: string;
  readonly serialHex: string;
  readonly notAfter: Date;
}

/** setTimeout's longest delay (2^31-1 ms, about 24.8 days); longer waits are taken in steps. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Says once, at the moment it happens, that the X.509-SVID on disk has expired and nothing
 * valid replaced it (issue 12 item 5). A single timer at notAfter, re-armed by each write: no
 * polling, so an idle sidecar stays idle. Readiness turns false at the same instant, since it
 * judges the same notAfter on every probe.
 */
export class SvidExpiryWatch {
  readonly #logger: Logger;
  readonly #now: () => Date;
  #timer: NodeJS.Timeout | undefined;

  constructor(logger: Logger, now: () => Date) {
    this.#logger = logger;
    this.#now = now;
  }

  /** The SVID just written replaces whatever was watched before. */
  watch(svid: WrittenSvid): void {
    this.stop();
    this.#arm(svid);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(svid: WrittenSvid): void {
    // notAfter is the last valid instant (RFC 5280 §4.1.2.5): expired one millisecond later.
    const untilExpiredMs = svid.notAfter.getTime() + 1 - this.#now().getTime();
    if (untilExpiredMs <= 0) {
      this.#logExpired(svid);
      return;
    }
    this.#timer = setTimeout(() => this.#arm(svid), Math.min(untilExpiredMs, MAX_TIMER_DELAY_MS));
    // Never the only thing keeping the process alive.
    this.#timer.unref();
  }

  #logExpired(svid: WrittenSvid): void {
    this.#timer = undefined;
    this.#logger.error(
      { spiffe_id: svid.spiffeId, serial: svid.serialHex, not_after: svid.notAfter.toISOString() },
      "the X.509-SVID on disk has expired and no valid newer one arrived; the files stay until one does, and readiness is false",
    );
  }
}
