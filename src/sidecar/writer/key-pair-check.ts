import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { KeyPairCheck, KeyPairPaths, KeyPairVerdict } from "./file-writer.js";

/**
 * Whether the key file holds the private half of the first certificate in the cert file, as
 * `inspect` judges `key-mismatch`. Paths are followed like an application follows them (the
 * `directory` layout's names are symlinks into `..data`). Neither file's bytes leave this
 * function: the verdict is all a log line gets.
 */
export function checkKeyPair(pair: KeyPairPaths): KeyPairCheck {
  return { ...pair, verdict: verdictFor(pair) };
}

function verdictFor({ certPath, keyPath }: KeyPairPaths): KeyPairVerdict {
  let certPem: Buffer;
  let keyPem: Buffer;
  try {
    certPem = readFileSync(certPath);
    keyPem = readFileSync(keyPath);
  } catch (error: unknown) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "unreadable";
  }
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)) ? "match" : "mismatch";
  } catch {
    // OpenSSL throws instead of answering when the key and certificate algorithms differ.
    return "unreadable";
  }
}
