/**
 * Text from outside (task files, test output, tool output) made storable in Postgres. `text`
 * rejects NUL (22021); jsonb rejects `\u0000` (22P05) and, since JSON.stringify escapes a lone
 * UTF-16 surrogate as `\udXXX`, an unpaired surrogate as well. A write that Postgres rejects looks
 * like an infra failure and is retried until its bound, so every write of foreign text goes
 * through these first.
 *
 * Both replace each offending code unit with U+FFFD (the replacement character), so lengths in
 * UTF-16 code units are kept and a reader sees where something was.
 */

const REPLACEMENT = '\uFFFD';
/** NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what these match
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// eslint-disable-next-line no-control-regex -- as above
const MAYBE_UNSTORABLE = /[\u0000\uD800-\uDFFF]/;

/** `text` with NUL and lone surrogates replaced by U+FFFD; the same string when there are none. */
export function storable(text: string): string;
export function storable(text: string | null | undefined): string | null | undefined;
export function storable(text: string | null | undefined): string | null | undefined {
  if (typeof text !== 'string' || !MAYBE_UNSTORABLE.test(text)) return text;
  return text.replace(UNSTORABLE, REPLACEMENT);
}

/**
 * `storable` applied to every string of a JSON-like value, object keys included, for a jsonb
 * column. Arrays and plain objects are copied; other values (numbers, booleans, null, Dates…)
 * pass through unchanged.
 */
export function storableJson<T>(value: T): T {
  if (typeof value === 'string') return storable(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => storableJson(v)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[storable(k)] = storableJson(v);
    return out as T;
  }
  return value;
}
