import { getAsset } from "node:sea";
import { dirname } from "node:path";
import { Script } from "node:vm";

/**
 * The main script of the single executable (scripts/build-sea.mjs). The CLI itself is the
 * `app.js` asset, one CommonJS bundle wrapped in a function; `app.cache` is V8's code cache for
 * it, made by running `once` at build time, so it holds the functions a run compiles, not only
 * the top level that Node's own `useCodeCache` would keep. V8 checks the cache against the
 * source, its version and its flags and compiles from source when any differs, so a stale or
 * foreign cache costs time, never correctness.
 */
type AppEntry = (require: NodeJS.Require, filename: string, dirname: string) => void;

const source = getAsset("app.js", "utf8");
const cachedData = Buffer.from(getAsset("app.cache"));
// The file name stack traces show; build-sea-train.mjs uses the same.
const app = new Script(source, { filename: "spiffe-sidecar.js", cachedData }).runInThisContext() as AppEntry;
// This `require` loads Node's built-in modules only, which is all the bundle asks for.
app(require, process.execPath, dirname(process.execPath));
