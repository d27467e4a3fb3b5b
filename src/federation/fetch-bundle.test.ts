import "reflect-metadata";
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from "@peculiar/x509";
import assert from "node:assert/strict";
import { KeyObject, webcrypto } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createServer, request, type Server } from "node:https";
import type { RequestListener } from "node:http";
import { describe, it, type TestContext } from "node:test";
import { bundleDer, createCertificateAuthority } from "../fakeagent/ca.js";
import { createJwtSigningKey } from "../fakeagent/jwt-issuer.js";
import { marshalSpiffeBundle, type SpiffeBundle } from "../spiffe/spiffe-bundle.js";
import { parseTrustDomain } from "../spiffe/spiffe-id.js";
import { createBundleHandler } from "./bundle-handler.js";
import { FederationError, type FederationRule } from "./errors.js";
import { fetchBundle } from "./fetch-bundle.js";

const OTHER = parseTrustDomain("other.org");
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

interface WebPki {
  readonly caPem: string;
  readonly keyPem: string;
  readonly certPem: string;
}

type AltName = { type: "ip" | "dns"; value: string };

/** A self-made Web PKI: a root CA and a server certificate for `names`. */
async function makeWebPki(names: readonly AltName[] = [{ type: "ip", value: "127.0.0.1" }]): Promise<WebPki> {
  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const ca = await X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=federation test root",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [new BasicConstraintsExtension(true, undefined, true), new KeyUsagesExtension(KeyUsageFlags.keyCertSign, true)],
  });
  const serverKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const server = await X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=localhost",
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new SubjectAlternativeNameExtension([...names]),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
    ],
  });
  const keyPem = KeyObject.from(serverKeys.privateKey).export({ type: "pkcs8", format: "pem" }).toString();
  return { caPem: ca.toString("pem"), keyPem, certPem: server.toString("pem") };
}

async function makeBundle(): Promise<SpiffeBundle> {
  const ca = await createCertificateAuthority({ trustDomain: OTHER });
  const jwtKey = await createJwtSigningKey({ kid: "key-1" });
  return {
    trustDomain: OTHER,
    x509Authorities: [bundleDer(ca)],
    jwtAuthorities: new Map([[jwtKey.kid, jwtKey.publicJwk]]),
    sequence: 42n,
    refreshHintSeconds: 300,
  };
}

async function listen(t: TestContext, pki: WebPki, listener: RequestListener): Promise<string> {
  const server: Server = createServer({ key: pki.keyPem, cert: pki.certPem }, listener);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`;
}

async function assertFederationError(promise: Promise<unknown>, rule: FederationRule, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FederationError, `expected a FederationError, got ${String(error)}`);
    assert.equal(error.rule, rule, error.message);
    assert.match(error.message, message);
    return true;
  });
}

describe("serving and fetching a bundle over https_web", () => {
  it("fetches what the handler serves: X.509 and JWT authorities, refresh hint and sequence", async (t) => {
    const [pki, bundle] = await Promise.all([makeWebPki(), makeBundle()]);
    const url = await listen(t, pki, createBundleHandler(bundle));
    const fetched = await fetchBundle("other.org", url, { profile: { type: "https_web", ca: pki.caPem } });
    assert.equal(fetched.trustDomain.name, "other.org");
    assert.deepEqual(fetched.x509Authorities.map((der) => Buffer.from(der).toString("base64")), bundle.x509Authorities.map((der) => Buffer.from(der).toString("base64")));
    assert.deepEqual([...fetched.jwtAuthorities.keys()], ["key-1"]);
    assert.equal(fetched.sequence, 42n);
    assert.equal(fetched.refreshHintSeconds, 300);
    assert.equal(marshalSpiffeBundle(fetched), marshalSpiffeBundle(bundle));
  });

  it("serves application/json, answers HEAD, refuses other methods and reports a failing provider as 500", async (t) => {
    const [pki, bundle] = await Promise.all([makeWebPki(), makeBundle()]);
    const failures: unknown[] = [];
    let broken = false;
    const url = await listen(
      t,
      pki,
      createBundleHandler(
        () => {
          if (broken) throw new Error("source not ready");
          return bundle;
        },
        { onError: (error) => failures.push(error) },
      ),
    );
    // Node's fetch takes no per-call CA, so these checks use https.request with `ca`.
    const response = await httpsGet(url, pki.caPem, "GET");
    assert.equal(response.status, 200);
    assert.equal(response.contentType, "application/json");
    assert.ok(JSON.parse(response.body).keys.length === 2);
    const head = await httpsGet(url, pki.caPem, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    const post = await httpsGet(url, pki.caPem, "POST");
    assert.equal(post.status, 405);
    assert.equal(post.allow, "GET, HEAD");
    broken = true;
    const failed = await httpsGet(url, pki.caPem, "GET");
    assert.equal(failed.status, 500);
    assert.doesNotMatch(failed.body, /source not ready/);
    assert.equal(failures.length, 1);
    await assertFederationError(fetchBundle("other.org", url, { profile: { type: "https_web", ca: pki.caPem } }), "http-status", /HTTP 500/);
  });

  it("refuses a server whose CA is not among the roots (Node's defaults here)", async (t) => {
    const [pki, bundle] = await Promise.all([makeWebPki(), makeBundle()]);
    const url = await listen(t, pki, createBundleHandler(bundle));
    await assertFederationError(fetchBundle("other.org", url, { profile: { type: "https_web" } }), "endpoint-not-authenticated", /not authenticated/);
  });

  it("refuses a server certificate for another host name", async (t) => {
    const [pki, bundle] = await Promise.all([makeWebPki([{ type: "dns", value: "bundles.other.org" }]), makeBundle()]);
    const url = await listen(t, pki, createBundleHandler(bundle));
    await assertFederationError(fetchBundle("other.org", url, { profile: { type: "https_web", ca: pki.caPem } }), "endpoint-not-authenticated", /ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it("bounds the body, the time and the URL scheme, and names a bad bundle", async (t) => {
    const pki = await makeWebPki();
    const large = await listen(t, pki, (_request, response) => response.end(`{"keys": [], "pad": "${"x".repeat(4096)}"}`));
    await assertFederationError(fetchBundle("other.org", large, { profile: { type: "https_web", ca: pki.caPem }, maxBodyBytes: 1024 }), "body-too-large", /more than 1024 bytes/);
    const streamed = await listen(t, pki, (_request, response) => {
      response.write(`{"keys": [], "pad": "`);
      response.end(`${"x".repeat(4096)}"}`);
    });
    await assertFederationError(fetchBundle("other.org", streamed, { profile: { type: "https_web", ca: pki.caPem }, maxBodyBytes: 1024 }), "body-too-large", /maxBodyBytes/);
    const silent = await listen(t, pki, () => undefined);
    await assertFederationError(fetchBundle("other.org", silent, { profile: { type: "https_web", ca: pki.caPem }, timeoutMs: 300 }), "timeout", /within 300 ms/);
    const invalid = await listen(t, pki, (_request, response) => response.end(`{"keys": "none"}`));
    await assertFederationError(fetchBundle("other.org", invalid, { profile: { type: "https_web", ca: pki.caPem } }), "invalid-bundle", /"keys" must be an array/);
    await assertFederationError(fetchBundle("other.org", "http://127.0.0.1:1/bundle", { profile: { type: "https_web" } }), "invalid-options", /must use https/);
    const controller = new AbortController();
    const aborted = fetchBundle("other.org", silent, { profile: { type: "https_web", ca: pki.caPem }, signal: controller.signal });
    controller.abort();
    await assertFederationError(aborted, "aborted", /aborted/);
  });

  it("follows a redirect with the same checks, and refuses one to a non-endpoint URL or a loop", async (t) => {
    const [pki, bundle] = await Promise.all([makeWebPki(), makeBundle()]);
    const serve = createBundleHandler(bundle);
    const url = await listen(t, pki, (request, response) => {
      if (request.url === "/bundle") serve(request, response);
      else if (request.url === "/moved") response.writeHead(307, { location: "/bundle" }).end();
      else if (request.url === "/plain") response.writeHead(302, { location: "http://127.0.0.1/bundle" }).end();
      else response.writeHead(302, { location: "/loop" }).end();
    });
    const profile = { type: "https_web", ca: pki.caPem } as const;
    const fetched = await fetchBundle("other.org", url.replace("/bundle", "/moved"), { profile });
    assert.equal(fetched.sequence, 42n);
    await assertFederationError(fetchBundle("other.org", url.replace("/bundle", "/plain"), { profile }), "bad-redirect", /not a bundle endpoint URL: .*must use https/);
    await assertFederationError(fetchBundle("other.org", url.replace("/bundle", "/loop"), { profile }), "bad-redirect", /redirected more than 3 times/);
    await assertFederationError(fetchBundle("other.org", url.replace("https://", "https://user:secret@"), { profile }), "invalid-options", /must not carry a user name or password/);
  });

  it("refuses https_spiffe without a bundle for the endpoint's trust domain before connecting", async () => {
    await assertFederationError(
      fetchBundle("other.org", "https://127.0.0.1:1/", { profile: { type: "https_spiffe", endpointSpiffeId: "spiffe://third.org/server", bundles: { getX509Bundle: () => undefined } } }),
      "no-endpoint-bundle",
      /trust domain "third.org"/,
    );
  });
});

interface SimpleResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly allow: string | undefined;
  readonly body: string;
}

function httpsGet(url: string, ca: string, method: string): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          contentType: response.headers["content-type"],
          allow: response.headers["allow"],
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}
