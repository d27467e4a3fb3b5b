import { stopMemoryReducer } from "../sidecar/heap-tuning.js";

// Imported first by the CLI entry and by the single executable's main, before the CLI is
// compiled: V8 checks a code cache against the flags, and scripts/build-sea.mjs trains the
// executable's cache with this module loaded the same way.
stopMemoryReducer();
