/**
 * Rollout completion and workload reading as tables, one row per case. `rolloutState` follows
 * `kubectl rollout status` (reference kubernetes-wire.md section 3; kubernetes/kubernetes
 * staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go @18ff3ed) and the
 * controllers' status fields (the DaemonSet controller counts each node's oldest pod,
 * pkg/controller/daemon/daemon_controller.go updateDaemonSetStatus).
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../ports/cluster.ts';
import {
  planRestart,
  restartKey,
  rolloutState,
  toWorkload,
  unhealthyReason,
  workloadId,
  type RolloutState,
  type Workload,
  type WorkloadKind,
} from './workloads.ts';

type Shape = {
  generation?: number;
  observed?: number;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  conditions?: Record<string, string>[];
};

function object(name: string, shape: Shape): KubeObject {
  const generation = shape.generation ?? 2;
  return {
    metadata: { name, namespace: 'shop', generation },
    spec: shape.spec ?? {},
    status: {
      ...(shape.observed !== undefined || shape.generation === undefined
        ? { observedGeneration: shape.observed ?? generation }
        : {}),
      ...shape.status,
      ...(shape.conditions ? { conditions: shape.conditions } : {}),
    },
  };
}

const deployment = (shape: Shape) => object('web', { ...shape, spec: { replicas: 3, ...shape.spec } });
const rolledOut = { replicas: 3, updatedReplicas: 3, availableReplicas: 3, readyReplicas: 3 };
const statefulSet = (shape: Shape) =>
  object('db', {
    ...shape,
    spec: { replicas: 3, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }, ...shape.spec },
  });
const stsDone = { replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentRevision: 'db-2', updateRevision: 'db-2' };
const daemonSet = (shape: Shape) =>
  object('node-agent', { ...shape, spec: { updateStrategy: { type: 'RollingUpdate' }, ...shape.spec } });
const dsDone = { desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 };
const waiting = (message: string): RolloutState => ({ done: false, failed: false, message });
const failed = (message: string): RolloutState => ({ done: false, failed: true, message });
const DONE: RolloutState = { done: true };

describe('rolloutState: one workload status per row', () => {
  it.each<{ name: string; kind: WorkloadKind; object: KubeObject; state: RolloutState }>([
    // Deployments.
    { name: 'rolled out', kind: 'Deployment', object: deployment({ status: rolledOut }), state: DONE },
    {
      name: 'observedGeneration lagging',
      kind: 'Deployment',
      object: deployment({ generation: 3, observed: 2, status: rolledOut }),
      state: waiting('waiting for the deployment spec update to be observed'),
    },
    {
      name: 'observedGeneration not written yet',
      kind: 'Deployment',
      object: object('web', { generation: 1, status: {} }),
      state: waiting('waiting for the deployment spec update to be observed'),
    },
    {
      name: 'new replicas still being created',
      kind: 'Deployment',
      object: deployment({ status: { replicas: 4, updatedReplicas: 1, availableReplicas: 3 } }),
      state: waiting('1 out of 3 new replicas have been updated'),
    },
    {
      name: 'surge: every new replica created, an old one not yet gone',
      kind: 'Deployment',
      object: deployment({ status: { replicas: 4, updatedReplicas: 3, availableReplicas: 3 } }),
      state: waiting('1 old replicas are pending termination'),
    },
    {
      name: 'new replicas not all available',
      kind: 'Deployment',
      object: deployment({ status: { replicas: 3, updatedReplicas: 3, availableReplicas: 2 } }),
      state: waiting('2 of 3 updated replicas are available'),
    },
    {
      name: 'terminating pods are not replicas (status.replicas leaves them out)',
      kind: 'Deployment',
      object: deployment({ status: { ...rolledOut, terminatingReplicas: 1 } }),
      state: DONE,
    },
    {
      name: 'ProgressDeadlineExceeded',
      kind: 'Deployment',
      object: deployment({
        status: { replicas: 4, updatedReplicas: 1, availableReplicas: 3 },
        conditions: [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "web-7c9f" has timed out progressing.',
          },
        ],
      }),
      state: failed(
        'deployment "web" exceeded its progress deadline: ReplicaSet "web-7c9f" has timed out progressing.',
      ),
    },
    {
      name: 'ProgressDeadlineExceeded of an older generation: the new spec is not observed yet',
      kind: 'Deployment',
      object: deployment({
        generation: 3,
        observed: 2,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      }),
      state: waiting('waiting for the deployment spec update to be observed'),
    },
    {
      name: 'Progressing for another reason is no failure',
      kind: 'Deployment',
      object: deployment({
        status: rolledOut,
        conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
      }),
      state: DONE,
    },
    {
      name: 'paused: a restart never rolls out',
      kind: 'Deployment',
      object: deployment({ spec: { paused: true }, status: { replicas: 3, updatedReplicas: 0, availableReplicas: 3 } }),
      state: failed(
        'deployment "web" is paused (spec.paused): it rolls out nothing until resumed (kubectl rollout resume)',
      ),
    },
    {
      name: 'scaled to zero',
      kind: 'Deployment',
      object: deployment({ spec: { replicas: 0 }, status: {} }),
      state: DONE,
    },
    {
      name: 'spec.replicas absent means 1',
      kind: 'Deployment',
      object: object('web', { status: { replicas: 1, updatedReplicas: 0, availableReplicas: 1 } }),
      state: waiting('0 out of 1 new replicas have been updated'),
    },
    // StatefulSets.
    { name: 'rolled out', kind: 'StatefulSet', object: statefulSet({ status: stsDone }), state: DONE },
    {
      name: 'observedGeneration lagging',
      kind: 'StatefulSet',
      object: statefulSet({ generation: 5, observed: 4, status: stsDone }),
      state: waiting('waiting for the statefulset spec update to be observed'),
    },
    {
      name: 'pods not ready',
      kind: 'StatefulSet',
      object: statefulSet({ status: { ...stsDone, readyReplicas: 2 } }),
      state: waiting('2 of 3 pods are ready'),
    },
    {
      name: 'update revision not reached by every pod',
      kind: 'StatefulSet',
      object: statefulSet({ status: { ...stsDone, updatedReplicas: 1, currentRevision: 'db-1' } }),
      state: waiting('1 of 3 pods are updated'),
    },
    {
      name: 'partition 2 of 3: the one pod above the partition updated',
      kind: 'StatefulSet',
      object: statefulSet({
        spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
        status: { ...stsDone, updatedReplicas: 1, currentRevision: 'db-1' },
      }),
      state: DONE,
    },
    {
      name: 'partition 2 of 3: nothing updated yet',
      kind: 'StatefulSet',
      object: statefulSet({
        spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
        status: { ...stsDone, updatedReplicas: 0, currentRevision: 'db-1' },
      }),
      state: waiting('0 of 1 pods are updated'),
    },
    {
      name: 'partition above the replica count: nothing is to update',
      kind: 'StatefulSet',
      object: statefulSet({
        spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 5 } } },
        status: { ...stsDone, updatedReplicas: 0, currentRevision: 'db-1' },
      }),
      state: DONE,
    },
    {
      name: 'OnDelete: pods must be deleted to restart',
      kind: 'StatefulSet',
      object: statefulSet({ spec: { updateStrategy: { type: 'OnDelete' } }, status: stsDone }),
      state: failed('statefulset "db" uses the OnDelete update strategy: pods must be deleted to restart'),
    },
    {
      name: 'scaled to zero',
      kind: 'StatefulSet',
      object: statefulSet({ spec: { replicas: 0 }, status: { currentRevision: 'db-2', updateRevision: 'db-2' } }),
      state: DONE,
    },
    // DaemonSets.
    { name: 'rolled out', kind: 'DaemonSet', object: daemonSet({ status: dsDone }), state: DONE },
    {
      name: 'observedGeneration lagging',
      kind: 'DaemonSet',
      object: daemonSet({ generation: 7, observed: 6, status: dsDone }),
      state: waiting('waiting for the daemonset spec update to be observed'),
    },
    {
      name: 'nodes still running the old pod (with surge, the oldest pod of a node is the one counted)',
      kind: 'DaemonSet',
      object: daemonSet({ status: { ...dsDone, updatedNumberScheduled: 1 } }),
      state: waiting('1 of 3 updated pods are scheduled'),
    },
    {
      name: 'numberUnavailable: updated pods not all available',
      kind: 'DaemonSet',
      object: daemonSet({ status: { ...dsDone, numberAvailable: 2, numberUnavailable: 1 } }),
      state: waiting('2 of 3 updated pods are available'),
    },
    {
      name: 'numberAvailable omitted (zero) while every node is unavailable',
      kind: 'DaemonSet',
      object: daemonSet({
        status: { desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberUnavailable: 3 },
      }),
      state: waiting('0 of 3 updated pods are available'),
    },
    {
      name: 'OnDelete: pods must be deleted to restart',
      kind: 'DaemonSet',
      object: daemonSet({
        spec: { updateStrategy: { type: 'OnDelete' } },
        status: { ...dsDone, updatedNumberScheduled: 0 },
      }),
      state: failed('daemonset "node-agent" uses the OnDelete update strategy: pods must be deleted to restart'),
    },
    {
      name: 'no node selected',
      kind: 'DaemonSet',
      object: daemonSet({ status: { desiredNumberScheduled: 0 } }),
      state: DONE,
    },
  ])('$kind: $name', ({ kind, object: o, state }) => {
    expect(rolloutState(kind, o)).toEqual(state);
  });
});

describe('toWorkload: one object per row', () => {
  const template = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}, extra = {}) => ({
    template: { metadata: { labels: { app: 'web', ...labels }, annotations }, spec: { containers: [], ...extra } },
  });
  const of = (spec: Record<string, unknown>, status: Record<string, unknown> = {}): KubeObject => ({
    metadata: { name: 'web', namespace: 'shop' },
    spec,
    status,
  });
  const base = { namespace: 'shop', name: 'web' };
  it.each<{ name: string; kind: WorkloadKind; object: KubeObject; workload: Workload }>([
    {
      name: 'replicas absent means 1',
      kind: 'Deployment',
      object: of(template()),
      workload: { ...base, kind: 'Deployment', replicas: 1 },
    },
    {
      name: 'scaled to zero',
      kind: 'Deployment',
      object: of({ ...template(), replicas: 0 }),
      workload: { ...base, kind: 'Deployment', replicas: 0 },
    },
    {
      name: 'StatefulSet replicas',
      kind: 'StatefulSet',
      object: of({ ...template(), replicas: 3 }),
      workload: { ...base, kind: 'StatefulSet', replicas: 3 },
    },
    {
      name: 'DaemonSet pods are the scheduled nodes',
      kind: 'DaemonSet',
      object: of(template(), { desiredNumberScheduled: 4 }),
      workload: { ...base, kind: 'DaemonSet', replicas: 4 },
    },
    {
      name: 'DaemonSet without status yet',
      kind: 'DaemonSet',
      object: of(template()),
      workload: { ...base, kind: 'DaemonSet', replicas: 0 },
    },
    {
      name: 'opt-out label false',
      kind: 'Deployment',
      object: of(template({ 'sidecar.istio.io/inject': 'false' })),
      workload: {
        ...base,
        kind: 'Deployment',
        replicas: 1,
        optOut: 'pod template label sidecar.istio.io/inject=false',
      },
    },
    {
      name: 'opt-out annotation false',
      kind: 'Deployment',
      object: of(template({}, { 'sidecar.istio.io/inject': 'false' })),
      workload: {
        ...base,
        kind: 'Deployment',
        replicas: 1,
        optOut: 'pod template annotation sidecar.istio.io/inject=false',
      },
    },
    {
      name: 'opt-out label no (istiod injects only y/yes/true/on)',
      kind: 'Deployment',
      object: of(template({ 'sidecar.istio.io/inject': 'no' })),
      workload: { ...base, kind: 'Deployment', replicas: 1, optOut: 'pod template label sidecar.istio.io/inject=no' },
    },
    {
      name: 'label true wins over annotation false',
      kind: 'Deployment',
      object: of(template({ 'sidecar.istio.io/inject': 'true' }, { 'sidecar.istio.io/inject': 'false' })),
      workload: { ...base, kind: 'Deployment', replicas: 1 },
    },
    {
      name: 'hostNetwork',
      kind: 'DaemonSet',
      object: of(template({}, {}, { hostNetwork: true }), { desiredNumberScheduled: 2 }),
      workload: { ...base, kind: 'DaemonSet', replicas: 2, optOut: 'hostNetwork pods are never injected' },
    },
    {
      name: 'an explicit opt-out is named before hostNetwork',
      kind: 'Deployment',
      object: of(template({ 'sidecar.istio.io/inject': 'false' }, {}, { hostNetwork: true })),
      workload: {
        ...base,
        kind: 'Deployment',
        replicas: 1,
        optOut: 'pod template label sidecar.istio.io/inject=false',
      },
    },
    {
      name: 'restarted by revroll before',
      kind: 'Deployment',
      object: of(template({}, { 'revroll.dev/restarted-for': '1-25-1@run-1' })),
      workload: { ...base, kind: 'Deployment', replicas: 1, restartedFor: '1-25-1@run-1' },
    },
    {
      name: 'no template at all',
      kind: 'Deployment',
      object: of({}),
      workload: { ...base, kind: 'Deployment', replicas: 1 },
    },
    {
      name: 'ztunnel is never restarted, whatever its template says',
      kind: 'DaemonSet',
      object: {
        metadata: { name: 'ztunnel', namespace: 'shop' },
        spec: template(),
        status: { desiredNumberScheduled: 3 },
      },
      workload: {
        namespace: 'shop',
        name: 'ztunnel',
        kind: 'DaemonSet',
        replicas: 3,
        optOut: 'ztunnel is a node agent revroll never restarts',
      },
    },
    {
      name: 'istio-cni is never restarted',
      kind: 'DaemonSet',
      object: {
        metadata: { name: 'cni', namespace: 'shop', labels: { 'k8s-app': 'istio-cni-node' } },
        spec: template(),
      },
      workload: {
        namespace: 'shop',
        name: 'cni',
        kind: 'DaemonSet',
        replicas: 0,
        optOut: 'istio-cni is a node agent revroll never restarts',
      },
    },
  ])('$kind: $name', ({ kind, object: o, workload }) => {
    // Health before the upgrade has its own table (unhealthyReason) below.
    const { unhealthy: _health, ...seen } = toWorkload(kind, o);
    expect(seen).toEqual(workload);
  });
});

describe('restarts', () => {
  it.each<{ kind: WorkloadKind; resource: string; at: string; restartedAt: string }>([
    {
      kind: 'Deployment',
      resource: 'deployments',
      at: '2026-03-10T02:00:00.123Z',
      restartedAt: '2026-03-10T02:00:00Z',
    },
    {
      kind: 'StatefulSet',
      resource: 'statefulsets',
      at: '2026-03-10T02:00:59.999Z',
      restartedAt: '2026-03-10T02:00:59Z',
    },
    { kind: 'DaemonSet', resource: 'daemonsets', at: '2026-03-10T02:01:00.000Z', restartedAt: '2026-03-10T02:01:00Z' },
  ])(
    '$kind: a strategic patch of the template annotations, seconds precision',
    ({ kind, resource, at, restartedAt }) => {
      const key = restartKey('1-25-1', 'run-1');
      expect(key).toBe('1-25-1@run-1');
      const mutation = planRestart({ kind, namespace: 'shop', name: 'web' }, key, new Date(at));
      expect(mutation).toMatchObject({ op: 'strategic-patch', namespace: 'shop', name: 'web' });
      expect((mutation as { ref: { resource: string } }).ref.resource).toBe(resource);
      expect((mutation as { patch: unknown }).patch).toEqual({
        spec: {
          template: {
            metadata: {
              annotations: { 'kubectl.kubernetes.io/restartedAt': restartedAt, 'revroll.dev/restarted-for': key },
            },
          },
        },
      });
      expect(workloadId({ kind, namespace: 'shop', name: 'web' })).toBe(`${kind}/shop/web`);
    },
  );
});

describe('unhealthyReason: what would keep a restart from finishing, one row per case', () => {
  const deployment = (spec: Record<string, unknown>, status: Record<string, unknown>): KubeObject => ({
    metadata: { name: 'web', namespace: 'shop', generation: 2 },
    spec: { replicas: 2, ...spec },
    status: { observedGeneration: 2, ...status },
  });
  const settled = { replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2 };
  it.each<{ name: string; object: KubeObject; reason: RegExp | undefined }>([
    { name: 'settled', object: deployment({}, settled), reason: undefined },
    {
      name: 'paused',
      object: deployment({ paused: true }, settled),
      reason:
        /^paused \(spec\.paused: true\), so its rollout would never finish: resume it \(kubectl rollout resume deployment\/web -n shop\)/,
    },
    {
      name: 'not every replica available',
      object: deployment({}, { ...settled, availableReplicas: 1 }),
      reason: /^not healthy before the upgrade \(1 of 2 updated replicas are available\): fix it/,
    },
    {
      name: 'a rollout in progress',
      object: deployment({}, { ...settled, updatedReplicas: 1 }),
      reason: /^not healthy before the upgrade \(1 out of 2 new replicas have been updated/,
    },
    {
      name: 'spec not observed yet',
      object: deployment({}, { ...settled, observedGeneration: 1 }),
      reason: /waiting for the deployment spec update to be observed/,
    },
  ])('$name', ({ object, reason }) => {
    const found = unhealthyReason('Deployment', object);
    if (reason === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(reason);
  });
});
