/**
 * Durations as people write them in flags and YAML, Go-style: `500ms`, `10s`, `2m`, `1h`,
 * `1m30s`. A bare number is refused: `10` could mean seconds or milliseconds, and guessing
 * wrong makes a TTL 1000x off.
 */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The fix appended to every message about a value that is not a duration. */
export const DURATION_FORMAT_HINT = 'write a number with a unit (ms, s, m or h), e.g. "10s" or "1m30s"';

/** Milliseconds for `text`, or undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * (UNIT_MS[unit ?? ""] ?? 0);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Milliseconds as the shortest Go-style duration: 90000 → `"1m30s"`, 500 → `"500ms"`. */
export function formatDuration(milliseconds: number): string {
  let rest = milliseconds;
  let text = "";
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return text === "" ? "0s" : text;
}
