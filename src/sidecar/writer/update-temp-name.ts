import { createHash, randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

/**
 * The name of a temp file that belongs to one update of the `files` layout:
 * `.<target>.tmp-<update>-<index>of<count>-<digest>`, e.g.
 * `.svid_key.pem.tmp-1a2b3c4d5e6f7a8b-3of3-0123456789abcdef`. After a crash the names alone say
 * what was under way: which update (`update`, 16 random hex digits), which output it replaces
 * (`target`, in the same directory), where it stands in the update's rename order (`index`, from
 * 1 to `count`), and what it must hold (`digest`, the first 16 hex digits of the SHA-256 of its
 * complete contents), so the repair can tell a complete temp from a half-written one without
 * knowing anything about PEM.
 */
const UPDATE_TEMP_NAME = /^\.(.+)\.tmp-([0-9a-f]{16})-([1-9][0-9]{0,5})of([1-9][0-9]{0,5})-([0-9a-f]{16})$/;

/** What an update temp file's name says. */
export interface UpdateTemp {
  /** The temp file itself. */
  readonly path: string;
  /** The output it replaces, in the same directory. */
  readonly targetPath: string;
  readonly update: string;
  /** 1-based place in the rename order. */
  readonly index: number;
  readonly count: number;
  readonly digest: string;
}

/** A fresh update id: random, so two processes (or two runs) never pick the same names. */
export function newUpdateId(): string {
  return randomBytes(8).toString("hex");
}

/** Lowercase hex SHA-256 of `contents`: the writer's change check, and the source of `nameDigest`. */
export function contentDigest(contents: Uint8Array): string {
  return createHash("sha256").update(contents).digest("hex");
}

/** The digest an update temp's name carries for `contents`. */
export function nameDigest(contents: Uint8Array): string {
  return contentDigest(contents).slice(0, 16);
}

/** `contentsDigest` is `contentDigest` of the temp's contents, which the writer has already taken. */
export function updateTempPath(targetPath: string, update: string, index: number, count: number, contentsDigest: string): string {
  return join(dirname(targetPath), `.${basename(targetPath)}.tmp-${update}-${index}of${count}-${contentsDigest.slice(0, 16)}`);
}

/** Reads an entry of `directory`; undefined for a name that is not an update temp. */
export function parseUpdateTemp(directory: string, name: string): UpdateTemp | undefined {
  const match = UPDATE_TEMP_NAME.exec(name);
  if (match === null) return undefined;
  const [, target = "", update = "", index = "", count = "", digest = ""] = match;
  const position = Number(index);
  const total = Number(count);
  if (position > total) return undefined;
  return { path: join(directory, name), targetPath: join(directory, target), update, index: position, count: total, digest };
}
