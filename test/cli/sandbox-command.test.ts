import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sandboxCommand } from '../../src/cli/commands/sandbox.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { createKubectl, until } from '../../packages/sandbox/test/sim/helpers.ts';

describe('revroll sandbox', () => {
  it('starts the scenario, writes the kubeconfig, prints how to use it, and stops on abort', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-cli-sandbox-'));
    let out = '';
    let err = '';
    const io: CliIo = { out: (t) => (out += t), err: (t) => (err += t), isTty: false, env: {}, cwd: dir };
    const stop = new AbortController();
    const running = sandboxCommand({ scenario: 'demo', kubeconfigOut: 'kc.yaml', startLatencyMs: 20 }, io, stop.signal);
    await until(() => out.includes('Press Ctrl-C to stop.'), 20_000, 'startup banner');

    const kubeconfigPath = join(dir, 'kc.yaml');
    expect(out).toContain(`kubeconfig:  ${kubeconfigPath}`);
    expect(out).toContain(`KUBECONFIG=${kubeconfigPath} kubectl get ns`);
    expect(out).toMatch(/metrics: {5}http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const k = createKubectl(readFileSync(kubeconfigPath, 'utf8'));
    try {
      const ns = await k.kubectl('get', 'ns', 'shop-frontend', '-o', 'jsonpath={.metadata.labels.istio-injection}');
      expect(ns).toMatchObject({ code: 0, stdout: 'enabled' });
    } finally {
      k.dispose();
    }

    stop.abort();
    await expect(running).resolves.toBe(0);
    expect(out).toContain('revroll sandbox: stopping');
    expect(err).toBe('');
  });

  it('rejects an unknown scenario as invalid input', async () => {
    const io: CliIo = { out: () => {}, err: () => {}, isTty: false, env: {}, cwd: tmpdir() };
    await expect(sandboxCommand({ scenario: 'nope' }, io, AbortSignal.abort())).rejects.toThrow(
      /scenario "nope" is neither a built-in/,
    );
  });
});
