import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository root, whichever directory a test file sits in. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Absolute path of a file under `test/vectors/` (sources and licences in its README). */
export function vectorPath(relative: string): string {
  return fileURLToPath(new URL(`../vectors/${relative}`, import.meta.url));
}

export function readVector(relative: string): Buffer {
  return readFileSync(vectorPath(relative));
}

export function readVectorJson<T>(relative: string): T {
  return JSON.parse(readVector(relative).toString("utf8")) as T;
}
