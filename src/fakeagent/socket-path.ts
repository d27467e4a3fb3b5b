import { lstat, mkdir, unlink } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { describeError } from "../errors.js";
import { FakeAgentSocketError } from "./errors.js";

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** True when something accepts connections on the socket. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Makes `socketPath` ready to bind: creates its directory, removes a stale socket left by a
 * crashed agent, and refuses a path that a live server answers on or that is not a socket
 * (we never delete a user's regular file).
 */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true });
  let isSocket: boolean;
  try {
    isSocket = (await lstat(socketPath)).isSocket();
  } catch (error: unknown) {
    if (errorCode(error) === "ENOENT") return;
    throw new FakeAgentSocketError(`cannot check socket path ${socketPath}: ${describeError(error)}`, { cause: error });
  }
  if (!isSocket) {
    throw new FakeAgentSocketError(`${socketPath} exists and is not a socket; remove it or choose another --socket path`);
  }
  if (await answers(socketPath)) {
    throw new FakeAgentSocketError(
      `a server is already listening on ${socketPath}; stop it or choose another --socket path (a stale socket file would have been replaced)`,
    );
  }
  await unlink(socketPath);
}

/** The inode of the socket we bound, so that stop removes our socket and never a successor's. */
export async function socketInode(socketPath: string): Promise<number | undefined> {
  try {
    return (await lstat(socketPath)).ino;
  } catch {
    return undefined;
  }
}

/** Removes the socket if it is still the one we created. */
export async function removeSocket(socketPath: string, inode: number | undefined): Promise<void> {
  if (inode === undefined || (await socketInode(socketPath)) !== inode) return;
  try {
    await unlink(socketPath);
  } catch (error: unknown) {
    if (errorCode(error) !== "ENOENT") throw error;
  }
}
