import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata } from "@grpc/grpc-js";
import type { ChannelOptions } from "@grpc/grpc-js";
import { parseSpiffeId } from "../../src/spiffe/spiffe-id.js";
import { SECURITY_HEADER } from "../../src/workloadapi/client.js";
import { SpiffeWorkloadAPIClient } from "../../src/workloadapi/generated/workload.js";
import { stopSubchannelPoolSweep } from "../../src/workloadapi/subchannel-pool-sweep.js";
import { MinimalAgent } from "../support/minimal-agent.js";
import { caFor, x509Response, x509Svid } from "./fixtures.js";

const LOCAL_POOL: ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };

/** The repeating timers created meanwhile, by their period (async_hooks sees unref'ed timers too). */
async function intervalsCreatedBy(action: () => Promise<void>): Promise<number[]> {
  const periods: number[] = [];
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      const period: unknown = type === "Timeout" ? Reflect.get(resource as object, "_repeat") : null;
      if (typeof period === "number") periods.push(period);
    },
  });
  hook.enable();
  try {
    await action();
  } finally {
    hook.disable();
  }
  return periods;
}

/** Opens FetchX509SVID on a fresh channel and waits for its first message: the channel is connected then. */
async function openStream(address: string, stopSweep: boolean): Promise<{ stopped: boolean; close: () => void }> {
  const client = new SpiffeWorkloadAPIClient(address, credentials.createInsecure(), LOCAL_POOL);
  const stopped = stopSweep && stopSubchannelPoolSweep(client.getChannel());
  const metadata = new Metadata();
  metadata.set(SECURITY_HEADER, "true");
  const stream = client.fetchX509Svid({}, metadata);
  await new Promise<void>((resolve, reject) => {
    stream.once("data", () => resolve());
    stream.once("error", reject);
  });
  return {
    stopped,
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}

describe("stopSubchannelPoolSweep", () => {
  let agent: MinimalAgent;

  before(async () => {
    const ca = await caFor("example.org");
    const raw = await x509Svid(ca, parseSpiffeId("spiffe://example.org/workload").toString());
    agent = await MinimalAgent.start({ fetchX509Svid: (call) => call.write(x509Response([raw])) });
  });
  after(async () => {
    await agent.stop();
  });

  it("finds the pool of this grpc-js and leaves a connected channel without its 10 s interval", async () => {
    let stopped = false;
    const withSweep = await intervalsCreatedBy(async () => (await openStream(agent.address, false)).close());
    const withoutSweep = await intervalsCreatedBy(async () => {
      const stream = await openStream(agent.address, true);
      stopped = stream.stopped;
      stream.close();
    });
    assert.equal(stopped, true, "grpc-js's private pool fields moved: the idle sidecar wakes every 10 s again");
    assert.ok(withSweep.includes(10_000), `the control channel should start grpc-js's 10 s sweep: ${withSweep.join(", ")}`);
    assert.ok(!withoutSweep.includes(10_000), `intervals started: ${withoutSweep.join(", ")}`);
  });
});
