import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVectorJson } from "../../test/support/vectors.js";
import {
  EndpointAddressError,
  formatEndpointAddress,
  grpcTarget,
  parseEndpointAddress,
  resolveEndpointAddress,
} from "./address.js";

interface AddressVectors {
  valid: { addr: string; go_spiffe: string; spec: string }[];
  invalid: { addr: string; go_spiffe_error: string }[];
  disagreements: { addr: string; go_spiffe: string; spec: string }[];
}

const vectors = readVectorJson<AddressVectors>("endpoint_address.json");

/** Our messages keep go-spiffe's wording and add the fix; the scheme error quotes the input too. */
function expectedReason(goSpiffeError: string): RegExp {
  if (goSpiffeError.startsWith("net/url: invalid control character")) return /invalid control character/;
  const quoted = goSpiffeError.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${quoted}`);
}

function rejects(text: string, reason: RegExp): void {
  assert.throws(
    () => parseEndpointAddress(text),
    (e: unknown) => e instanceof EndpointAddressError && e.code === "ERR_ENDPOINT_ADDRESS" && reason.test(e.message),
    `${JSON.stringify(text)} should be rejected with ${reason}`,
  );
}

describe("parseEndpointAddress against test/vectors/endpoint_address.json", () => {
  it(`accepts all ${vectors.valid.length} valid addresses`, () => {
    for (const { addr } of vectors.valid) {
      assert.doesNotThrow(() => parseEndpointAddress(addr), addr);
    }
  });

  it("parses the parts of the valid addresses", () => {
    assert.deepEqual(parseEndpointAddress("unix:///path/to/endpoint.sock"), {
      kind: "unix",
      path: "/path/to/endpoint.sock",
    });
    assert.deepEqual(parseEndpointAddress("unix:/path/to/endpoint.sock"), {
      kind: "unix",
      path: "/path/to/endpoint.sock",
    });
    assert.deepEqual(parseEndpointAddress("tcp://127.0.0.1:8000"), { kind: "tcp", host: "127.0.0.1", port: 8000 });
    assert.deepEqual(parseEndpointAddress("tcp://[::1]:8000"), { kind: "tcp", host: "::1", port: 8000 });
  });

  it("rejects every invalid address with go-spiffe's reason, except the bare path", () => {
    for (const { addr, go_spiffe_error } of vectors.invalid) {
      if (addr.startsWith("/")) continue;
      rejects(addr, expectedReason(go_spiffe_error));
    }
  });

  it("accepts a bare absolute path as spiffe-helper's agent_address does (an extension: go-spiffe rejects it)", () => {
    const bare = vectors.invalid.find((v) => v.addr.startsWith("/"));
    assert.ok(bare, "the vectors include a bare path");
    assert.deepEqual(parseEndpointAddress(bare.addr), { kind: "unix", path: bare.addr });
  });

  it("follows the spec where go-spiffe disagrees: a unix authority is rejected", () => {
    assert.equal(vectors.disagreements.length, 2);
    for (const { addr, spec } of vectors.disagreements) {
      assert.match(spec, /^invalid/);
      rejects(addr, /^workload endpoint unix socket URI must not include an authority \("foo"\).*unix:\/\/\//);
    }
  });
});

describe("parseEndpointAddress edge cases", () => {
  it("names the fix and the spec section", () => {
    rejects("unix:opaque", /write unix:\/\/\/absolute\/path\/to\/agent\.sock \(SPIFFE Workload Endpoint §4\)$/);
    rejects("tcp://localhost:8000", /must be an IP:port, not "localhost:8000": write tcp:\/\/<IP>:<port>/);
  });

  it("rejects an empty path, a bad port and an unbracketed IPv6 host", () => {
    rejects("unix:", /must include a path/);
    rejects("unix:///", /must include a path/);
    rejects("tcp://1.2.3.4:", /must include a port/);
    rejects("tcp://1.2.3.4:0", /port must be a number from 1 to 65535, not "0"/);
    rejects("tcp://1.2.3.4:65536", /port must be a number from 1 to 65535/);
    rejects("tcp://1.2.3.4:http", /port must be a number from 1 to 65535/);
    rejects("tcp://::1:8000", /must be an IP:port/);
    rejects("tcp://[localhost]:8000", /must be an IP:port/);
  });

  it("treats the scheme case-insensitively and decodes percent-encoded paths", () => {
    assert.deepEqual(parseEndpointAddress("UNIX:///a/b.sock"), { kind: "unix", path: "/a/b.sock" });
    assert.deepEqual(parseEndpointAddress("unix:///run/my%20agent.sock"), { kind: "unix", path: "/run/my agent.sock" });
    rejects("unix:///bad%zz", /invalid percent-encoding/);
  });
});

describe("resolveEndpointAddress", () => {
  it("prefers the configured value over SPIFFE_ENDPOINT_SOCKET", () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: "unix:///from/env.sock" };
    const configured = resolveEndpointAddress("unix:///configured.sock", env);
    assert.deepEqual(configured, { kind: "unix", path: "/configured.sock" });
    assert.deepEqual(resolveEndpointAddress(undefined, env), { kind: "unix", path: "/from/env.sock" });
    assert.deepEqual(resolveEndpointAddress("", env), { kind: "unix", path: "/from/env.sock" });
  });

  it("names both sources when neither is set", () => {
    assert.throws(
      () => resolveEndpointAddress(undefined, {}),
      (e: unknown) =>
        e instanceof EndpointAddressError &&
        /agent_address/.test(e.message) &&
        /SPIFFE_ENDPOINT_SOCKET/.test(e.message),
    );
  });

  it("reports a malformed environment value", () => {
    assert.throws(() => resolveEndpointAddress(undefined, { SPIFFE_ENDPOINT_SOCKET: "unix://foo" }), /authority/);
  });
});

describe("grpcTarget and formatEndpointAddress", () => {
  it("always writes an absolute unix target, never unix://name", () => {
    assert.equal(grpcTarget(parseEndpointAddress("unix:/tmp/agent.sock")), "unix:///tmp/agent.sock");
    assert.equal(grpcTarget(parseEndpointAddress("/tmp/agent.sock")), "unix:///tmp/agent.sock");
  });

  it("writes ipv4: and ipv6: targets for TCP", () => {
    assert.equal(grpcTarget(parseEndpointAddress("tcp://1.2.3.4:5")), "ipv4:1.2.3.4:5");
    assert.equal(grpcTarget(parseEndpointAddress("tcp://[::1]:8000")), "ipv6:[::1]:8000");
  });

  it("formats addresses the way a user writes them", () => {
    assert.equal(formatEndpointAddress(parseEndpointAddress("unix:/tmp/a.sock")), "unix:///tmp/a.sock");
    assert.equal(formatEndpointAddress(parseEndpointAddress("tcp://[::1]:8000")), "tcp://[::1]:8000");
  });
});
