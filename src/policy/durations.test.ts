import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, tryParseDuration } from './durations.ts';

describe('src/policy/durations', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1h0m5s', 3_605_000],
    ['0s', 0],
  ])('parses %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it.each([
    ['', 'empty duration'],
    ['10', 'is not a duration'],
    ['1.5h', 'is not a duration'],
    ['10 m', 'is not a duration'],
    ['30m1h', 'largest to smallest'],
    ['1m1m', 'largest to smallest'],
    ['1w', 'is not a duration'],
    ['366d', 'maximum of 365d'],
    ['99999999999999999999h', 'maximum of 365d'],
  ])('refuses %j', (text, reason) => {
    const result = tryParseDuration(text);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toContain(reason);
    expect(() => parseDuration(text)).toThrow(RangeError);
  });

  it.each([
    [0, '0s'],
    [5_400_000, '1h30m'],
    [1_500, '1s500ms'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
