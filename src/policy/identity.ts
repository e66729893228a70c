/**
 * A policy's identity, and the command-line overrides that must not change it. A run remembers
 * the identity of the policy it started with and refuses to continue under another one; an
 * override (`--prometheus-url`) says where to reach a service, not what the run does, so every
 * path (`revroll run`, `plan`, `serve`, `demo`) applies overrides with `applyOverrides` and
 * hashes with `policyIdentity`, which leaves the overridable settings out.
 */
import { createHash } from 'node:crypto';
import type { Policy } from './types.ts';

/** What the command line may override. */
export type PolicyOverrides = { prometheusUrl?: string };

/** Prometheus settings when the policy has none and a flag gives the URL. */
const PROMETHEUS_DEFAULTS = { timeout: 10_000, tls: { insecureSkipVerify: false }, headers: {} };

/** A copy of the policy with the overrides applied (the input is not changed). */
export function applyOverrides(policy: Policy, overrides: PolicyOverrides): Policy {
  if (!overrides.prometheusUrl) return policy;
  const prometheus = { ...(policy.spec.prometheus ?? PROMETHEUS_DEFAULTS), url: overrides.prometheusUrl };
  return { ...policy, spec: { ...policy.spec, prometheus } };
}

/**
 * The spec as identity sees it. `spec.prometheus` is left out whole: it says how to reach
 * Prometheus (URL, credentials, TLS, timeouts), which a flag may override, not what the run
 * does (the gates are `spec.gates`).
 */
export function identitySpec(policy: Policy): unknown {
  const { prometheus: _connection, ...rest } = policy.spec;
  return rest;
}

/** Hash of the policy's identity: a resumed run refuses to continue under a changed policy. */
export function policyIdentity(policy: Policy): string {
  return createHash('sha256')
    .update(JSON.stringify(identitySpec(policy)))
    .digest('hex')
    .slice(0, 16);
}
