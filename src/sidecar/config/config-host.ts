import { readFileSync } from "node:fs";

/**
 * What reading a configuration needs from the machine: user and group names and secret files.
 * Injected so that `parseConfig` stays pure in tests; `systemConfigHost` is the real one.
 */
export interface ConfigHost {
  /** The uid of a user name, or undefined when there is no such user. */
  userId(name: string): number | undefined;
  /** The gid of a group name, or undefined when there is no such group. */
  groupId(name: string): number | undefined;
  /** The text of a secret file; throws the fs error when it cannot be read. */
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

/** The real machine: /etc/passwd, /etc/group and the file system, read only when a config asks. */
export const systemConfigHost: ConfigHost = {
  userId: (name) => lookupInFile("/etc/passwd", name),
  groupId: (name) => lookupInFile("/etc/group", name),
  readSecretFile: (path) => readFileSync(path, "utf8"),
};
