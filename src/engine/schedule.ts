/**
 * Time arithmetic of a policy's schedule (DESIGN section 6), pure: every function takes `now`.
 * Windows and freezes are written in local time of the schedule's IANA zone; this module turns
 * them into instants and answers the daemon's questions: is it open now, when does the open
 * period close (the engine's `windowClosesAt`), when does it open next, when would a wave of a
 * given length fit, and when does cron fire next.
 *
 * Open periods are the maintenance windows (or all time when there are none) minus the freezes,
 * with overlapping or touching windows merged: a wave may run through back-to-back windows.
 * Local times that do not exist (the spring DST gap) resolve one hour later; ambiguous ones
 * (autumn) resolve to one of their two occurrences.
 */
import { CronTime } from 'cron';
import type { DecideContext } from './decide.ts';
import type { Schedule } from '../policy/types.ts';

/** A half-open interval [from, to) in epoch milliseconds; `to` may be +Infinity. */
type Span = { from: number; to: number };

export type ScheduleStatus =
  | { open: true; /** End of the open period; undefined = never closes. */ closesAt?: Date }
  | {
      open: false;
      /** Why waves may not start now (for holds, logs and the runs API). */ reason: string;
      /** Next opening, if any within a year. */ opensAt?: Date;
    };

/** How far ahead openings are searched (freezes can be long; windows may be on one weekday only). */
const HORIZON_DAYS = 400;
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock fields of an instant in a zone. */
export function localParts(
  instant: number,
  timeZone: string,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const fields: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? 1970,
    month: fields.month ?? 1,
    day: fields.day ?? 1,
    hour: fields.hour ?? 0,
    minute: fields.minute ?? 0,
    second: fields.second ?? 0,
  };
}

/** `YYYY-MM-DDTHH:MM` wall-clock time of an instant in a zone (the format freezes are written in). */
export function localDateTime(date: Date, timeZone: string): string {
  const p = localParts(date.getTime(), timeZone);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

/** Zone offset at an instant, in ms (local wall clock minus UTC). */
function offsetAt(instant: number, timeZone: string): number {
  const p = localParts(instant, timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(instant / 1000) * 1000;
}

/** The instant of a wall-clock time in a zone (`day` may overflow: Date.UTC normalizes it). */
export function zonedInstant(year: number, month: number, day: number, minuteOfDay: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, 0, minuteOfDay);
  const guess = wall - offsetAt(wall, timeZone);
  const actual = offsetAt(guess, timeZone);
  if (actual === offsetAt(wall, timeZone)) return guess;
  const alternative = wall - actual;
  // Offsets on both sides of a transition: if the alternative is consistent it is the answer;
  // otherwise the wall time falls in a DST gap and the later instant is the shifted wall time.
  return offsetAt(alternative, timeZone) === actual ? alternative : Math.max(guess, alternative);
}

/** Parses a freeze bound (`YYYY-MM-DDTHH:MM`, local) into an instant. */
function freezeInstant(bound: string, timeZone: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?$/.exec(bound);
  if (!match) return Number.NaN;
  const [, y, m, d, hh, mm] = match;
  return zonedInstant(Number(y), Number(m), Number(d), Number(hh ?? 0) * 60 + Number(mm ?? 0), timeZone);
}

/** Maintenance windows opening on each local day from the day before `from`, in start order, merged. */
function* windowSpans(schedule: Schedule, from: number): Generator<Span> {
  if (schedule.windows.length === 0) {
    yield { from: Number.NEGATIVE_INFINITY, to: Number.POSITIVE_INFINITY };
    return;
  }
  const start = localParts(from, schedule.timeZone);
  let current: Span | undefined;
  for (let offset = -1; offset <= HORIZON_DAYS; offset++) {
    // Calendar arithmetic on a UTC date: only the year/month/day and weekday are used.
    const date = new Date(Date.UTC(start.year, start.month - 1, start.day + offset));
    const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    const weekday = WEEKDAYS[date.getUTCDay()] as (typeof WEEKDAYS)[number];
    const today: Span[] = [];
    for (const window of schedule.windows) {
      if (!(window.days as readonly string[]).includes(weekday)) continue;
      // End at or before start crosses midnight: the window closes on the next day.
      const crosses = window.endMinute <= window.startMinute;
      today.push({
        from: zonedInstant(y, m, d, window.startMinute, schedule.timeZone),
        to: zonedInstant(y, m, d + (crosses ? 1 : 0), window.endMinute, schedule.timeZone),
      });
    }
    today.sort((a, b) => a.from - b.from);
    for (const span of today) {
      if (span.to <= span.from) continue;
      if (current && span.from <= current.to) {
        current.to = Math.max(current.to, span.to);
        continue;
      }
      if (current) yield current;
      current = { ...span };
    }
  }
  if (current) yield current;
}

/** Open periods (windows minus freezes), in order, lazily. */
function* openSpans(schedule: Schedule, from: number): Generator<Span> {
  const freezes = schedule.freeze
    .map((f) => ({ from: freezeInstant(f.from, schedule.timeZone), to: freezeInstant(f.to, schedule.timeZone) }))
    .filter((f) => Number.isFinite(f.from) && Number.isFinite(f.to) && f.to > f.from)
    .sort((a, b) => a.from - b.from);
  for (const window of windowSpans(schedule, from)) {
    let pieces: Span[] = [window];
    for (const freeze of freezes) {
      pieces = pieces.flatMap((p) => {
        if (freeze.to <= p.from || freeze.from >= p.to) return [p];
        return [
          ...(freeze.from > p.from ? [{ from: p.from, to: freeze.from }] : []),
          ...(freeze.to < p.to ? [{ from: freeze.to, to: p.to }] : []),
        ];
      });
    }
    yield* pieces;
  }
}

function toDate(ms: number): Date | undefined {
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** The freeze covering `now`, if any. */
export function activeFreeze(schedule: Schedule, now: Date): Schedule['freeze'][number] | undefined {
  const t = now.getTime();
  return schedule.freeze.find(
    (f) => freezeInstant(f.from, schedule.timeZone) <= t && t < freezeInstant(f.to, schedule.timeZone),
  );
}

/** Whether waves may start now, and until when (or why not, and when next). */
export function scheduleStatus(schedule: Schedule, now: Date): ScheduleStatus {
  const t = now.getTime();
  for (const span of openSpans(schedule, t)) {
    if (span.to <= t) continue;
    if (span.from <= t) {
      const closesAt = toDate(span.to);
      return closesAt ? { open: true, closesAt } : { open: true };
    }
    return { open: false, reason: closedReason(schedule, now), opensAt: new Date(span.from) };
  }
  return { open: false, reason: closedReason(schedule, now) };
}

function closedReason(schedule: Schedule, now: Date): string {
  const freeze = activeFreeze(schedule, now);
  if (freeze) return `freeze until ${freeze.to} ${schedule.timeZone}: ${freeze.reason}`;
  return `outside the maintenance windows (${schedule.windows.map((w) => `${w.days.join(',')} ${w.start}-${w.end}`).join('; ')} ${schedule.timeZone})`;
}

/** Start of the open period containing `now` (undefined when closed or open since forever). */
export function openSince(schedule: Schedule, now: Date): Date | undefined {
  const t = now.getTime();
  for (const span of openSpans(schedule, t)) {
    if (span.to <= t) continue;
    return span.from <= t ? toDate(span.from) : undefined;
  }
  return undefined;
}

/** The earliest instant at or after `now` when waves may start; undefined if none within the horizon. */
export function nextOpening(schedule: Schedule, now: Date): Date | undefined {
  return nextFit(schedule, now, 0);
}

/**
 * The earliest instant at or after `now` from which `neededMs` (a wave's migration, warm-up and
 * bake) fits before the open period closes. A period that is too short is skipped whole.
 */
export function nextFit(schedule: Schedule, now: Date, neededMs: number): Date | undefined {
  const t = now.getTime();
  for (const span of openSpans(schedule, t)) {
    if (span.to <= t) continue;
    const at = Math.max(span.from, t);
    if (span.to - at >= Math.max(neededMs, 1)) return new Date(at);
  }
  return undefined;
}

/** True when a wave of `neededMs` may start now. */
export function waveFits(schedule: Schedule, now: Date, neededMs: number): boolean {
  return nextFit(schedule, now, neededMs)?.getTime() === now.getTime();
}

/** What the engine needs at `now` (RunOptions.schedule): no schedule means always open. */
export function engineWindow(
  schedule: Schedule | undefined,
  now: Date,
): Pick<DecideContext, 'windowClosesAt' | 'windowClosed'> {
  if (!schedule) return {};
  const status = scheduleStatus(schedule, now);
  if (!status.open) return { windowClosed: { reason: status.reason } };
  return status.closesAt ? { windowClosesAt: status.closesAt } : {};
}

const cronTimes = new Map<string, CronTime>();

/** The first cron fire strictly after `after`, in the schedule's zone. */
export function nextCronFire(schedule: Pick<Schedule, 'cron' | 'timeZone'>, after: Date): Date {
  const key = `${schedule.cron}\u0000${schedule.timeZone}`;
  let cron = cronTimes.get(key);
  if (!cron) {
    cron = new CronTime(schedule.cron, schedule.timeZone);
    cronTimes.set(key, cron);
  }
  return cron.getNextDateFrom(after, schedule.timeZone).toJSDate();
}
