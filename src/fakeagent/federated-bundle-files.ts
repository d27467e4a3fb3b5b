import type { JsonWebKey } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { describeError } from "../errors.js";
import type { TrustDomain } from "../spiffe/spiffe-id.js";
import { parseX509BundlePem } from "../spiffe/x509-bundle.js";
import { watchFiles } from "./file-watch.js";
import type { StopWatching } from "./file-watch.js";
import type { FederatedBundleFile } from "./options.js";

/** What a snapshot takes from a trust domain: its X.509 roots and JWT keys. */
export interface PublishedBundles {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities: readonly Uint8Array[];
  readonly jwtAuthorities: ReadonlyMap<string, JsonWebKey>;
}

/** The certificates read from a file, or why there are none to publish. */
type FileReading =
  | { readonly kind: "certificates"; readonly authoritiesDer: readonly Uint8Array[] }
  | { readonly kind: "absent"; readonly reason: string }
  | { readonly kind: "unparsable"; readonly reason: string };

/** The file carries no JWT keys; an empty JWKS is still a valid JWT bundle. */
const NO_JWT_AUTHORITIES: ReadonlyMap<string, JsonWebKey> = new Map();

/** Quiet time after a file event before the files are read again. */
const DEFAULT_DEBOUNCE_MS = 100;

/**
 * The federated trust domains whose X.509 bundle another agent writes to a PEM file. A
 * trust domain is published while its file holds certificates and left out while the file is
 * missing or empty: an empty bundle would make a client reject the whole message. A file
 * that does not parse (say, caught half-written) is logged and the last certificates stay.
 */
export class FederatedBundleFiles {
  #files: readonly FederatedBundleFile[] = [];
  /** What is published now, by trust domain name; absent names are left out. */
  readonly #published = new Map<string, readonly Uint8Array[]>();
  /** The last problem logged per trust domain, so each is logged once, not on every read. */
  readonly #problems = new Map<string, string>();
  #stopWatching: StopWatching | undefined;
  #watchedPaths = "";

  /** `onFileEvent` is a signal only: it must not wait for `configure` or `stop`. */
  constructor(
    readonly logger: Logger,
    readonly onFileEvent: () => void,
    readonly debounceMs = DEFAULT_DEBOUNCE_MS,
  ) {}

  /** The file a trust domain's bundle is read from, if it is read from one. */
  fileOf(trustDomainName: string): string | undefined {
    return this.#files.find((file) => file.trustDomain.name === trustDomainName)?.path;
  }

  /** The bundles to publish for a file-backed trust domain; undefined while it is left out. */
  published(trustDomain: TrustDomain): PublishedBundles | undefined {
    const x509Authorities = this.#published.get(trustDomain.name);
    if (x509Authorities === undefined || this.fileOf(trustDomain.name) === undefined) return undefined;
    return { trustDomain, x509Authorities, jwtAuthorities: NO_JWT_AUTHORITIES };
  }

  /** Replaces the set of files and watches them from now on; call `refresh` next. */
  async configure(files: readonly FederatedBundleFile[]): Promise<void> {
    this.#files = files;
    for (const name of [...this.#published.keys(), ...this.#problems.keys()]) {
      if (this.fileOf(name) === undefined) {
        this.#published.delete(name);
        this.#problems.delete(name);
      }
    }
    const paths = [...new Set(files.map((file) => file.path))].sort();
    if (JSON.stringify(paths) === this.#watchedPaths) return;
    await this.#unwatch();
    if (paths.length === 0) return;
    await this.#createDirectories(paths);
    this.#stopWatching = await watchFiles(paths, async () => this.onFileEvent(), this.debounceMs);
    this.#watchedPaths = JSON.stringify(paths);
  }

  /** Reads every file again; true when what is published changed. */
  async refresh(): Promise<boolean> {
    const files = this.#files;
    const readings = await Promise.all(files.map(readBundleFile));
    let changed = false;
    files.forEach((file, index) => {
      const reading = readings[index];
      if (reading !== undefined) changed = this.#apply(file, reading) || changed;
    });
    return changed;
  }

  async stop(): Promise<void> {
    await this.#unwatch();
  }

  #apply(file: FederatedBundleFile, reading: FileReading): boolean {
    const name = file.trustDomain.name;
    const before = this.#published.get(name);
    if (reading.kind === "unparsable") {
      this.#logProblem(file, `${reading.reason}; ${before === undefined ? "it stays left out" : "its last certificates stay"}`);
      return false;
    }
    if (reading.kind === "absent") {
      this.#logProblem(file, `${reading.reason}; it is left out until the file holds certificates`);
      this.#published.delete(name);
      return before !== undefined;
    }
    this.#problems.delete(name);
    if (before !== undefined && sameCertificates(before, reading.authoritiesDer)) return false;
    this.#published.set(name, reading.authoritiesDer);
    this.logger.info(
      { event: "federated-bundle-file", trustDomain: name, path: file.path, certificates: reading.authoritiesDer.length },
      `federated bundle of ${name} read from ${file.path}`,
    );
    return true;
  }

  #logProblem(file: FederatedBundleFile, problem: string): void {
    const name = file.trustDomain.name;
    if (this.#problems.get(name) === problem) return;
    this.#problems.set(name, problem);
    this.logger.warn({ event: "federated-bundle-file", trustDomain: name, path: file.path }, `federated bundle of ${name}: ${problem}`);
  }

  /** chokidar sees nothing inside a directory that does not exist yet, so it is made now. */
  async #createDirectories(paths: readonly string[]): Promise<void> {
    for (const directory of new Set(paths.map((path) => dirname(path)))) {
      try {
        await mkdir(directory, { recursive: true });
      } catch (error: unknown) {
        this.logger.warn(
          { event: "federated-bundle-file", directory, error: describeError(error) },
          `cannot create ${directory}, so its bundle files are read only when the agent pushes: ${describeError(error)}`,
        );
      }
    }
  }

  async #unwatch(): Promise<void> {
    const stop = this.#stopWatching;
    this.#stopWatching = undefined;
    this.#watchedPaths = "";
    await stop?.();
  }
}

async function readBundleFile(file: FederatedBundleFile): Promise<FileReading> {
  let text: string;
  try {
    text = await readFile(file.path, "utf8");
  } catch (error: unknown) {
    const missing = (error as { code?: unknown }).code === "ENOENT";
    return { kind: "absent", reason: missing ? `${file.path} does not exist` : `cannot read ${file.path}: ${describeError(error)}` };
  }
  try {
    const bundle = parseX509BundlePem(file.trustDomain, text);
    if (bundle.authorities.length === 0) return { kind: "absent", reason: `${file.path} is empty` };
    return { kind: "certificates", authoritiesDer: bundle.authorities.map((authority) => authority.der) };
  } catch (error: unknown) {
    return { kind: "unparsable", reason: `${file.path}: ${describeError(error)}` };
  }
}

function sameCertificates(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((der, index) => Buffer.from(der).equals(b[index] ?? new Uint8Array()));
}
