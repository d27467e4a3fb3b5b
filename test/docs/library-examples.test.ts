import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { startFakeAgent, type FakeAgent } from "../../src/fakeagent/index.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const guide = join(repo, "docs", "library.md");
/** Only a hang should reach it: each example connects to a local agent and ends. */
const RUN_TIMEOUT_MS = 60_000;

interface Example {
  /** The heading it sits under, for failure messages. */
  readonly heading: string;
  readonly code: string;
  /** Fenced as ```ts run: it needs nothing but the agent of the guide's start, and ends by itself. */
  readonly runnable: boolean;
}

/** Each ```ts block of the guide. */
function examplesOf(markdown: string): Example[] {
  const examples: Example[] = [];
  let heading = "(top)";
  const lines = markdown.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? "";
    if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
    const fence = line.trim();
    if (fence !== "```ts" && fence !== "```ts run") continue;
    const body: string[] = [];
    for (index++; index < lines.length && lines[index]?.trim() !== "```"; index++) body.push(lines[index] ?? "");
    examples.push({ heading, code: body.join("\n"), runnable: fence === "```ts run" });
  }
  return examples;
}

/** Runs one example as a reader would (`node` with tsx for the types), resolving to its exit and output. */
function runExample(path: string, socketPath: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path], {
      cwd: dirname(path),
      env: { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${socketPath}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

describe("docs/library.md", () => {
  let scratch: string;
  let examples: Example[];
  let agent: FakeAgent;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "library-examples-"));
    examples = examplesOf(await readFile(guide, "utf8"));
    // As in a reader's project: ES modules with top-level await, importing the package's own
    // dependencies (@grpc/grpc-js).
    await writeFile(join(scratch, "package.json"), JSON.stringify({ type: "module" }));
    await symlink(join(repo, "node_modules"), join(scratch, "node_modules"), "dir");
    // The agent the guide starts with `npx spiffe-fake-agent`.
    agent = await startFakeAgent({
      socketPath: join(scratch, "agent.sock"),
      trustDomain: "example.org",
      identities: [{ spiffeId: "spiffe://example.org/server" }, { spiffeId: "spiffe://example.org/client" }],
      x509TtlSeconds: 60,
    });
  });

  after(async () => {
    await agent?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it("imports only from the package's entry point, never a deep path", () => {
    assert.ok(examples.length > 0, "the guide has no ts examples");
    const deep = examples.filter(({ code }) => /from\s+"spiffe-sidecar\//.test(code) || /from\s+"\.{1,2}\//.test(code));
    assert.deepEqual(deep.map(({ heading }) => heading), []);
  });

  it("every example type-checks against the entry point under the repository's strict settings", { timeout: 120_000 }, async () => {
    // Each example is its own module, as a reader would paste it; "spiffe-sidecar" resolves to
    // the sources' entry point, which is what the package's only export builds from.
    const names = await Promise.all(
      examples.map(async ({ code }, index) => {
        const name = `typed-${index}.ts`;
        await writeFile(join(scratch, name), `${code}\nexport {};\n`);
        return name;
      }),
    );
    const base = JSON.parse(await readFile(join(repo, "tsconfig.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
    const config = {
      compilerOptions: {
        ...base.compilerOptions,
        rootDir: "/",
        noEmit: true,
        baseUrl: scratch,
        paths: { "spiffe-sidecar": [join(repo, "src", "index.ts")] },
        noUnusedLocals: false,
      },
      files: names,
    };
    await writeFile(join(scratch, "tsconfig.json"), JSON.stringify(config));
    const tsc = spawnSync(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", join(scratch, "tsconfig.json")], {
      encoding: "utf8",
    });
    const report = tsc.stdout.replace(/typed-(\d+)\.ts/g, (_match, index: string) => `[${examples[Number(index)]?.heading ?? index}]`);
    assert.equal(tsc.status, 0, report);
  });

  it("every example fenced `ts run` runs to completion against the fake agent", { timeout: 6 * RUN_TIMEOUT_MS }, async () => {
    const runnable = examples.filter((example) => example.runnable);
    assert.ok(runnable.length >= 5, `only ${runnable.length} runnable examples; sources, TLS, gRPC, JWT and federation each need one`);
    const entry = pathToFileURL(join(repo, "src", "index.ts")).href;
    // One at a time: they share the agent, and the machine has few cores.
    for (const [index, example] of runnable.entries()) {
      const path = join(scratch, `run-${index}.ts`);
      await writeFile(path, example.code.replaceAll('from "spiffe-sidecar"', `from "${entry}"`));
      const { code, output } = await runExample(path, agent.socketPath);
      assert.equal(code, 0, `[${example.heading}] exited ${String(code)}:\n${output}`);
      assert.doesNotMatch(output, /Error/, `[${example.heading}] printed an error:\n${output}`);
    }
  });
});
