export {
  ENDPOINT_SOCKET_ENV,
  EndpointAddressError,
  formatEndpointAddress,
  grpcTarget,
  parseEndpointAddress,
  resolveEndpointAddress,
  type EndpointAddress,
} from "./address.js";
export {
  Backoff,
  DEFAULT_BACKOFF_JITTER,
  DEFAULT_INITIAL_BACKOFF_MS,
  DEFAULT_MAX_BACKOFF_MS,
  type BackoffOptions,
} from "./backoff.js";
export {
  DEFAULT_RPC_TIMEOUT_MS,
  SECURITY_HEADER,
  WorkloadApiClient,
  type FetchJwtSvidsOptions,
  type ValidatedJwtClaims,
  type ValidateJwtSvidRequest,
  type WorkloadApiClientOptions,
} from "./client.js";
export {
  decodeJwtBundles,
  decodeX509Bundles,
  decodeX509Context,
  type DecodeOptions,
  type X509Context,
} from "./decode.js";
export {
  statusName,
  WorkloadApiError,
  WorkloadApiRequestError,
  WorkloadApiResponseError,
  WorkloadSourceError,
  type GrpcStatusName,
} from "./errors.js";
export { BundleSource, type WorkloadBundles } from "./bundle-source.js";
export { JwtSource, type FetchJwtSvidOptions, type JwtSourceOptions, type JwtSvidPicker } from "./jwt-source.js";
export { JwtSvidCache, type JwtSvidCacheOptions, type JwtSvidFetcher } from "./jwt-svid-cache.js";
export {
  isJwtSvidRefusal,
  localJwtSvidValidator,
  workloadApiJwtSvidValidator,
  type JwtSvidValidator,
} from "./jwt-validator.js";
export {
  SourceNotReadyError,
  WorkloadSource,
  type SourceEvents,
  type SourceHealth,
  type SourceOptions,
} from "./source-base.js";
export {
  DEFAULT_FIRST_RESPONSE_TIMEOUT_MS,
  WatchStream,
  type Watch,
  type WatchHandlers,
  type WatchState,
  type WatchStreamOptions,
} from "./watch-stream.js";
export { X509Source, type X509SourceOptions, type X509SvidPicker } from "./x509-source.js";
