import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDuration } from "../../text/duration.js";
import {
  formatMode,
  parseDurationText,
  parseModeText,
  parseSignalName,
  splitCommandLine,
  type ValueResult,
} from "./scalar-values.js";

function value<T>(result: ValueResult<T>): T {
  assert.ok(result.ok, result.ok ? "" : `${result.problem}; ${result.fix}`);
  return result.value;
}

function problem<T>(result: ValueResult<T>): string {
  assert.ok(!result.ok, "expected a problem");
  return `${result.problem}; ${result.fix}`;
}

describe("file modes", () => {
  it("reads 0640, 0o640 and 640 as octal", () => {
    for (const text of ["0640", "0o640", "640", " 0640 "]) assert.equal(value(parseModeText(text)), 0o640, text);
    assert.equal(value(parseModeText("0")), 0);
  });

  it("refuses digits that are not octal and words", () => {
    assert.match(problem(parseModeText("0999")), /"0999" is not an octal file mode; write three octal digits/);
    assert.match(problem(parseModeText("rw-r--r--")), /not an octal file mode/);
    assert.match(problem(parseModeText("")), /not an octal file mode/);
    assert.match(problem(parseModeText("064000")), /not an octal file mode/);
  });

  it("refuses setuid, setgid and sticky bits and shows the mode without them", () => {
    assert.match(problem(parseModeText("4755")), /setuid, setgid or sticky bits.*"0755"/);
    assert.match(problem(parseModeText("0o7777")), /"0777"/);
  });

  it("formats with a leading zero", () => {
    assert.equal(formatMode(0o644), "0644");
    assert.equal(formatMode(0o7), "0007");
  });
});

describe("durations", () => {
  it("reads Go-style durations into milliseconds", () => {
    assert.equal(value(parseDurationText("500ms")), 500);
    assert.equal(value(parseDurationText("10s")), 10_000);
    assert.equal(value(parseDurationText("2m")), 120_000);
    assert.equal(value(parseDurationText("1h")), 3_600_000);
    assert.equal(value(parseDurationText("1m30s")), 90_000);
    assert.equal(value(parseDurationText("1.5s")), 1500);
  });

  it("refuses missing units, zero, negative and over-long durations", () => {
    assert.match(problem(parseDurationText("10")), /"10" is not a duration; write a number with a unit/);
    assert.match(problem(parseDurationText("-1s")), /not a duration/);
    assert.match(problem(parseDurationText("10 seconds")), /not a duration/);
    assert.match(problem(parseDurationText("0s")), /not longer than zero/);
    assert.match(problem(parseDurationText("1000h")), /longer than Node timers allow/);
  });

  it("formats as the shortest duration that reads back the same", () => {
    for (const ms of [500, 10_000, 90_000, 3_600_000, 3_723_004]) {
      assert.equal(value(parseDurationText(formatDuration(ms))), ms);
    }
    assert.equal(formatDuration(90_000), "1m30s");
    assert.equal(formatDuration(60_000), "1m");
  });
});

describe("signals", () => {
  it("normalises HUP, hup and SIGHUP to SIGHUP", () => {
    for (const text of ["HUP", "hup", "SIGHUP", "sighup"]) assert.equal(value(parseSignalName(text)), "SIGHUP", text);
    assert.equal(value(parseSignalName("SIGUSR1")), "SIGUSR1");
  });

  it("refuses unknown signals and the two that cannot be caught", () => {
    assert.match(problem(parseSignalName("SIGNOPE")), /not a signal this platform knows; use a name such as SIGHUP/);
    assert.match(problem(parseSignalName("1")), /not a signal/);
    assert.match(problem(parseSignalName("KILL")), /SIGKILL cannot be caught.*notify_action: restart/);
    assert.match(problem(parseSignalName("SIGSTOP")), /SIGSTOP cannot be caught/);
  });
});

describe("splitCommandLine", () => {
  const cases: [string, string[]][] = [
    ["", []],
    ["  -a  -b ", ["-a", "-b"]],
    ["-g 'daemon off;'", ["-g", "daemon off;"]],
    ['--name "a b" c', ["--name", "a b", "c"]],
    ['"say \\"hi\\"" \'lit\\eral\'', ['say "hi"', "lit\\eral"]],
    ["a\\ b", ["a b"]],
    ["''", [""]],
    ["x'y'\"z\"", ["xyz"]],
  ];
  for (const [line, words] of cases) {
    it(`splits ${JSON.stringify(line)}`, () => assert.deepEqual(value(splitCommandLine(line)), words));
  }

  it("refuses an unclosed quote", () => {
    assert.match(
      problem(splitCommandLine("-g 'daemon off;")),
      /unclosed ' quote; close the quote, or write the arguments as a YAML list/,
    );
    assert.match(problem(splitCommandLine('"a')), /unclosed " quote/);
  });
});
