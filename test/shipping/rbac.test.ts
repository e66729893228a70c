/**
 * Least privilege, proven: the chart's ClusterRole and state-namespace Role grant exactly the
 * (verb, group, resource) revroll uses. revroll runs its scenarios against the sandbox
 * (revroll-requests.ts: promotions in both strategies, uninstalls, approvals, aborts with
 * rollbacks, plan, status, `serve`) as the chart's ServiceAccount, with the chart's RBAC objects
 * installed and RBAC enforced by the sandbox: a missing right is a 403 that fails the run. Every
 * request it sent must also be granted by the rules as read here, and every grant must have been
 * used. The templates are read through the skeleton rendering of helm-template.ts with
 * `if .Values.rbac.*` evaluated, both with and without `rbac.uninstall`.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyText } from '../../src/policy/load.ts';
import { requiredPermissions } from '../../src/runner/executor.ts';
import { uninstallKinds } from '../../src/mesh/uninstall.ts';
import { skeleton, valuesChooser } from './helm-template.ts';
import { collectRevrollRequests, STATE_NS, type ObservedRequest, type ScenarioRequests } from './revroll-requests.ts';

const templates = new URL('../../charts/revroll/templates/', import.meta.url);

type Rule = {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
};
type Grants = { cluster: Set<string>; state: Set<string>; rules: Rule[] };

const key = (verb: string, group: string, resource: string) => `${verb} ${group === '' ? 'core' : group}/${resource}`;

function rulesOf(file: string, kind: string, values: Record<string, unknown>): Rule[] {
  const text = readFileSync(new URL(file, templates), 'utf8');
  const docs = parseAllDocuments(skeleton(text, file, valuesChooser(values, file))).map(
    (d) => d.toJS() as { kind?: string; rules?: Rule[] } | null,
  );
  const objects = docs.filter((d) => d !== null);
  expect(objects.map((d) => d.kind)).toEqual([kind]);
  return objects[0]?.rules ?? [];
}

function expand(rules: Rule[]): Set<string> {
  const out = new Set<string>();
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs ?? []) out.add(key(verb, group, resource));
  }
  return out;
}

/** The chart's grants with `rbac.uninstall` on or off (`rbac.create` on). */
function chartGrants(uninstall: boolean): Grants {
  const values = { rbac: { create: true, uninstall } };
  const clusterRules = rulesOf('clusterrole.yaml', 'ClusterRole', values);
  const stateRules = rulesOf('role.yaml', 'Role', values);
  return { cluster: expand(clusterRules), state: expand(stateRules), rules: [...clusterRules, ...stateRules] };
}

/** Whether the chart authorizes a request: the ClusterRole anywhere, the Role in the state namespace. */
function granted(grants: Grants, r: ObservedRequest): boolean {
  const k = key(r.verb, r.group, r.resource);
  return grants.cluster.has(k) || (r.namespace === STATE_NS && grants.state.has(k));
}

const describeRequest = (r: ObservedRequest) =>
  `${key(r.verb, r.group, r.resource)}${r.namespace ? ` in ${r.namespace === STATE_NS ? 'the state namespace' : r.namespace}` : ' (cluster-wide)'}`;

/** Grants no request of `requests` needed: ClusterRole grants a request outside the Role's reach needed, Role grants one in the state namespace. */
function unused(grants: Grants, requests: ObservedRequest[]): string[] {
  const usedCluster = new Set<string>();
  const usedState = new Set<string>();
  for (const r of requests) {
    const k = key(r.verb, r.group, r.resource);
    if (r.namespace === STATE_NS && grants.state.has(k)) usedState.add(k);
    else usedCluster.add(k);
  }
  return [
    ...[...grants.cluster].filter((k) => !usedCluster.has(k)).map((k) => `ClusterRole: ${k}`),
    ...[...grants.state].filter((k) => !usedState.has(k)).map((k) => `Role: ${k}`),
  ];
}

function missing(grants: Grants, requests: ObservedRequest[]): string[] {
  return [...new Set(requests.filter((r) => !granted(grants, r)).map(describeRequest))].sort();
}

let scenarios: ScenarioRequests[] = [];
let all: ObservedRequest[] = [];
let withoutUninstall: ObservedRequest[] = [];

beforeAll(async () => {
  scenarios = await collectRevrollRequests();
  all = scenarios.flatMap((s) => s.requests);
  withoutUninstall = scenarios.filter((s) => !s.uninstalls).flatMap((s) => s.requests);
}, 120_000);

describe('charts/revroll RBAC', () => {
  it('the scenarios exercised the paths that need rights (else the proof would be hollow)', () => {
    const seen = new Set(all.map((r) => key(r.verb, r.group, r.resource)));
    for (const ref of uninstallKinds)
      expect(seen, `uninstall never deleted ${ref.resource}`).toContain(key('delete', ref.group, ref.resource));
    for (const resource of ['deployments', 'statefulsets', 'daemonsets'])
      expect(seen).toContain(key('watch', 'apps', resource));
    expect(seen).toContain(key('create', 'authorization.k8s.io', 'selfsubjectaccessreviews'));
    expect(seen).toContain(key('delete', '', 'pods'));
    expect(seen).toContain(key('create', 'admissionregistration.k8s.io', 'validatingwebhookconfigurations'));
    expect(seen).toContain(key('delete', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations'));
    expect(scenarios.map((s) => s.name)).toEqual(expect.arrayContaining(['tags strategy aborted, serve']));
  });

  it('ran under the chart’s RBAC, enforced: the API server refused none of revroll’s requests', () => {
    expect(all.length).toBeGreaterThan(100);
    expect(all.filter((r) => r.status === 401 || r.status === 403).map(describeRequest)).toEqual([]);
  });

  it('grants every request revroll sent (rbac.uninstall=true)', () => {
    expect(missing(chartGrants(true), all)).toEqual([]);
  });

  it('grants every request of the runs that do not uninstall without rbac.uninstall', () => {
    expect(missing(chartGrants(false), withoutUninstall)).toEqual([]);
  });

  it('grants nothing revroll does not use (rbac.uninstall=true)', () => {
    expect(unused(chartGrants(true), all)).toEqual([]);
  });

  it('grants nothing but what the runs without uninstall use, without rbac.uninstall', () => {
    expect(unused(chartGrants(false), withoutUninstall)).toEqual([]);
  });

  it('has no wildcard, resource name list or non-resource URL', () => {
    for (const uninstall of [true, false]) {
      for (const rule of chartGrants(uninstall).rules) {
        expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...(rule.verbs ?? [])]).not.toContain('*');
        expect(rule.resourceNames).toBeUndefined();
        expect(rule.nonResourceURLs).toBeUndefined();
      }
    }
    // Nor in any value position the skeleton might not reach (comments aside).
    for (const file of ['clusterrole.yaml', 'role.yaml']) {
      const code = readFileSync(new URL(file, templates), 'utf8')
        .split('\n')
        .filter((line) => !line.trim().startsWith('#'));
      expect(code.filter((line) => line.includes('*'))).toEqual([]);
    }
  });

  it("grants what revroll's precheck asks for, so a run's precheck passes", () => {
    const everything = loadPolicyText(
      `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: everything}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves: [{name: all, namespaces: {percent: 100}}]
  gateways: [{name: istio-ingressgateway}]
  workloads: {stragglers: restart}
  promote: {uninstallPrevious: true}
  rollback: {uninstallCanary: true}
`,
      'everything.yaml',
    ).policy;
    if (!everything) throw new Error('the test policy is invalid');
    const checks = (uninstall: boolean) =>
      requiredPermissions(
        uninstall
          ? everything
          : {
              ...everything,
              spec: {
                ...everything.spec,
                promote: { ...everything.spec.promote, uninstallPrevious: false },
                rollback: { ...everything.spec.rollback, uninstallCanary: false },
              },
            },
        STATE_NS,
      );
    expect(missing(chartGrants(true), checks(true))).toEqual([]);
    expect(missing(chartGrants(false), checks(false))).toEqual([]);
  });
});
