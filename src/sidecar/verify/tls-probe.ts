import { X509Certificate } from "node:crypto";
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { SpiffeSidecarError } from "../../errors.js";
import type { VerifyProtocol } from "./served-certificate.js";

/** The app could not be asked which certificate it serves; the message names the address and why. */
export class ProbeError extends SpiffeSidecarError {
  readonly code = "ERR_VERIFY_PROBE";
}

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
  /** SNI; unset sends the host when it is a name, as Node does. */
  readonly serverName?: string | undefined;
  readonly protocol: VerifyProtocol;
  /** Deadline of the whole probe: connect, preamble and handshake. */
  readonly timeoutMs: number;
}

/** PostgreSQL's SSLRequest: length 8, then code 80877103 (protocol docs §55.2.10, "SSL Session Encryption"). */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function describe(target: ProbeTarget): string {
  return `${target.host}:${target.port}`;
}

/** Sends SSLRequest and waits for the one-byte answer; `S` means the server will speak TLS next. */
function postgresPreamble(socket: Socket, target: ProbeTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      socket.off("data", onData);
      if (chunk.length === 1 && chunk[0] === 0x53) resolve();
      else reject(new ProbeError(`${describe(target)} answered SSLRequest with ${JSON.stringify(chunk.subarray(0, 1).toString("latin1"))}, not "S": is ssl = on in postgresql.conf?`));
    };
    socket.on("data", onData);
    socket.write(SSL_REQUEST);
  });
}

function tcpConnect(target: ProbeTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: target.host, port: target.port });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * Connects, completes a TLS handshake and returns the leaf the app serves. The peer is not
 * verified (`rejectUnauthorized: false`): we only compare what it serves with what we wrote,
 * and no application data is ever sent. Always settles within `timeoutMs`.
 */
export async function probeServedCertificate(target: ProbeTarget): Promise<X509Certificate> {
  const sockets: Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ProbeError(`${describe(target)} did not complete a TLS handshake within ${target.timeoutMs} ms`)),
      target.timeoutMs,
    );
  });
  const probe = async (): Promise<X509Certificate> => {
    let underlying: Socket | undefined;
    if (target.protocol === "postgres") {
      underlying = await tcpConnect(target);
      sockets.push(underlying);
      await postgresPreamble(underlying, target);
    }
    const servername = target.serverName;
    const tlsSocket = connectTls({
      ...(underlying === undefined ? { host: target.host, port: target.port } : { socket: underlying }),
      ...(servername === undefined ? {} : { servername }),
      rejectUnauthorized: false,
    });
    sockets.push(tlsSocket);
    await new Promise<void>((resolve, reject) => {
      tlsSocket.once("secureConnect", resolve);
      tlsSocket.once("error", reject);
    });
    const peer = tlsSocket.getPeerCertificate();
    if (peer.raw === undefined) throw new ProbeError(`${describe(target)} completed TLS without a certificate`);
    return new X509Certificate(peer.raw);
  };
  try {
    return await Promise.race([probe(), deadline]);
  } catch (error: unknown) {
    if (error instanceof ProbeError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new ProbeError(`cannot read the certificate served at ${describe(target)}: ${detail}`, { cause: error });
  } finally {
    clearTimeout(timer);
    // The TLS socket first: destroying the socket under a live TLS wrap crashes Node 20.
    for (const socket of sockets.reverse()) socket.destroy();
  }
}
