import { describe, expect, it } from 'vitest';
import { formatProblem, PolicyError } from '../errors.ts';
import { loadPolicyText, MAX_POLICY_BYTES, requirePolicyText } from './load.ts';

const VALID = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata:
  name: demo
spec:
  revisions:
    from: 1-24-3
    to: 1-25-1
  waves:
    - name: first
      namespaces:
        names: [catalog]
      bake: 1h30m
  gates:
    checks:
      - name: errors
        preset: proxy-5xx-ratio
        threshold: {max: 0.01}
  prometheus:
    url: http://prometheus:9090
`;

/** Replaces one line of VALID (1-based) so cases read as "line N now says...". */
function withLine(line: number, text: string): string {
  const lines = VALID.split('\n');
  lines[line - 1] = text;
  return lines.join('\n');
}

function formatted(text: string): string[] {
  return loadPolicyText(text, 'p.yaml').problems.map(formatProblem);
}

describe('src/policy/load', () => {
  it('loads a valid policy with durations in milliseconds and defaults filled', () => {
    const { policy, problems, warnings } = loadPolicyText(VALID, 'p.yaml');
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(policy?.spec.waves[0]?.bake).toBe(5_400_000);
    expect(policy?.spec.waves[0]?.namespaces).toEqual({ kind: 'names', names: ['catalog'] });
    expect(policy?.spec.gates).toMatchObject({
      interval: 60_000,
      warmup: 120_000,
      failureLimit: 1,
      consecutiveErrorLimit: 4,
      onNoData: 'hold',
    });
    expect(policy?.spec.gates.checks[0]).toMatchObject({
      baseline: 'none',
      window: 300_000,
      minTraffic: 1,
      shadow: false,
    });
    expect(policy?.spec.promote).toMatchObject({
      tags: ['default'],
      approval: { required: false, timeout: 14_400_000, onTimeout: 'hold' },
    });
    expect(policy?.spec.install).toMatchObject({ mode: 'external', args: [], readyTimeout: 600_000 });
  });

  it.each([
    [
      'an unknown key, with a hint',
      withLine(13, '      bak: 1h'),
      'p.yaml:13:7 spec.waves[0].bak: unknown field "bak"; did you mean "bake"?',
    ],
    [
      'a missing key, at the parent mapping',
      withLine(8, ''),
      'p.yaml:7:5 spec.revisions.to: required field is missing',
    ],
    [
      'a bad enum value',
      withLine(17, '        preset: proxy-5xx'),
      'p.yaml:17:17 spec.gates.checks[0].preset: must be one of "proxy-5xx-ratio", "proxy-p99-latency", "istiod-xds-rejects", "istiod-push-errors", "proxy-convergence-p99", "sidecar-injection-failures", "gateway-5xx-ratio", "gateway-p99-latency", "waypoint-5xx-ratio", "waypoint-p99-latency", "ztunnel-connection-failures"',
    ],
    [
      'a bare-number duration',
      withLine(13, '      bake: 600'),
      'p.yaml:13:13 spec.waves[0].bake: a duration needs a unit: write e.g. "600s" or "600m", not a bare number',
    ],
    [
      'a dotted revision',
      withLine(8, '    to: 1.25.1'),
      'p.yaml:8:9 spec.revisions.to: revision "1.25.1" contains dots: Istio revision names use dashes (e.g. 1-25-1)',
    ],
    [
      'a wrong apiVersion',
      withLine(1, 'apiVersion: revroll.dev/v1'),
      'p.yaml:1:13 apiVersion: must be "revroll.dev/v1alpha1"',
    ],
    [
      'a literal secret',
      `${VALID}  notify:\n    slack:\n      channel: "#mesh"\n      botToken: xoxb-1234\n`,
      'p.yaml:24:17 spec.notify.slack.botToken: secrets are never written in policy files: reference one as {env: NAME} or {file: /path/to/secret}',
    ],
    ['a duplicate key', withLine(13, '      name: again'), 'p.yaml:13:7 YAML: Map keys must be unique'],
    [
      'a YAML syntax error',
      withLine(12, '        names: [catalog'),
      'p.yaml:13:7 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    [
      'a second document',
      `${VALID}---\nkind: Other\n`,
      'p.yaml:21:1 the file holds 2 YAML documents; a policy file holds exactly one',
    ],
    ['a scalar document', 'just a string', 'p.yaml:1:1 expected a mapping, got a string ("just a string")'],
    ['an empty file', '', 'p.yaml:1:1 the file is empty: expected an UpgradePolicy document'],
    ['a file of comments', '# nothing\n', 'p.yaml:1:1 the file is empty: expected an UpgradePolicy document'],
    ['an empty document', '---\n', 'p.yaml:1:1 the document is empty: expected an UpgradePolicy document'],
  ])('reports %s', (_name, text, expected) => {
    expect(formatted(text)).toContain(expected);
  });

  it('points a PromQL error at its character in a literal block', () => {
    const text = VALID.replace(
      '        preset: proxy-5xx-ratio\n',
      '        query: |\n          sum(rate(x[{{window}}]))\n          / sum(rate(y[5m]) by (a)\n',
    );
    const problems = formatted(text);
    expect(problems).toEqual(['p.yaml:19:29 spec.gates.checks[0].query: PromQL syntax error: unexpected "by"']);
  });

  it('reports every schema problem at once, sorted by position', () => {
    const text = withLine(4, '  name: Not_Valid')
      .replace('bake: 1h30m', 'bake: soon')
      .replace('max: 0.01', 'max: high');
    const problems = loadPolicyText(text, 'p.yaml').problems;
    expect(problems.map((problem) => problem.path)).toEqual([
      'metadata.name',
      'spec.waves[0].bake',
      'spec.gates.checks[0].threshold.max',
    ]);
    expect(problems.every((problem) => problem.location !== undefined && problem.message !== '')).toBe(true);
  });

  it('ends an alias bomb in one clean problem', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 9; level += 1) {
      const previous = String.fromCharCode(96 + level);
      levels.push(
        `${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${Array(9).fill(`*${previous}`).join(', ')}]`,
      );
    }
    const problems = formatted(levels.join('\n'));
    expect(problems).toEqual([
      'p.yaml:1:1 YAML aliases expand to more than 100 nodes; refusing to expand them (an alias bomb?)',
    ]);
  });

  it('refuses files over the size limit before parsing them', () => {
    const problems = formatted(`a: "${'x'.repeat(MAX_POLICY_BYTES)}"`);
    expect(problems).toEqual([
      `p.yaml:1:1 the file is ${MAX_POLICY_BYTES + 5} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`,
    ]);
  });

  it('requirePolicyText throws a PolicyError carrying every problem', () => {
    const text = withLine(8, '    to: 1-24-3').replace('bake: 1h30m', 'bake: 0x');
    expect(() => requirePolicyText(text, 'p.yaml')).toThrow(PolicyError);
    try {
      requirePolicyText(text, 'p.yaml');
    } catch (error) {
      expect((error as PolicyError).problems.map((problem) => problem.path)).toEqual(['spec.waves[0].bake']);
    }
    expect(requirePolicyText(VALID, 'p.yaml').policy.metadata.name).toBe('demo');
  });
});
