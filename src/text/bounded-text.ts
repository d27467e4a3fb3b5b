/**
 * Text that someone else controls (a hint, a status detail, a map key from the agent) is cut
 * before it reaches a log line or a message: a hostile or broken agent sent 3 MiB hints and
 * turned each rejected update into a 3 MiB log line (issue 13 item 12).
 */

/** Any one string the agent supplied. */
export const MAX_ECHOED_CHARS = 256;
/** A whole message built from several such strings plus our own words. */
export const MAX_MESSAGE_CHARS = 1024;

/**
 * `text` unchanged when it fits, else its first `maxChars` characters and `…(N bytes)`, N
 * being the UTF-8 size of the whole, so a reader still sees how large the original was.
 */
export function boundText(text: string, maxChars: number = MAX_ECHOED_CHARS): string {
  if (text.length <= maxChars) return text;
  // Never end on the first half of a surrogate pair: the log would carry a lone surrogate.
  const last = text.charCodeAt(maxChars - 1);
  const cut = last >= 0xd800 && last <= 0xdbff ? maxChars - 1 : maxChars;
  return `${text.slice(0, cut)}…(${Buffer.byteLength(text, "utf8")} bytes)`;
}

/**
 * A list of agent strings for a message: each cut, at most `maxItems` shown, then how many
 * more there were. `["a", "b"]` → `"a", "b"`.
 */
export function boundList(items: readonly string[], maxItems = 8): string {
  const shown = items.slice(0, maxItems).map((item) => JSON.stringify(boundText(item)));
  const more = items.length - shown.length;
  return more > 0 ? `${shown.join(", ")} and ${more} more` : shown.join(", ");
}
