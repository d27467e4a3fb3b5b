import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { sidecarBin } from "../support/run-cli.js";
import { isUpdate, runSidecar, scratch, startAgent, writeConfig } from "../sidecar/support.js";
import { CHAOS_LONG, pumpRotations, x509Config } from "./chaos-support.js";

/**
 * The torn-read hammer (issue 13, item 2): while the fake agent rotates the SVID many times a
 * second and the built sidecar writes each one, a reader process reads cert and key in every
 * way applications do (pair-reader.mjs) and counts pairs that do not match and files that are
 * not there. What the README promises per layout and reader is asserted here; the rest is
 * reported (t.diagnostic) for the README's figures. `CHAOS_LONG=1` hammers 60 s per layout.
 */
const HAMMER_MS = CHAOS_LONG ? 60_000 : 3_000;
const reader = fileURLToPath(new URL("./pair-reader.mjs", import.meta.url));
const builtMissing = existsSync(sidecarBin) ? undefined : `${sidecarBin} is missing: run npm run build first`;

interface ReaderCounts {
  readonly reads: number;
  readonly mismatched: number;
  readonly missing: number;
  readonly unparsable: number;
}

type Layout = "files" | "directory";

describe("torn-read hammer", { skip: builtMissing }, () => {
  for (const layout of ["files", "directory"] as const satisfies readonly Layout[]) {
    const promise = layout === "directory" ? "no torn combined file or ..data-once pair" : "no torn combined file";
    it(`${layout} layout: no partial file, no ENOENT, ${promise}`, async (t) => {
      const where = await scratch(t);
      const agent = await startAgent(t, where, { x509TtlSeconds: 120 });
      const config = await writeConfig(
        where,
        x509Config(agent.address, where, { write_layout: layout, combined_pem_file_name: "combined.pem", log_level: "info" }),
      );
      const sidecar = runSidecar(t, config);
      await sidecar.waitForLog("the first write", isUpdate);
      const stopPath = where.file("stop-reader");
      const child = spawn(process.execPath, [reader, where.certDir, stopPath, layout], { stdio: ["ignore", "pipe", "inherit"] });
      let output = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      while (!output.includes("ready\n")) await once(child.stdout, "data");
      const writesBefore = sidecar.count(isUpdate);
      const pump = pumpRotations(agent, 1);
      await delay(HAMMER_MS);
      await pump.stop();
      const rotations = sidecar.count(isUpdate) - writesBefore;
      await writeFile(stopPath, "");
      const [code] = (await once(child, "exit")) as [number | null];
      assert.equal(code, 0);
      const counts = JSON.parse(output.split("\n")[1] ?? "{}") as Record<string, ReaderCounts>;
      t.diagnostic(`${layout}: ${rotations} rotations written; ${JSON.stringify(counts)}`);
      assert.ok(rotations > 10, `the hammer needs rotations to race (${rotations})`);
      for (const [kind, count] of Object.entries(counts)) {
        assert.ok(count.reads > 0, `${kind}: no reads`);
        assert.equal(count.unparsable, 0, `${kind}: a partial file was read`);
        assert.equal(count.missing, 0, `${kind}: a file was missing (ENOENT)`);
      }
      assert.equal(counts["combined"]?.mismatched, 0, "the combined file tore");
      if (layout === "directory") assert.equal(counts["data-once"]?.mismatched, 0, "a ..data-once reader saw two versions");
    });
  }
});
