import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BundleWatcher, fetchBundle, FederationError, type BundleEndpointProfile } from "../../src/federation/index.js";
import { parseCertificate } from "../../src/spiffe/certificate.js";
import { marshalSpiffeBundle, parseSpiffeBundle, type SpiffeBundle } from "../../src/spiffe/spiffe-bundle.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import { x509BundleFromCertificates, type X509Bundle } from "../../src/spiffe/x509-bundle.js";
import { SpireDeployment } from "./spire.js";
import { freePort, requireTools, tempDir, waitUntil } from "./support.js";

const tools = requireTools(["spire-server"]);

const OTHER = parseTrustDomain("other.org");
/** SPIRE's bundle endpoint presents the server's own X509-SVID. */
const SPIRE_SERVER_ID = "spiffe://other.org/spire/server";

/**
 * The bundle without its refresh hint. `bundle show` prints the stored bundle, which has none;
 * the endpoint adds the hint it is configured with (SPIRE's default: 5 minutes).
 */
function withoutHint(bundle: SpiffeBundle): string {
  const { refreshHintSeconds: _hint, ...rest } = bundle;
  return marshalSpiffeBundle(rest);
}

function x509Bundle(bundle: SpiffeBundle): X509Bundle {
  return x509BundleFromCertificates(bundle.trustDomain, bundle.x509Authorities.map((der) => parseCertificate(der)));
}

describe("our federation client against SPIRE's bundle endpoint (https_spiffe)", { skip: tools.skip }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: SpireDeployment;
  let url: string;

  /** What `spire-server bundle show -format spiffe` prints, parsed with our parser. */
  async function shownBundle(): Promise<SpiffeBundle> {
    return parseSpiffeBundle(OTHER, await server.serverOutput(["bundle", "show", "-format", "spiffe"]));
  }

  before(async () => {
    dir = await tempDir("spire-endpoint-");
    const port = await freePort();
    server = await SpireDeployment.startServer(tools, dir.path, {
      trustDomain: "other.org",
      caTtl: "1h",
      extra: `federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = ${port}
      profile "https_spiffe" {}
    }
  }`,
    });
    url = `https://127.0.0.1:${port}`;
  });

  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it("fetches the bundle `spire-server bundle show -format spiffe` prints, keys and sequence alike", async (t) => {
    const shown = await shownBundle();
    const profile: BundleEndpointProfile = { type: "https_spiffe", endpointSpiffeId: SPIRE_SERVER_ID, bundles: x509Bundle(shown) };
    // The endpoint may start listening a moment after the server's health check passes.
    const fetched = await waitUntil("SPIRE's bundle endpoint", () => fetchBundle("other.org", url, { profile }).catch((error: unknown) => {
      if (error instanceof FederationError && error.rule === "connection-failed") return undefined;
      throw error;
    }));
    assert.equal(withoutHint(fetched), withoutHint(shown));
    assert.equal(shown.refreshHintSeconds, undefined);
    assert.ok(fetched.refreshHintSeconds !== undefined && fetched.refreshHintSeconds > 0, "the endpoint publishes a refresh hint");
    assert.ok(fetched.x509Authorities.length > 0 && fetched.jwtAuthorities.size > 0, "SPIRE publishes X.509 and JWT authorities");
    t.diagnostic(
      `SPIRE served ${fetched.x509Authorities.length} X.509 and ${fetched.jwtAuthorities.size} JWT authorities, refresh hint ${String(fetched.refreshHintSeconds)} s, sequence ${String(fetched.sequence)}`,
    );

    await assert.rejects(
      fetchBundle("other.org", url, { profile: { ...profile, endpointSpiffeId: "spiffe://other.org/not-the-server" } }),
      (error: unknown) => error instanceof FederationError && error.rule === "endpoint-not-authenticated" && /spiffe:\/\/other\.org\/spire\/server is not allowed/.test(error.message),
    );
  });

  it("a watcher picks up a CA SPIRE prepares, still equal to `bundle show`", async (t) => {
    const shown = await shownBundle();
    const watcher = await BundleWatcher.start({
      trustDomain: "other.org",
      url,
      profile: { type: "https_spiffe", endpointSpiffeId: SPIRE_SERVER_ID, bundles: x509Bundle(shown) },
    });
    try {
      const before = watcher.bundle.x509Authorities.length;
      await server.serverOutput(["localauthority", "x509", "prepare"]);
      const updated = await shownBundle();
      assert.equal(updated.x509Authorities.length, before + 1, "SPIRE's bundle gained the prepared CA");
      // As `spire-server federation refresh` does, rather than waiting for SPIRE's refresh hint (minutes).
      await watcher.refresh();
      assert.equal(withoutHint(watcher.bundle), withoutHint(updated));
      t.diagnostic(`after localauthority x509 prepare: ${before} -> ${watcher.bundle.x509Authorities.length} X.509 authorities, sequence ${String(watcher.bundle.sequence)}`);
    } finally {
      watcher.close();
    }
  });
});
