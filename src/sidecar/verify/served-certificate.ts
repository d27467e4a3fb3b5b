import type { X509Certificate } from "node:crypto";

/** What identifies a certificate for reload verification: never its key, only public facts. */
export interface CertificateIdentity {
  /** Upper-case hex without leading zeros, so DER padding and formatting cannot cause a mismatch. */
  readonly serialHex: string;
  /** The first `spiffe://` URI SAN, or undefined when the certificate has none. */
  readonly spiffeId: string | undefined;
  readonly notAfter: Date;
}

export type VerifyProtocol = "tls" | "postgres";

export const VERIFY_PROTOCOLS: readonly VerifyProtocol[] = ["tls", "postgres"];

/** What to do when the app still serves the old certificate after the window. */
export type VerifyEscalation = "none" | "signal" | "restart";

export const VERIFY_ESCALATIONS: readonly VerifyEscalation[] = ["none", "signal", "restart"];

/** The `verify_reload` section, resolved. */
export interface VerifyReloadConfig {
  readonly host: string;
  readonly port: number;
  readonly serverName: string | undefined;
  readonly protocol: VerifyProtocol;
  readonly windowMs: number;
  readonly escalate: VerifyEscalation;
}

export function normalizeSerial(serial: string): string {
  return serial.replace(/:/g, "").toUpperCase().replace(/^0+(?=.)/, "");
}

/** Node renders URI SANs as `URI:<value>`, comma separated; a value with a comma is quoted JSON-style. */
export function spiffeIdOf(subjectAltName: string | undefined): string | undefined {
  if (subjectAltName === undefined) return undefined;
  const uris = subjectAltName.match(/URI:(?:"(?:[^"\\]|\\.)*"|[^,]*)/g) ?? [];
  for (const entry of uris) {
    const raw = entry.slice("URI:".length);
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (value.startsWith("spiffe://")) return value;
  }
  return undefined;
}

export function identityOf(certificate: X509Certificate): CertificateIdentity {
  return {
    serialHex: normalizeSerial(certificate.serialNumber),
    spiffeId: spiffeIdOf(certificate.subjectAltName),
    notAfter: new Date(certificate.validTo),
  };
}

export type Comparison = { readonly current: true } | { readonly current: false; readonly reason: string };

/**
 * Whether the app serves the certificate we wrote: the same serial and the same SPIFFE ID
 * (a serial alone could collide across CAs). `address` only shapes the reason's words.
 */
export function compareServed(address: string, written: CertificateIdentity, served: CertificateIdentity): Comparison {
  const sameSerial = normalizeSerial(served.serialHex) === normalizeSerial(written.serialHex);
  if (sameSerial && served.spiffeId === written.spiffeId) return { current: true };
  const servedId = served.spiffeId ?? "no SPIFFE ID";
  return {
    current: false,
    reason:
      `app at ${address} serves serial ${served.serialHex} (${servedId}, notAfter ${served.notAfter.toISOString()}), ` +
      `not the current ${written.serialHex} (${written.spiffeId ?? "no SPIFFE ID"}, notAfter ${written.notAfter.toISOString()})`,
  };
}

/** The delays between probes within `windowMs`: `firstMs`, doubling, capped at `maxMs`. */
export function probeDelays(windowMs: number, firstMs = 100, maxMs = 2_000): number[] {
  const delays: number[] = [];
  let total = 0;
  let next = firstMs;
  while (total + next <= windowMs) {
    delays.push(next);
    total += next;
    next = Math.min(next * 2, maxMs);
  }
  return delays;
}

/** The inverse of `parseHostPort`: `host:port`, with an IPv6 host in brackets. */
export function formatHostPort({ host, port }: { readonly host: string; readonly port: number }): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `host:port` or `[v6]:port`; a message for the config error when it is neither. */
export function parseHostPort(address: string): { readonly host: string; readonly port: number } | string {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (match === null || host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    return `${JSON.stringify(address)} is not host:port (a port from 1 to 65535; [v6]:port for IPv6)`;
  }
  return { host, port };
}
