/**
 * An unexpected exception inside an action is a bug in revroll, not a cluster problem: the run
 * ends at once with exit code 1 and "internal error in step X: ...", and the stored state stays
 * exactly as it was saved before the action (no failed step, no hold, no retry budget spent).
 * A real run on the sandbox, with the real Kubernetes adapter; only the namespace patch of the
 * first wave is replaced by a function that throws a TypeError, as a bug in an action would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { reportError } from '../../src/cli/errors.ts';
import { ExitCode } from '../../src/cli/exit-codes.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { InternalError } from '../../src/errors.ts';
import { ClusterError, Resources, type ClusterPort, type Mutation } from '../../src/ports/cluster.ts';
import type { Stored } from '../../src/ports/state-store.ts';
import { composeRunner, composeStateAccess } from '../../src/runner/compose.ts';
import { runPolicy } from '../../src/runner/run-policy.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { createHarness, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

const POLICY = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: buggy}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
  gates: {warmup: 100ms}
`;

const isNamespacePatch = (m: Mutation) => m.op === 'merge-patch' && m.ref.resource === Resources.namespaces.resource;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function capture(): CliIo & { stderr: () => string } {
  let err = '';
  return {
    out: () => undefined,
    err: (t) => void (err += t),
    isTty: false,
    env: {},
    cwd: process.cwd(),
    stderr: () => err,
  };
}

describe('an unexpected exception inside an action', () => {
  it('ends the run as an internal error (exit 1, the step named) with the stored state as it was', async () => {
    h = await createHarness();
    const harness = h;
    const policy = harness.policy(POLICY);
    const { store, lock } = composeStateAccess(harness.cluster, STATE_NS);
    let before: Stored | undefined;
    const isNamespacePatch = (m: Mutation) =>
      m.op === 'merge-patch' && m.ref.resource === Resources.namespaces.resource;
    // The real cluster port, except that the first wave's namespace patch hits a bug.
    const buggy: ClusterPort = {
      list: (ref, query, read) => harness.cluster.list(ref, query, read),
      scan: (ref, query, visit, read) => harness.cluster.scan(ref, query, visit, read),
      get: (ref, namespace, name) => harness.cluster.get(ref, namespace, name),
      waitFor: (ref, query, onState, timeoutMs, signal, wait) =>
        harness.cluster.waitFor(ref, query, onState, timeoutMs, signal, wait),
      denied: (checks) => harness.cluster.denied(checks),
      async mutate(mutation, read) {
        if (!isNamespacePatch(mutation)) return harness.cluster.mutate(mutation, read);
        before = await store.load('buggy');
        throw new TypeError("Cannot read properties of undefined (reading 'labels')");
      },
    };
    const deps = composeRunner(policy, { cluster: buggy, stateNamespace: STATE_NS, logger: silentLogger(), env: {} });
    const error = await runPolicy(policy, deps, { leaseTtlMs: 3_000, pollMs: 200 }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(InternalError);
    const io = capture();
    expect(reportError(error, io, false)).toBe(ExitCode.failure);
    expect(io.stderr()).toBe(
      "error: internal error in step wave/first/migrate: Cannot read properties of undefined (reading 'labels')\n" +
        'hint: this is a bug in revroll; rerun with --debug for details\n',
    );

    // The state saved before the action is the state that stays: same document, same version.
    expect(before).toBeDefined();
    const after = await store.load('buggy');
    expect(after).toEqual(before);
    const state = after?.document as { records: { id: string; status: string }[]; hold?: unknown; retry?: unknown };
    expect(state.records.find((r) => r.id === 'wave/first/migrate')?.status).toBe('running');
    expect(state.records.some((r) => r.status === 'failed')).toBe(false);
    expect(state.hold).toBeUndefined();
    expect(state.retry).toBeUndefined();
    // Nothing moved, and the Lease is released for the next runner.
    expect((await harness.namespaceLabels('alpha'))['istio.io/rev']).toBeUndefined();
    expect(await lock.holder('buggy')).toBeUndefined();
  });

  it('still reports a cluster error as a failed attempt (an observation), not as an internal error', async () => {
    h = await createHarness();
    const harness = h;
    const policy = harness.policy(POLICY);
    const refusing: ClusterPort = {
      list: (ref, query, read) => harness.cluster.list(ref, query, read),
      scan: (ref, query, visit, read) => harness.cluster.scan(ref, query, visit, read),
      get: (ref, namespace, name) => harness.cluster.get(ref, namespace, name),
      waitFor: (ref, query, onState, timeoutMs, signal, wait) =>
        harness.cluster.waitFor(ref, query, onState, timeoutMs, signal, wait),
      denied: (checks) => harness.cluster.denied(checks),
      async mutate(mutation, read) {
        // What the adapter throws when the API server refuses a write.
        if (isNamespacePatch(mutation))
          throw new ClusterError('invalid', 'K8S_INVALID', 'namespace alpha is invalid', 'namespaces alpha');
        return harness.cluster.mutate(mutation, read);
      },
    };
    const deps = composeRunner(policy, {
      cluster: refusing,
      stateNamespace: STATE_NS,
      logger: silentLogger(),
      env: {},
    });
    const stop = new AbortController();
    const result = await runPolicy(policy, deps, {
      leaseTtlMs: 3_000,
      pollMs: 200,
      signal: stop.signal,
      // The failed attempt is recorded with its error budget: enough seen, stop the run there.
      onProgress: (state) => {
        if (state.retry) stop.abort();
      },
    });
    expect(result.outcome).toBe('interrupted');
    expect(result.state?.retry).toMatchObject({ step: 'wave/first/migrate', attempts: 1 });
    expect(result.state?.retry?.lastError).toMatch(/namespace alpha is invalid/);
  });
});
