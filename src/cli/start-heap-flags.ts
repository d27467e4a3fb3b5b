// Node's built-in modules the sidecar loads in every mode (grpc-js, pino, the writer, the child
// supervisor, the health listener; `process.moduleLoadList` of `once` and `run`, 2026-12-06),
// loaded before the flag below. Node compiles a built-in from its embedded code cache only
// while the V8 flags are those the cache was made under; after any change it compiles from
// source. Loaded after the change they cost ~2.5 MiB of RSS per flag change (bench footprint,
// RSS after start: 62.2 MiB with both heap flags, 59.4-59.8 with one, 58.2 with these loaded
// first; 57.0 before either flag existed).
import * as assert from "node:assert";
import * as childProcess from "node:child_process";
import * as crypto from "node:crypto";
import * as dgram from "node:dgram";
import * as diagnosticsChannel from "node:diagnostics_channel";
import * as dns from "node:dns";
import * as fsPromises from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as os from "node:os";
import * as perfHooks from "node:perf_hooks";
import * as timersPromises from "node:timers/promises";
import * as tls from "node:tls";
import * as tty from "node:tty";
import * as workerThreads from "node:worker_threads";
import * as zlib from "node:zlib";
import { stopMemoryReducer } from "../sidecar/heap-tuning.js";

// Imported first by the CLI entry and by the single executable's main, before the CLI is
// compiled: V8 checks a code cache against the flags, and scripts/build-sea.mjs trains the
// executable's cache with this module loaded the same way.
// Named, because esbuild drops a bare `import "node:…"` of a built-in as free of side effects.
const builtinsLoadedFirst = [assert, childProcess, crypto, dgram, diagnosticsChannel, dns, fsPromises, http, http2, net, os, perfHooks, timersPromises, tls, tty, workerThreads, zlib];
if (builtinsLoadedFirst.some((module) => typeof module !== "object")) throw new Error("a built-in module did not load");
stopMemoryReducer();
