import { describe, expect, it } from 'vitest';
import type { Schedule } from '../policy/types.ts';
import {
  engineWindow,
  localDateTime,
  nextCronFire,
  nextFit,
  nextOpening,
  openSince,
  scheduleStatus,
  waveFits,
  zonedInstant,
} from './schedule.ts';

const BERLIN = 'Europe/Berlin';
const allDays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

function window(start: string, end: string, days: readonly (typeof allDays)[number][] = allDays) {
  const minute = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  return { days: [...days], start, end, startMinute: minute(start), endMinute: minute(end) };
}

function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return { cron: '0 2 * * *', timeZone: BERLIN, windows: [window('02:00', '04:00')], freeze: [], ...overrides };
}

/** 2026-03-02 is a Monday; Berlin is UTC+1 until 2026-03-29, then UTC+2. */
const at = (iso: string) => new Date(iso);

describe('src/engine/schedule', () => {
  it('converts wall-clock times to instants across DST', () => {
    expect(new Date(zonedInstant(2026, 3, 2, 120, BERLIN)).toISOString()).toBe('2026-03-02T01:00:00.000Z');
    expect(new Date(zonedInstant(2026, 7, 1, 120, BERLIN)).toISOString()).toBe('2026-07-01T00:00:00.000Z');
    // 02:30 does not exist on 2026-03-29 in Berlin: it resolves one hour later (03:30 CEST).
    expect(new Date(zonedInstant(2026, 3, 29, 150, BERLIN)).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(localDateTime(at('2026-03-02T01:30:00Z'), BERLIN)).toBe('2026-03-02T02:30');
  });

  it.each([
    ['before the window', '2026-03-02T00:30:00Z', false, undefined, '2026-03-02T01:00:00.000Z'],
    ['at the opening', '2026-03-02T01:00:00Z', true, '2026-03-02T03:00:00.000Z', undefined],
    ['inside', '2026-03-02T02:59:00Z', true, '2026-03-02T03:00:00.000Z', undefined],
    ['at the closing (exclusive)', '2026-03-02T03:00:00Z', false, undefined, '2026-03-03T01:00:00.000Z'],
  ])('a 02:00-04:00 window: %s', (_name, now, open, closesAt, opensAt) => {
    const status = scheduleStatus(schedule(), at(now));
    expect(status.open).toBe(open);
    if (status.open) expect(status.closesAt?.toISOString()).toBe(closesAt);
    else expect(status.opensAt?.toISOString()).toBe(opensAt);
  });

  it('windows crossing midnight belong to the day they open on', () => {
    const s = schedule({ windows: [window('22:00', '02:00', ['fri'])] });
    // Saturday 2026-03-07 01:00 Berlin is inside Friday's window.
    expect(scheduleStatus(s, at('2026-03-07T00:00:00Z'))).toEqual({ open: true, closesAt: at('2026-03-07T01:00:00Z') });
    // Saturday 23:00: closed until next Friday 22:00.
    expect(scheduleStatus(s, at('2026-03-07T22:00:00Z'))).toMatchObject({
      open: false,
      opensAt: at('2026-03-13T21:00:00Z'),
    });
  });

  it('merges touching windows so a wave may run through both', () => {
    const s = schedule({ windows: [window('01:00', '02:00'), window('02:00', '04:00')] });
    expect(scheduleStatus(s, at('2026-03-02T00:30:00Z'))).toEqual({ open: true, closesAt: at('2026-03-02T03:00:00Z') });
    expect(openSince(s, at('2026-03-02T02:00:00Z'))?.toISOString()).toBe('2026-03-02T00:00:00.000Z');
  });

  it('no windows means open at any time, until a freeze', () => {
    const s = schedule({
      windows: [],
      freeze: [{ from: '2026-03-10T00:00', to: '2026-03-11T00:00', reason: 'release day' }],
    });
    expect(scheduleStatus(s, at('2026-03-02T12:00:00Z'))).toEqual({ open: true, closesAt: at('2026-03-09T23:00:00Z') });
    const frozen = scheduleStatus(s, at('2026-03-10T12:00:00Z'));
    expect(frozen).toMatchObject({ open: false, opensAt: at('2026-03-10T23:00:00Z') });
    expect(frozen.open ? '' : frozen.reason).toContain('release day');
    expect(engineWindow(undefined, at('2026-03-10T12:00:00Z'))).toEqual({});
  });

  it('a freeze day skips that night and clips a window it starts inside', () => {
    const s = schedule({
      freeze: [
        { from: '2026-03-03T00:00', to: '2026-03-04T00:00', reason: 'quarter close' },
        { from: '2026-03-05T03:00', to: '2026-03-05T05:00', reason: 'db migration' },
      ],
    });
    expect(nextOpening(s, at('2026-03-02T12:00:00Z'))?.toISOString()).toBe('2026-03-04T01:00:00.000Z');
    expect(engineWindow(s, at('2026-03-03T01:30:00Z')).windowClosed?.reason).toContain('quarter close');
    expect(engineWindow(s, at('2026-03-05T01:10:00Z'))).toEqual({ windowClosesAt: at('2026-03-05T02:00:00Z') });
  });

  it('finds the next time a wave fits before the window closes', () => {
    const s = schedule();
    const hour = 3_600_000;
    expect(waveFits(s, at('2026-03-02T01:30:00Z'), hour)).toBe(true);
    expect(waveFits(s, at('2026-03-02T02:10:00Z'), hour)).toBe(false);
    expect(nextFit(s, at('2026-03-02T02:10:00Z'), hour)?.toISOString()).toBe('2026-03-03T01:00:00.000Z');
    // Longer than any window: never.
    expect(nextFit(s, at('2026-03-02T02:10:00Z'), 3 * hour)).toBeUndefined();
  });

  it('computes cron fires in the policy time zone', () => {
    const s = schedule();
    expect(nextCronFire(s, at('2026-03-02T00:00:00Z')).toISOString()).toBe('2026-03-02T01:00:00.000Z');
    expect(nextCronFire(s, at('2026-03-02T01:00:00Z')).toISOString()).toBe('2026-03-03T01:00:00.000Z');
    // After the switch to summer time, 02:00 Berlin is 00:00 UTC.
    expect(nextCronFire(s, at('2026-04-01T12:00:00Z')).toISOString()).toBe('2026-04-02T00:00:00.000Z');
    expect(
      nextCronFire({ cron: '30 9 * * mon', timeZone: 'America/New_York' }, at('2026-03-02T00:00:00Z')).toISOString(),
    ).toBe('2026-03-02T14:30:00.000Z');
  });
});
