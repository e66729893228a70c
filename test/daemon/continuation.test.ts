/**
 * A run started by the CLI is continued by the daemon (issue 12 item 5): `revroll run
 * --prometheus-url U` stops at an approval, then `revroll serve --prometheus-url U` with the same
 * policy file finishes it. A flag override never changes a policy's identity, so the daemon does
 * not see "policy changed while its run is active".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.ts';
import type { RunState } from '../../src/engine/state.ts';
import { cleanups, createHarness, policyYaml, runCleanups, startDaemon, waitFor } from './harness.ts';

afterEach(runCleanups);

describe('a CLI run continued by the daemon', () => {
  it('keeps the policy identity across --prometheus-url on both paths', async () => {
    const h = await createHarness();
    cleanups.push(() => h.close());
    const policiesDir = join(h.dir, 'policies');
    mkdirSync(policiesDir);
    const file = join(policiesDir, 'handover.yaml');
    writeFileSync(
      file,
      policyYaml('handover', {
        waves: [
          { name: 'first', names: ['catalog'], bake: '1s' },
          { name: 'rest', names: ['reviews'], bake: '1s' },
        ],
        schedule: '    cron: "* * * * *"\n',
        extra: '  approvals: {beforeFirstWave: true, timeout: 1h}\n',
      }),
    );
    const url = 'http://127.0.0.1:9';
    let err = '';
    const io = {
      out: () => undefined,
      err: (t: string) => void (err += t),
      isTty: false,
      env: {},
      cwd: h.dir,
    };
    const args = ['--kubeconfig', h.kubeconfigFile, '--prometheus-url', url];
    expect(await runCli(['run', file, ...args], io), err).toBe(4);
    expect(await runCli(['approve', 'handover', '--as', 'operator', '--kubeconfig', h.kubeconfigFile], io), err).toBe(
      0,
    );
    const started = (await h.state('handover')) as RunState;

    const daemon = startDaemon(h, policiesDir, ['--prometheus-url', url]);
    await daemon.url;
    await waitFor(async () => (await h.state('handover'))?.phase === 'Promoted', 'the daemon to promote', 45_000).catch(
      (error: unknown) => {
        throw new Error(`${(error as Error).message}; daemon log:\n${daemon.logs()}`);
      },
    );
    expect((await h.state('handover'))?.runId).toBe(started.runId);
    expect(daemon.logs()).not.toMatch(/changed while its run is active/);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exit).toBe(0);
  });
});
