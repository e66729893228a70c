import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../ports/cluster.ts';
import {
  agentUninstallRefusals,
  findNodeAgents,
  nodeAgentChecks,
  revisionOfIstiodAddress,
  skewViolation,
} from './ambient.ts';

function ztunnel(version: string, revision: string, xds = revision): KubeObject {
  return {
    kind: 'DaemonSet',
    metadata: {
      name: 'ztunnel',
      namespace: 'istio-system',
      labels: { app: 'ztunnel', 'istio.io/rev': revision, 'operator.istio.io/component': 'Ztunnel' },
    },
    spec: {
      template: {
        metadata: { annotations: { 'istio.io/rev': revision } },
        spec: {
          containers: [
            {
              name: 'istio-proxy',
              image: `docker.io/istio/ztunnel:${version}-distroless`,
              env: [{ name: 'XDS_ADDRESS', value: `istiod-${xds}.istio-system.svc:15012` }],
            },
          ],
        },
      },
    },
  };
}

function cni(version: string, revision: string, namespace = 'kube-system'): KubeObject {
  return {
    kind: 'DaemonSet',
    metadata: {
      name: 'istio-cni-node',
      namespace,
      labels: { 'k8s-app': 'istio-cni-node', 'istio.io/rev': revision, 'operator.istio.io/component': 'Cni' },
    },
    spec: {
      template: { spec: { containers: [{ name: 'install-cni', image: `docker.io/istio/install-cni:${version}` }] } },
    },
  };
}

const versions = new Map<string, string | undefined>([
  ['1-24-3', '1.24.3'],
  ['1-25-1', '1.25.1'],
  ['1-26-0', '1.26.0'],
]);

describe('src/mesh/ambient', () => {
  it('finds ztunnel and istio-cni once each, with version, owner label, annotation and XDS revision', () => {
    const other: KubeObject = { kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'delta' }, spec: {} };
    const agents = findNodeAgents([
      cni('1.24.3', '1-24-3'),
      other,
      ztunnel('1.24.3', '1-24-3'),
      ztunnel('1.24.3', '1-24-3'),
    ]);
    expect(agents).toEqual([
      {
        kind: 'ztunnel',
        namespace: 'istio-system',
        name: 'ztunnel',
        version: '1.24.3',
        revisionLabel: '1-24-3',
        revisionAnnotation: '1-24-3',
        xdsRevision: '1-24-3',
      },
      {
        kind: 'istio-cni',
        namespace: 'kube-system',
        name: 'istio-cni-node',
        version: '1.24.3',
        revisionLabel: '1-24-3',
      },
    ]);
  });

  it('reads the revision of an istiod address, the unrevisioned one as default', () => {
    expect(revisionOfIstiodAddress('istiod-1-25-1.istio-system.svc:15012')).toBe('1-25-1');
    expect(revisionOfIstiodAddress('istiod.istio-system.svc:15012')).toBe('default');
    expect(revisionOfIstiodAddress('elsewhere:15012')).toBeUndefined();
  });

  it.each([
    ['1.24.3', '1.24.3', undefined],
    ['1.24.3', '1.25.1', undefined],
    ['1.24.3', '1.26.0', '1.24.3 would lag istiod 1.26.0 by 2 minors'],
    ['1.25.1', '1.24.3', '1.25.1 would lead istiod 1.24.3'],
    ['1.24.9', '1.24.1', undefined],
    ['1.99.0', '2.0.0', undefined],
  ])('skew: agent %s against istiod %s', (agent, istiod, problem) => {
    expect(skewViolation(agent, istiod)).toBe(problem);
  });

  it('reports both agents and accepts a one-minor upgrade', () => {
    const agents = findNodeAgents([ztunnel('1.24.3', '1-24-3'), cni('1.24.3', '1-24-3')]);
    const { problems, notes } = nodeAgentChecks(agents, { from: '1-24-3', to: '1-25-1', versions });
    expect(problems).toEqual([]);
    expect(notes).toEqual([
      'DaemonSet istio-system/ztunnel (ztunnel): version 1.24.3, revision 1-24-3, served by istiod-1-24-3; never changed by revroll (rule: a node agent (ztunnel, istio-cni) may lag istiod by at most one minor and never lead it)',
      'DaemonSet kube-system/istio-cni-node (istio-cni): version 1.24.3, revision 1-24-3; never changed by revroll (rule: a node agent (ztunnel, istio-cni) may lag istiod by at most one minor and never lead it)',
    ]);
  });

  it('refuses an upgrade two minors past ztunnel and istio-cni, naming each DaemonSet, the versions and the rule', () => {
    const agents = findNodeAgents([ztunnel('1.24.3', '1-24-3'), cni('1.24.3', '1-24-3')]);
    const { problems } = nodeAgentChecks(agents, { from: '1-24-3', to: '1-26-0', versions });
    expect(problems).toEqual([
      'upgrading to 1-26-0 (1.26.0) breaks the skew rule for DaemonSet istio-system/ztunnel (ztunnel): ztunnel 1.24.3 would lag istiod 1.26.0 by 2 minors once 1-24-3 is gone (a node agent (ztunnel, istio-cni) may lag istiod by at most one minor and never lead it); revroll never changes ztunnel: upgrade one minor at a time, or move ztunnel to 1-26-0 with its image in one rollout before the run',
      'upgrading to 1-26-0 (1.26.0) breaks the skew rule for DaemonSet kube-system/istio-cni-node (istio-cni): istio-cni 1.24.3 would lag istiod 1.26.0 by 2 minors once 1-24-3 is gone (a node agent (ztunnel, istio-cni) may lag istiod by at most one minor and never lead it); revroll never changes istio-cni: upgrade one minor at a time, or move istio-cni to 1-26-0 with its image in one rollout before the run',
    ]);
  });

  it('refuses a downgrade below ztunnel, an agent already off the rule, and an unreadable version', () => {
    const lead = nodeAgentChecks(findNodeAgents([ztunnel('1.25.1', '1-25-1')]), {
      from: '1-25-1',
      to: '1-24-3',
      versions,
    });
    expect(lead.problems).toEqual([
      expect.stringMatching(/ztunnel 1\.25\.1 would lead istiod 1\.24\.3 once 1-25-1 is gone/),
    ]);
    const already = nodeAgentChecks(findNodeAgents([ztunnel('1.26.0', '1-24-3')]), {
      from: '1-24-3',
      to: '1-26-0',
      versions,
    });
    expect(already.problems).toEqual([
      'DaemonSet istio-system/ztunnel (ztunnel) already breaks the skew rule against 1-24-3: ztunnel 1.26.0 would lead istiod 1.24.3 (a node agent (ztunnel, istio-cni) may lag istiod by at most one minor and never lead it)',
    ]);
    const broken = ztunnel('1.24.3', '1-24-3');
    (broken.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!.image =
      'ztunnel@sha256:abc';
    expect(nodeAgentChecks(findNodeAgents([broken]), { from: '1-24-3', to: '1-25-1', versions }).problems).toEqual([
      expect.stringMatching(/istio-system\/ztunnel \(ztunnel\): its image has no readable version/),
    ]);
  });

  it('refuses when ztunnel talks to an istiod that is not installed', () => {
    const { problems } = nodeAgentChecks(findNodeAgents([ztunnel('1.24.3', '1-24-3', '1-23-0')]), {
      from: '1-24-3',
      to: '1-25-1',
      versions,
    });
    expect(problems).toEqual([
      'DaemonSet istio-system/ztunnel (ztunnel) is served by istiod-1-23-0, which is not installed: fix ztunnel before the upgrade',
    ]);
  });

  it('takes the version of a revision not installed yet from its name', () => {
    const { problems } = nodeAgentChecks(findNodeAgents([ztunnel('1.24.3', '1-24-3')]), {
      from: '1-24-3',
      to: '1-27-2',
      versions,
    });
    expect(problems).toEqual([expect.stringMatching(/^upgrading to 1-27-2 \(1\.27\.2\) breaks the skew rule/)]);
  });

  it('refuses an uninstall while an agent still carries the revision, by label, annotation or XDS address', () => {
    const agents = findNodeAgents([ztunnel('1.25.1', '1-25-1', '1-24-3'), cni('1.24.3', 'prod-stable')]);
    const refusals = agentUninstallRefusals(agents, '1-24-3', new Set(['1-24-3', 'prod-stable']));
    expect(refusals.map((r) => r.detail)).toEqual([
      'DaemonSet istio-system/ztunnel (ztunnel) still carries 1-24-3 (XDS_ADDRESS of istiod-1-24-3): revroll never deletes or re-points ztunnel; move it to the new revision first (e.g. helm upgrade ztunnel --set revision=<new>), then uninstall',
      'DaemonSet kube-system/istio-cni-node (istio-cni) still carries 1-24-3 (label istio.io/rev=prod-stable): revroll never deletes or re-points istio-cni; move it to the new revision first (e.g. helm upgrade istio-cni --set revision=<new>), then uninstall',
    ]);
    expect(
      agentUninstallRefusals(findNodeAgents([ztunnel('1.25.1', '1-25-1')]), '1-24-3', new Set(['1-24-3'])),
    ).toEqual([]);
  });
});
