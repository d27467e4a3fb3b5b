import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SpireDeployment } from "./spire.js";
import { Daemon, freePort, leafSerial, requireTools, sleep, startSidecar, tempDir, waitUntil, writeSidecarConfig } from "./support.js";

const tools = requireTools(["spire-server", "spire-agent"]);

const WORKLOAD_ID = "spiffe://example.org/federated-app";
const FEDERATED_FILE = join("federated", "other.org.pem");

/** The serial of every certificate in a PEM text. */
function serials(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((block) => leafSerial(Buffer.from(block)));
}

describe("spiffe-sidecar writes a bundle federated between two real SPIRE servers", { skip: tools.skip }, () => {
  let own: Awaited<ReturnType<typeof tempDir>>;
  let other: Awaited<ReturnType<typeof tempDir>>;
  let serverA: SpireDeployment;
  let serverB: SpireDeployment;
  let sidecar: Daemon;
  let certDir: string;

  async function federatedSerials(): Promise<string[] | undefined> {
    const text = await readFile(join(certDir, FEDERATED_FILE), "utf8").catch(() => undefined);
    return text === undefined ? undefined : serials(text);
  }

  before(async () => {
    own = await tempDir("fedA-");
    other = await tempDir("fedB-");
    const endpointPort = await freePort();
    // other.org serves its bundle over the https_spiffe profile (TLS with its server's X509-SVID).
    // Its CA lives an hour, so its bundle changes only when the test prepares a new CA.
    serverB = await SpireDeployment.startServer(tools, other.path, {
      trustDomain: "other.org",
      caTtl: "1h",
      extra: `federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = ${endpointPort}
      profile "https_spiffe" {}
    }
  }`,
    });
    serverA = await SpireDeployment.startServer(tools, own.path);
    // https_spiffe authenticates the endpoint with the bundle it serves, so the first one is given by hand.
    const bootstrap = join(own.path, "other.org.json");
    await writeFile(bootstrap, await serverB.serverOutput(["bundle", "show", "-format", "spiffe"]));
    await serverA.serverOutput([
      "federation", "create", "-trustDomain", "other.org",
      "-bundleEndpointURL", `https://127.0.0.1:${endpointPort}`, "-bundleEndpointProfile", "https_spiffe",
      "-endpointSpiffeID", "spiffe://other.org/spire/server",
      "-trustDomainBundlePath", bootstrap, "-trustDomainBundleFormat", "spiffe",
    ]);
    await serverA.register([{ entryId: "a-federated", spiffeId: WORKLOAD_ID, federatesWith: ["spiffe://other.org"] }]);
    await serverA.startAgent(1);
    certDir = join(own.path, "certs");
    await writeSidecarConfig(join(own.path, "sidecar.yaml"), {
      agent_address: serverA.agentSocket,
      cert_dir: certDir,
      svid_file_name: "svid.pem",
      svid_key_file_name: "svid_key.pem",
      svid_bundle_file_name: "svid_bundle.pem",
      include_federated_domains: true,
      federated_bundle_dir: "federated",
    });
    sidecar = startSidecar(join(own.path, "sidecar.yaml"), join(own.path, "sidecar.log"));
  });

  after(async () => {
    await sidecar?.stop();
    await serverA?.stop();
    await serverB?.stop();
    await own?.remove();
    await other?.remove();
  });

  it("writes other.org's bundle, and a CA other.org adds later arrives through its bundle endpoint", async (t) => {
    const initial = serials(await serverB.serverOutput(["bundle", "show"]));
    const written = await waitUntil(`${FEDERATED_FILE} from the agent`, federatedSerials);
    assert.deepEqual(written, initial);
    t.diagnostic(`federated/other.org.pem holds other.org's CA(s) ${initial.join(", ")}`);

    // A CA that server A was never given by hand: only the https_spiffe endpoint can bring it.
    await serverB.serverOutput(["localauthority", "x509", "prepare"]);
    const updated = serials(await serverB.serverOutput(["bundle", "show"]));
    const added = updated.filter((serial) => !initial.includes(serial));
    assert.equal(added.length, 1, `other.org's bundle gained one CA: ${updated.join(", ")}`);
    const arrived = await waitUntil("the new other.org CA in the sidecar's federated bundle file", async () => {
      // Ask server A to poll the endpoint now rather than at its refresh hint (1 minute at least).
      await serverA.serverCommand(["federation", "refresh", "-id", "spiffe://other.org"]);
      await sleep(1_000);
      const current = await federatedSerials();
      return current?.includes(added[0] ?? "") === true ? current : undefined;
    });
    assert.deepEqual([...arrived].sort(), [...updated].sort());
    t.diagnostic(`other.org prepared CA ${added[0] ?? ""}; server A fetched it over https_spiffe; the sidecar wrote ${arrived.length} other.org CAs`);

    const svidBundle = serials(await readFile(join(certDir, "svid_bundle.pem"), "utf8"));
    for (const serial of updated) assert.ok(svidBundle.includes(serial), `svid_bundle.pem lacks other.org CA ${serial}`);
  });
});
