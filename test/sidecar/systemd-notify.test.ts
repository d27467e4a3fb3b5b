import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { pino } from "pino";
import { SystemdNotifier } from "../../src/sidecar/systemd/systemd-notifier.js";
import {
  baseConfig,
  onCleanup,
  runSidecar,
  scratch,
  startAgent,
  waitFor,
  wrote,
  WORKLOAD_ID,
  writeConfig,
  X509_FILES,
  type Scratch,
} from "./support.js";

/**
 * systemd's side of Type=notify, played by python3: an AF_UNIX SOCK_DGRAM socket (which Node
 * cannot open) printing each datagram as a JSON line, with whether every output file existed
 * when it arrived, so "READY=1 only after the first complete write" is judged at receipt.
 * BARRIER=1 (systemd-notify waiting for us) is answered by closing its fd, as systemd does.
 */
const LISTENER = String.raw`
import json, os, socket, struct, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(64))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for at in range(0, len(payload) - len(payload) % 4, 4):
                os.close(struct.unpack("i", payload[at:at + 4])[0])
    text = data.decode()
    if text == "BARRIER=1":
        continue
    print(json.dumps({"message": text, "filesExisted": all(os.path.exists(p) for p in sys.argv[2:])}), flush=True)
`;

interface Datagram {
  readonly message: string;
  readonly filesExisted: boolean;
}

const skipReason = ((): string | false => {
  if (spawnSync("python3", ["-c", "import socket; socket.AF_UNIX"]).status !== 0) return "python3 is not installed: it plays systemd's notify socket";
  if (spawnSync("systemd-notify", ["--version"]).status !== 0) {
    return 'systemd-notify is not installed; install the test peers with "bash scripts/install-test-peers.sh"';
  }
  return false;
})();

/** A fake systemd notify socket at `<dir>/notify.sock`; its datagrams, in order of arrival. */
async function startNotifySocket(t: TestContext, where: Scratch, outputPaths: readonly string[]): Promise<{ socket: string; datagrams: Datagram[] }> {
  const script = where.file("notify-listener.py");
  await writeFile(script, LISTENER);
  const socket = where.file("notify.sock");
  const listener = spawn("python3", [script, socket, ...outputPaths], { stdio: ["ignore", "pipe", "inherit"] });
  onCleanup(t, async () => void listener.kill());
  const datagrams: Datagram[] = [];
  let listening = false;
  let partial = "";
  listener.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const parsed = JSON.parse(line) as Partial<Datagram> & { listening?: boolean };
      if (parsed.listening === true) listening = true;
      else datagrams.push({ message: String(parsed.message), filesExisted: parsed.filesExisted === true });
    }
  });
  await waitFor("the notify socket to listen", () => (listening ? true : undefined));
  return { socket, datagrams };
}

const assignments = (datagram: Datagram): string[] => datagram.message.split("\n");
const has = (assignment: string) => (datagram: Datagram) => assignments(datagram).includes(assignment);

describe("systemd Type=notify", { skip: skipReason }, () => {
  it("sends READY=1 after the first complete write, STATUS= per rotation, WATCHDOG=1 at half the interval and STOPPING=1 at exit", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    const outputs = Object.values(X509_FILES).map((name) => where.cert(name));
    const { socket, datagrams } = await startNotifySocket(t, where, outputs);
    const childEnv = where.file("child-env");
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: "/bin/sh",
      cmd_args: ["-c", `echo "NOTIFY_SOCKET=\${NOTIFY_SOCKET-unset} WATCHDOG_USEC=\${WATCHDOG_USEC-unset}" > ${childEnv}; exec sleep 600`],
    });
    const sidecar = runSidecar(t, config, { env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: "1000000" } });

    const ready = await waitFor("READY=1", () => datagrams.find(has("READY=1")));
    assert.ok(ready.filesExisted, `READY=1 arrived before every output existed: ${ready.message}`);
    const readyStatus = assignments(ready).find((line) => line.startsWith("STATUS="));
    assert.match(readyStatus ?? "", new RegExp(`^STATUS=serving ${WORKLOAD_ID}, X\\.509-SVID valid until \\d{4}-\\d\\d-\\d\\dT`));
    assert.equal(datagrams.filter(has("READY=1")).length, 1);

    // The agent's SVIDs live 3 s: a rotation is a STATUS= line alone, with the new expiry.
    await sidecar.waitForLog("a rotation", wrote(where.cert("svid.pem")), 2);
    const rotated = await waitFor("a STATUS= line after READY=1", () =>
      datagrams.slice(datagrams.indexOf(ready) + 1).find((datagram) => datagram.message.startsWith("STATUS=serving")),
    );
    assert.notEqual(rotated.message, readyStatus, "the status names the new SVID's expiry");
    assert.equal(datagrams.filter(has("READY=1")).length, 1, "READY=1 is sent once");

    // WATCHDOG_USEC=1000000: a ping every 500 ms. Counted over a window, never timed.
    const pingsBefore = datagrams.filter(has("WATCHDOG=1")).length;
    await new Promise((resolveWindow) => setTimeout(resolveWindow, 3000));
    const pings = datagrams.filter(has("WATCHDOG=1")).length - pingsBefore;
    assert.ok(pings >= 2, `only ${pings} WATCHDOG=1 in 3 s with WATCHDOG_USEC=1000000`);

    assert.equal((await readFile(childEnv, "utf8")).trim(), "NOTIFY_SOCKET=unset WATCHDOG_USEC=unset", "the child must not speak for the unit");
    const exit = await sidecar.stop();
    assert.equal(exit.code, 0, sidecar.tail());
    const stopping = datagrams.findIndex(has("STOPPING=1"));
    assert.ok(stopping > datagrams.indexOf(ready), `no STOPPING=1 after READY=1: ${JSON.stringify(datagrams.map((d) => d.message))}`);
    assert.equal(datagrams.slice(stopping + 1).filter((datagram) => !has("WATCHDOG=1")(datagram)).length, 0, "nothing but pings after STOPPING=1");
    console.log(`systemd: READY=1 with files on disk, ${datagrams.filter((d) => d.message.startsWith("STATUS=serving")).length} STATUS= lines, ${pings} pings in 3 s, STOPPING=1 at exit`);
  });

  it("leaves a watchdog that names another process (WATCHDOG_PID) alone", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    const { socket, datagrams } = await startNotifySocket(t, where, []);
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, config, { env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: "200000", WATCHDOG_PID: "1" } });
    await waitFor("READY=1", () => datagrams.find(has("READY=1")));
    await sidecar.waitForLog("a rotation", wrote(where.cert("svid.pem")), 2);
    await sidecar.stop();
    await waitFor("STOPPING=1", () => datagrams.find(has("STOPPING=1")));
    assert.equal(datagrams.filter(has("WATCHDOG=1")).length, 0);
  });

  it("brackets a config reload with RELOADING=1 (and MONOTONIC_USEC) and READY=1, in order, and nothing after STOPPING=1", async (t) => {
    const where = await scratch(t);
    const { socket, datagrams } = await startNotifySocket(t, where, []);
    const notifier = new SystemdNotifier({ socket, watchdogPingIntervalMs: undefined }, pino({ level: "silent" }));
    notifier.reloading();
    notifier.ready();
    const svid = { spiffeId: WORKLOAD_ID, notAfter: new Date("2030-01-01T00:00:00Z") };
    notifier.svidWritten(svid);
    for (let reload = 0; reload < 2; reload += 1) {
      notifier.reloading();
      notifier.ready();
    }
    notifier.stopping();
    notifier.svidWritten(svid);
    notifier.ready();
    await notifier.close();
    await waitFor("STOPPING=1", () => datagrams.find(has("STOPPING=1")));
    const kinds = datagrams.map((datagram) => assignments(datagram)[0]);
    assert.deepEqual(kinds, ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], "nothing reloads or is ready before the first write");
    for (const reloading of datagrams.filter(has("RELOADING=1"))) assert.match(reloading.message, /\nMONOTONIC_USEC=\d+\n/);
    assert.ok(datagrams.filter(has("READY=1")).every((datagram) => datagram.message.includes(`STATUS=serving ${WORKLOAD_ID}`)));
  });

  it("brackets a live reload of the configuration file with RELOADING=1 and READY=1", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
    const { socket, datagrams } = await startNotifySocket(t, where, []);
    const configPath = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, configPath, { env: { NOTIFY_SOCKET: socket } });
    await waitFor("READY=1", () => datagrams.find(has("READY=1")));
    await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, cert_file_mode: "0600" });
    await sidecar.waitForLog("the reload", (line) => line.msg === "configuration reloaded");
    await waitFor("READY=1 after RELOADING=1", () => (datagrams.filter(has("READY=1")).length === 2 ? true : undefined));
    const kinds = datagrams.map((datagram) => assignments(datagram)[0]).filter((kind) => kind === "READY=1" || kind === "RELOADING=1");
    // A second file event may bring another (empty) reload after these.
    assert.deepEqual(kinds.slice(0, 3), ["READY=1", "RELOADING=1", "READY=1"]);
  });

  it("logs a failed notification once and carries on", async (t) => {
    const where = await scratch(t);
    const warnings: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push(chunk.toString("utf8"));
        done();
      },
    });
    const notifier = new SystemdNotifier({ socket: where.file("no-such.sock"), watchdogPingIntervalMs: 20 }, pino({ level: "warn" }, sink));
    notifier.svidWritten(undefined);
    await new Promise((resolveWindow) => setTimeout(resolveWindow, 300));
    notifier.stopping();
    await notifier.close();
    assert.equal(warnings.length, 1, warnings.join(""));
    assert.match(warnings[0] ?? "", /systemd notification failed; the sidecar carries on/);
  });
});
