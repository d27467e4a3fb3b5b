// The library: the SPIFFE model and the Workload API client, for Node programs that want
// identity in-process.
export * from "./spiffe/index.js";
export * from "./workloadapi/index.js";
