import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { createCertificateAuthority, issueX509Svid, type CertificateAuthority, type IssuedX509Svid } from "../../fakeagent/ca.js";
import { splitDerSequence } from "../../spiffe/der.js";
import { decodePem, pemBlocksOfType } from "../../spiffe/pem.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { encodePkcs12KeyStore, encodePkcs12TrustStore, PKCS12_ITERATIONS } from "./pkcs12.js";

const run = promisify(execFile);
const PASSWORD = "s3cret pass";

/** Runs a tool, or returns undefined when it is not installed (the test then skips, saying so). */
async function tryRun(command: string, args: string[]): Promise<{ stdout: string; stderr: string } | undefined> {
  try {
    return await run(command, args);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

const opensslMissing = (await tryRun("openssl", ["version"])) === undefined ? "openssl is not installed" : false;
const keytoolMissing = (await tryRun("keytool", ["-help"])) === undefined ? "keytool (a JDK) is not installed" : false;

let dir: string;
let root: CertificateAuthority;
let intermediate: CertificateAuthority;
let issued: IssuedX509Svid;
let keystorePath: string;
let truststorePath: string;
let chainDers: Uint8Array[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pkcs12-"));
  const td = parseTrustDomain("example.org");
  root = await createCertificateAuthority({ trustDomain: td });
  intermediate = await createCertificateAuthority({ trustDomain: td, parent: root });
  issued = await issueX509Svid(intermediate, { spiffeId: parseSpiffeId("spiffe://example.org/java"), ttlSeconds: 3600 });
  chainDers = splitDerSequence(issued.chainDer);
  keystorePath = join(dir, "keystore.p12");
  truststorePath = join(dir, "truststore.p12");
  const keystore = encodePkcs12KeyStore({
    privateKeyDer: issued.privateKeyDer,
    certificateDers: chainDers,
    password: PASSWORD,
    friendlyName: "svid",
  });
  const truststore = encodePkcs12TrustStore(
    [
      { der: root.rootDer, alias: "example.org-1" },
      { der: intermediate.certificateDer, alias: "example.org-2" },
    ],
    PASSWORD,
  );
  await writeFile(keystorePath, keystore);
  await writeFile(truststorePath, truststore);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const certificateDersIn = (pem: string): Uint8Array[] => pemBlocksOfType(decodePem(pem), "CERTIFICATE");

describe("PKCS#12 read back by openssl", { skip: opensslMissing }, () => {
  it("uses HMAC-SHA-256 and a PBES2 AES-256 shrouded key", async () => {
    const { stdout, stderr } = await run("openssl", ["pkcs12", "-in", keystorePath, "-passin", `pass:${PASSWORD}`, "-info", "-nokeys"]);
    const info = stdout + stderr;
    assert.match(info, new RegExp(`MAC: sha256, Iteration ${PKCS12_ITERATIONS}`));
    assert.match(info, new RegExp(`Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration ${PKCS12_ITERATIONS}, PRF hmacWithSHA256`));
    assert.match(info, /friendlyName: svid/);
    assert.deepEqual(certificateDersIn(stdout), chainDers);
  });

  it("yields the same private key", async () => {
    const { stdout } = await run("openssl", ["pkcs12", "-in", keystorePath, "-passin", `pass:${PASSWORD}`, "-nocerts", "-nodes"]);
    const expected = createPrivateKey({ key: Buffer.from(issued.privateKeyDer), format: "der", type: "pkcs8" });
    assert.ok(createPrivateKey(stdout).equals(expected));
  });

  it("reads the truststore's certificates with Java's trusted-usage attribute", async () => {
    const { stdout, stderr } = await run("openssl", ["pkcs12", "-in", truststorePath, "-passin", `pass:${PASSWORD}`, "-info", "-nokeys"]);
    assert.deepEqual(certificateDersIn(stdout), [root.rootDer, intermediate.certificateDer]);
    assert.equal((stdout.match(/2\.16\.840\.1\.113894\.746875\.1\.1/g) ?? []).length, 2);
    assert.match(stdout + stderr, /friendlyName: example\.org-2/);
  });

  it("rejects a wrong password at the MAC", async () => {
    await assert.rejects(
      run("openssl", ["pkcs12", "-in", keystorePath, "-passin", "pass:wrong", "-nokeys"]),
      (e: unknown) => /mac verify (failure|error)/i.test(String((e as { stderr?: unknown }).stderr)),
    );
  });
});

describe("PKCS#12 read back by Java's keytool", { skip: keytoolMissing }, () => {
  it("sees one private key entry with its chain", async () => {
    const { stdout } = await run("keytool", ["-list", "-v", "-storetype", "PKCS12", "-keystore", keystorePath, "-storepass", PASSWORD]);
    assert.match(stdout, /Your keystore contains 1 entry/);
    assert.match(stdout, /Alias name: svid\nCreation date: .*\nEntry type: PrivateKeyEntry\nCertificate chain length: 2/);
  });

  it("sees every truststore certificate as a trusted entry", async () => {
    const { stdout } = await run("keytool", ["-list", "-storetype", "PKCS12", "-keystore", truststorePath, "-storepass", PASSWORD]);
    assert.match(stdout, /Your keystore contains 2 entries/);
    assert.match(stdout, /example\.org-1, .*, trustedCertEntry/);
    assert.match(stdout, /example\.org-2, .*, trustedCertEntry/);
  });
});

describe("PKCS#12 encoding", () => {
  it("is deterministic for the same inputs and differs when the password does", () => {
    const input = { privateKeyDer: issued.privateKeyDer, certificateDers: chainDers, password: PASSWORD, friendlyName: "svid" };
    const first = encodePkcs12KeyStore(input);
    const otherPassword = encodePkcs12KeyStore({ ...input, password: "other" });
    assert.notDeepEqual(otherPassword, first);
    assert.deepEqual(encodePkcs12KeyStore(input), first);
  });

  it("refuses a keystore without a certificate", () => {
    assert.throws(
      () => encodePkcs12KeyStore({ privateKeyDer: issued.privateKeyDer, certificateDers: [], password: PASSWORD, friendlyName: "svid" }),
      /a PKCS#12 keystore needs the leaf certificate/,
    );
  });
});
