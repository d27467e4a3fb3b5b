import assert from "node:assert/strict";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { decodePem, pemBlocksOfType } from "../../src/spiffe/pem.js";
import {
  baseConfig,
  isUpdate,
  runSidecar,
  scratch,
  startAgent,
  subScratch,
  waitFor,
  writeConfig,
  X509_FILES,
} from "./support.js";

function certificatesOf(pem: string): string[] {
  return pemBlocksOfType(decodePem(pem), "CERTIFICATE").map((der) => Buffer.from(der).toString("hex"));
}

function authoritiesOf(agent: FakeAgent, trustDomain: string): string[] {
  const ders = agent.snapshot().x509Authorities.get(trustDomain);
  assert.ok(ders !== undefined, `the agent sends ${trustDomain}`);
  return ders.map((der) => Buffer.from(der).toString("hex"));
}

async function listDir(path: string): Promise<string[]> {
  return (await readdir(path)).sort();
}

describe("federation", () => {
  it("puts the federated CAs in the bundle file only with include_federated_domains", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { federatesWith: ["partner.org", "acme.test"] });
    const bundles = await Promise.all(
      [false, true].map(async (include) => {
        const sub = await subScratch(where, `include-${include}`);
        const sidecar = runSidecar(
          t,
          await writeConfig(sub, { ...baseConfig(agent, sub), ...X509_FILES, include_federated_domains: include }),
        );
        await sidecar.waitForLog("the first write", isUpdate);
        return readFile(sub.cert("svid_bundle.pem"), "utf8");
      }),
    );
    const own = authoritiesOf(agent, "example.org");
    assert.deepEqual(certificatesOf(bundles[0] ?? ""), own, "without: the own trust domain's CAs only");
    // With: the own CAs first, then the federated ones sorted by trust domain name.
    assert.deepEqual(certificatesOf(bundles[1] ?? ""), [...own, ...authoritiesOf(agent, "acme.test"), ...authoritiesOf(agent, "partner.org")]);
  });

  it("keeps one file per federated trust domain in federated_bundle_dir, following the agent", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 60 });
    const fedDir = where.cert("federated");
    await mkdir(fedDir);
    const sidecar = runSidecar(
      t,
      await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, federated_bundle_dir: "federated" }),
    );
    await sidecar.waitForLog("the first write", isUpdate);
    assert.deepEqual(await listDir(fedDir), []);
    const ownBundle = await readFile(where.cert("svid_bundle.pem"));

    await agent.update({ federatesWith: ["partner.org"] });
    await waitForFiles(fedDir, ["partner.org.pem"]);
    assert.deepEqual(certificatesOf(await readFile(`${fedDir}/partner.org.pem`, "utf8")), authoritiesOf(agent, "partner.org"));

    await agent.update({ federatesWith: ["partner.org", "acme.test"] });
    await waitForFiles(fedDir, ["acme.test.pem", "partner.org.pem"]);
    assert.deepEqual(certificatesOf(await readFile(`${fedDir}/acme.test.pem`, "utf8")), authoritiesOf(agent, "acme.test"));

    // An absent federated bundle means the agent removed it (Workload API §4.4).
    await agent.update({ federatesWith: ["acme.test"] });
    await waitForFiles(fedDir, ["acme.test.pem"]);
    await agent.update({ federatesWith: [] });
    await waitForFiles(fedDir, []);
    assert.ok(sidecar.logs.some((line) => line.msg === "removed bundle files of trust domains the agent no longer sends"));

    // Without include_federated_domains the main bundle never changed, and nothing else was touched.
    assert.deepEqual(await readFile(where.cert("svid_bundle.pem")), ownBundle);
    assert.deepEqual(await listDir(where.certDir), [...Object.values(X509_FILES), "federated"].sort());
  });
});

function waitForFiles(dir: string, names: readonly string[]): Promise<true> {
  return waitFor(`${dir} to hold exactly ${names.join(", ") || "nothing"}`, async () =>
    JSON.stringify(await listDir(dir)) === JSON.stringify([...names].sort()) ? true : undefined,
  );
}
