import { describe, expect, it } from 'vitest';
import { applyOverrides, policyIdentity } from './identity.ts';
import { loadPolicyText } from './load.ts';
import type { Policy } from './types.ts';

function load(extra = '', bake = '1m'): Policy {
  const result = loadPolicyText(
    `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: id}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: one, namespaces: {percent: 100}, bake: ${bake}}
${extra}`,
    'id.yaml',
  );
  if (!result.policy) throw new Error(result.problems.map((p) => p.message).join('; '));
  return result.policy;
}

describe('policy identity', () => {
  it('is the same with or without a --prometheus-url override, on a policy with or without spec.prometheus', () => {
    const bare = load();
    const withUrl = load('  prometheus: {url: "http://127.0.0.1:9090"}\n');
    const overridden = applyOverrides(bare, { prometheusUrl: 'http://127.0.0.1:9091' });
    expect(overridden.spec.prometheus?.url).toBe('http://127.0.0.1:9091');
    expect(bare.spec.prometheus).toBeUndefined(); // the input is not changed
    expect(policyIdentity(overridden)).toBe(policyIdentity(bare));
    expect(policyIdentity(applyOverrides(withUrl, { prometheusUrl: 'http://127.0.0.1:1' }))).toBe(
      policyIdentity(withUrl),
    );
    expect(applyOverrides(bare, {})).toBe(bare);
  });

  it('changes with what the run does', () => {
    expect(policyIdentity(load('', '2m'))).not.toBe(policyIdentity(load()));
  });
});
