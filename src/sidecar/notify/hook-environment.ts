import type { NotifyReason } from "./notifier.js";

/**
 * The variables an exec hook receives about its update, on top of the sidecar's environment.
 * Paths and public facts of the SVID only: never a key, a token or a password. Each is always
 * set (empty when unknown), so a value the sidecar itself inherited never passes for ours.
 */
export const HOOK_VARIABLES = [
  /** Comma-separated `notify_on` kinds that changed: `x509,bundles`. */
  "SPIFFE_SIDECAR_CHANGED",
  /** Colon-separated absolute paths of the files that changed, as PATH lists them. */
  "SPIFFE_SIDECAR_CHANGED_FILES",
  "SPIFFE_SIDECAR_SPIFFE_ID",
  /** The X.509-SVID's serial number, lowercase hex. */
  "SPIFFE_SIDECAR_SVID_SERIAL",
  /** The X.509-SVID's notAfter, ISO 8601 in UTC. */
  "SPIFFE_SIDECAR_SVID_NOT_AFTER",
] as const;

export type HookVariable = (typeof HOOK_VARIABLES)[number];

export function hookEnvironment(reason: NotifyReason): Record<HookVariable, string> {
  return {
    SPIFFE_SIDECAR_CHANGED: (reason.changedKinds ?? []).join(","),
    SPIFFE_SIDECAR_CHANGED_FILES: reason.changedPaths.join(":"),
    SPIFFE_SIDECAR_SPIFFE_ID: reason.svid?.spiffeId ?? "",
    SPIFFE_SIDECAR_SVID_SERIAL: reason.svid?.serialHex ?? "",
    SPIFFE_SIDECAR_SVID_NOT_AFTER: reason.svid?.notAfter.toISOString() ?? "",
  };
}
