// The library: the SPIFFE model, the Workload API client, and TLS from the sidecar's files,
// for Node programs that want identity in-process.
export * from "./spiffe/index.js";
export * from "./workloadapi/index.js";
export * from "./tls/index.js";
export * from "./http/index.js";
export * from "./federation/index.js";
export * from "./grpc/index.js";
