import { readFileSync } from "node:fs";

/**
 * The package version, written in by the bundlers (scripts/bundle.mjs, scripts/build-sea.mjs:
 * esbuild `define`), so that `-version` needs no package.json beside the program: the single
 * executable has none. Run from the sources (tsx), it is read from package.json.
 */
declare const SPIFFE_SIDECAR_VERSION: string | undefined;

export function readVersion(): string {
  if (typeof SPIFFE_SIDECAR_VERSION === "string") return SPIFFE_SIDECAR_VERSION;
  const packageJson: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  if (typeof packageJson === "object" && packageJson !== null && "version" in packageJson) {
    return String(packageJson.version);
  }
  return "unknown";
}
