import { describe, expect, it } from 'vitest';
import { listStrategy, strategicMerge } from './strategic-merge.ts';

const pod = {
  metadata: { name: 'p', finalizers: ['a'], labels: { app: 'web' } },
  spec: {
    containers: [
      {
        name: 'web',
        image: 'nginx:1.25',
        env: [{ name: 'A', value: '1' }],
        ports: [{ containerPort: 80, name: 'http' }],
      },
      { name: 'istio-proxy', image: 'proxyv2:1.24' },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
    tolerations: [{ key: 'x', operator: 'Exists' }],
  },
};

describe('strategicMerge', () => {
  it('merges containers by name and env by name, leaving other containers alone', () => {
    const result = strategicMerge(pod, {
      spec: { containers: [{ name: 'web', image: 'nginx:1.26', env: [{ name: 'B', value: '2' }] }] },
    }) as typeof pod;
    expect(result.spec.containers.map((c) => `${c.name}=${c.image}`)).toEqual([
      'web=nginx:1.26',
      'istio-proxy=proxyv2:1.24',
    ]);
    expect(result.spec.containers[0]?.env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
    expect(pod.spec.containers[0]?.image).toBe('nginx:1.25'); // inputs are never mutated
  });

  it('deletes list items with $patch: delete and map keys with null', () => {
    const result = strategicMerge(pod, {
      metadata: { labels: { app: null } },
      spec: { containers: [{ name: 'istio-proxy', $patch: 'delete' }] },
    }) as typeof pod;
    expect(result.spec.containers.map((c) => c.name)).toEqual(['web']);
    expect(result.metadata.labels).toEqual({});
  });

  it('replaces lists without a merge key (tolerations) and lists marked $patch: replace', () => {
    const result = strategicMerge(pod, {
      spec: {
        tolerations: [{ key: 'y', operator: 'Exists' }],
        volumes: [{ name: 'cache', emptyDir: {} }, { $patch: 'replace' }],
      },
    }) as typeof pod;
    expect(result.spec.tolerations).toEqual([{ key: 'y', operator: 'Exists' }]);
    expect(result.spec.volumes).toEqual([{ name: 'cache', emptyDir: {} }]);
  });

  it('replaces a map marked $patch: replace and honours $retainKeys', () => {
    const result = strategicMerge(pod, {
      metadata: { labels: { $patch: 'replace', tier: 'front' } },
      spec: { $retainKeys: ['containers'] },
    }) as { metadata: { labels: unknown }; spec: Record<string, unknown> };
    expect(result.metadata.labels).toEqual({ tier: 'front' });
    expect(Object.keys(result.spec)).toEqual(['containers']);
  });

  it('orders by $setElementOrder and removes with $deleteFromPrimitiveList', () => {
    const result = strategicMerge(pod, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] },
      spec: { '$setElementOrder/containers': [{ name: 'istio-proxy' }, { name: 'web' }] },
    }) as typeof pod;
    expect(result.spec.containers.map((c) => c.name)).toEqual(['istio-proxy', 'web']);
    expect(result.metadata.finalizers).toEqual([]);
  });

  it('unions metadata.finalizers and merges container ports by containerPort', () => {
    const result = strategicMerge(pod, {
      metadata: { finalizers: ['b', 'a'] },
      spec: {
        containers: [{ name: 'web', ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 15090 }] }],
      },
    }) as typeof pod;
    expect(result.metadata.finalizers).toEqual(['a', 'b']);
    expect(result.spec.containers[0]?.ports).toEqual([
      { containerPort: 80, name: 'http', protocol: 'TCP' },
      { containerPort: 15090 },
    ]);
  });
});

describe('listStrategy', () => {
  it('knows Service ports merge by port and webhooks by name', () => {
    expect(listStrategy(['spec', 'ports'])).toEqual({ kind: 'keyed', key: 'port' });
    expect(listStrategy(['webhooks'])).toEqual({ kind: 'keyed', key: 'name' });
    expect(listStrategy(['spec', 'template', 'spec', 'containers', 'args'])).toEqual({ kind: 'replace' });
  });
});
