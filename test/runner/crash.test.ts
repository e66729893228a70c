/**
 * Crash safety (issue 4, item 9): `revroll run` is killed with SIGKILL at many points of a run
 * against the sandbox and restarted each time. The run must finish with the same cluster state
 * as an uninterrupted run, with no workload restarted more than once, and a second runner must
 * never act while the first holds the lease.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, STATE_NS, type Harness } from '../helpers/runner-harness.ts';
import { Resources } from '../../src/ports/cluster.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

const POLICY = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: crash}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha, delta]}, bake: 300ms}
    - {name: second, namespaces: {names: [bravo, charlie]}, bake: 300ms}
  gates: {warmup: 200ms}
  gateways: [{name: istio-ingressgateway, upgrade: withFirstWave}]
`;

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((x) => x.close()));
});

type Outcome = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** Runs `revroll run` as a real process; kills it with SIGKILL after `killAfter` more API requests. */
function runProcess(h: Harness, policyFile: string, killAfter?: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const start = h.sandbox.api.requests.length;
    const child = spawn(
      process.execPath,
      [MAIN, 'run', policyFile, '--kubeconfig', h.kubeconfigFile, '--state-namespace', STATE_NS],
      {
        env: { ...process.env, REVROLL_LEASE_TTL_SECONDS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const watcher =
      killAfter === undefined
        ? undefined
        : setInterval(() => {
            if (h.sandbox.api.requests.length - start >= killAfter) child.kill('SIGKILL');
          }, 2);
    child.on('exit', (code, signal) => {
      if (watcher) clearInterval(watcher);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The parts of the cluster a run decides: labels, tags, proxy revisions, restart counts. */
async function fingerprint(h: Harness) {
  const namespaces: Record<string, Record<string, string | undefined>> = {};
  const revisions: Record<string, string[]> = {};
  for (const ns of ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'legacy']) {
    const labels = await h.namespaceLabels(ns);
    namespaces[ns] = {
      'istio-injection': labels['istio-injection'],
      'istio.io/rev': labels['istio.io/rev'],
      team: labels.team,
    };
    revisions[ns] = [...new Set(await h.podRevisions(ns))];
  }
  const generations: Record<string, number | undefined> = {};
  for (const kind of ['deployments', 'statefulsets', 'daemonsets'] as const) {
    for (const w of await h.cluster.list(Resources[kind])) {
      if (w.metadata.namespace === 'istio-system' && w.metadata.name?.startsWith('istiod')) continue;
      generations[`${kind}/${w.metadata.namespace}/${w.metadata.name}`] = w.metadata.generation;
    }
  }
  const gateway = await h.workload('deployments', 'istio-system', 'istio-ingressgateway');
  return {
    namespaces,
    revisions,
    generations,
    tags: await h.tags(),
    gatewayRev: (gateway?.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata
      .labels['istio.io/rev'],
  };
}

describe('crash safety', () => {
  it('finishes with the same cluster state as an uninterrupted run when killed at many points', async () => {
    const reference = await createHarness();
    harnesses.push(reference);
    const referenceFile = join(dirname(reference.kubeconfigFile), 'policy.yaml');
    writeFileSync(referenceFile, POLICY);
    const begin = reference.sandbox.api.requests.length;
    const clean = await runProcess(reference, referenceFile);
    expect(clean.code, clean.stderr).toBe(0);
    const totalRequests = reference.sandbox.api.requests.length - begin;
    await reference.sandbox.waitForIdle();
    const expected = await fingerprint(reference);

    const h = await createHarness();
    harnesses.push(h);
    const file = join(dirname(h.kubeconfigFile), 'policy.yaml');
    writeFileSync(file, POLICY);
    // Kill points: after a growing number of requests of each new process, so the kills land
    // everywhere from the precheck to the promotion (each restart resumes where the last stopped).
    const step = Math.max(3, Math.round(totalRequests / 30));
    const killPoints = Array.from({ length: 12 }, (_, i) => 3 + i * step);
    let kills = 0;
    let finished: Outcome | undefined;
    for (let attempt = 0; attempt < 60 && !finished; attempt++) {
      const killAfter = killPoints[kills];
      const outcome = await runProcess(h, file, killAfter);
      if (outcome.signal === 'SIGKILL') {
        kills += 1;
        continue;
      }
      if (outcome.code === 0) {
        finished = outcome;
        break;
      }
      // The killed runner's lease has not expired yet: the new one must refuse to act.
      expect(outcome.stderr).toMatch(/another revroll .* is running policy crash.*not acting/);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(kills).toBeGreaterThanOrEqual(8);
    expect(finished?.stdout).toMatch(/promoted: promoted 1-25-1/);
    await h.sandbox.waitForIdle();
    const actual = await fingerprint(h);
    expect(actual).toEqual(expected);
    // No workload restarted more than necessary: moved ones exactly once (generation 2), others never.
    for (const [id, generation] of Object.entries(actual.generations)) {
      const moved = /\/(alpha|bravo|charlie|delta)\//.test(id) && !id.endsWith('/batch');
      expect(generation, id).toBe(moved || id.includes('istio-ingressgateway') ? 2 : 1);
    }
  });
});
