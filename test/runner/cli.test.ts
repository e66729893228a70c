/**
 * The CLI contract for plan, run, status and abort against the sandbox: outputs, exit codes,
 * and proof that `plan` and `run --dry-run` change nothing (the sandbox records every request).
 */
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { createHarness, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function capture(cwd: string): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    isTty: false,
    env: { REVROLL_LEASE_TTL_SECONDS: '2' },
    cwd,
    stdout: () => out,
    stderr: () => err,
  };
}

const POLICY = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: cli-run}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
    - {name: second, namespaces: {names: [bravo, charlie]}, bake: 100ms, approval: {required: true, timeout: 1h}}
  gates: {warmup: 100ms}
  gateways: [{name: istio-ingressgateway}]
`;

function writePolicy(harness: Harness, text = POLICY): string {
  const file = join(dirname(harness.kubeconfigFile), 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

describe('revroll plan', () => {
  it('lists waves, workloads, every mutation and the time arithmetic, and changes nothing', async () => {
    h = await createHarness();
    const file = writePolicy(h);
    h.sandbox.api.resetRequests();
    const io = capture(dirname(file));
    const code = await runCli(['plan', file, '--kubeconfig', h.kubeconfigFile], io);
    expect(io.stderr()).toMatch(
      /^\S+policy\.yaml:9:10 spec\.gates: no enforced gate checks: waves pass on convergence alone \(warning\)\n$/,
    );
    expect(code).toBe(0);
    const out = io.stdout();
    expect(out).toMatch(/Policy cli-run: 1-24-3 -> 1-25-1 \(labels strategy\)/);
    expect(out).toMatch(/1\. first: 1 namespace\(s\), 2 workload\(s\), 3 pod\(s\)/);
    expect(out).toMatch(/skipped deployment\/batch: pod template label sidecar.istio.io\/inject=false/);
    expect(out).toMatch(/label namespace alpha istio-injection- istio.io\/rev=1-25-1 \(was: istio-injection=enabled\)/);
    expect(out).toMatch(/rollout restart statefulset\/db -n bravo/);
    expect(out).toMatch(/promote: tag set default --revision 1-25-1 --overwrite \(was 1-24-3\)/);
    expect(out).toMatch(/promote: gateway istio-system\/istio-ingressgateway template istio.io\/rev=1-25-1/);
    expect(out).toMatch(/whole run at most/);
    const mutations = h.sandbox.api.requests.filter((r) => MUTATING.has(r.verb));
    expect(mutations).toEqual([]);
  });

  it('reports a wave naming a namespace that does not follow the old revision, with exit 1', async () => {
    h = await createHarness();
    const file = writePolicy(h, POLICY.replace('names: [alpha]', 'names: [legacy]'));
    const io = capture(dirname(file));
    const code = await runCli(['plan', file, '--kubeconfig', h.kubeconfigFile], io);
    expect(code).toBe(1);
    expect(io.stderr()).toMatch(
      /spec.waves\[0\].namespaces.names\[0\]: namespace legacy does not inject from revision 1-24-3 \(istio-injection=disabled\)/,
    );
  });

  it('exits 2 with file:line:col for an invalid policy', async () => {
    h = await createHarness();
    const file = writePolicy(h, POLICY.replace('bake: 100ms}', 'bake: soon}'));
    const io = capture(dirname(file));
    expect(await runCli(['plan', file, '--kubeconfig', h.kubeconfigFile], io)).toBe(2);
    expect(io.stderr()).toMatch(/policy\.yaml:7:\d+ spec\.waves\[0\]\.bake: /);
  });
});

describe('revroll run', () => {
  it('--dry-run plans and prechecks without a single mutation', async () => {
    h = await createHarness();
    const file = writePolicy(h);
    h.sandbox.api.resetRequests();
    const io = capture(dirname(file));
    const code = await runCli(
      ['run', file, '--dry-run', '--kubeconfig', h.kubeconfigFile, '--state-namespace', STATE_NS],
      io,
    );
    expect(io.stderr()).not.toMatch(/error|problem/);
    expect(code).toBe(0);
    expect(io.stdout()).toMatch(/Precheck: ok\. Dry run: nothing was changed\./);
    // SelfSubjectAccessReviews are creates that change nothing; nothing else may be a write.
    const writes = h.sandbox.api.requests.filter(
      (r) => MUTATING.has(r.verb) && r.resource !== 'selfsubjectaccessreviews',
    );
    expect(writes).toEqual([]);
  });

  it('--dry-run lists every missing permission found by the precheck, with exit 1', async () => {
    h = await createHarness();
    h.sandbox.api.denied.push(
      { verb: 'patch', group: '', resource: 'namespaces' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases' },
    );
    const file = writePolicy(h);
    const io = capture(dirname(file));
    const code = await runCli(
      ['run', file, '--dry-run', '--kubeconfig', h.kubeconfigFile, '--state-namespace', STATE_NS],
      io,
    );
    expect(code).toBe(1);
    expect(io.stdout()).toMatch(
      /Precheck failed:\n {2}- permission missing: patch namespaces \(cluster-wide\)\n {2}- permission missing: update leases.coordination.k8s.io in namespace revroll-system/,
    );
  });

  it('holds with exit 4 at an approval, continues after `revroll approve`, and promotes with exit 0', async () => {
    h = await createHarness();
    const file = writePolicy(h);
    const flags = ['--kubeconfig', h.kubeconfigFile, '--state-namespace', STATE_NS];
    const first = capture(dirname(file));
    expect(await runCli(['run', file, ...flags], first)).toBe(4);
    expect(first.stdout()).toMatch(/wave\/first\/bake\s+done/);
    expect(first.stderr()).toMatch(/held: waiting for approval of wave\/second\/approval/);

    const status = capture(dirname(file));
    expect(await runCli(['status', 'cli-run', ...flags], status)).toBe(0);
    expect(status.stdout()).toMatch(/cli-run\s+run \S+\s+1-24-3 -> 1-25-1\s+Held at wave\/second\/approval/);
    expect(status.stdout()).toMatch(/approval pending for wave\/second\/approval/);

    const approve = capture(dirname(file));
    expect(await runCli(['approve', 'cli-run', '--as', 'alice', ...flags], approve)).toBe(0);

    const second = capture(dirname(file));
    expect(await runCli(['run', file, ...flags], second)).toBe(0);
    expect(second.stdout()).toMatch(/promoted: promoted 1-25-1 \(from 1-24-3\)/);

    const json = capture(dirname(file));
    expect(await runCli(['status', 'cli-run', '-o', 'json', ...flags], json)).toBe(0);
    const state = JSON.parse(json.stdout()) as {
      phase: string;
      approvals: { by?: string; via?: string; decision?: string }[];
    };
    expect(state.phase).toBe('Promoted');
    expect(state.approvals[0]).toMatchObject({ decision: 'approved', by: 'alice', via: 'cli' });
  });

  it('`revroll abort` on a held run rolls it back with exit 3', async () => {
    h = await createHarness();
    const file = writePolicy(h);
    const flags = ['--kubeconfig', h.kubeconfigFile, '--state-namespace', STATE_NS];
    expect(await runCli(['run', file, ...flags], capture(dirname(file)))).toBe(4);
    const abort = capture(dirname(file));
    expect(await runCli(['abort', 'cli-run', '--policy-file', file, '--as', 'bob', ...flags], abort)).toBe(3);
    expect(abort.stdout()).toMatch(/abort requested for run .* by bob/);
    expect(abort.stderr()).toMatch(/rolled-back: rolled back to 1-24-3: aborted by bob/);
    expect(await h.namespaceLabels('alpha')).toMatchObject({ 'istio-injection': 'enabled' });
    expect(await h.defaultRevision()).toBe('1-24-3');
  });
});
