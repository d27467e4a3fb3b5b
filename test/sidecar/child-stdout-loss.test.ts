import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixtures, processExists, waitFor, waitForLine, waitForReady } from "../fixtures/fixture-helpers.js";
import { baseConfig, isUpdate, readX509Files, runSidecar, scratch, startAgent, writeConfig, X509_FILES } from "./support.js";

describe("losing stdout", () => {
  it("a closed stdout pipe (EPIPE) does not end the sidecar: files still rotate and the child is still supervised", async (t) => {
    const where = await scratch(t);
    const log = where.file("child.log");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: process.execPath,
      cmd_args: [fixtures.signalLogger, "--log", log, "--term-exit", "6"],
      renew_signal: "SIGHUP",
      restart_policy: "never",
      cmd_start_grace: "1ms",
      // Every rotation logs several lines at debug: the first write after the close hits EPIPE.
      log_level: "debug",
    });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);
    const childPid = await waitForReady(log);
    const before = (await readX509Files(where)).cert;

    // What `spiffe-sidecar run | head -1` does once head has exited: nobody reads the pipe.
    sidecar.process.stdout?.destroy();
    for (let rotation = 1; rotation <= 2; rotation += 1) {
      await agent.rotateNow();
      await waitForLine(log, "SIGHUP", rotation);
    }
    await waitFor("stderr's note about stdout", () => (sidecar.stderr.includes("stdout failed with EPIPE") ? true : undefined));
    assert.notEqual((await readX509Files(where)).cert, before, "the files rotated after stdout was lost");
    assert.equal(sidecar.hasExited, false, "the sidecar is still running");
    assert.equal(processExists(childPid), true, "and so is its child");
    assert.equal(sidecar.stderr.match(/stdout failed/g)?.length, 1, "said once, not per dropped line");
    assert.deepEqual(await sidecar.stop("SIGTERM"), { code: 6, signal: null }, "and it still stops the child and exits with its status");
  });
});
