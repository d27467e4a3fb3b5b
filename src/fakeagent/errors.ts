import { SpiffeSidecarError } from "../errors.js";

/**
 * Options, a config file or a flag that the fake agent cannot start (or reload) with. The
 * message names the key and says how to fix it; the CLI prints it and exits 2.
 */
export class FakeAgentConfigError extends SpiffeSidecarError {
  readonly code = "ERR_FAKE_AGENT_CONFIG";
}

/** The socket path cannot be used: another server answers there, or it is not a socket. */
export class FakeAgentSocketError extends SpiffeSidecarError {
  readonly code = "ERR_FAKE_AGENT_SOCKET";
}

/** A library call made after `stop()`. */
export class FakeAgentStoppedError extends SpiffeSidecarError {
  readonly code = "ERR_FAKE_AGENT_STOPPED";

  constructor() {
    super("the fake agent has been stopped; start a new one with startFakeAgent()");
  }
}
