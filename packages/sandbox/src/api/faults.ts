/**
 * Injected API faults, the failures real clusters produce: Status errors (429 with Retry-After,
 * 500, 409, 503, 504) at a rate, connections reset mid-response, writes that are committed but
 * whose response is lost (reset, or held until the client gives up), slow responses (fixed or a
 * range), and watches dropped after N events or a time. Filters by verb and resource.
 *
 * Every decision comes from seeded dice: the same seed and the same requests give the same
 * faults, so a failing run can be replayed. The settings object is live: tests and scenarios flip
 * faults on and off while the server runs (reseed after changing them).
 */
import { ApiError, type StatusDetails } from './status.ts';
import type { WatchFaults } from './watch.ts';

export type FaultCode = 429 | 500 | 409 | 503 | 504;

export type ApiFaults = {
  /** 0..1 probability that a matching request fails with one of `codes`. */
  errorRate: number;
  /** Which error to return (chosen by the dice among these); 429 carries Retry-After: 1. */
  codes: FaultCode[];
  /** Kubernetes verbs affected (default: all but watch). */
  verbs?: string[];
  /** Resources affected, as `plural` or `plural.group` (default: all). */
  resources?: string[];
  /** Latency added to every request: fixed, or drawn in [min, max]. */
  latencyMs?: number | { min: number; max: number };
  /** Seed of the dice (default 1). */
  seed?: number;
  /** 0..1 probability that a matching request's connection is reset mid-response, unapplied. */
  resetRate?: number;
  /** 0..1 probability that a matching write is applied and its response lost. */
  lostResponseRate?: number;
  /** How a lost response looks to the client: a reset (default) or silence until it times out. */
  lostResponse?: 'reset' | 'hang';
  /** How long a `hang` holds the connection before closing it (default 60 s). */
  hangMs?: number;
  /** Open watches drop after this many events or this long. */
  watch?: WatchFaults;
};

export function noFaults(): ApiFaults {
  return { errorRate: 0, codes: [] };
}

export type FaultTarget = { verb: string; resourceKey: string; group: string; plural: string; name?: string };

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type FaultDice = { random: () => number; reseed(seed: number | undefined): void };

export function createDice(seed?: number): FaultDice {
  const dice: FaultDice = {
    random: seededRandom(seed ?? 1),
    reseed(next) {
      dice.random = seededRandom(next ?? 1);
    },
  };
  return dice;
}

const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export type FaultDecision = {
  /** Destroy the connection mid-response without handling the request. */
  reset: boolean;
  /** Answer with this error instead of handling the request. */
  error?: ApiError;
  /** Handle the request, then lose the response. */
  lose?: 'reset' | 'hang';
};

function matches(faults: ApiFaults, target: FaultTarget): boolean {
  const verbs = faults.verbs ?? ['get', 'list', 'create', 'update', 'patch', 'delete', 'deletecollection'];
  if (!verbs.includes(target.verb)) return false;
  return !faults.resources || faults.resources.includes(target.resourceKey);
}

/** The latency of one request (drawn when a range is set). */
export function latencyFor(faults: ApiFaults, dice: FaultDice): number {
  const latency = faults.latencyMs;
  if (latency === undefined) return 0;
  if (typeof latency === 'number') return latency;
  return latency.min + dice.random() * Math.max(0, latency.max - latency.min);
}

/** What happens to a resource request. The dice are thrown the same number of times for every matching request. */
export function decideFault(faults: ApiFaults, dice: FaultDice, target: FaultTarget): FaultDecision {
  const active = faults.errorRate > 0 || (faults.resetRate ?? 0) > 0 || (faults.lostResponseRate ?? 0) > 0;
  if (!active || !matches(faults, target)) return { reset: false };
  const [resetDie, errorDie, codeDie, loseDie] = [dice.random(), dice.random(), dice.random(), dice.random()];
  if (resetDie < (faults.resetRate ?? 0)) return { reset: true };
  if (faults.codes.length > 0 && errorDie < faults.errorRate) {
    const code = faults.codes[Math.floor(codeDie * faults.codes.length)] ?? faults.codes[0];
    return { reset: false, error: faultError(code ?? 500, target) };
  }
  if (WRITES.has(target.verb) && loseDie < (faults.lostResponseRate ?? 0))
    return { reset: false, lose: faults.lostResponse ?? 'reset' };
  return { reset: false };
}

function faultError(code: FaultCode, target: FaultTarget): ApiError {
  const details: StatusDetails = {
    ...(target.name ? { name: target.name } : {}),
    ...(target.group ? { group: target.group } : {}),
    kind: target.plural,
  };
  switch (code) {
    case 429:
      return new ApiError(
        429,
        'TooManyRequests',
        'Too many requests, please try again later.',
        { ...details, retryAfterSeconds: 1 },
        { 'Retry-After': '1' },
      );
    case 409:
      return new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${target.resourceKey} "${target.name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`,
        details,
      );
    case 503:
      // What an apiserver answers while it cannot serve (errors.NewServiceUnavailable).
      return new ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    case 504:
      // The request-timeout filter's answer (errors.NewTimeoutError with no retry hint).
      return new ApiError(504, 'Timeout', 'Timeout: request did not complete within the allotted timeout', {});
    case 500:
      return new ApiError(500, 'InternalError', 'Internal error occurred: injected fault (revroll sandbox)', {
        ...details,
        causes: [{ message: 'injected fault' }],
      });
  }
}

export function delay(ms: number | undefined): Promise<void> {
  return ms && ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
