import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments, stringify } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { runCli, sidecarBin } from "../support/run-cli.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const examples = (...parts: string[]): string => join(repo, "examples", ...parts);

type Json = Record<string, unknown>;
const obj = (value: unknown, what: string): Json => {
  assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), `${what} is not a map`);
  return value as Json;
};
const list = (value: unknown, what: string): Json[] => {
  assert.ok(Array.isArray(value), `${what} is not a list`);
  return value.map((item, index) => obj(item, `${what}[${index}]`));
};

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "deploy-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The example's config with the paths of the host it is written for moved under `root`, where
 * they then exist: `cert_dir` (and a relative `federated_bundle_dir` in it) as directories,
 * absolute `cmd` and `exec_hook.cmd` as stand-in programs. `validate` checks the host it runs on,
 * and this one is not a pod, a systemd host or a container.
 */
async function onScratchHost(root: string, config: Json): Promise<Json> {
  const moved: Json = { ...config };
  const program = async (path: string): Promise<string> => {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, "#!/bin/sh\n");
    await chmod(target, 0o755);
    return target;
  };
  if (typeof config["cert_dir"] === "string") {
    const certDir = join(root, config["cert_dir"]);
    moved["cert_dir"] = certDir;
    await mkdir(certDir, { recursive: true });
    const federated = config["federated_bundle_dir"];
    if (typeof federated === "string" && !federated.startsWith("/")) await mkdir(join(certDir, federated), { recursive: true });
  }
  if (typeof config["cmd"] === "string" && config["cmd"].startsWith("/")) moved["cmd"] = await program(config["cmd"]);
  const hook = config["exec_hook"];
  if (typeof hook === "object" && hook !== null && typeof (hook as Json)["cmd"] === "string" && String((hook as Json)["cmd"]).startsWith("/")) {
    moved["exec_hook"] = { ...(hook as Json), cmd: await program(String((hook as Json)["cmd"])) };
  }
  return moved;
}

/** `spiffe-sidecar validate` on config text: every key the example ships must load as it is. */
async function assertValidates(t: TestContext, text: string, what: string): Promise<Json> {
  const dir = await scratch(t);
  const config = obj(parse(text), what);
  const path = join(dir, "sidecar.yaml");
  await writeFile(path, stringify(await onScratchHost(join(dir, "host"), config)));
  const result = await runCli(sidecarBin, ["validate", "-c", path], { PATH: process.env["PATH"] });
  assert.equal(result.code, 0, `${what} does not validate: ${result.stderr}${result.stdout}`);
  return config;
}

/** Every document of every YAML file in `dir`, parsed strictly; a YAML error fails with its position. */
async function yamlDocuments(dir: string): Promise<Map<string, Json[]>> {
  const files = (await readdir(dir)).filter((name) => name.endsWith(".yaml")).sort();
  const documents = new Map<string, Json[]>();
  for (const name of files) {
    const parsed = parseAllDocuments(await readFile(join(dir, name), "utf8"), { uniqueKeys: true });
    const docs = Array.isArray(parsed) ? parsed : [parsed];
    documents.set(name, docs.map((doc, index) => {
      assert.deepEqual(doc.errors.map((error) => error.message), [], `${name} document ${index + 1}`);
      return obj(doc.toJS(), `${name} document ${index + 1}`);
    }));
  }
  return documents;
}

function commandAvailable(command: string, args: readonly string[]): boolean {
  return spawnSync(command, args, { stdio: "ignore" }).status === 0;
}

describe("examples/kubernetes", () => {
  const findKind = (documents: Map<string, Json[]>, file: string, kind: string): Json => {
    const found = documents.get(file)?.find((doc) => doc["kind"] === kind);
    assert.ok(found !== undefined, `${file} has no ${kind}`);
    return found;
  };

  async function loadAll(t: TestContext) {
    const documents = await yamlDocuments(examples("kubernetes"));
    const configMap = findKind(documents, "configmap.yaml", "ConfigMap");
    const configText = obj(configMap["data"], "ConfigMap data")["sidecar.yaml"];
    assert.equal(typeof configText, "string");
    const config = await assertValidates(t, String(configText), "the ConfigMap's sidecar.yaml");
    return { documents, configMap, config };
  }

  /** The pod spec's sidecar container, app container and volumes, checked against the sidecar config. */
  function checkPod(podSpec: Json, config: Json, configMapName: string, subcommand: "run" | "once"): Json {
    const [sidecar] = list(podSpec["initContainers"], "initContainers").filter((c) => c["name"] === "spiffe-sidecar");
    assert.ok(sidecar !== undefined, "no spiffe-sidecar init container");
    const [app] = list(podSpec["containers"], "containers");
    assert.ok(app !== undefined);
    const volumes = new Map(list(podSpec["volumes"], "volumes").map((volume) => [String(volume["name"]), volume]));
    const mountOf = (container: Json, path: string): Json | undefined =>
      list(container["volumeMounts"], "volumeMounts").find((mount) => mount["mountPath"] === path);

    const [verb, flag, configPath] = sidecar["args"] as string[];
    assert.deepEqual([verb, flag], [subcommand, "-c"]);
    const configMount = mountOf(sidecar, posix.dirname(String(configPath)));
    assert.equal(obj(volumes.get(String(configMount?.["name"]))?.["configMap"], "config volume")["name"], configMapName);
    assert.equal(posix.basename(String(configPath)), "sidecar.yaml");

    const socketDir = posix.dirname(String(config["agent_address"]).replace(/^unix:\/\//, ""));
    const socketMount = mountOf(sidecar, socketDir);
    assert.ok(socketMount !== undefined, `nothing mounted at ${socketDir}, the agent socket's directory`);
    assert.deepEqual(volumes.get(String(socketMount["name"]))?.["csi"], { driver: "csi.spiffe.io", readOnly: true });

    const certDir = String(config["cert_dir"]);
    const identityMount = mountOf(sidecar, certDir);
    assert.ok(identityMount !== undefined && mountOf(app, certDir)?.["name"] === identityMount["name"], `sidecar and app must share ${certDir}`);
    assert.equal(mountOf(app, certDir)?.["readOnly"], true);
    assert.ok(obj(volumes.get(String(identityMount["name"])), "identity volume")["emptyDir"] !== undefined, "the identity volume is not an emptyDir");
    return sidecar;
  }

  it("parses every document, and the native sidecar restarts itself and is probed on the config's health paths", async (t) => {
    const { documents, configMap, config } = await loadAll(t);
    const deployment = findKind(documents, "native-sidecar.yaml", "Deployment");
    const podSpec = obj(obj(obj(deployment["spec"], "spec")["template"], "template")["spec"], "pod spec");
    const sidecar = checkPod(podSpec, config, String(obj(configMap["metadata"], "metadata")["name"]), "run");
    assert.equal(sidecar["restartPolicy"], "Always", "a native sidecar is an init container with restartPolicy: Always");

    const health = obj(config["health_checks"], "health_checks");
    assert.equal(health["listener_enabled"], true);
    // The kubelet probes the pod IP: no bind_address (every interface) or a wildcard, never loopback.
    assert.ok([undefined, "0.0.0.0", "::"].includes(health["bind_address"] as string | undefined), `bind_address ${String(health["bind_address"])}: the kubelet probes the pod IP`);
    const probe = (name: string) => obj(obj(sidecar[name], name)["httpGet"], `${name}.httpGet`);
    for (const name of ["startupProbe", "readinessProbe"]) assert.deepEqual(probe(name), { path: health["readiness_path"], port: health["bind_port"] });
    assert.deepEqual(probe("livenessProbe"), { path: health["liveness_path"], port: health["bind_port"] });
    const files = [...documents].map(([name, docs]) => `${name}: ${docs.map((doc) => String(doc["kind"])).join(", ")}`);
    console.log(`kubernetes: parsed ${files.join("; ")}`);
    console.log(`kubernetes: native sidecar probes ${String(health["readiness_path"])} and ${String(health["liveness_path"])} on ${String(health["bind_port"])}, as configured`);
  });

  it("runs the one-shot variant as a plain init container of a Job", async (t) => {
    const { documents, configMap, config } = await loadAll(t);
    const job = findKind(documents, "one-shot-init.yaml", "Job");
    const podSpec = obj(obj(obj(job["spec"], "spec")["template"], "template")["spec"], "pod spec");
    const sidecar = checkPod(podSpec, config, String(obj(configMap["metadata"], "metadata")["name"]), "once");
    assert.equal(sidecar["restartPolicy"], undefined, "a one-shot init container must run to completion");
    assert.equal(podSpec["restartPolicy"], "Never");
  });

  it("validates against the Kubernetes API schemas (kubernetes-models)", async () => {
    const models: Record<string, new (data: never) => { validate(): void }> = { ConfigMap, ServiceAccount, Deployment, Job };
    const checked: string[] = [];
    for (const name of ["configmap.yaml", "native-sidecar.yaml", "one-shot-init.yaml"]) {
      for (const document of parseAllDocuments(await readFile(examples("kubernetes", name), "utf8"))) {
        const manifest = obj(document.toJS(), name);
        const kind = String(manifest["kind"]);
        const Model = models[kind];
        assert.ok(Model !== undefined, `${name}: no schema model for kind ${kind}`);
        new Model(manifest as never).validate();
        checked.push(`${name} ${kind}`);
      }
    }
    assert.ok(checked.length >= 5, checked.join("; "));
    console.log(`kubernetes schema: ${checked.map((entry) => `${entry}: ok`).join("; ")}`);
  });
});

/** A systemd unit file as section -> key -> values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1] !== undefined) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const [key, ...rest] = line.split("=");
    assert.ok(current !== undefined && key !== undefined && rest.length > 0, `not a key=value line in a section: ${line}`);
    current.set(key, [...(current.get(key) ?? []), rest.join("=")]);
  }
  return sections;
}

describe("examples/systemd", () => {
  const unit = async (name: string) => parseUnit(await readFile(examples("systemd", name), "utf8"));
  const configOf = async (t: TestContext, execLine: string, verb: "run" | "once"): Promise<Json> => {
    const match = new RegExp(`^/usr/local/bin/spiffe-sidecar ${verb} -c /etc/spiffe-sidecar/(\\S+)$`).exec(execLine);
    assert.ok(match?.[1] !== undefined, `not a spiffe-sidecar ${verb} line: ${execLine}`);
    return assertValidates(t, await readFile(examples("systemd", match[1]), "utf8"), match[1]);
  };

  it("supervises the service with Type=notify, and reloads nginx through systemctl with an exec hook", async (t) => {
    const app = (await unit("my-app.service")).get("Service");
    for (const service of [app, (await unit("nginx-identity.service")).get("Service")]) {
      // systemd-notify, not the sidecar, sends the datagrams: only NotifyAccess=all accepts them.
      assert.deepEqual([service?.get("Type"), service?.get("NotifyAccess")], [["notify"], ["all"]]);
      assert.match(service?.get("WatchdogSec")?.[0] ?? "", /^\d+s$/);
    }
    assert.deepEqual(app?.get("KillMode"), ["mixed"], "SIGTERM must reach the sidecar alone, which forwards it");
    const appConfig = await configOf(t, app?.get("ExecStart")?.[0] ?? "", "run");
    assert.equal(typeof appConfig["cmd"], "string", "the sidecar must run the app as its child");
    assert.equal(appConfig["renew_signal"], "SIGHUP");
    assert.equal(appConfig["cert_dir"], `/run/${String(app?.get("RuntimeDirectory")?.[0])}`);

    const nginx = (await unit("nginx-identity.service")).get("Service");
    const nginxConfig = await configOf(t, nginx?.get("ExecStart")?.[0] ?? "", "run");
    assert.deepEqual(nginxConfig["exec_hook"], { cmd: "/usr/bin/systemctl", args: ["reload", "nginx.service"], timeout: "30s" });
    assert.deepEqual(nginx?.get("ReadWritePaths"), [nginxConfig["cert_dir"]]);
    const dropIn = (await unit("nginx.service.d/10-spiffe-identity.conf")).get("Service");
    const [, once] = dropIn?.get("ExecStartPre") ?? [];
    assert.deepEqual(await configOf(t, once ?? "", "once"), nginxConfig);
    console.log("systemd: my-app.service runs the sidecar (Type=notify, KillMode=mixed) which runs my-app; nginx-identity.service reloads nginx via systemctl");
  });

  it("points Documentation= at the README that `npm install -g` installs beside the ExecStart program", async () => {
    const packageName = String(obj(JSON.parse(await readFile(join(repo, "package.json"), "utf8")), "package.json")["name"]);
    for (const name of ["my-app.service", "nginx-identity.service"]) {
      const units = await unit(name);
      const program = units.get("Service")?.get("ExecStart")?.[0]?.split(" ")[0] ?? "";
      // npm -g links <prefix>/bin/<command> to <prefix>/lib/node_modules/<package>/.
      const prefix = posix.dirname(posix.dirname(program));
      assert.deepEqual(units.get("Unit")?.get("Documentation"), [`file:${prefix}/lib/node_modules/${packageName}/README.md`], name);
    }
  });

  const noSystemdAnalyze = commandAvailable("systemd-analyze", ["--version"])
    ? false
    : 'systemd-analyze is not installed (the units were checked by key only); install the test peers with "bash scripts/install-test-peers.sh"';
  it("passes systemd-analyze verify with no warning", { skip: noSystemdAnalyze }, async (t) => {
    // A scratch root: this machine's system units, ours, and stand-ins for the programs the
    // units name, so verify judges the units rather than what is installed here.
    const root = await scratch(t);
    await mkdir(join(root, "etc/systemd/system/nginx.service.d"), { recursive: true });
    const systemUnits = "/usr/lib/systemd/system";
    if (await stat(systemUnits).then(() => true, () => false)) await cp(systemUnits, join(root, systemUnits), { recursive: true });
    for (const program of ["usr/local/bin/spiffe-sidecar", "usr/sbin/nginx", "usr/bin/install"]) {
      await mkdir(dirname(join(root, program)), { recursive: true });
      await writeFile(join(root, program), "#!/bin/sh\n");
      await chmod(join(root, program), 0o755);
    }
    // Debian's nginx.service in brief, so the drop-in is verified against a unit of that shape.
    await writeFile(join(root, "etc/systemd/system/nginx.service"),
      "[Unit]\nDescription=nginx\n[Service]\nType=forking\nPIDFile=/run/nginx.pid\nExecStart=/usr/sbin/nginx\nExecReload=/usr/sbin/nginx -s reload\n[Install]\nWantedBy=multi-user.target\n");
    for (const name of ["my-app.service", "nginx-identity.service", "nginx.service.d/10-spiffe-identity.conf"]) {
      await cp(examples("systemd", name), join(root, "etc/systemd/system", name));
    }
    const units = ["my-app.service", "nginx-identity.service", "nginx.service"];
    const verify = spawnSync("systemd-analyze", ["verify", "--man=no", "--generators=no", `--root=${root}`, ...units], { encoding: "utf8" });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(`${verify.stdout}${verify.stderr}`.trim(), "", "systemd-analyze printed warnings");
    console.log(`systemd: systemd-analyze verify passed with no output for ${units.join(", ")} (nginx.service with the drop-in)`);
  });
});

describe("examples/docker-compose", () => {
  it("runs the sidecar and the app from the repository's image, sharing the identity volume and the agent socket", async (t) => {
    const documents = await yamlDocuments(examples("docker-compose"));
    const [compose] = documents.get("compose.yaml") ?? [];
    assert.ok(compose !== undefined);
    const services = obj(compose["services"], "services");
    const service = (name: string): Json => obj(services[name], `service ${name}`);
    const images = new Set(Object.keys(services).map((name) => service(name)["image"]));
    assert.deepEqual([...images], ["spiffe-sidecar:local"]);
    const builder = Object.keys(services).map(service).find((entry) => entry["build"] !== undefined);
    const context = resolve(examples("docker-compose"), String(obj(builder?.["build"], "build")["context"]));
    assert.equal(context, resolve(repo), "the image is built from the repository's Dockerfile");

    const mounts = (name: string): Map<string, string> => {
      const entries = (service(name)["volumes"] as string[]).map((spec) => spec.split(":"));
      return new Map(entries.map(([source = "", target = ""]) => [target, source]));
    };
    const [verb, flag, configPath] = service("sidecar")["command"] as string[];
    assert.deepEqual([verb, flag], ["run", "-c"]);
    const configSource = mounts("sidecar").get(String(configPath));
    assert.equal(configSource, "./sidecar.yaml");
    const config = await assertValidates(t, await readFile(examples("docker-compose", "sidecar.yaml"), "utf8"), "sidecar.yaml");

    const certDir = String(config["cert_dir"]);
    const identity = mounts("sidecar").get(certDir);
    assert.ok(identity !== undefined && mounts("app").get(certDir) === identity, `sidecar and app must mount the same volume at ${certDir}`);
    assert.equal(obj(service("app")["environment"], "app environment")["CERT_DIR"], certDir);
    const socketDir = posix.dirname(String(config["agent_address"]).replace(/^unix:\/\//, ""));
    assert.equal(mounts("sidecar").get(socketDir), mounts("agent").get(socketDir), "the agent and the sidecar must share the socket directory");
    const declared = Object.keys(obj(compose["volumes"], "volumes"));
    assert.deepEqual([identity, mounts("agent").get(socketDir)].sort(), declared.sort());
    for (const name of Object.keys(services)) {
      for (const source of mounts(name).values()) {
        if (!source.startsWith(".")) continue;
        assert.ok(await stat(resolve(examples("docker-compose"), source)).then(() => true, () => false), `${name} mounts ${source}, which does not exist`);
      }
    }
    console.log(`compose: services ${Object.keys(services).join(", ")} on spiffe-sidecar:local; ${certDir} mounted as volume "${identity}"`);
  });

  const noCompose = commandAvailable("docker", ["compose", "version"]) ? false : "the Docker CLI's compose plugin is not installed";
  it("is a file docker compose accepts", { skip: noCompose }, () => {
    const rendered = spawnSync("docker", ["compose", "-f", examples("docker-compose", "compose.yaml"), "config", "--quiet"], { encoding: "utf8" });
    assert.equal(rendered.status, 0, rendered.stderr);
  });
});

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerInstructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [op = "", ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

describe("the root Dockerfile", () => {
  it("is multi-stage on Node LTS slim, builds with CI's commands, runs as non-root with spiffe-sidecar as entrypoint, and can run demo", async () => {
    const steps = dockerInstructions(await readFile(join(repo, "Dockerfile"), "utf8"));
    const stages = steps.filter((step) => step.op === "FROM").map((step) => step.args);
    assert.ok(stages.length >= 2, "multi-stage");
    for (const image of stages) {
      const major = Number(/^node:(\d+)-[a-z]+-slim\b/.exec(image)?.[1]);
      assert.ok(major >= 22 && major % 2 === 0, `${image} is not a Node LTS (even major >= 22) slim image`);
    }
    const ci = await readFile(join(repo, ".ci/run"), "utf8");
    const scripts = obj(JSON.parse(await readFile(join(repo, "package.json"), "utf8")).scripts, "scripts");
    assert.ok(ci.includes("npm ci") && typeof scripts["build"] === "string");
    const runs = steps.filter((step) => step.op === "RUN").map((step) => step.args);
    assert.ok(runs.some((run) => run.startsWith("npm ci")), "the build stage runs npm ci");
    assert.ok(runs.includes("npm run build"), "the build stage runs npm run build");

    const finalStage = steps.slice(steps.map((step) => step.op).lastIndexOf("FROM"));
    const user = finalStage.filter((step) => step.op === "USER").at(-1)?.args;
    assert.ok(user !== undefined && user !== "root" && user !== "0", `final USER is ${String(user)}`);
    assert.deepEqual(JSON.parse(finalStage.find((step) => step.op === "ENTRYPOINT")?.args ?? "null"), ["tini", "--", "spiffe-sidecar"], "tini as PID 1 reaps orphans");

    // `demo` finds its app relative to dist/bin: the image must hold it there.
    const demoRelative = /new URL\("([^"]+reload-printer\.mjs)"/.exec(await readFile(join(repo, "src/cli/demo.ts"), "utf8"))?.[1];
    const appDir = finalStage.find((step) => step.op === "WORKDIR")?.args ?? "/";
    const copies = finalStage.filter((step) => step.op === "COPY").map((step) => step.args.split(/\s+/));
    const distTarget = posix.resolve(appDir, copies.find((args) => args.includes("/src/dist"))?.at(-1) ?? "");
    const demoTarget = copies.find((args) => args[0] === "examples/demo/reload-printer.mjs")?.at(-1);
    assert.equal(posix.resolve(appDir, demoTarget ?? ""), posix.resolve(distTarget, "bin", String(demoRelative)));

    const ignored = (await readFile(join(repo, ".dockerignore"), "utf8")).split("\n").map((line) => line.trim()).filter(Boolean);
    for (const args of steps.filter((step) => step.op === "COPY" && !step.args.startsWith("--from")).map((step) => step.args.split(/\s+/))) {
      for (const source of args.slice(0, -1)) {
        assert.ok(!ignored.includes(source.split("/")[0] ?? ""), `${source} is excluded by .dockerignore`);
        assert.ok(await stat(join(repo, source)).then(() => true, () => false), `COPY ${source}: no such file in the repository`);
      }
    }
    console.log(`Dockerfile: stages ${stages.join(" -> ")}; USER ${user}; demo app at ${String(demoTarget)}`);
    if (!commandAvailable("docker", ["info"])) console.log("Dockerfile: not built here: no Docker daemon");
  });
});
