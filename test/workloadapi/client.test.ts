import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { status as Status } from "@grpc/grpc-js";
import type { CertificateAuthority } from "../../src/fakeagent/ca.js";
import { createJwtSigningKey, publicJwkSet, signJwtSvid } from "../../src/fakeagent/jwt-issuer.js";
import type { JwtSigningKey } from "../../src/fakeagent/jwt-issuer.js";
import { parseSpiffeId } from "../../src/spiffe/spiffe-id.js";
import { SECURITY_HEADER, WorkloadApiClient } from "../../src/workloadapi/client.js";
import {
  WorkloadApiError,
  WorkloadApiRequestError,
  WorkloadApiResponseError,
} from "../../src/workloadapi/errors.js";
import type { JWTSVIDRequest, ValidateJWTSVIDRequest } from "../../src/workloadapi/generated/workload.js";
import { MinimalAgent } from "../support/minimal-agent.js";
import { caFor, EventLog, FAST_BACKOFF, x509Response, x509Svid } from "./fixtures.js";

const workload = parseSpiffeId("spiffe://example.org/workload");

/** Matches a WorkloadApiResponseError with this rule (and message, if given). */
function responseError(rule: string, message?: RegExp) {
  return (e: unknown) => e instanceof WorkloadApiResponseError && e.rule === rule && (message?.test(e.message) ?? true);
}

/** Matches a WorkloadApiError with this status name and message. */
function statusError(name: string, message: RegExp) {
  return (e: unknown) => e instanceof WorkloadApiError && e.statusName === name && message.test(e.message);
}

describe("WorkloadApiClient over a real Unix socket", () => {
  let agent: MinimalAgent;
  let client: WorkloadApiClient;
  let ca: CertificateAuthority;
  let jwtKey: JwtSigningKey;

  before(async () => {
    ca = await caFor("example.org");
    jwtKey = await createJwtSigningKey({ kid: "k1" });
  });
  beforeEach(async () => {
    agent = await MinimalAgent.start();
    client = new WorkloadApiClient({ address: agent.address, backoff: FAST_BACKOFF });
  });
  afterEach(async () => {
    client.close();
    await agent.stop();
  });

  const token = (audience: string[], subject = workload) => signJwtSvid(jwtKey, { subject, audience, ttlSeconds: 300 });

  it("sends workload.spiffe.io: true on every stream and unary call", async () => {
    const raw = await x509Svid(ca, workload.toString());
    agent.handlers.fetchX509Svid = (call) => call.write(x509Response([raw]));
    agent.handlers.fetchX509Bundles = (call) =>
      call.write({ crl: [], bundles: { "spiffe://example.org": Buffer.from(ca.rootDer) } });
    agent.handlers.fetchJwtBundles = (call) =>
      call.write({ bundles: { "spiffe://example.org": Buffer.from(JSON.stringify(publicJwkSet([jwtKey]))) } });
    const jwt = await token(["db"]);
    agent.handlers.fetchJwtsvid = () => ({ svids: [{ spiffeId: workload.toString(), svid: jwt, hint: "" }] });
    agent.handlers.validateJwtsvid = () => ({ spiffeId: workload.toString(), claims: {} });

    const updates = new EventLog<string>();
    client.watchX509Context({ onUpdate: () => updates.push("x509") });
    client.watchX509Bundles({ onUpdate: () => updates.push("x509-bundles") });
    client.watchJwtBundles({ onUpdate: () => updates.push("jwt-bundles") });
    await client.fetchJwtSvids({ audience: ["db"] });
    await client.validateJwtSvid({ audience: "db", token: jwt });
    for (const kind of ["x509", "x509-bundles", "jwt-bundles"]) await updates.waitFor((e) => e === kind, kind);

    assert.deepEqual(
      agent.calls.map((call) => call.method).sort(),
      ["fetchJwtBundles", "fetchJwtsvid", "fetchX509Bundles", "fetchX509Svid", "validateJwtsvid"],
    );
    for (const call of agent.calls) {
      assert.deepEqual(call.metadata.get(SECURITY_HEADER), ["true"], call.method);
    }
  });

  it("delivers a validated X509Context", async () => {
    const raw = await x509Svid(ca, workload.toString(), { hint: "main" });
    agent.handlers.fetchX509Svid = (call) => call.write(x509Response([raw]));
    const contexts = new EventLog<string>();
    client.watchX509Context({
      onUpdate: (context) => contexts.push(`${context.svids[0]?.id}#${context.svids[0]?.hint}`),
    });
    await contexts.waitFor((e) => e === "spiffe://example.org/workload#main", "the context");
  });

  it("FetchJWTSVID sends audience and spiffe_id and parses the tokens", async () => {
    const jwt = await token(["db", "cache"]);
    agent.handlers.fetchJwtsvid = () => ({ svids: [{ spiffeId: workload.toString(), svid: jwt, hint: "h" }] });
    const svids = await client.fetchJwtSvids({ audience: ["db", "cache"], spiffeId: workload.toString() });
    const request = agent.callsTo("fetchJwtsvid")[0]?.request as JWTSVIDRequest;
    assert.deepEqual(request.audience, ["db", "cache"]);
    assert.equal(request.spiffeId, "spiffe://example.org/workload");
    assert.equal(svids.length, 1);
    assert.equal(svids[0]?.id.toString(), workload.toString());
    assert.equal(svids[0]?.hint, "h");
    assert.equal(svids[0]?.token, jwt);
  });

  it("sends an empty spiffe_id when none is asked for and drops later duplicate hints", async () => {
    const other = parseSpiffeId("spiffe://example.org/other");
    const [a, b, c] = await Promise.all([token(["db"]), token(["db"], other), token(["db"], other)]);
    agent.handlers.fetchJwtsvid = () => ({
      svids: [
        { spiffeId: workload.toString(), svid: a, hint: "x" },
        { spiffeId: other.toString(), svid: b, hint: "x" },
        { spiffeId: other.toString(), svid: c, hint: "" },
      ],
    });
    const svids = await client.fetchJwtSvids({ audience: ["db"] });
    assert.equal((agent.callsTo("fetchJwtsvid")[0]?.request as JWTSVIDRequest).spiffeId, "");
    assert.deepEqual(svids.map((svid) => svid.token), [a, c]);
  });

  it("refuses an empty audience before making any call", async () => {
    await assert.rejects(
      client.fetchJwtSvids({ audience: [] }),
      (e: unknown) => e instanceof WorkloadApiRequestError && /at least one non-empty audience/.test(e.message),
    );
    await assert.rejects(client.validateJwtSvid({ audience: "", token: "t" }), WorkloadApiRequestError);
    assert.equal(agent.calls.length, 0);
  });

  it("rejects responses that break the rules", async () => {
    const answer = (spiffeId: string, svid: string) => {
      agent.handlers.fetchJwtsvid = () => ({ svids: [{ spiffeId, svid, hint: "" }] });
    };
    agent.handlers.fetchJwtsvid = () => ({ svids: [] });
    const fetch = () => client.fetchJwtSvids({ audience: ["db"] });
    await assert.rejects(fetch(), responseError("no-svids", /MUST contain one or more/));
    const jwt = await token(["db"]);
    answer("spiffe://example.org/someone-else", jwt);
    await assert.rejects(fetch(), responseError("spiffe-id-mismatch"));
    answer(workload.toString(), jwt);
    await assert.rejects(
      client.fetchJwtSvids({ audience: ["db", "cache"] }),
      responseError("audience-mismatch", /lacks the requested "cache"/),
    );
    answer(workload.toString(), "not-a-jwt");
    await assert.rejects(fetch(), responseError("malformed", /^(?!.*not-a-jwt)/));
  });

  it("maps gRPC statuses to WorkloadApiError with the status name", async () => {
    agent.handlers.fetchJwtsvid = () => ({ code: Status.PERMISSION_DENIED, details: "no identity issued" });
    await assert.rejects(
      client.fetchJwtSvids({ audience: ["db"] }),
      statusError("PERMISSION_DENIED", /no identity issued; check that a registration entry matches/),
    );
    agent.handlers.fetchJwtsvid = () => ({ code: Status.INVALID_ARGUMENT, details: "audience must be specified" });
    await assert.rejects(
      client.fetchJwtSvids({ audience: ["db"] }),
      (e: unknown) =>
        statusError("INVALID_ARGUMENT", /audience must be specified/)(e) && !(e as WorkloadApiError).retryable,
    );
  });

  it("ValidateJWTSVID sends audience and token and returns Struct claims as a plain object", async () => {
    const jwt = await token(["db"]);
    const nested = { list: [1, "two", true, null], object: { deep: "yes" } };
    const claims = { sub: workload.toString(), aud: ["db"], exp: 1_900_000_000, nested };
    agent.handlers.validateJwtsvid = () => ({ spiffeId: workload.toString(), claims });
    const result = await client.validateJwtSvid({ audience: "db", token: jwt });
    const request = agent.callsTo("validateJwtsvid")[0]?.request as ValidateJWTSVIDRequest;
    assert.equal(request.audience, "db");
    assert.equal(request.svid, jwt);
    assert.equal(result.spiffeId.toString(), workload.toString());
    assert.deepEqual(result.claims, claims);
  });

  it("ValidateJWTSVID maps the agent's refusal and a bad spiffe_id", async () => {
    agent.handlers.validateJwtsvid = () => ({ code: Status.INVALID_ARGUMENT, details: "token has expired" });
    await assert.rejects(
      client.validateJwtSvid({ audience: "db", token: "x.y.z" }),
      statusError("INVALID_ARGUMENT", /rejected ValidateJWTSVID as invalid: token has expired/),
    );
    agent.handlers.validateJwtsvid = () => ({ spiffeId: "", claims: undefined });
    const validate = () => client.validateJwtSvid({ audience: "db", token: "x.y.z" });
    await assert.rejects(validate(), responseError("invalid-spiffe-id"));
  });

  it("cancels a unary call when its signal aborts", async () => {
    agent.handlers.fetchJwtsvid = () => new Promise(() => {});
    const controller = new AbortController();
    const pending = client.fetchJwtSvids({ audience: ["db"], signal: controller.signal });
    await agent.waitForCalls("fetchJwtsvid", 1);
    controller.abort(new Error("caller gave up"));
    await assert.rejects(pending, /caller gave up/);
    await assert.rejects(client.fetchJwtSvids({ audience: ["db"], signal: controller.signal }), /caller gave up/);
  });
});

describe("WorkloadApiClient without an agent", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "no-agent-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("says there is no Workload API at the socket and asks whether the agent runs", async () => {
    const client = new WorkloadApiClient({ address: `unix:${dir}/agent.sock` });
    try {
      await assert.rejects(client.fetchJwtSvids({ audience: ["db"] }), (e: unknown) => {
        assert.ok(e instanceof WorkloadApiError);
        assert.equal(e.statusName, "UNAVAILABLE");
        const expected = `no Workload API at unix://${dir}/agent.sock (is the agent running?)`;
        assert.ok(e.message.startsWith(expected), e.message);
        return true;
      });
    } finally {
      client.close();
    }
  });

  it("falls back to SPIFFE_ENDPOINT_SOCKET and names both sources when it is unset", () => {
    const saved = process.env["SPIFFE_ENDPOINT_SOCKET"];
    try {
      process.env["SPIFFE_ENDPOINT_SOCKET"] = `unix://${dir}/env.sock`;
      const client = new WorkloadApiClient();
      assert.deepEqual(client.address, { kind: "unix", path: `${dir}/env.sock` });
      client.close();
      delete process.env["SPIFFE_ENDPOINT_SOCKET"];
      assert.throws(() => new WorkloadApiClient(), /agent_address.*SPIFFE_ENDPOINT_SOCKET/);
    } finally {
      if (saved === undefined) delete process.env["SPIFFE_ENDPOINT_SOCKET"];
      else process.env["SPIFFE_ENDPOINT_SOCKET"] = saved;
    }
  });
});
