import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { ecJwkOfPkcs8, importPkcs8PrivateKey } from "./pkcs8-ec-key.js";

function pkcs8Of(privateKey: ReturnType<typeof generateKeyPairSync>["privateKey"]): Uint8Array {
  return new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }));
}

describe("importPkcs8PrivateKey", () => {
  for (const namedCurve of ["P-256", "P-384", "P-521"]) {
    it(`imports an OpenSSL/Go-shaped ${namedCurve} key through the JWK path, equal to OpenSSL's decode`, () => {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve });
      const der = pkcs8Of(privateKey);
      assert.equal(ecJwkOfPkcs8(der)?.crv, namedCurve);
      const imported = importPkcs8PrivateKey(der);
      assert.ok(imported.privateKey.equals(privateKey));
      assert.deepEqual(imported.pkcs8Der, der);
    });
  }

  it("takes WebCrypto's PKCS#8 export (the fake agent's) through the JWK path", async () => {
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
    const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    assert.notEqual(ecJwkOfPkcs8(der), undefined);
    assert.ok(importPkcs8PrivateKey(der).privateKey.equals(createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" })));
  });

  it("leaves every other shape to OpenSSL and writes what OpenSSL exports", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const ed25519 = generateKeyPairSync("ed25519").privateKey;
    for (const privateKey of [rsa, ed25519]) {
      const der = pkcs8Of(privateKey);
      assert.equal(ecJwkOfPkcs8(der), undefined);
      const imported = importPkcs8PrivateKey(der);
      assert.ok(imported.privateKey.equals(privateKey));
      assert.deepEqual(imported.pkcs8Der, der);
    }
  });

  it("does not take a key whose bytes outside the key material differ from the shape", () => {
    const der = pkcs8Of(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    const compressedPrefix = Uint8Array.from(der);
    compressedPrefix[compressedPrefix.length - 65] = 0x03; // in place of 0x04, the uncompressed point's
    assert.equal(ecJwkOfPkcs8(compressedPrefix), undefined);
    const version2 = Uint8Array.from(der);
    version2[5] = 0x01; // OneAsymmetricKey v2
    assert.equal(ecJwkOfPkcs8(version2), undefined);
    assert.equal(ecJwkOfPkcs8(der.subarray(0, der.length - 1)), undefined);
    assert.equal(ecJwkOfPkcs8(Uint8Array.of(...der, 0)), undefined);
  });

  it("refuses a point off the curve, as OpenSSL's decoder does", () => {
    const der = pkcs8Of(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    const offCurve = Uint8Array.from(der);
    offCurve[offCurve.length - 1] = (offCurve[offCurve.length - 1] ?? 0) ^ 0x01;
    assert.notEqual(ecJwkOfPkcs8(offCurve), undefined);
    assert.throws(() => importPkcs8PrivateKey(offCurve));
    assert.throws(() => createPrivateKey({ key: Buffer.from(offCurve), format: "der", type: "pkcs8" }));
  });
});
