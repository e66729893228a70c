/**
 * Durations in policies are strings such as `90s`, `15m`, `1h30m` or `500ms`: units from the
 * largest to the smallest, each at most once. A bare number is refused on purpose: `bake: 600`
 * could mean seconds or milliseconds, and guessing wrong on a production upgrade is expensive.
 */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;

type DurationUnit = keyof typeof UNIT_MS;

/** Units in the order they must appear (largest first). */
const UNIT_ORDER: readonly DurationUnit[] = ['d', 'h', 'm', 's', 'ms'];

/** The shape of a duration, for the JSON Schema (semantic checks happen in `parseDuration`). */
export const DURATION_PATTERN = /^(\d+(ms|d|h|m|s))+$/;

/** The longest duration accepted: 365 days. Longer values are typos, and keep timers in range. */
export const MAX_DURATION_MS = 365 * UNIT_MS.d;

/** The result of parsing a duration: milliseconds, or why the text is not a duration. */
export type DurationParse = { ok: true; ms: number } | { ok: false; reason: string };

/** Parses `1h30m`-style text into milliseconds, explaining any refusal. */
export function tryParseDuration(text: string): DurationParse {
  const hint = 'expected a duration like 90s, 15m, 1h30m or 500ms';
  if (text.length === 0) return { ok: false, reason: `empty duration: ${hint}` };
  if (text.length > 40 || !DURATION_PATTERN.test(text)) {
    return { ok: false, reason: `"${clip(text)}" is not a duration: ${hint}` };
  }
  let total = 0;
  let lastIndex = -1;
  for (const match of text.matchAll(/(\d+)(ms|d|h|m|s)/g)) {
    const unit = match[2] as DurationUnit;
    const index = UNIT_ORDER.indexOf(unit);
    if (index <= lastIndex) {
      return {
        ok: false,
        reason: `"${text}" is not a duration: units must go from largest to smallest, each once (e.g. 1h30m)`,
      };
    }
    lastIndex = index;
    total += Number(match[1]) * UNIT_MS[unit];
  }
  if (!Number.isSafeInteger(total) || total > MAX_DURATION_MS) {
    return { ok: false, reason: `"${text}" is longer than the maximum of 365d` };
  }
  return { ok: true, ms: total };
}

/** Parses `1h30m`-style text into milliseconds; throws a RangeError when it is not a duration. */
export function parseDuration(text: string): number {
  const result = tryParseDuration(text);
  if (!result.ok) throw new RangeError(result.reason);
  return result.ms;
}

/** Formats milliseconds back into the policy syntax (`5400000` -> `1h30m`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const unit of UNIT_ORDER) {
    const count = Math.floor(rest / UNIT_MS[unit]);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * UNIT_MS[unit];
    }
  }
  return text;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
