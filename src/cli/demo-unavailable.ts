import { UsageError } from "./usage-error.js";

/**
 * `demo` in the single executable (scripts/build-sea.mjs puts this module in place of
 * demo.ts): the demo runs its app as a Node script shipped in the npm package, and it would
 * bring the fake agent's CA code into a binary meant to write SVIDs and nothing else.
 */
export function runDemo(): Promise<number> {
  return Promise.reject(
    new UsageError('"demo" is not part of the single executable; run it from the npm package: npx spiffe-sidecar demo'),
  );
}
