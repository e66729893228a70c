import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../src/errors.ts';
import { loadPolicyText } from '../../src/policy/load.ts';

const dir = new URL('../../policies/', import.meta.url);
const files = readdirSync(dir)
  .filter((name) => name.endsWith('.yaml'))
  .sort();

describe('policies/', () => {
  it('holds the documented examples', () => {
    expect(files).toEqual(expect.arrayContaining(['demo.yaml', 'minimal.yaml', 'nightly.yaml', 'tags.yaml']));
  });

  it.each(files)('%s is valid, warning-free and points editors at the schema', (name) => {
    const text = readFileSync(new URL(name, dir), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/policy.schema.json');
    const result = loadPolicyText(text, `policies/${name}`);
    expect(result.problems.map(formatProblem)).toEqual([]);
    expect(result.warnings.map(formatProblem)).toEqual([]);
    expect(result.policy?.kind).toBe('UpgradePolicy');
  });

  it('demo.yaml fits the sandbox demo scenario', () => {
    const { policy } = loadPolicyText(readFileSync(new URL('demo.yaml', dir), 'utf8'), 'demo.yaml');
    const names =
      policy?.spec.waves.flatMap((wave) => (wave.namespaces.kind === 'names' ? wave.namespaces.names : [])) ?? [];
    // Twelve injected namespaces and the ambient one, whose waypoint the second wave moves.
    expect(names).toHaveLength(13);
    expect(policy?.spec.waves[1]?.namespaces).toMatchObject({ names: expect.arrayContaining(['recommendations']) });
    expect(policy?.spec.waves[0]?.namespaces).toEqual({ kind: 'names', names: ['catalog', 'reviews', 'ratings'] });
    expect(policy?.spec.waves.map((wave) => wave.bake)).toEqual([20_000, 20_000, 20_000]);
    expect(policy?.spec.gates).toMatchObject({ interval: 5_000, warmup: 5_000 });
    expect(policy?.spec.gates.checks.map((check) => [check.preset, check.window])).toEqual([
      ['proxy-5xx-ratio', 30_000],
      ['proxy-p99-latency', 30_000],
    ]);
    expect(policy?.spec.gateways).toEqual([
      { name: 'istio-ingressgateway', namespace: 'istio-system', kind: 'Deployment', upgrade: 'onPromote' },
    ]);
    expect(policy?.spec.gatewayApi).toMatchObject({
      mode: 'pinned',
      order: 'after-waves',
      warmup: 5_000,
      bake: 20_000,
    });
    expect(policy?.spec.gatewayApi.gates.map((check) => check.name)).toEqual(['gateway-error-ratio']);
  });

  it('nightly.yaml exercises schedules, Slack references and a custom query', () => {
    const { policy } = loadPolicyText(readFileSync(new URL('nightly.yaml', dir), 'utf8'), 'nightly.yaml');
    expect(policy?.spec.schedule?.freeze[0]).toEqual({
      from: '2025-12-19T00:00',
      to: '2026-01-05T00:00',
      reason: 'year-end change freeze',
    });
    expect(policy?.spec.notify.slack?.botToken).toEqual({ env: 'SLACK_BOT_TOKEN' });
    expect(policy?.spec.gates.checks.some((check) => check.query?.includes('{{namespaces}}'))).toBe(true);
    expect(policy?.spec.waves[2]?.approval).toEqual({ required: true, timeout: 7_200_000, onTimeout: 'rollback' });
  });
});
