import { describe, expect, it } from 'vitest';
import type { KubeObject, Mutation } from '../ports/cluster.ts';
import { buildSnapshot } from './revisions.ts';
import { planRemoveTag, planSetTag, TagError } from './tags.ts';

/** A per-revision injector shaped like Istio's chart renders it (reference section 2.2). */
function injector(rev: string, extraLabels: Record<string, string> = {}): KubeObject {
  const webhook = (name: string) => ({
    name,
    clientConfig: {
      service: {
        name: rev === 'default' ? 'istiod' : `istiod-${rev}`,
        namespace: 'istio-system',
        path: '/inject',
        port: 443,
      },
      caBundle: 'Q0E=',
    },
    namespaceSelector: { matchExpressions: [{ key: 'istio.io/rev', operator: 'In', values: [rev] }] },
    reinvocationPolicy: 'Never',
  });
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: rev === 'default' ? 'istio-sidecar-injector' : `istio-sidecar-injector-${rev}`,
      resourceVersion: '7',
      labels: {
        'istio.io/rev': rev,
        app: 'sidecar-injector',
        'operator.istio.io/component': 'Pilot',
        'operator.istio.io/managed': 'Reconcile',
        ...extraLabels,
      },
      annotations: {
        note: 'kept',
        'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"admissionregistration.k8s.io/v1"}',
        'meta.helm.sh/release-name': 'istiod',
      },
    },
    webhooks: [webhook('rev.namespace.sidecar-injector.istio.io'), webhook('rev.object.sidecar-injector.istio.io')],
  };
}

function istiod(rev: string, ready = true): KubeObject {
  return {
    metadata: {
      name: rev === 'default' ? 'istiod' : `istiod-${rev}`,
      namespace: 'istio-system',
      labels: { app: 'istiod', 'istio.io/rev': rev },
    },
    spec: {
      replicas: 1,
      template: { spec: { containers: [{ image: `docker.io/istio/pilot:${rev.replaceAll('-', '.')}` }] } },
    },
    status: ready ? { availableReplicas: 1, readyReplicas: 1 } : {},
  };
}

function snapshot(webhooks: KubeObject[], validators: KubeObject[] = []) {
  return buildSnapshot({
    istioNamespace: 'istio-system',
    webhooks,
    validators,
    deployments: [istiod('1-24-3'), istiod('1-25-1')],
    services: [],
    namespaces: [{ metadata: { name: 'shop', labels: { 'istio.io/rev': 'prod-stable' } } }],
  });
}

function created(mutations: Mutation[], kind: string): KubeObject {
  const found = mutations.find((m) => (m.op === 'create' || m.op === 'replace') && m.object.kind === kind);
  if (!found || (found.op !== 'create' && found.op !== 'replace')) throw new Error(`no ${kind} in mutations`);
  return found.object;
}

describe('planSetTag', () => {
  it('builds the tag MWC from the revision injector: its service, caBundle, labels minus app and operator keys', () => {
    const mutations = planSetTag(snapshot([injector('1-25-1')]), {
      tag: 'prod-canary',
      revision: '1-25-1',
      overwrite: false,
    });
    expect(mutations).toHaveLength(1);
    expect(mutations[0]?.op).toBe('create');
    const mwc = created(mutations, 'MutatingWebhookConfiguration');
    expect(mwc.metadata.name).toBe('istio-revision-tag-prod-canary');
    expect(mwc.metadata.labels).toMatchObject({
      'istio.io/tag': 'prod-canary',
      'istio.io/rev': '1-25-1',
      app: 'sidecar-injector',
    });
    expect(Object.keys(mwc.metadata.labels ?? {}).some((k) => k.includes('operator.istio.io'))).toBe(false);
    expect(mwc.metadata.annotations).toEqual({ note: 'kept' });
    const hooks = mwc.webhooks as {
      name: string;
      clientConfig: { service: { name: string }; caBundle: string };
      namespaceSelector: unknown;
      objectSelector: unknown;
      failurePolicy: string;
    }[];
    expect(hooks.map((w) => w.name)).toEqual([
      'rev.namespace.sidecar-injector.istio.io',
      'rev.object.sidecar-injector.istio.io',
    ]);
    expect(
      hooks.every(
        (w) =>
          w.clientConfig.service.name === 'istiod-1-25-1' &&
          w.clientConfig.caBundle === 'Q0E=' &&
          w.failurePolicy === 'Fail',
      ),
    ).toBe(true);
    expect(hooks[0]?.namespaceSelector).toEqual({
      matchExpressions: [
        { key: 'istio.io/rev', operator: 'In', values: ['prod-canary'] },
        { key: 'istio-injection', operator: 'DoesNotExist' },
      ],
    });
    expect(hooks[1]?.objectSelector).toEqual({
      matchExpressions: [
        { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] },
        { key: 'istio.io/rev', operator: 'In', values: ['prod-canary'] },
      ],
    });
  });

  it('for `default`: adds the namespace/object webhooks, renders the validator, deactivates the unrevisioned injector', () => {
    const mutations = planSetTag(snapshot([injector('1-25-1'), injector('default')]), {
      tag: 'default',
      revision: '1-25-1',
      overwrite: true,
    });
    const mwc = created(mutations, 'MutatingWebhookConfiguration');
    expect((mwc.webhooks as { name: string }[]).map((w) => w.name)).toEqual([
      'rev.namespace.sidecar-injector.istio.io',
      'rev.object.sidecar-injector.istio.io',
      'namespace.sidecar-injector.istio.io',
      'object.sidecar-injector.istio.io',
    ]);
    const validator = created(mutations, 'ValidatingWebhookConfiguration');
    expect(validator.metadata).toMatchObject({
      name: 'istiod-default-validator',
      labels: { 'istio.io/rev': '1-25-1', 'istio.io/tag': 'default' },
    });
    const deactivated = mutations.find(
      (m) => m.op === 'replace' && m.object.metadata.name === 'istio-sidecar-injector',
    );
    expect(deactivated?.op).toBe('replace');
    if (deactivated?.op === 'replace') {
      for (const w of deactivated.object.webhooks as { namespaceSelector: unknown; objectSelector: unknown }[]) {
        expect(w.namespaceSelector).toEqual({ matchLabels: { 'istio.io/deactivated': 'never-match' } });
        expect(w.objectSelector).toEqual({ matchLabels: { 'istio.io/deactivated': 'never-match' } });
      }
    }
  });

  it('refuses to move an existing tag without overwrite, `default` included; replaces it with overwrite', () => {
    const existing: KubeObject = {
      ...injector('1-24-3'),
      metadata: {
        name: 'istio-revision-tag-default',
        resourceVersion: '42',
        labels: { 'istio.io/rev': '1-24-3', 'istio.io/tag': 'default' },
      },
    };
    const snap = snapshot([injector('1-24-3'), injector('1-25-1'), existing]);
    expect(() => planSetTag(snap, { tag: 'default', revision: '1-25-1', overwrite: false })).toThrow(TagError);
    const mutations = planSetTag(snap, { tag: 'default', revision: '1-25-1', overwrite: true });
    expect(mutations[0]).toMatchObject({
      op: 'replace',
      object: { metadata: { name: 'istio-revision-tag-default', resourceVersion: '42' } },
    });
  });

  it('fails when the revision has no injector, or more than one', () => {
    expect(() => planSetTag(snapshot([injector('1-24-3')]), { tag: 'x', revision: '1-25-1', overwrite: true })).toThrow(
      /no injector/,
    );
    const twin = { ...injector('1-25-1'), metadata: { ...injector('1-25-1').metadata, name: 'another' } };
    expect(() =>
      planSetTag(snapshot([injector('1-25-1'), twin]), { tag: 'x', revision: '1-25-1', overwrite: true }),
    ).toThrow(/2 injector webhooks/);
  });

  it('refuses a tag named like a revision unless overwriting', () => {
    expect(() =>
      planSetTag(snapshot([injector('1-24-3'), injector('1-25-1')]), {
        tag: '1-24-3',
        revision: '1-25-1',
        overwrite: false,
      }),
    ).toThrow(/a revision with that name exists/);
  });
});

describe('planRemoveTag', () => {
  it('deletes the tag MWCs and VWCs and leaves the deactivated injector alone', () => {
    const tag: KubeObject = {
      metadata: { name: 'istio-revision-tag-default', labels: { 'istio.io/rev': '1-25-1', 'istio.io/tag': 'default' } },
      webhooks: [],
    };
    const validator: KubeObject = {
      metadata: { name: 'istiod-default-validator', labels: { 'istio.io/rev': '1-25-1', 'istio.io/tag': 'default' } },
    };
    const mutations = planRemoveTag(snapshot([injector('1-25-1'), tag, injector('default')], [validator]), 'default');
    expect(mutations.map((m) => (m.op === 'delete' ? `${m.ref.resource}/${m.name}` : m.op))).toEqual([
      'mutatingwebhookconfigurations/istio-revision-tag-default',
      'validatingwebhookconfigurations/istiod-default-validator',
    ]);
  });

  it('fails for a tag that does not exist', () => {
    expect(() => planRemoveTag(snapshot([injector('1-25-1')]), 'nope')).toThrow(/does not exist/);
  });
});

describe('buildSnapshot', () => {
  it('reads revisions, readiness, versions, tags and the namespaces following each tag', () => {
    const tag: KubeObject = {
      metadata: {
        name: 'istio-revision-tag-prod-stable',
        labels: { 'istio.io/rev': '1-24-3', 'istio.io/tag': 'prod-stable' },
      },
    };
    const snap = snapshot([injector('1-24-3'), injector('1-25-1'), tag]);
    expect(snap.revisions.map((r) => [r.name, r.ready, r.version, r.injector])).toEqual([
      ['1-24-3', true, '1.24.3', 'istio-sidecar-injector-1-24-3'],
      ['1-25-1', true, '1.25.1', 'istio-sidecar-injector-1-25-1'],
    ]);
    expect(snap.tags).toEqual([
      { tag: 'prod-stable', revision: '1-24-3', webhook: 'istio-revision-tag-prod-stable', namespaces: ['shop'] },
    ]);
    expect(snap.defaultRevision).toBeUndefined();
  });
});
