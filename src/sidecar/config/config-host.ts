import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync, readSync, type Stats } from "node:fs";
import { SpiffeSidecarError } from "../../errors.js";

/**
 * What reading a configuration needs from the machine: user and group names and secret files.
 * Injected so that `parseConfig` stays pure in tests; `systemConfigHost` is the real one.
 */
export interface ConfigHost {
  /** The uid of a user name, or undefined when there is no such user. */
  userId(name: string): number | undefined;
  /** The gid of a group name, or undefined when there is no such group. */
  groupId(name: string): number | undefined;
  /** The text of a secret file (a regular file of at most 4 KiB); throws when it cannot be read. */
  readSecretFile(path: string): string;
}

/**
 * The id of `name` in an /etc/passwd or /etc/group style file (`name:x:id:...`), or undefined.
 * Node has no getpwnam, so only the local files are consulted: users from LDAP or other NSS
 * sources must be written as numeric ids.
 */
export function lookupIdInDatabase(databaseText: string, name: string): number | undefined {
  for (const line of databaseText.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return undefined;
}

function lookupInFile(path: string, name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    // No such database (a minimal container): the name is simply unknown, and the error says to use an id.
    return undefined;
  }
  return lookupIdInDatabase(text, name);
}

/** A password is short; this bounds what a mistaken path such as /dev/zero can make us read. */
export const MAX_SECRET_FILE_BYTES = 4096;

/** A secret file that is not a small regular file. */
export class SecretFileError extends SpiffeSidecarError {
  readonly code = "ERR_SECRET_FILE";
}

function describeFileType(stats: Stats): string {
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  if (stats.isDirectory()) return "a directory";
  return "a special file";
}

/**
 * Reads a small regular file. It is opened without blocking (a FIFO with no writer would
 * otherwise hold start-up forever) and checked with fstat on the open descriptor, so a device
 * or FIFO is refused before a byte is read and a swap between check and read cannot fool it.
 */
export function readSmallRegularFile(path: string, maxBytes = MAX_SECRET_FILE_BYTES): string {
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new SecretFileError(`it is ${describeFileType(stats)}, not a regular file`);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    let bytesRead: number;
    do {
      bytesRead = readSync(fd, buffer, length, buffer.length - length, null);
      length += bytesRead;
    } while (bytesRead > 0 && length < buffer.length);
    if (length > maxBytes) throw new SecretFileError(`it is larger than ${maxBytes} bytes`);
    const text = buffer.toString("utf8", 0, length);
    buffer.fill(0);
    return text;
  } finally {
    closeSync(fd);
  }
}

/** The real machine: /etc/passwd, /etc/group and the file system, read only when a config asks. */
export const systemConfigHost: ConfigHost = {
  userId: (name) => lookupInFile("/etc/passwd", name),
  groupId: (name) => lookupInFile("/etc/group", name),
  readSecretFile: (path) => readSmallRegularFile(path),
};
