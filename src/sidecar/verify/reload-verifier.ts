import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../../errors.js";
import type { Logger } from "../logger.js";
import {
  compareServed,
  formatHostPort,
  identityOf,
  probeDelays,
  type CertificateIdentity,
  type VerifyReloadConfig,
} from "./served-certificate.js";
import { probeServedCertificate } from "./tls-probe.js";

/** Where the outcome goes: the health state, which feeds `/ready` and the metrics. */
export interface VerifyOutcomeSink {
  recordAppServingCurrent(): void;
  recordAppServingStale(reason: string): void;
}

export interface ReloadVerifierOptions {
  readonly config: VerifyReloadConfig;
  /** The leaf certificate file we wrote (`svid_file_name`), read at each verification. */
  readonly svidFile: string;
  readonly outcome: VerifyOutcomeSink;
  readonly logger: Logger;
  /** Restart the child; undefined when there is none. */
  readonly restartChild: (() => Promise<void>) | undefined;
}

/** One probe's deadline; the window bounds the whole verification. */
const PROBE_TIMEOUT_MS = 3_000;

async function writtenIdentity(svidFile: string): Promise<CertificateIdentity> {
  const pem = await readFile(svidFile, "utf8");
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (leaf === undefined) throw new Error(`${svidFile} holds no certificate`);
  return identityOf(new X509Certificate(leaf));
}

/**
 * After each notification of an X.509 change, checks that the app serves the SVID just written
 * (issue 15 item 1). A newer verification supersedes a running one. Never throws: every failure
 * is logged, counted and shown in `/ready` through `outcome`.
 */
export class ReloadVerifier {
  readonly #options: ReloadVerifierOptions;
  readonly #address: string;
  #generation = 0;
  /** Aborted by `close`, so no backoff wait outlives the sidecar's shutdown. */
  readonly #closing = new AbortController();

  constructor(options: ReloadVerifierOptions) {
    this.#options = options;
    this.#address = formatHostPort(options.config);
  }

  /**
   * Resolves when this verification (and its escalation) is over or superseded. `renotify`
   * tells the app again, as after the write, for `escalate: signal` and `restart`.
   */
  async verify(renotify: () => Promise<unknown>): Promise<void> {
    const generation = ++this.#generation;
    const { logger, config } = this.#options;
    let written: CertificateIdentity;
    try {
      written = await writtenIdentity(this.#options.svidFile);
    } catch (error: unknown) {
      logger.warn({ error: describeError(error) }, "cannot verify the app's reload: the written SVID is unreadable");
      return;
    }
    const steps: { readonly name: string; readonly run: () => Promise<void> }[] = [];
    if (config.escalate !== "none") steps.push({ name: "notified the app again", run: async () => void (await renotify()) });
    const restart = this.#options.restartChild;
    if (config.escalate === "restart" && restart !== undefined) steps.push({ name: "restarted the child", run: restart });
    let reason = await this.#attempt(written, generation);
    for (const step of steps) {
      if (reason === undefined || this.#superseded(generation)) break;
      logger.warn({ reason, escalation: step.name }, "app not serving current SVID; escalating");
      await step.run().catch((error: unknown) => logger.warn({ error: describeError(error) }, `escalation failed: ${step.name}`));
      reason = await this.#attempt(written, generation);
    }
    if (this.#superseded(generation)) return;
    if (reason === undefined) {
      logger.info({ address: this.#address, serial: written.serialHex }, "app serves the current SVID");
      this.#options.outcome.recordAppServingCurrent();
      return;
    }
    logger.error({ address: this.#address }, `app not serving current SVID: ${reason}`);
    this.#options.outcome.recordAppServingStale(reason);
  }

  /** Stops retrying; a running verification reports nothing more. */
  close(): void {
    this.#closing.abort();
    this.#generation += 1;
  }

  #superseded(generation: number): boolean {
    return this.#closing.signal.aborted || generation !== this.#generation;
  }

  /** Probes until the app serves `written` or the window closes: undefined, or why not. */
  async #attempt(written: CertificateIdentity, generation: number): Promise<string | undefined> {
    const { config } = this.#options;
    const delays = [0, ...probeDelays(config.windowMs)];
    let reason = "not probed";
    for (const delay of delays) {
      if (delay > 0) await sleep(delay, undefined, { signal: this.#closing.signal }).catch(() => undefined);
      if (this.#superseded(generation)) return undefined;
      try {
        const served = await probeServedCertificate({
          host: config.host,
          port: config.port,
          serverName: config.serverName,
          protocol: config.protocol,
          timeoutMs: Math.min(PROBE_TIMEOUT_MS, Math.max(config.windowMs, 100)),
        });
        const comparison = compareServed(this.#address, written, identityOf(served));
        if (comparison.current) return undefined;
        reason = comparison.reason;
      } catch (error: unknown) {
        reason = describeError(error);
      }
    }
    return reason;
  }
}
