/**
 * `checkConvergence` as a table: one pod per row, and whether it counts as converged, is left
 * out, or is a straggler (and why). Facts: reference istio-revisions.md section 3 (a pod's
 * revision is its `istio.io/rev` annotation, then `sidecar.istio.io/status`, never its label),
 * and istiod's injectRequired (istio/istio pkg/kube/inject/inject.go @00af2c5) for opt-outs.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../ports/cluster.ts';
import { checkConvergence, describeStragglers, type Straggler } from './convergence.ts';

const TARGET = '1-25-1';
const INJECTING = new Set(['shop', 'cart']);
const OWNER = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7c9f', uid: 'u1', controller: true };

type PodInput = {
  name?: string;
  namespace?: string;
  /** `istio.io/rev` annotation (the injector writes it since 1.18). */
  rev?: string;
  /** `sidecar.istio.io/status` annotation, raw. */
  status?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  phase?: string;
  deleting?: boolean;
  hostNetwork?: boolean;
  owners?: Record<string, unknown>[];
};

function pod(input: PodInput = {}): KubeObject {
  const annotations: Record<string, string> = { ...input.annotations };
  if (input.rev !== undefined) annotations['istio.io/rev'] = input.rev;
  if (input.status !== undefined) annotations['sidecar.istio.io/status'] = input.status;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: input.name ?? 'web-1',
      namespace: input.namespace ?? 'shop',
      labels: { app: 'web', ...input.labels },
      annotations,
      ownerReferences: (input.owners ?? [OWNER]) as never,
      ...(input.deleting ? { deletionTimestamp: '2026-03-10T02:00:00Z' } : {}),
    },
    spec: { containers: [{ name: 'web' }], ...(input.hostNetwork ? { hostNetwork: true } : {}) },
    status: { phase: input.phase ?? 'Running' },
  };
}

const statusJson = (revision?: string) =>
  JSON.stringify({ initContainers: ['istio-proxy'], containers: [], volumes: [], ...(revision ? { revision } : {}) });
const noProxy = (extra: Partial<Straggler> = {}): Straggler => ({
  namespace: 'shop',
  pod: 'web-1',
  owner: 'ReplicaSet/web-7c9f',
  reason: 'no proxy although its namespace injects',
  ...extra,
});
const onRevision = (revision: string, extra: Partial<Straggler> = {}): Straggler => ({
  namespace: 'shop',
  pod: 'web-1',
  revision,
  owner: 'ReplicaSet/web-7c9f',
  reason: `proxy on revision ${revision}, expected ${TARGET}`,
  ...extra,
});

describe('checkConvergence: one pod per row', () => {
  it.each<{ name: string; pod: PodInput; expected: 'converged' | 'left out' | Straggler }>([
    // Which revision a proxy runs.
    { name: 'istio.io/rev annotation on the target', pod: { rev: TARGET }, expected: 'converged' },
    { name: 'sidecar status revision only (before 1.18)', pod: { status: statusJson(TARGET) }, expected: 'converged' },
    {
      name: 'the annotation wins over the status revision',
      pod: { rev: TARGET, status: statusJson('1-24-3') },
      expected: 'converged',
    },
    {
      name: 'a tag in the pod label is not a revision: the annotation decides',
      pod: { rev: TARGET, labels: { 'istio.io/rev': 'prod-canary' } },
      expected: 'converged',
    },
    { name: 'proxy on the old revision', pod: { rev: '1-24-3' }, expected: onRevision('1-24-3') },
    {
      name: 'sidecar status without revision (before 1.11) is the default revision',
      pod: { status: statusJson() },
      expected: onRevision('default'),
    },
    {
      name: 'unparseable sidecar status is the default revision',
      pod: { status: '{oops' },
      expected: onRevision('default'),
    },
    {
      name: 'a pod label naming the target is no proxy',
      pod: { labels: { 'istio.io/rev': TARGET } },
      expected: noProxy(),
    },
    // Pods that do not count.
    { name: 'terminating pod on the old revision', pod: { rev: '1-24-3', deleting: true }, expected: 'left out' },
    { name: 'terminating pod without proxy', pod: { deleting: true }, expected: 'left out' },
    { name: 'Succeeded pod (a finished Job)', pod: { rev: '1-24-3', phase: 'Succeeded' }, expected: 'left out' },
    { name: 'Failed pod', pod: { rev: '1-24-3', phase: 'Failed' }, expected: 'left out' },
    {
      name: 'Pending pod on the old revision still counts',
      pod: { rev: '1-24-3', phase: 'Pending' },
      expected: onRevision('1-24-3'),
    },
    {
      name: 'an old pod still running beside its surge replacement',
      pod: { name: 'web-old', rev: '1-24-3' },
      expected: onRevision('1-24-3', { pod: 'web-old' }),
    },
    { name: 'pod outside the namespaces checked', pod: { namespace: 'other', rev: '1-24-3' }, expected: 'left out' },
    // Pods without a proxy: opted out, or stragglers.
    { name: 'no proxy, no opt-out', pod: {}, expected: noProxy() },
    { name: 'opt-out label false', pod: { labels: { 'sidecar.istio.io/inject': 'false' } }, expected: 'left out' },
    {
      name: 'opt-out annotation false',
      pod: { annotations: { 'sidecar.istio.io/inject': 'false' } },
      expected: 'left out',
    },
    {
      name: 'opt-out label no (istiod injects only y/yes/true/on)',
      pod: { labels: { 'sidecar.istio.io/inject': 'no' } },
      expected: 'left out',
    },
    {
      name: 'opt-out annotation False (any case)',
      pod: { annotations: { 'sidecar.istio.io/inject': 'False' } },
      expected: 'left out',
    },
    {
      name: 'label true wins over annotation false: a missing proxy is a straggler',
      pod: { labels: { 'sidecar.istio.io/inject': 'true' }, annotations: { 'sidecar.istio.io/inject': 'false' } },
      expected: noProxy(),
    },
    {
      name: 'an empty label wins too and leaves it to the namespace',
      pod: { labels: { 'sidecar.istio.io/inject': '' }, annotations: { 'sidecar.istio.io/inject': 'false' } },
      expected: noProxy(),
    },
    { name: 'hostNetwork pods are never injected', pod: { hostNetwork: true }, expected: 'left out' },
    // Who owns a straggler.
    {
      name: 'the controller owner is named',
      pod: {
        rev: '1-24-3',
        owners: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u0' },
          { ...OWNER, kind: 'StatefulSet', name: 'db' },
        ],
      },
      expected: onRevision('1-24-3', { owner: 'StatefulSet/db' }),
    },
    {
      name: 'without a controller, the first owner',
      pod: { rev: '1-24-3', owners: [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'u2' }] },
      expected: onRevision('1-24-3', { owner: 'Node/n1' }),
    },
    { name: 'a bare pod', pod: { owners: [] }, expected: noProxy({ owner: 'none' }) },
  ])('$name', ({ pod: input, expected }) => {
    const report = checkConvergence([pod(input)], TARGET, INJECTING);
    if (expected === 'converged') expect(report).toEqual({ converged: 1, stragglers: [] });
    else if (expected === 'left out') expect(report).toEqual({ converged: 0, stragglers: [] });
    else expect(report).toEqual({ converged: 0, stragglers: [expected] });
  });

  it.each<{ name: string; pods: KubeObject[]; converged: number; stragglers: string[] }>([
    { name: 'no pods at all', pods: [], converged: 0, stragglers: [] },
    {
      name: 'a rolled-out Deployment with its terminating old pod',
      pods: [
        pod({ name: 'web-a', rev: TARGET }),
        pod({ name: 'web-b', rev: TARGET }),
        pod({ name: 'web-0', rev: '1-24-3', deleting: true }),
      ],
      converged: 2,
      stragglers: [],
    },
    {
      name: 'stragglers sorted by namespace, then pod',
      pods: [
        pod({ namespace: 'shop', name: 'b', rev: '1-24-3' }),
        pod({ namespace: 'cart', name: 'z', rev: '1-24-3' }),
        pod({ namespace: 'shop', name: 'a' }),
        pod({ namespace: 'cart', name: 'c', rev: TARGET }),
      ],
      converged: 1,
      stragglers: ['cart/z', 'shop/a', 'shop/b'],
    },
  ])('$name', ({ pods, converged, stragglers }) => {
    const report = checkConvergence(pods, TARGET, INJECTING);
    expect(report.converged).toBe(converged);
    expect(report.stragglers.map((s) => `${s.namespace}/${s.pod}`)).toEqual(stragglers);
  });
});

describe('describeStragglers', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => onRevision('1-24-3', { pod: `web-${i}` }));
  const line = (i: number) => `shop/web-${i} (ReplicaSet/web-7c9f): proxy on revision 1-24-3, expected 1-25-1`;
  const lines = (n: number) => Array.from({ length: n }, (_, i) => line(i)).join('; ');
  it.each<{ name: string; stragglers: Straggler[]; max?: number; text: string }>([
    { name: 'none', stragglers: [], text: '' },
    { name: 'one', stragglers: many(1), text: line(0) },
    { name: 'exactly the cap', stragglers: many(2), max: 2, text: lines(2) },
    { name: 'over the cap', stragglers: many(3), max: 1, text: `${line(0)}; ...and 2 more` },
    { name: 'the default cap is 10', stragglers: many(12), text: `${lines(10)}; ...and 2 more` },
  ])('$name', ({ stragglers, max, text }) => {
    expect(describeStragglers(stragglers, max)).toBe(text);
  });
});
