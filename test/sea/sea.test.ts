import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { baseConfig, inspectX509, readX509Files, scratch, startAgent, writeConfig, X509_FILES } from "../sidecar/support.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const { version } = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string };

/**
 * The single executable (scripts/build-sea.mjs): CI builds it once and names it in
 * TEST_SEA_BINARY (.ci/run); otherwise this suite builds its own from dist/ (~10 s), so it
 * never tests a binary older than the sources.
 */
function whyNoSea(): string | undefined {
  if (process.env["TEST_SEA_BINARY"] !== undefined) return undefined;
  if (process.platform !== "linux") return `single executables are built and tested on Linux only, not ${process.platform}`;
  try {
    createRequire(import.meta.url).resolve("postject");
  } catch {
    return "postject is not installed (a devDependency: npm ci), so no single executable can be built here";
  }
  return undefined;
}

const skip = whyNoSea();

/** A PATH without node: the binary must not need one. */
function bareEnv(dir: string): NodeJS.ProcessEnv {
  return { PATH: dir, HOME: dir, LANG: "C" };
}

describe("the single executable (npm run build:sea)", { skip }, () => {
  let binary = process.env["TEST_SEA_BINARY"] ?? "";
  /** The only directory on PATH: empty, or holding the binary this suite built. */
  let pathDir = "";

  before(() => {
    pathDir = mkdtempSync(join(tmpdir(), "sea-path-"));
    if (binary !== "") return;
    binary = join(pathDir, "spiffe-sidecar");
    const built = spawnSync(process.execPath, [join(repo, "scripts/build-sea.mjs"), binary], { encoding: "utf8" });
    assert.equal(built.status, 0, `build-sea failed:\n${built.stdout}\n${built.stderr}`);
  });

  after(() => rmSync(pathDir, { recursive: true, force: true }));

  it("prints the package version with -version and no node on PATH", async () => {
    const { stdout } = await promisify(execFile)(binary, ["-version"], { env: bareEnv(pathDir), encoding: "utf8" });
    assert.equal(stdout.trim(), version);
  });

  it("writes a valid X.509-SVID set, a PKCS#12 keystore and a JWT-SVID in one `once` run, with no node on PATH", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    await writeFile(where.file("p12.pass"), "sea-pass\n");
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      // node-forge (PKCS#12) and jose (JWT) are loaded on first use: they must be in the binary.
      pkcs12_keystore_file_name: "keystore.p12",
      pkcs12_password_file: where.file("p12.pass"),
      jwt_svids: [{ jwt_audience: "sea-test", jwt_svid_file_name: "jwt.token" }],
    });
    const run = await promisify(execFile)(binary, ["once", "-config", config], { env: bareEnv(pathDir), encoding: "utf8" }).catch(
      (error: unknown) => assert.fail(`once failed: ${String(error)}`),
    );
    assert.match(run.stdout, /every output is written/);
    const report = inspectX509(await readX509Files(where));
    assert.deepEqual(report.verdict, { valid: true }, JSON.stringify(report));
    assert.ok((await readFile(where.cert("keystore.p12"))).length > 0, "the keystore is written");
    assert.equal((await readFile(where.cert("jwt.token"), "utf8")).split(".").length, 3, "the JWT-SVID is a compact JWS");
  });

  it("says that demo needs the npm package", async (t) => {
    const where = await scratch(t);
    await mkdir(where.file("demo"));
    const result = spawnSync(binary, ["demo"], { cwd: where.file("demo"), env: bareEnv(pathDir), encoding: "utf8" });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /not part of the single executable.*npx spiffe-sidecar demo/);
  });
});
