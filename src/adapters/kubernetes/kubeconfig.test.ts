import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../errors.ts';
import { loadKubeConfig } from './kubeconfig.ts';

const config = (server: string, contexts: string[] = ['one']) => `apiVersion: v1
kind: Config
clusters:
${contexts.map((c) => `- name: ${c}\n  cluster: {server: "${server}/${c}", insecure-skip-tls-verify: true}`).join('\n')}
users:
- name: u
  user: {token: t}
contexts:
${contexts.map((c) => `- name: ${c}\n  context: {cluster: ${c}, user: u}`).join('\n')}
current-context: ${contexts[0]}
`;

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'revroll-kc-'));
}

describe('loadKubeConfig', () => {
  it('prefers --kubeconfig, then KUBECONFIG, then ~/.kube/config', () => {
    const d = dir();
    writeFileSync(join(d, 'flag'), config('http://127.0.0.1:1'));
    writeFileSync(join(d, 'env'), config('http://127.0.0.1:2'));
    mkdirSync(join(d, '.kube'));
    writeFileSync(join(d, '.kube', 'config'), config('http://127.0.0.1:3'));
    const env = { KUBECONFIG: join(d, 'env'), HOME: d };
    expect(loadKubeConfig({ file: join(d, 'flag'), env }).server).toBe('http://127.0.0.1:1/one');
    expect(loadKubeConfig({ env }).server).toBe('http://127.0.0.1:2/one');
    expect(loadKubeConfig({ env: { HOME: d } }).server).toBe('http://127.0.0.1:3/one');
  });

  it('switches context with --context and names the known ones when it does not exist', () => {
    const d = dir();
    writeFileSync(join(d, 'kc'), config('http://127.0.0.1:4', ['one', 'two']));
    expect(loadKubeConfig({ file: join(d, 'kc'), context: 'two', env: {} }).server).toBe('http://127.0.0.1:4/two');
    expect(() => loadKubeConfig({ file: join(d, 'kc'), context: 'three', env: {} })).toThrow(
      /context "three" is not in .* \(contexts: one, two\)/,
    );
  });

  it('gives one clear sentence when there is no configuration at all or the file is missing', () => {
    const d = dir();
    expect(() => loadKubeConfig({ env: { HOME: d } })).toThrow(UsageError);
    expect(() => loadKubeConfig({ env: { HOME: d } })).toThrow(/no Kubernetes configuration found/);
    expect(() => loadKubeConfig({ file: join(d, 'missing'), env: {} })).toThrow(
      /kubeconfig file .*missing does not exist/,
    );
    writeFileSync(join(d, 'bad'), ':::not yaml');
    expect(() => loadKubeConfig({ file: join(d, 'bad'), env: {} })).toThrow(UsageError);
  });
});
