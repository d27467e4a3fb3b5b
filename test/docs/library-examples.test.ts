import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const guide = join(repo, "docs", "library.md");

/** Each ```ts block of the guide, with the heading it sits under (for the failure message). */
function examplesOf(markdown: string): { heading: string; code: string }[] {
  const examples: { heading: string; code: string }[] = [];
  let heading = "(top)";
  const lines = markdown.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? "";
    if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
    if (line.trim() !== "```ts") continue;
    const body: string[] = [];
    for (index++; index < lines.length && lines[index]?.trim() !== "```"; index++) body.push(lines[index] ?? "");
    examples.push({ heading, code: body.join("\n") });
  }
  return examples;
}

describe("docs/library.md", () => {
  let scratch: string;
  let examples: { heading: string; code: string }[];

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "library-examples-"));
    examples = examplesOf(await readFile(guide, "utf8"));
  });

  after(async () => {
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
        const name = `example-${index}.ts`;
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
        typeRoots: [join(repo, "node_modules", "@types")],
        baseUrl: scratch,
        paths: { "spiffe-sidecar": [join(repo, "src", "index.ts")] },
        noUnusedLocals: false,
      },
      files: names,
    };
    await writeFile(join(scratch, "tsconfig.json"), JSON.stringify(config));
    // As in the package itself: the examples are ES modules with top-level await, and they
    // import the package's own dependencies (@grpc/grpc-js) as a reader's project would.
    await writeFile(join(scratch, "package.json"), JSON.stringify({ type: "module" }));
    await symlink(join(repo, "node_modules"), join(scratch, "node_modules"), "dir");
    const tsc = spawnSync(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", join(scratch, "tsconfig.json")], {
      encoding: "utf8",
    });
    const report = tsc.stdout.replace(/example-(\d+)\.ts/g, (_match, index: string) => `[${examples[Number(index)]?.heading ?? index}]`);
    assert.equal(tsc.status, 0, report);
  });
});
