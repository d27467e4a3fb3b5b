export { FederationError, type FederationRule } from "./errors.js";
export {
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_MAX_BUNDLE_BYTES,
  fetchBundle,
  MAX_BUNDLE_REDIRECTS,
  type BundleEndpointProfile,
  type FetchBundleOptions,
} from "./fetch-bundle.js";
export {
  BundleWatcher,
  type BundleWatcherEvents,
  type BundleWatcherOptions,
  type BundleWatcherStatus,
} from "./bundle-watcher.js";
export {
  bundleEndpointTlsOptions,
  bundleFromSources,
  createBundleEndpointServer,
  createBundleHandler,
  type BundleFromSourcesOptions,
  type BundleHandlerOptions,
  type BundleProvider,
  type BundleRequestListener,
} from "./bundle-handler.js";
export { combineBundleSources, type AnyBundleSource } from "./combined-bundle-source.js";
