import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describeError, SpiffeSidecarError } from "../../errors.js";
import { systemErrorCode } from "../child/child-exit.js";
import type { HealthState, HealthVerdict } from "./health-state.js";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus-text.js";
import { renderSidecarMetrics } from "./sidecar-metrics.js";

export interface HealthServerOptions {
  readonly state: HealthState;
  /**
   * Every interface by default, IPv4 and IPv6, as spiffe-helper's `:8081`: the kubelet probes
   * the pod IP, so a loopback listener would fail every probe.
   * @default undefined (every interface)
   */
  readonly bindAddress?: string | undefined;
  /**
   * spiffe-helper's `bind_port`; 0 takes a free port (tests), reported in `port`.
   * @default 8081
   */
  readonly port?: number;
  /** @default "/live" */
  readonly livenessPath?: string;
  /** @default "/ready" */
  readonly readinessPath?: string;
  /** @default "/metrics" */
  readonly metricsPath?: string;
  /**
   * The clock readiness is judged by; tests inject one.
   * @default () => new Date()
   */
  readonly now?: () => Date;
}

export interface HealthServer {
  readonly address: string;
  readonly port: number;
  /** `http://address:port`, for logs and tests. */
  readonly url: string;
  /** Stops listening, drops idle keep-alive connections, and resolves once all are closed. */
  close(): Promise<void>;
}

/** The health listener could not be started. */
export class HealthServerError extends SpiffeSidecarError {
  readonly code = "ERR_HEALTH_SERVER";
}

/**
 * The probe body: spiffe-helper's `file_write_statuses` unchanged, so existing probes and
 * dashboards keep working, plus a `spiffe_sidecar` object that says why (the problems by id,
 * `reasons` in words, the agent, expiry), which spiffe-helper's consumers ignore as an
 * unknown key. Nothing in it comes from file contents: no key or token can reach a probe.
 */
function probeBody(state: HealthState, verdict: HealthVerdict, now: Date): string {
  const snapshot = state.snapshot();
  return JSON.stringify({
    file_write_statuses: state.fileWriteStatuses(),
    spiffe_sidecar: {
      live: state.liveness(now).healthy,
      ready: state.readiness(now).healthy,
      problems: verdict.problems,
      reasons: state.reasons(verdict.problems, now),
      agent_connected: snapshot.agentConnected,
      svid_not_after: snapshot.svidNotAfter?.toISOString() ?? null,
    },
  });
}

function send(response: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  response.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  response.end(head ? undefined : body);
}

function handler(options: Required<Omit<HealthServerOptions, "bindAddress" | "port">>) {
  const { state, livenessPath, readinessPath, metricsPath, now } = options;
  return (request: IncomingMessage, response: ServerResponse): void => {
    const head = request.method === "HEAD";
    if (request.method !== "GET" && !head) {
      response.setHeader("allow", "GET, HEAD");
      send(response, 405, "text/plain; charset=utf-8", "method not allowed\n", false);
      return;
    }
    const path = new URL(request.url ?? "/", "http://health").pathname;
    if (path === livenessPath || path === readinessPath) {
      const at = now();
      const verdict = path === livenessPath ? state.liveness(at) : state.readiness(at);
      send(response, verdict.healthy ? 200 : 503, "application/json", probeBody(state, verdict, at), head);
    } else if (path === metricsPath) {
      send(response, 200, PROMETHEUS_CONTENT_TYPE, renderSidecarMetrics(state.snapshot()), head);
    } else {
      send(response, 404, "text/plain; charset=utf-8", "not found\n", head);
    }
  };
}

function listen(server: Server, port: number, address: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // No host: Node takes "::" with IPv4 mapped in, or 0.0.0.0 where IPv6 is off, as Go's ":port" does.
    server.listen({ port, ...(address === undefined ? {} : { host: address }) }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Serves the liveness and readiness probes and `/metrics` (issue 4, "Health and metrics"). */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const bindAddress = options.bindAddress;
  const port = options.port ?? 8081;
  const server = createServer(
    handler({
      state: options.state,
      livenessPath: options.livenessPath ?? "/live",
      readinessPath: options.readinessPath ?? "/ready",
      metricsPath: options.metricsPath ?? "/metrics",
      now: options.now ?? (() => new Date()),
    }),
  );
  // Probes are tiny; a slow client must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  try {
    await listen(server, port, bindAddress);
  } catch (error: unknown) {
    const why = systemErrorCode(error) === "EADDRINUSE" ? "the address is in use" : describeError(error);
    const fix = "change health_checks.bind_port or bind_address";
    const where = bindAddress === undefined ? `port ${port} of every interface` : `${bindAddress}:${port}`;
    throw new HealthServerError(`cannot listen on ${where} for health checks: ${why}; ${fix}`, {
      cause: error,
    });
  }
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    address: bound.address,
    port: bound.port,
    url: `http://${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeIdleConnections();
      }),
  };
}
