import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseExposition } from "../../../test/fixtures/prometheus-parser.js";
import { escapeLabelValue, formatSampleValue, renderExposition } from "./prometheus-text.js";

describe("renderExposition", () => {
  it("writes HELP, TYPE and samples in the 0.0.4 layout", () => {
    const text = renderExposition([
      { name: "x_total", help: "Things.", type: "counter", samples: [{ value: 3 }] },
      { name: "y", help: "Nothing yet.", type: "gauge", samples: [] },
    ]);
    assert.equal(
      text,
      "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n# HELP y Nothing yet.\n# TYPE y gauge\n",
    );
  });

  it("escapes label values and HELP text so they parse back unchanged", () => {
    const tricky = 'C:\\certs\\"new"\nline';
    const text = renderExposition([
      {
        name: "files",
        help: "Back\\slash and\nnewline.",
        type: "gauge",
        samples: [
          { labels: { file: tricky, kind: "a" }, value: 1.5 },
          { labels: { file: "plain" }, value: Number.POSITIVE_INFINITY },
        ],
      },
    ]);
    assert.match(text, /^files\{file="C:\\\\certs\\\\\\"new\\"\\nline",kind="a"\} 1\.5$/m);
    const parsed = parseExposition(text).get("files");
    assert.equal(parsed?.help, "Back\\slash and\nnewline.");
    assert.equal(parsed?.type, "gauge");
    assert.deepEqual(parsed?.samples, [
      { labels: { file: tricky, kind: "a" }, value: 1.5 },
      { labels: { file: "plain" }, value: Number.POSITIVE_INFINITY },
    ]);
  });

  it("spells special values as Prometheus does", () => {
    assert.equal(formatSampleValue(Number.NaN), "NaN");
    assert.equal(formatSampleValue(Number.NEGATIVE_INFINITY), "-Inf");
    assert.equal(formatSampleValue(1_700_000_000.25), "1700000000.25");
    assert.equal(escapeLabelValue("plain"), "plain");
  });

  it("refuses invalid names and duplicate families", () => {
    const gauge = (name: string, labels?: Record<string, string>) => ({
      name,
      help: "",
      type: "gauge" as const,
      samples: labels === undefined ? [] : [{ labels, value: 0 }],
    });
    assert.throws(() => renderExposition([gauge("bad-name")]), /invalid Prometheus metric name "bad-name"/);
    assert.throws(() => renderExposition([gauge("m", { "1x": "v" })]), /invalid Prometheus label name "1x"/);
    assert.throws(() => renderExposition([gauge("m", { __name__: "v" })]), /invalid Prometheus label name "__name__"/);
    assert.throws(() => renderExposition([gauge("m"), gauge("m")]), /rendered twice/);
  });
});
