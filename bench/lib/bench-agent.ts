import { pino } from "pino";
import { startFakeAgent } from "../../src/fakeagent/index.js";
import type { FakeAgent, FakeAgentOptions } from "../../src/fakeagent/index.js";

export const TRUST_DOMAIN = "bench.example";
export const WORKLOAD_ID = `spiffe://${TRUST_DOMAIN}/probe`;

/**
 * The fake agent, in the harness's process, with the moment of every push on the harness's
 * monotonic clock. The agent logs `event: "push"` right after it hands the new state to its
 * open streams, so a log hook is the push time without touching the agent's code.
 */
export class BenchAgent {
  #pushWaiters: ((time: bigint) => void)[] = [];
  #agent: FakeAgent | undefined;

  private constructor() {}

  static async start(options: Omit<FakeAgentOptions, "logger" | "trustDomain" | "identities">): Promise<BenchAgent> {
    const bench = new BenchAgent();
    const logger = pino(
      {
        level: "info",
        hooks: {
          logMethod(args, method) {
            const [first] = args;
            if (typeof first === "object" && first !== null && "event" in first && first.event === "push") bench.#pushed(process.hrtime.bigint());
            method.apply(this, args);
          },
        },
      },
      { write: () => {} },
    );
    bench.#agent = await startFakeAgent({
      ...options,
      trustDomain: TRUST_DOMAIN,
      identities: [{ spiffeId: WORKLOAD_ID }],
      logger,
    });
    return bench;
  }

  get agent(): FakeAgent {
    if (this.#agent === undefined) throw new Error("the bench agent is not started");
    return this.#agent;
  }

  get socketPath(): string {
    return this.agent.socketPath;
  }

  /** Issues a new X.509-SVID and pushes it; resolves with the push time. */
  async rotate(): Promise<bigint> {
    const pushed = new Promise<bigint>((resolve) => this.#pushWaiters.push(resolve));
    await this.agent.rotateNow();
    return pushed;
  }

  #pushed(time: bigint): void {
    const waiters = this.#pushWaiters;
    this.#pushWaiters = [];
    for (const waiter of waiters) waiter(time);
  }

  async stop(): Promise<void> {
    await this.#agent?.stop();
  }
}
