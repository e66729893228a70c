/**
 * Injected API faults: errors (429 with Retry-After, 500, 409) at a configurable rate, filtered
 * by verb and resource, and added latency. The options object is live: tests and scenarios flip
 * faults on and off while the server runs.
 */
import { ApiError, type StatusDetails } from './status.ts';

export type FaultCode = 429 | 500 | 409;

export type ApiFaults = {
  /** 0..1 probability that a matching request fails. */
  errorRate: number;
  /** Which error to return (chosen at random among these); 429 carries Retry-After: 1. */
  codes: FaultCode[];
  /** Kubernetes verbs affected (default: all but watch). */
  verbs?: string[];
  /** Resources affected, as `plural` or `plural.group` (default: all). */
  resources?: string[];
  /** Latency added to every request. */
  latencyMs?: number;
};

export function noFaults(): ApiFaults {
  return { errorRate: 0, codes: [] };
}

export type FaultTarget = { verb: string; resourceKey: string; group: string; plural: string; name?: string };

function applies(faults: ApiFaults, target: FaultTarget): boolean {
  if (faults.errorRate <= 0 || faults.codes.length === 0) return false;
  const verbs = faults.verbs ?? ['get', 'list', 'create', 'update', 'patch', 'delete', 'deletecollection'];
  if (!verbs.includes(target.verb)) return false;
  if (faults.resources && !faults.resources.includes(target.resourceKey)) return false;
  return faults.errorRate >= 1 || Math.random() < faults.errorRate;
}

/** The injected error for this request, if the dice say so. */
export function injectedFault(
  faults: ApiFaults,
  target: FaultTarget,
  random: () => number = Math.random,
): ApiError | undefined {
  if (!applies(faults, target)) return undefined;
  const code = faults.codes[Math.floor(random() * faults.codes.length)] ?? faults.codes[0];
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
    default:
      return new ApiError(500, 'InternalError', 'Internal error occurred: injected fault (revroll sandbox)', {
        ...details,
        causes: [{ reason: '', message: 'injected fault', field: '' }],
      });
  }
}

export function delay(ms: number | undefined): Promise<void> {
  return ms && ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
