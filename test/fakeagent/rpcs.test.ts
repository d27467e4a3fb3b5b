import { Metadata, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { validateJwtSvid } from "../../src/spiffe/jwt-svid.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import type { JwtBundleSet } from "../../src/spiffe/jwt-bundle.js";
import type { X509BundleSet } from "../../src/spiffe/x509-bundle.js";
import type { X509Context } from "../../src/workloadapi/decode.js";
import type { WorkloadApiClient } from "../../src/workloadapi/client.js";
import type { SpiffeWorkloadAPIClient } from "../../src/workloadapi/generated/workload.js";
import {
  projectClient,
  rawClient,
  record,
  startTestAgent,
  timeout,
  unaryCall,
  unaryError,
  withHeader,
} from "./support.js";

const EXAMPLE = parseTrustDomain("example.org");
const OTHER = parseTrustDomain("other.org");

function firstUpdate<T>(t: TestContext, start: (handlers: { onUpdate(value: T): void; onInvalid(error: Error): void }) => { close(): void }): Promise<T> {
  return timeout(
    new Promise<T>((resolve, reject) => {
      const watch = start({ onUpdate: resolve, onInvalid: reject });
      t.after(() => watch.close());
    }),
    "the first update",
  );
}

const firstX509Context = (t: TestContext, client: WorkloadApiClient): Promise<X509Context> =>
  firstUpdate(t, (handlers) => client.watchX509Context(handlers));
const firstX509Bundles = (t: TestContext, client: WorkloadApiClient): Promise<X509BundleSet> =>
  firstUpdate(t, (handlers) => client.watchX509Bundles(handlers));
const firstJwtBundles = (t: TestContext, client: WorkloadApiClient): Promise<JwtBundleSet> =>
  firstUpdate(t, (handlers) => client.watchJwtBundles(handlers));

describe("fake agent RPCs through the project's client", () => {
  it("serves every RPC like SPIRE: X.509 context, bundles, JWT-SVIDs and validation", async (t) => {
    const agent = await startTestAgent(t, {
      identities: [
        { spiffeId: "spiffe://example.org/web", hint: "web" },
        { spiffeId: "spiffe://example.org/db", hint: "db" },
      ],
      federatesWith: ["other.org"],
    });
    const client = projectClient(t, agent);

    const context = await firstX509Context(t, client);
    assert.deepEqual(context.svids.map((svid) => [svid.id.toString(), svid.hint]), [
      ["spiffe://example.org/web", "web"],
      ["spiffe://example.org/db", "db"],
    ]);
    assert.deepEqual(context.bundles.trustDomains().map((td) => td.name), ["example.org", "other.org"]);

    const x509Bundles = await firstX509Bundles(t, client);
    assert.deepEqual(x509Bundles.trustDomains().map((td) => td.name), ["example.org", "other.org"]);
    const jwtBundles = await firstJwtBundles(t, client);
    assert.deepEqual(jwtBundles.trustDomains().map((td) => td.name), ["example.org", "other.org"]);
    assert.equal(jwtBundles.get(EXAMPLE)?.authorities.size, 1);
    assert.equal(jwtBundles.get(OTHER)?.authorities.size, 1);

    const tokens = await client.fetchJwtSvids({ audience: ["spiffe://example.org/server"] });
    assert.deepEqual(tokens.map((svid) => [svid.id.toString(), svid.hint]), [
      ["spiffe://example.org/web", "web"],
      ["spiffe://example.org/db", "db"],
    ]);
    const [web] = tokens;
    assert.ok(web);
    const verified = await validateJwtSvid(web.token, jwtBundles, { audience: "spiffe://example.org/server" });
    assert.equal(verified.id.toString(), "spiffe://example.org/web");

    const validated = await client.validateJwtSvid({ audience: "spiffe://example.org/server", token: web.token });
    assert.equal(validated.spiffeId.toString(), "spiffe://example.org/web");
    // A single audience is a string in the token; ValidateJWTSVID returns it as a list (SPEC.md §1.5).
    assert.deepEqual(validated.claims["aud"], ["spiffe://example.org/server"]);
    assert.equal(validated.claims["sub"], "spiffe://example.org/web");

    const [onlyDb] = await client.fetchJwtSvids({ audience: ["a"], spiffeId: "spiffe://example.org/db" });
    assert.equal(onlyDb?.id.toString(), "spiffe://example.org/db");
  });

  it("answers the WIT RPCs with Unimplemented", async (t) => {
    const agent = await startTestAgent(t);
    const raw = rawClient(t, agent);
    for (const call of [raw.fetchWitsvid({ spiffeId: "" }, withHeader()), raw.fetchWitBundles({}, withHeader())]) {
      const status = await record(t, call).status();
      assert.equal(status.code, Status.UNIMPLEMENTED);
      assert.match(status.details, /WIT-SVID profile is not supported/);
    }
  });
});

/** One call of every RPC, each resolving to its final status code and details. */
function everyRpc(t: TestContext, raw: SpiffeWorkloadAPIClient, metadata: () => Metadata): Promise<{ rpc: string; code: Status; details: string }>[] {
  const streamed = (rpc: string, call: Parameters<typeof record>[1]) =>
    record(t, call)
      .status()
      .then((status) => ({ rpc, code: status.code, details: status.details }));
  const unary = (rpc: string, invoke: Parameters<typeof unaryError>[0]) =>
    unaryError(invoke).then((error) => ({ rpc, code: error.code, details: error.details }));
  return [
    streamed("FetchX509SVID", raw.fetchX509Svid({}, metadata())),
    streamed("FetchX509Bundles", raw.fetchX509Bundles({}, metadata())),
    streamed("FetchJWTBundles", raw.fetchJwtBundles({}, metadata())),
    streamed("FetchWITSVID", raw.fetchWitsvid({ spiffeId: "" }, metadata())),
    streamed("FetchWITBundles", raw.fetchWitBundles({}, metadata())),
    unary("FetchJWTSVID", (callback) => raw.fetchJwtsvid({ audience: ["a"], spiffeId: "" }, metadata(), callback)),
    unary("ValidateJWTSVID", (callback) => raw.validateJwtsvid({ audience: "a", svid: "x.y.z" }, metadata(), callback)),
  ];
}

describe("fake agent security header (Workload Endpoint §3)", () => {
  const badHeaders: [string, () => Metadata][] = [
    ["absent", () => new Metadata()],
    ["false", () => {
      const metadata = new Metadata();
      metadata.set("workload.spiffe.io", "false");
      return metadata;
    }],
    ["True (case differs)", () => {
      const metadata = new Metadata();
      metadata.set("workload.spiffe.io", "True");
      return metadata;
    }],
    ["sent twice", () => {
      const metadata = withHeader();
      metadata.add("workload.spiffe.io", "true");
      return metadata;
    }],
  ];
  for (const [name, metadata] of badHeaders) {
    it(`answers every RPC with InvalidArgument when the header is ${name}`, async (t) => {
      const agent = await startTestAgent(t);
      const results = await Promise.all(everyRpc(t, rawClient(t, agent), metadata));
      for (const result of results) {
        assert.equal(result.code, Status.INVALID_ARGUMENT, result.rpc);
        assert.equal(result.details, "security header missing from request", result.rpc);
      }
    });
  }
});

describe("fake agent without identities", () => {
  it("answers PermissionDenied 'no identity issued' on the SVID and bundle RPCs", async (t) => {
    const agent = await startTestAgent(t, { identities: [] });
    const results = await Promise.all(everyRpc(t, rawClient(t, agent), withHeader));
    const byRpc = new Map(results.map((result) => [result.rpc, result]));
    for (const rpc of ["FetchX509SVID", "FetchX509Bundles", "FetchJWTBundles", "FetchJWTSVID"]) {
      assert.equal(byRpc.get(rpc)?.code, Status.PERMISSION_DENIED, rpc);
      assert.equal(byRpc.get(rpc)?.details, "no identity issued", rpc);
    }
    // Validation needs no identity, as in SPIRE: a bad token is InvalidArgument, not PermissionDenied.
    assert.equal(byRpc.get("ValidateJWTSVID")?.code, Status.INVALID_ARGUMENT);
  });

  it("ends an open stream with PermissionDenied when the last identity goes, and still validates tokens", async (t) => {
    const agent = await startTestAgent(t);
    const raw = rawClient(t, agent);
    const [svid] = (await unaryCall<{ svids: { svid: string }[] }>((callback) => raw.fetchJwtsvid({ audience: ["aud"], spiffeId: "" }, withHeader(), callback))).svids;
    const stream = record(t, raw.fetchX509Svid({}, withHeader()));
    await stream.waitForCount(1);
    await agent.update({ identities: [] });
    const status = await stream.status();
    assert.equal(status.code, Status.PERMISSION_DENIED);
    assert.equal(status.details, "no identity issued");
    const validated = await unaryCall<{ spiffeId: string }>((callback) => raw.validateJwtsvid({ audience: "aud", svid: svid?.svid ?? "" }, withHeader(), callback));
    assert.equal(validated.spiffeId, "spiffe://example.org/app");
  });
});

describe("fake agent request checks (SPEC.md §1.3)", () => {
  it("requires an audience and checks the requested SPIFFE ID in FetchJWTSVID", async (t) => {
    const agent = await startTestAgent(t);
    const raw = rawClient(t, agent);
    const cases: [{ audience: string[]; spiffeId: string }, Status, RegExp][] = [
      [{ audience: [], spiffeId: "" }, Status.INVALID_ARGUMENT, /^audience must be specified$/],
      [{ audience: ["a"], spiffeId: "not-an-id" }, Status.INVALID_ARGUMENT, /^invalid requested SPIFFE ID: /],
      [{ audience: ["a"], spiffeId: "spiffe://example.org/other" }, Status.PERMISSION_DENIED, /^no identity issued$/],
    ];
    for (const [request, code, details] of cases) {
      const error: ServiceError = await unaryError((callback) => raw.fetchJwtsvid(request, withHeader(), callback));
      assert.equal(error.code, code, JSON.stringify(request));
      assert.match(error.details, details, JSON.stringify(request));
    }
  });

  it("answers every ValidateJWTSVID failure with InvalidArgument and the reason", async (t) => {
    const agent = await startTestAgent(t);
    const raw = rawClient(t, agent);
    const { svids } = await unaryCall<{ svids: { svid: string }[] }>((callback) =>
      raw.fetchJwtsvid({ audience: ["right"], spiffeId: "" }, withHeader(), callback),
    );
    const token = svids[0]?.svid ?? "";
    const cases: [{ audience: string; svid: string }, RegExp][] = [
      [{ audience: "", svid: token }, /^audience must be specified$/],
      [{ audience: "right", svid: "" }, /^svid must be specified$/],
      [{ audience: "wrong", svid: token }, /audience .* does not contain any expected audience/],
      [{ audience: "right", svid: "not.a.jwt" }, /./],
    ];
    for (const [request, details] of cases) {
      const error = await unaryError((callback) => raw.validateJwtsvid(request, withHeader(), callback));
      assert.equal(error.code, Status.INVALID_ARGUMENT, JSON.stringify(request.audience));
      assert.match(error.details, details);
      assert.ok(!error.details.includes(token) || token === "", "the token is never echoed");
    }
  });
});

describe("fake agent robustness", () => {
  const path = "/SpiffeWorkloadAPI/FetchJWTSVID";
  const identity = (value: Buffer): Buffer => value;

  it("ignores unknown request fields and survives undecodable requests", async (t) => {
    const agent = await startTestAgent(t);
    const raw = rawClient(t, agent);
    // audience "a" (field 1), then unknown field 15 (varint) and unknown field 16 (bytes).
    const withUnknownFields = Buffer.from([0x0a, 0x01, 0x61, 0x78, 0x01, 0x82, 0x01, 0x02, 0x68, 0x69]);
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const send = (bytes: Buffer, metadata: Metadata) =>
      new Promise<{ error: ServiceError | null; response: Buffer | undefined }>((resolve) => {
        raw.makeUnaryRequest(path, identity, identity, bytes, metadata, (error, response) => resolve({ error, response }));
      });
    const ok = await send(withUnknownFields, withHeader());
    assert.equal(ok.error, null);
    assert.ok((ok.response?.length ?? 0) > 0);
    const noHeader = await send(withUnknownFields, new Metadata());
    assert.equal(noHeader.error?.code, Status.INVALID_ARGUMENT);
    const broken = await send(garbage, withHeader());
    assert.notEqual(broken.error, null);
    const brokenNoHeader = await send(garbage, new Metadata());
    assert.notEqual(brokenNoHeader.error, null);
    const stream = record(t, raw.makeServerStreamRequest("/SpiffeWorkloadAPI/FetchX509SVID", identity, identity, Buffer.from([0x78, 0x01]), withHeader()));
    await stream.waitForCount(1);
    // Still serving after all of it.
    const again = await send(withUnknownFields, withHeader());
    assert.equal(again.error, null);
  });
});
