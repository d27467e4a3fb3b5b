import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { createLogger } from "../sidecar/logger.js";
import { createAgentLogger } from "./logger.js";

type Capture = PassThrough & { isTTY?: boolean; text(): string };

function capture(isTTY: boolean): Capture {
  const stream = new PassThrough() as Capture;
  let text = "";
  stream.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
  stream.isTTY = isTTY;
  stream.text = () => text;
  return stream;
}

describe("the fake agent's logger", () => {
  it("writes JSON lines of the sidecar's shape: ISO time, level name, its own name", async () => {
    const agentOut = capture(false);
    const sidecarOut = capture(false);
    (await createAgentLogger("info", agentOut)).info({ event: "push", serial: "0a" }, "pushed");
    (await createLogger("info", sidecarOut)).info({ event: "push", serial: "0a" }, "pushed");
    await new Promise((resolve) => setImmediate(resolve));
    const agentLine = JSON.parse(agentOut.text()) as Record<string, unknown>;
    const sidecarLine = JSON.parse(sidecarOut.text()) as Record<string, unknown>;
    assert.equal(agentLine["name"], "spiffe-fake-agent");
    assert.equal(agentLine["level"], "info");
    assert.equal(new Date(String(agentLine["time"])).toISOString(), agentLine["time"]);
    assert.deepEqual(Object.keys(agentLine), Object.keys(sidecarLine), "the same keys in the same order");
  });

  it("writes one readable line per entry on a terminal", async () => {
    const out = capture(true);
    (await createAgentLogger("info", out)).warn({ event: "fault" }, "fault set: deny");
    assert.match(out.text(), /^\[\d\d:\d\d:\d\d\.\d\d\d\] \S*WARN\S*: fault set: deny .*event/);
    assert.equal(out.text().trimEnd().split("\n").length, 1);
  });

  it("redacts a field that could only hold a secret", async () => {
    const out = capture(false);
    (await createAgentLogger("info", out)).info({ svid: { privateKey: "MIGHAgEAMBMG" } }, "leak?");
    await new Promise((resolve) => setImmediate(resolve));
    assert.doesNotMatch(out.text(), /MIGHAgEAMBMG/);
  });
});
