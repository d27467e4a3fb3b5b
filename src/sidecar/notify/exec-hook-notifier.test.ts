import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTempDir } from "../../../test/fixtures/fixture-helpers.js";
import { ExecHookNotifier } from "./exec-hook-notifier.js";
import type { NotifyReason, NotifyResult } from "./notifier.js";

const REASON: NotifyReason = { changedPaths: ["/certs/svid.pem"], changedKinds: ["x509"] };

let dir: { path: string; remove: () => Promise<void> };
before(async () => {
  dir = await makeTempDir("hook");
});
after(async () => {
  await dir.remove();
});

function nodeHook(script: string, options: { timeoutMs?: number; killGraceMs?: number } = {}): ExecHookNotifier {
  return new ExecHookNotifier({ command: process.execPath, args: ["-e", script], ...options });
}

function failureOf(result: NotifyResult): { failure: string; message: string } {
  const outcome = result.outcomes[0];
  assert.ok(outcome !== undefined && !outcome.ok, "expected a failed outcome");
  assert.equal(outcome.notifier, "exec-hook");
  return { failure: outcome.error.failure, message: outcome.error.message };
}

describe("ExecHookNotifier", () => {
  it("runs the command once with its arguments, without a shell", async () => {
    const marker = join(dir.path, "ran");
    const script = "require('node:fs').appendFileSync(process.argv[1], process.argv[2] + '\\n')";
    const hook = new ExecHookNotifier({ command: process.execPath, args: ["-e", script, marker, "$HOME *"] });
    const result = await hook.notify(REASON);
    assert.equal(result.ok, true);
    assert.equal(await readFile(marker, "utf8"), "$HOME *\n");
  });

  it("returns a non-zero exit as a failure with the last stderr lines", async () => {
    const hook = nodeHook("console.error('line one'); console.error('nginx: [emerg] bad cert'); process.exit(1)");
    const { failure, message } = failureOf(await hook.notify(REASON));
    assert.equal(failure, "hook-failed");
    assert.match(message, /exited with code 1; stderr: line one \| nginx: \[emerg\] bad cert$/);
  });

  it("keeps only the configured number of stderr lines", async () => {
    const script = "for (let i = 1; i <= 50; i++) console.error('line ' + i); process.exit(2)";
    const hook = new ExecHookNotifier({ command: process.execPath, args: ["-e", script], stderrTailLines: 2 });
    const { message } = failureOf(await hook.notify(REASON));
    assert.match(message, /exited with code 2; stderr: line 49 \| line 50$/);
  });

  it("kills a hook that runs past the timeout with SIGTERM", async () => {
    const hook = nodeHook("setInterval(() => {}, 1000)", { timeoutMs: 300 });
    const { failure, message } = failureOf(await hook.notify(REASON));
    assert.equal(failure, "hook-timeout");
    assert.match(message, /did not finish within 300 ms and was killed with SIGTERM/);
  });

  it("sends SIGKILL when the hook ignores SIGTERM", async () => {
    const hook = nodeHook("process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)", {
      timeoutMs: 1_500,
      killGraceMs: 100,
    });
    const { failure, message } = failureOf(await hook.notify(REASON));
    assert.equal(failure, "hook-timeout");
    assert.match(message, /was killed with SIGKILL/);
  });

  it("reports a command that does not exist, naming the key to fix", async () => {
    const hook = new ExecHookNotifier({ command: "/nonexistent/reload-app", configKey: "exec_hook.cmd" });
    const { failure, message } = failureOf(await hook.notify(REASON));
    assert.equal(failure, "hook-start");
    assert.match(message, /^cannot run exec hook "\/nonexistent\/reload-app": no such file.*; check exec_hook\.cmd$/);
  });

  it("runs through a shell only when asked", async () => {
    const marker = join(dir.path, "shell");
    const hook = new ExecHookNotifier({ command: `echo "$((40 + 2))" > '${marker}'`, shell: true });
    assert.equal((await hook.notify(REASON)).ok, true);
    assert.equal(await readFile(marker, "utf8"), "42\n");
  });

  it("tells the hook what changed and which SVID the files hold, and nothing secret", async () => {
    const envFile = join(dir.path, "env.json");
    const script = "require('node:fs').writeFileSync(process.argv[1], JSON.stringify(process.env))";
    const hook = new ExecHookNotifier({ command: process.execPath, args: ["-e", script, envFile] });
    const notAfter = new Date("2030-01-02T03:04:05.000Z");
    const reason: NotifyReason = {
      changedPaths: ["/certs/svid.pem", "/certs/svid_key.pem", "/certs/bundle.pem"],
      changedKinds: ["x509", "bundles"],
      svid: { spiffeId: "spiffe://example.org/web", serialHex: "0a1b2c", notAfter },
    };
    assert.equal((await hook.notify(reason)).ok, true);
    const env = JSON.parse(await readFile(envFile, "utf8")) as Record<string, string>;
    assert.deepEqual(
      Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith("SPIFFE_SIDECAR_"))),
      {
        SPIFFE_SIDECAR_CHANGED: "x509,bundles",
        SPIFFE_SIDECAR_CHANGED_FILES: "/certs/svid.pem:/certs/svid_key.pem:/certs/bundle.pem",
        SPIFFE_SIDECAR_SPIFFE_ID: "spiffe://example.org/web",
        SPIFFE_SIDECAR_SVID_SERIAL: "0a1b2c",
        SPIFFE_SIDECAR_SVID_NOT_AFTER: "2030-01-02T03:04:05.000Z",
      },
    );
    assert.equal(env["PATH"], process.env["PATH"], "the sidecar's own environment is passed on");
  });
});
