import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { appendFile, chown, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { encodePem } from "../../src/spiffe/pem.js";
import { runCli, sidecarBin } from "../support/run-cli.js";
import {
  e2eDir,
  examplePath,
  exitOf,
  findProgram,
  freePort,
  makeDir,
  normalizeSerial,
  render,
  renderExample,
  runProgram,
  runSidecar,
  uriSans,
  waitFor,
  writeExampleConfig,
} from "./support.js";
import type { LogLine } from "./support.js";

const SERVER_ID = "spiffe://example.org/db";
const CLIENT_ID = "spiffe://example.org/db-client";

/** Debian keeps the server programs out of PATH, in /usr/lib/postgresql/<major>/bin. */
async function postgresBinDirs(): Promise<string[]> {
  const root = "/usr/lib/postgresql";
  const majors = await readdir(root).catch(() => []);
  return majors.sort((a, b) => Number(b) - Number(a)).map((major) => join(root, major, "bin"));
}

const binDirs = await postgresBinDirs();
const programs = {
  initdb: await findProgram("initdb", binDirs),
  postgres: await findProgram("postgres", binDirs),
  pgCtl: await findProgram("pg_ctl", binDirs),
  psql: await findProgram("psql", binDirs),
  setpriv: await findProgram("setpriv"),
  runuser: await findProgram("runuser"),
};
const missing = Object.entries(programs)
  .filter(([, path]) => path === undefined)
  .map(([name]) => name);
const skip = missing.length === 0 ? false : `${missing.join(", ")} not installed (PostgreSQL, util-linux); install the test peers with "bash scripts/install-test-peers.sh"`;

/** The non-root account PostgreSQL runs as: it refuses to run as root. */
interface ServerUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

async function serverUser(): Promise<ServerUser> {
  if (process.getuid?.() !== 0) {
    const self = userInfo();
    return { name: self.username, uid: self.uid, gid: self.gid };
  }
  const passwd = (await readFile("/etc/passwd", "utf8")).split("\n").map((line) => line.split(":"));
  // The Debian package creates `postgres`; `nobody` exists everywhere else.
  const entry = passwd.find((fields) => fields[0] === "postgres") ?? passwd.find((fields) => fields[0] === "nobody");
  if (entry === undefined) throw new Error("neither a postgres nor a nobody user exists");
  return { name: entry[0] ?? "", uid: Number(entry[2]), gid: Number(entry[3]) };
}

function need(path: string | undefined): string {
  assert.ok(path !== undefined);
  return path;
}

/** `command args` as `user`: setpriv execs, so a spawned server keeps its PID and gets our signals. */
function asUser(user: ServerUser, command: string, args: readonly string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, [...args]];
  return [need(programs.setpriv), [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--", command, ...args]];
}

const pgEnv = { PATH: process.env["PATH"], LC_ALL: "C", PGCONNECT_TIMEOUT: "5" };

/** A running postmaster; its stderr is the server log. */
async function startPostgres(t: TestContext, user: ServerUser, dataDir: string, port: number, socketDir: string): Promise<{ log: () => string }> {
  const [command, args] = asUser(user, need(programs.postgres), ["-D", dataDir, "-p", String(port), "-h", "127.0.0.1", "-k", socketDir]);
  const server: ChildProcess = spawn(command, args, { env: pgEnv, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  server.stderr?.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const exited = exitOf(server);
  t.after(async () => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    server.kill("SIGINT"); // fast shutdown
    const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  });
  await waitFor("PostgreSQL to accept connections", () => {
    if (server.exitCode !== null) throw new Error(`postgres exited with ${server.exitCode}:\n${log}`);
    return log.includes("database system is ready to accept connections") ? true : undefined;
  });
  return { log: () => log };
}

/**
 * The certificate the server presents: PostgreSQL speaks TLS after an SSLRequest
 * (protocol §55.2.10), so send that, expect "S", then hand the socket to TLS.
 */
function serverCertificate(port: number, ca: string): Promise<{ serial: string; uriSans: string[] }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1");
    socket.once("error", reject);
    socket.once("connect", () => socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])));
    socket.once("data", (answer) => {
      if (answer.toString("latin1") !== "S") return reject(new Error(`SSLRequest answered ${JSON.stringify(answer.toString("latin1"))}`));
      const tls = tlsConnect({ socket, ca, checkServerIdentity: () => undefined });
      tls.once("error", reject);
      tls.once("secureConnect", () => {
        const peer = tls.getPeerCertificate();
        resolve({ serial: normalizeSerial(peer.serialNumber), uriSans: uriSans(peer) });
        tls.destroy();
      });
    });
  });
}

interface Psql {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** psql over TCP with a libpq connection string; -X skips any ~/.psqlrc. */
function psql(conninfo: Readonly<Record<string, string | number>>, sql: string): Promise<Psql> {
  const text = Object.entries(conninfo)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(" ");
  return runProgram(need(programs.psql), ["-X", "-At", "-v", "ON_ERROR_STOP=1", text, "-c", sql], { env: pgEnv });
}

const isUpdate = (line: LogLine): boolean => line.msg === "identity files updated";
const hookRan = (line: LogLine): boolean => line["notifier"] === "exec-hook";
const hookSucceeded = (line: LogLine): boolean => hookRan(line) && String(line.msg).startsWith("told the app");

/** The query a client runs: who it is, and what the server saw of its certificate (sslinfo). */
const WHO_AM_I =
  "SELECT current_user, s.version, (SELECT value FROM ssl_extension_info() WHERE name = 'subjectAltName'), s.client_serial " +
  "FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()";

/** The directories of one test: the cluster's, the server's cert_dir and the client's. */
interface Layout {
  readonly dir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly certDir: string;
  readonly clientDir: string;
}

async function makeLayout(t: TestContext, user: ServerUser): Promise<Layout> {
  const dir = await e2eDir(t, "pg");
  const dataDir = await makeDir(join(dir, "data"), 0o700);
  const socketDir = await makeDir(join(dir, "sock"), 0o755);
  await chown(dataDir, user.uid, user.gid);
  await chown(socketDir, user.uid, user.gid);
  return { dir, dataDir, socketDir, certDir: await makeDir(join(dir, "certs"), 0o755), clientDir: await makeDir(join(dir, "client"), 0o700) };
}

/** initdb as the server's user, then the examples' TLS settings and pg_hba.conf. */
async function createCluster(user: ServerUser, layout: Layout): Promise<void> {
  const [command, args] = asUser(user, need(programs.initdb), [
    ...["-D", layout.dataDir, "-U", user.name, "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync", "--no-instructions"],
  ]);
  const init = await runProgram(command, args, { env: pgEnv, timeoutMs: 30_000 });
  assert.equal(init.code, 0, init.stderr);
  const sslConf = await renderExample(examplePath("postgres", "postgresql.conf"), join(layout.dir, "spiffe-ssl.conf"), {
    "/run/spiffe/postgres": layout.certDir,
  });
  await appendFile(join(layout.dataDir, "postgresql.conf"), `\ninclude '${sslConf}'\n`);
  await writeFile(join(layout.dataDir, "pg_hba.conf"), await readFile(examplePath("postgres", "pg_hba.conf"), "utf8"));
}

/** The server's sidecar from the example, pointed at the test's paths and user. */
function serverSidecarConfig(user: ServerUser, layout: Layout, agent: FakeAgent, port: number): Promise<string> {
  const root = process.getuid?.() === 0;
  return writeExampleConfig(
    examplePath("postgres", "sidecar.yaml"),
    join(layout.dir, "sidecar.yaml"),
    {
      "/run/spiffe/postgres": layout.certDir,
      "/var/lib/postgresql/15/main": layout.dataDir,
      '"-u", "postgres"': `"-u", "${user.name}"`,
      "/usr/lib/postgresql/15/bin/pg_ctl": need(programs.pgCtl),
      "/usr/sbin/runuser": need(programs.runuser),
    },
    {
      agent_address: agent.address,
      hint: "db",
      file_owner: user.uid,
      file_group: user.gid,
      health_checks: { listener_enabled: true, bind_port: 0 },
      // The first verification waits for the server, which starts after the first write.
      verify_reload: { address: `127.0.0.1:${port}`, protocol: "postgres", window: "60s" },
      // Not root: there is no user to switch to, and pg_ctl runs as we are.
      ...(root ? {} : { exec_hook: { cmd: need(programs.pgCtl), args: ["reload", "-s", "-D", layout.dataDir] } }),
    },
  );
}

/** The client's own SVID, written once by its own sidecar (the example's one-shot config); libpq options for it. */
async function clientConnection(layout: Layout, agent: FakeAgent, port: number): Promise<Record<string, string | number>> {
  const config = await writeExampleConfig(
    examplePath("postgres", "client-sidecar.yaml"),
    join(layout.dir, "client-sidecar.yaml"),
    { "/run/spiffe/db-client": layout.clientDir },
    { agent_address: agent.address, hint: "db-client" },
  );
  const once = await runCli(sidecarBin, ["once", "-c", config], { PATH: process.env["PATH"] });
  assert.equal(once.code, 0, once.stdout + once.stderr);
  return {
    host: "127.0.0.1",
    port,
    dbname: "postgres",
    user: "app",
    sslmode: "verify-ca",
    sslrootcert: join(layout.clientDir, "svid_bundle.pem"),
    sslcert: join(layout.clientDir, "svid.pem"),
    sslkey: join(layout.clientDir, "svid_key.pem"),
  };
}

/** Runs WHO_AM_I and checks the server saw our SPIFFE ID and certificate; returns the row. */
async function assertAdmitted(client: Readonly<Record<string, string | number>>): Promise<string> {
  const result = await psql(client, WHO_AM_I);
  assert.equal(result.code, 0, result.stderr);
  const [role, version, san, serialDecimal] = result.stdout.trim().split("|");
  assert.equal(role, "app");
  assert.match(version ?? "", /^TLSv1\.[23]$/);
  assert.equal(san, `URI:${CLIENT_ID}`, "the server saw the client's SPIFFE ID");
  const ownSerial = await runProgram("openssl", ["x509", "-noout", "-serial", "-in", String(client["sslcert"])]);
  assert.equal(BigInt(serialDecimal ?? "0").toString(16), normalizeSerial(ownSerial.stdout.trim().replace(/^serial=/, "")), "the server saw our certificate");
  return result.stdout.trim();
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.replace(/^psql: error: /, "").slice(0, 200) ?? "";
}

describe("PostgreSQL beside spiffe-sidecar (real server as a non-root user, fake agent)", { skip }, () => {
  it("serves TLS with the written SVID, admits a client by its SVID with verify-ca, and presents the new certificate after a rotation", async (t) => {
    const user = await serverUser();
    const layout = await makeLayout(t, user);
    const port = await freePort();
    const agent = await startFakeAgent({
      socketPath: join(layout.dir, "agent.sock"),
      trustDomain: "example.org",
      identities: [
        { spiffeId: SERVER_ID, hint: "db" },
        { spiffeId: CLIENT_ID, hint: "db-client" },
      ],
      // Long enough that the only rotation is the one the test asks for.
      x509TtlSeconds: 300,
    });
    t.after(() => agent.stop());
    await createCluster(user, layout);

    const sidecar = runSidecar(t, ["run", "-c", await serverSidecarConfig(user, layout, agent, port)]);
    await sidecar.waitForLog("the first write", isUpdate);
    // The first write's reload finds no server yet; wait for that outcome so it cannot race the start.
    await sidecar.waitForLog("the first reload attempt", hookRan);
    const keyPath = join(layout.certDir, "svid_key.pem");
    const key = await stat(keyPath);
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal(key.uid, user.uid);
    t.diagnostic(`server key ${keyPath}: mode 0${(key.mode & 0o777).toString(8)}, uid ${key.uid} (${user.name})`);

    const server = await startPostgres(t, user, layout.dataDir, port, layout.socketDir);
    const [adminCommand, adminArgs] = asUser(user, need(programs.psql), [
      ...["-X", "-v", "ON_ERROR_STOP=1", "-h", layout.socketDir, "-p", String(port), "-U", user.name, "-d", "postgres"],
      ...["-c", "CREATE ROLE app LOGIN", "-c", "CREATE EXTENSION sslinfo"],
    ]);
    const admin = await runProgram(adminCommand, adminArgs, { env: pgEnv });
    assert.equal(admin.code, 0, admin.stderr);

    const client = await clientConnection(layout, agent, port);
    t.diagnostic(`psql sslmode=verify-ca as ${CLIENT_ID}: ${await assertAdmitted(client)} (role|TLS|SAN the server saw|client serial)`);

    const bundle = await readFile(join(layout.certDir, "svid_bundle.pem"), "utf8");
    const before = await serverCertificate(port, bundle);
    assert.deepEqual(before.uriSans, [SERVER_ID]);
    const logsBefore = sidecar.logs.length;
    await agent.rotateNow();
    await sidecar.waitForLog("a rotation and its reload", (line) => sidecar.logs.indexOf(line) >= logsBefore && hookSucceeded(line));
    const after = await waitFor("PostgreSQL to present the new certificate", async () => {
      const seen = await serverCertificate(port, bundle);
      return seen.serial === before.serial ? undefined : seen;
    });
    assert.equal(after.serial, sidecar.writtenSerials().at(-1), "the server presents the certificate the sidecar wrote last");
    assert.deepEqual(after.uriSans, [SERVER_ID]);
    assert.match(server.log(), /received SIGHUP, reloading configuration files/);
    const [verified] = await sidecar.waitForLog(
      "verify_reload to see the new certificate through SSLRequest",
      (line) => sidecar.logs.indexOf(line) >= logsBefore && line.msg === "app serves the current SVID",
    );
    assert.equal(normalizeSerial(String(verified?.["serial"])), after.serial);
    t.diagnostic(`server certificate ${before.serial} -> ${after.serial} after the rotation (pg_ctl reload), SAN ${SERVER_ID}`);
    // The README's openssl command, run as written with this setup's port and cert_dir.
    const readme = await readFile(examplePath("postgres", "README.md"), "utf8");
    const check = /```sh\n(openssl s_client -starttls postgres[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(check !== undefined, "the README has no openssl s_client -starttls postgres command");
    const shown = await runProgram("bash", ["-o", "pipefail", "-c", render(check, { "127.0.0.1:5432": `127.0.0.1:${port}`, "/run/spiffe/postgres": layout.certDir })]);
    assert.equal(shown.code, 0, shown.stdout + shown.stderr);
    assert.equal(normalizeSerial(/^serial=([0-9A-F]+)$/m.exec(shown.stdout)?.[1] ?? ""), after.serial);
    assert.match(shown.stdout, /URI:spiffe:\/\/example\.org\/db\b/);
    t.diagnostic(`psql sslmode=verify-ca after the rotation: ${await assertAdmitted(client)}`);

    // libpq sends no certificate when sslcert names no file.
    const anonymous = await psql({ ...client, sslcert: join(layout.dir, "none.pem"), sslkey: join(layout.dir, "none.key") }, "SELECT 1");
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /connection requires a valid client certificate/);
    const plain = await psql({ ...client, sslmode: "disable" }, "SELECT 1");
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /pg_hba\.conf rejects connection .*no encryption/);
    const other = await startFakeAgent({ socketPath: join(layout.dir, "other.sock"), trustDomain: "other.org", identities: [{ spiffeId: "spiffe://other.org/x" }] });
    t.after(() => other.stop());
    const otherBundle = join(layout.dir, "other-bundle.pem");
    await writeFile(otherBundle, (other.snapshot().x509Authorities.get("other.org") ?? []).map((der) => encodePem("CERTIFICATE", der)).join(""));
    const wrongRoot = await psql({ ...client, sslrootcert: otherBundle }, "SELECT 1");
    assert.notEqual(wrongRoot.code, 0);
    assert.match(wrongRoot.stderr, /certificate verify failed/);
    t.diagnostic(`refused: no client certificate (${firstLine(anonymous.stderr)})`);
    t.diagnostic(`refused: sslmode=disable (${firstLine(plain.stderr)})`);
    t.diagnostic(`refused by the client: verify-ca against another trust domain's bundle (${firstLine(wrongRoot.stderr)})`);
  });
});
