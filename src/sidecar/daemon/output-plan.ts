import { resolve } from "node:path";
import type { SidecarConfig } from "../config/index.js";
import type { HealthOutputs } from "../health/health-state.js";
import type { OutputOptions } from "../output/output-options.js";

/** The render options for a configuration: a mapping only, every default was applied by the config. */
export function outputOptionsFromConfig(config: SidecarConfig): OutputOptions {
  const pkcs12Configured = config.pkcs12KeystoreFileName !== undefined || config.pkcs12TruststoreFileName !== undefined;
  return {
    certDir: config.certDir,
    svidFileName: config.svidFileName,
    svidKeyFileName: config.svidKeyFileName,
    svidBundleFileName: config.svidBundleFileName,
    combinedPemFileName: config.combinedPemFileName,
    federatedBundleDir: config.federatedBundleDir,
    spiffeBundleMapFileName: config.spiffeBundleMapFileName,
    pkcs12:
      pkcs12Configured && config.pkcs12Password !== undefined
        ? {
            keystoreFileName: config.pkcs12KeystoreFileName,
            truststoreFileName: config.pkcs12TruststoreFileName,
            password: config.pkcs12Password,
          }
        : undefined,
    jwtBundleFileName: config.jwtBundleFileName,
    jwtBundleFormat: config.jwtBundleFormat,
    certFileMode: config.certFileMode,
    keyFileMode: config.keyFileMode,
    jwtBundleFileMode: config.jwtBundleFileMode,
    jwtSvidFileMode: config.jwtSvidFileMode,
    uid: config.fileOwner,
    gid: config.fileGroup,
    addIntermediatesToBundle: config.addIntermediatesToBundle,
    includeFederatedDomains: config.includeFederatedDomains,
    omitExpired: config.omitExpired,
  };
}

/** True when some X.509 output is configured, so the sidecar must watch X.509 contexts. */
export function wantsX509(config: SidecarConfig): boolean {
  return [
    config.svidFileName,
    config.svidKeyFileName,
    config.svidBundleFileName,
    config.combinedPemFileName,
    config.federatedBundleDir,
    config.spiffeBundleMapFileName,
    config.pkcs12KeystoreFileName,
    config.pkcs12TruststoreFileName,
  ].some((name) => name !== undefined);
}

/** True when JWT bundles are needed: to write them, or to validate JWT-SVIDs before writing. */
export function wantsJwtBundles(config: SidecarConfig): boolean {
  return config.jwtBundleFileName !== undefined || config.jwtSvids.length > 0;
}

/** What health tracks as "written": every configured output, by the path it is written to. */
export function healthOutputsFromConfig(config: SidecarConfig): HealthOutputs {
  return {
    x509: wantsX509(config),
    jwtSvidPaths: config.jwtSvids.map((output) => resolve(config.certDir, output.fileName)),
    ...(config.jwtBundleFileName === undefined ? {} : { jwtBundlePath: resolve(config.certDir, config.jwtBundleFileName) }),
  };
}
