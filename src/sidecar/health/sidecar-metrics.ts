import type { HealthSnapshot } from "./health-state.js";
import { renderExposition } from "./prometheus-text.js";
import type { MetricFamily, MetricSample } from "./prometheus-text.js";

function seconds(date: Date): number {
  return date.getTime() / 1000;
}

/** One sample when the value is known, none before (an absent series, not a misleading 0). */
function optionalTimestamp(date: Date | undefined): MetricSample[] {
  return date === undefined ? [] : [{ value: seconds(date) }];
}

function counterByLabel<K extends string>(label: string, counts: ReadonlyMap<K, number>): MetricSample[] {
  return [...counts].map(([key, value]) => ({ labels: { [label]: key }, value }));
}

/**
 * The sidecar's metrics, named `spiffe_sidecar_*`. Label values come only from closed sets
 * (reject reasons, notifier kinds) or from the configuration (JWT file paths), so the series
 * count is bounded and no SVID, key or token can reach a label.
 */
export function sidecarMetricFamilies(snapshot: HealthSnapshot): MetricFamily[] {
  return [
    {
      name: "spiffe_sidecar_svid_expiry_timestamp_seconds",
      help: "notAfter of the X.509-SVID last written, in Unix seconds.",
      type: "gauge",
      samples: optionalTimestamp(snapshot.svidNotAfter),
    },
    {
      name: "spiffe_sidecar_rotations_total",
      help: "X.509-SVIDs written to disk with a serial number not seen before, the first one included.",
      type: "counter",
      samples: [{ value: snapshot.rotations }],
    },
    {
      name: "spiffe_sidecar_last_update_timestamp_seconds",
      help: "When an output was last written, in Unix seconds.",
      type: "gauge",
      samples: optionalTimestamp(snapshot.lastUpdate),
    },
    {
      name: "spiffe_sidecar_write_errors_total",
      help: "Output writes that failed.",
      type: "counter",
      samples: [{ value: snapshot.writeErrors }],
    },
    {
      name: "spiffe_sidecar_rejected_updates_total",
      help: "Workload API updates refused as invalid; the last good state was kept.",
      type: "counter",
      samples: counterByLabel("reason", snapshot.rejectedUpdates),
    },
    {
      name: "spiffe_sidecar_agent_connected",
      help: "1 while the Workload API stream is up, else 0.",
      type: "gauge",
      samples: [{ value: snapshot.agentConnected ? 1 : 0 }],
    },
    {
      name: "spiffe_sidecar_reconnects_total",
      help: "Times the Workload API connection came back after being lost.",
      type: "counter",
      samples: [{ value: snapshot.reconnects }],
    },
    {
      name: "spiffe_sidecar_agent_refusals_total",
      help: "Workload API streams that had delivered and were then refused for good (InvalidArgument, Unimplemented).",
      type: "counter",
      samples: [{ value: snapshot.agentRefusals }],
    },
    {
      name: "spiffe_sidecar_notify_failures_total",
      help: "Failed attempts to tell the application about new files, by notifier.",
      type: "counter",
      samples: counterByLabel("notifier", snapshot.notifyFailures),
    },
    {
      name: "spiffe_sidecar_jwt_svid_expiry_timestamp_seconds",
      help: "Expiry of the JWT-SVID last written to each file, in Unix seconds.",
      type: "gauge",
      samples: [...snapshot.jwtSvidExpiry].map(([file, expiry]) => ({ labels: { file }, value: seconds(expiry) })),
    },
    {
      name: "spiffe_sidecar_app_serving_current_svid",
      help: "1 when verify_reload saw the app serve the X.509-SVID last written, 0 when it did not; absent before the first verification.",
      type: "gauge",
      samples: snapshot.appServingCurrentSvid === undefined ? [] : [{ value: snapshot.appServingCurrentSvid ? 1 : 0 }],
    },
    {
      name: "spiffe_sidecar_reload_verify_failures_total",
      help: "Reload verifications whose window passed without the app serving the X.509-SVID just written.",
      type: "counter",
      samples: [{ value: snapshot.reloadVerifyFailures }],
    },
  ];
}

export function renderSidecarMetrics(snapshot: HealthSnapshot): string {
  return renderExposition(sidecarMetricFamilies(snapshot));
}
