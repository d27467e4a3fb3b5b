import { credentials, Metadata, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TestContext } from "node:test";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import { SpiffeWorkloadAPIClient, X509SVIDRequest } from "../../src/workloadapi/generated/workload.js";
import {
  Daemon,
  fileStates,
  inspectJwtFiles,
  inspectX509Files,
  leafSerial,
  requireTools,
  runSidecarOnce,
  sleep,
  stableCopy,
  startSidecar,
  tempDir,
  waitUntil,
  writeSidecarConfig,
} from "./support.js";
import { SpireDeployment, SPIRE_CA_TTL, SPIRE_SVID_TTL } from "./spire.js";

const tools = requireTools(["spire-server", "spire-agent"]);

const SIDECAR_ID = "spiffe://example.org/sidecar";
const HINTED_ID = "spiffe://example.org/hinted";
const AUDIENCE = "interop";
// SPIRE sorts a workload's identities by entry ID, so these make /sidecar the first (default) SVID.
const ENTRIES = [
  { entryId: "a-sidecar", spiffeId: SIDECAR_ID },
  { entryId: "b-hinted", spiffeId: HINTED_ID, hint: "internal" },
] as const;
const X509_FILES = ["svid.pem", "svid_key.pem", "svid_bundle.pem"] as const;
const ALL_FILES = [...X509_FILES, "jwt_bundle.json", "token.jwt"] as const;

function sidecarConfig(agentSocket: string, certDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    agent_address: `unix://${agentSocket}`,
    cert_dir: certDir,
    svid_file_name: "svid.pem",
    svid_key_file_name: "svid_key.pem",
    svid_bundle_file_name: "svid_bundle.pem",
    jwt_bundle_file_name: "jwt_bundle.json",
    jwt_svids: [{ jwt_audience: AUDIENCE, jwt_svid_file_name: "token.jwt" }],
    ...extra,
  };
}

describe("spiffe-sidecar against a real SPIRE agent", { skip: tools.skip }, () => {
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  let spire: SpireDeployment;
  let sidecar: Daemon;
  let certDir: string;
  let snapshots = 0;

  /** The sidecar's X.509 files as one consistent set, checked by `inspect`. */
  async function inspectWritten(t: TestContext, dir = certDir): Promise<{ spiffeId: string; serial: string; notAfter: string }> {
    snapshots += 1;
    const copy = join(scratch.path, `snapshot-${snapshots}`);
    await stableCopy(dir, X509_FILES, copy);
    const report = await inspectX509Files(join(copy, "svid.pem"), join(copy, "svid_key.pem"), join(copy, "svid_bundle.pem"));
    assert.ok(report.verdict.valid, `inspect rejected what the sidecar wrote: ${JSON.stringify(report.verdict)}`);
    const found = { spiffeId: report.spiffeId ?? "", serial: report.serialHex ?? "", notAfter: report.notAfter ?? "" };
    t.diagnostic(`real SPIRE X.509-SVID: ${found.spiffeId} serial ${found.serial} not after ${found.notAfter}`);
    return found;
  }

  async function currentSerial(): Promise<string> {
    return leafSerial(await readFile(join(certDir, "svid.pem")));
  }

  before(async () => {
    scratch = await tempDir("spire-");
    spire = await SpireDeployment.start(tools, scratch.path, ENTRIES);
    certDir = join(scratch.path, "certs");
    await writeSidecarConfig(join(scratch.path, "sidecar.yaml"), sidecarConfig(spire.agentSocket, certDir));
    sidecar = startSidecar(join(scratch.path, "sidecar.yaml"), join(scratch.path, "sidecar.log"));
    await waitUntil("the sidecar's first complete write", async () => {
      const states = await fileStates(certDir, ALL_FILES).catch(() => undefined);
      return states === undefined ? undefined : true;
    });
  });

  after(async () => {
    await sidecar?.stop();
    await spire?.stop();
    await scratch?.remove();
  });

  it("writes X.509 files that pass inspect, for the first SVID the agent sends", async (t) => {
    t.diagnostic(`SPIRE server: ca_ttl ${SPIRE_CA_TTL}, default_x509_svid_ttl and default_jwt_svid_ttl ${SPIRE_SVID_TTL}; workload entries under the node alias ${spire.nodeAlias} (join_token attestation)`);
    const written = await inspectWritten(t);
    assert.equal(written.spiffeId, SIDECAR_ID);
  });

  it("writes a JWT-SVID that the real agent's ValidateJWTSVID accepts", async (t) => {
    const token = await readFile(join(certDir, "token.jwt"), "utf8");
    const accepted = await spire.agentCommand(["api", "validate", "jwt", "-audience", AUDIENCE, "-svid", token]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(accepted.stdout, /SVID is valid\./);
    assert.match(accepted.stdout, new RegExp(`SPIFFE ID : ${SIDECAR_ID}\\n`));
    t.diagnostic(`spire-agent api validate jwt: ${accepted.stdout.trim().split("\n").join(" | ")}`);
    // The same agent refuses the token for another audience: the check above is a real one.
    const refused = await spire.agentCommand(["api", "validate", "jwt", "-audience", "someone-else", "-svid", token]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /audience/);
    // And our own inspect accepts it against the JWT bundle the sidecar wrote from the agent.
    const report = await inspectJwtFiles(join(certDir, "token.jwt"), join(certDir, "jwt_bundle.json"), AUDIENCE);
    assert.ok(report.verdict.valid, JSON.stringify(report.verdict));
    assert.equal(report.spiffeId, SIDECAR_ID);
  });

  it("writes a real rotation: a new serial from the agent, still passing inspect", async (t) => {
    const first = await inspectWritten(t);
    const rotated = await waitUntil("a rotated SVID on disk", async () => {
      const serial = await currentSerial();
      return serial === first.serial ? undefined : serial;
    });
    const second = await inspectWritten(t);
    assert.notEqual(second.serial, first.serial);
    assert.equal(second.spiffeId, SIDECAR_ID);
    t.diagnostic(`rotation: serial ${first.serial} -> ${rotated}`);
  });

  it("writes the SVID with the configured hint", async (t) => {
    const hintedDir = join(scratch.path, "hinted");
    const config = join(scratch.path, "hinted.yaml");
    await writeSidecarConfig(config, sidecarConfig(spire.agentSocket, hintedDir, { hint: "internal", daemon_mode: false }));
    await runSidecarOnce(config);
    const written = await inspectWritten(t, hintedDir);
    assert.equal(written.spiffeId, HINTED_ID);
    const token = await readFile(join(hintedDir, "token.jwt"), "utf8");
    const validated = await spire.agentCommand(["api", "validate", "jwt", "-audience", AUDIENCE, "-svid", token]);
    assert.equal(validated.code, 0, validated.stderr);
    assert.match(validated.stdout, new RegExp(`SPIFFE ID : ${HINTED_ID}\\n`));
  });

  it("survives an agent restart: files untouched while it is down, a new write once it is back", async (t) => {
    await spire.stopAgent();
    // Let a write that was under way when the agent went away finish before taking the baseline.
    await sleep(500);
    const baseline = await fileStates(certDir, ALL_FILES);
    const serialWhileDown = await currentSerial();
    await sleep(3_000);
    assert.deepEqual(await fileStates(certDir, ALL_FILES), baseline, "a file changed while the agent was down");
    assert.ok(sidecar.running, `the sidecar exited while the agent was down\n${await sidecar.tail()}`);
    t.diagnostic(`agent down for 3.5 s: all ${ALL_FILES.length} files byte-, mtime- and inode-identical, sidecar still running`);
    const restart = await spire.startAgent(ENTRIES.length);
    t.diagnostic(`agent back: it ${restart === "resumed" ? "resumed with its stored SVID" : "attested again (its own SVID had expired)"}`);
    const serialAfter = await waitUntil("a write after the agent is back", async () => {
      const serial = await currentSerial();
      return serial === serialWhileDown ? undefined : serial;
    });
    const written = await inspectWritten(t);
    assert.equal(written.spiffeId, SIDECAR_ID);
    t.diagnostic(`after the restart: serial ${serialWhileDown} -> ${serialAfter}`);
    // The token from before the restart has expired by now (10 s TTL); a fresh one must follow.
    const tokenBefore = baseline.get("token.jwt");
    const token = await waitUntil("a JWT-SVID written after the agent is back", async () => {
      const states = await fileStates(certDir, ["token.jwt"]);
      return states.get("token.jwt") === tokenBefore ? undefined : readFile(join(certDir, "token.jwt"), "utf8");
    });
    const validated = await spire.agentCommand(["api", "validate", "jwt", "-audience", AUDIENCE, "-svid", token]);
    assert.equal(validated.code, 0, `the JWT-SVID written after the restart: ${validated.stderr}`);
  });

  it("refuses a call without the security header with InvalidArgument, as our fake agent does", async (t) => {
    const fakeDir = await tempDir("hdr-");
    t.after(() => fakeDir.remove());
    const fake = await startFakeAgent({ socketPath: join(fakeDir.path, "agent.sock"), trustDomain: "example.org", identities: [{ spiffeId: SIDECAR_ID }] });
    t.after(() => fake.stop());
    const real = await callWithoutHeader(`unix://${spire.agentSocket}`);
    const ours = await callWithoutHeader(fake.address);
    t.diagnostic(`no header -> real SPIRE agent: ${status[real.code]} "${real.details}"; fake agent: ${status[ours.code]} "${ours.details}"`);
    assert.equal(real.code, status.INVALID_ARGUMENT);
    assert.equal(ours.code, real.code);
  });
});

/** FetchX509SVID with empty metadata: the raw generated client, which adds no header of its own. */
async function callWithoutHeader(address: string): Promise<ServiceError> {
  const client = new SpiffeWorkloadAPIClient(address, credentials.createInsecure());
  try {
    return await new Promise<ServiceError>((resolve, reject) => {
      const call = client.fetchX509Svid(X509SVIDRequest.create(), new Metadata());
      call.on("data", () => reject(new Error(`${address} answered a call without the security header`)));
      call.on("error", (error: ServiceError) => resolve(error));
    });
  } finally {
    client.close();
  }
}
