import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describeError } from "../errors.js";
import { SpiffeTlsFilesError } from "./errors.js";
import { spiffeTlsMaterialFromPem, type SpiffeTlsMaterial, type SpiffeTlsPem, type TlsMaterialOptions } from "./tls-material.js";

/** Where the sidecar writes the workload's X.509 identity (its config's file names, made absolute or relative to the cwd). */
export interface SpiffeTlsFiles {
  /** `svid_file_name` in `cert_dir`. */
  readonly certFile: string;
  /** `svid_key_file_name` in `cert_dir`. */
  readonly keyFile: string;
  /** `svid_bundle_file_name` in `cert_dir`, written without `include_federated_domains`. */
  readonly bundleFile: string;
  /** `federated_bundle_dir`: one `<trust-domain>.pem` per federated trust domain. @default none */
  readonly federatedBundleDir?: string;
}

const BUNDLE_SUFFIX = ".pem";

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error: unknown) {
    throw new SpiffeTlsFilesError("unreadable", `cannot read the ${what} ${path}: ${describeError(error)}`, { cause: error });
  }
}

/**
 * The federated bundles by trust domain. A missing directory means no federation yet (the
 * sidecar creates it on its first write). Hidden names are the sidecar's temp files.
 */
async function readFederatedBundles(directory: string): Promise<Map<string, string>> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error: unknown) {
    if ((error as { code?: unknown }).code === "ENOENT") return new Map();
    throw new SpiffeTlsFilesError("unreadable", `cannot list the federated bundle directory ${directory}: ${describeError(error)}`, {
      cause: error,
    });
  }
  const bundleNames = names.filter((name) => name.endsWith(BUNDLE_SUFFIX) && !name.startsWith(".")).sort();
  const texts = await Promise.all(bundleNames.map((name) => readText(join(directory, name), "federated bundle file")));
  return new Map(bundleNames.map((name, index) => [name.slice(0, -BUNDLE_SUFFIX.length), texts[index] ?? ""]));
}

/** Reads the files once, as text. */
export async function readSpiffeTlsPem(files: SpiffeTlsFiles): Promise<SpiffeTlsPem> {
  const [certificatePem, privateKeyPem, bundlePem, federatedBundlePems] = await Promise.all([
    readText(files.certFile, "SVID certificate file"),
    readText(files.keyFile, "SVID key file"),
    readText(files.bundleFile, "bundle file"),
    files.federatedBundleDir === undefined ? new Map<string, string>() : readFederatedBundles(files.federatedBundleDir),
  ]);
  return { certificatePem, privateKeyPem, bundlePem, federatedBundlePems };
}

/**
 * Reads and checks the sidecar's files once: the SVID, its key, the own bundle and the
 * federated bundles. Rejects with a `SpiffeTlsFilesError` naming the file and the rule.
 */
export async function loadSpiffeTlsFiles(files: SpiffeTlsFiles, options: TlsMaterialOptions = {}): Promise<SpiffeTlsMaterial> {
  return spiffeTlsMaterialFromPem(await readSpiffeTlsPem(files), options);
}
