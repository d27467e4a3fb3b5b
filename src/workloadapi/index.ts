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
export { JwtSource, type FetchJwtSvidOptions } from "./jwt-source.js";
export { type SourceEvents, type SourceOptions } from "./source-base.js";
export {
  DEFAULT_FIRST_RESPONSE_TIMEOUT_MS,
  WatchStream,
  type Watch,
  type WatchHandlers,
  type WatchState,
  type WatchStreamOptions,
} from "./watch-stream.js";
export { X509Source } from "./x509-source.js";
