/**
 * Contract: with `rbac: 'enforce'`, requests carry ServiceAccount tokens from the TokenRequest
 * API and are authorized against the Roles, ClusterRoles and bindings stored, with the real 401
 * and 403 bodies; access reviews answer from the same authorizer; the admin keeps full access.
 *
 * Sources: plugin/pkg/auth/authorizer/rbac (RuleAllows, appliesTo, the allowed-by reasons),
 * k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go (forbiddenMessage),
 * k8s.io/apimachinery/pkg/api/errors (NewForbidden), pkg/registry/core/serviceaccount
 * (TokenRequest), plugin/pkg/auth/authorizer/rbac/bootstrappolicy (system:discovery,
 * system:basic-user), wire §0.2 (kubectl sends no token over http).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { sender, type Send } from './helpers.ts';

let sandbox: Sandbox;
let admin: Send;
let token: string;

const RBAC = '/apis/rbac.authorization.k8s.io/v1';

beforeAll(async () => {
  sandbox = await createSandbox({
    scenario: {
      name: 'rbac',
      nodes: 1,
      startLatencyMs: 20,
      namespaces: [{ name: 'team' }, { name: 'other' }],
    } as never,
    rbac: 'enforce',
  });
  admin = sender(sandbox.url);
  await admin('POST', '/api/v1/namespaces/team/serviceaccounts', { metadata: { name: 'bot' } });
  await admin('POST', `${RBAC}/namespaces/team/roles`, {
    metadata: { name: 'config-reader' },
    rules: [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['allowed'], verbs: ['get'] },
      { apiGroups: ['apps'], resources: ['deployments/status'], verbs: ['patch'] },
    ],
  });
  await admin('POST', `${RBAC}/namespaces/team/rolebindings`, {
    metadata: { name: 'bot-reads' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'config-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'bot' }],
  });
  await admin('POST', `${RBAC}/clusterroles`, {
    metadata: { name: 'ns-lister' },
    rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['list'] }],
  });
  await admin('POST', `${RBAC}/clusterrolebindings`, {
    metadata: { name: 'bot-lists-ns' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ns-lister' },
    subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'team' }],
  });
  const issued = await admin('POST', '/api/v1/namespaces/team/serviceaccounts/bot/token', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  });
  token = (issued.body.status as { token: string }).token;
});

afterAll(async () => {
  await sandbox.close();
});

const asBot: Send = (method, path, body, options) => admin(method, path, body, { ...options, token });

describe('tokens (TokenRequest)', () => {
  it('issues a token for a ServiceAccount with the real TokenRequest shape', async () => {
    const reply = await admin('POST', '/api/v1/namespaces/team/serviceaccounts/bot/token', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['revroll'] },
    });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: 'bot', namespace: 'team' },
      spec: { audiences: ['revroll'], expirationSeconds: 3600, boundObjectRef: null },
    });
    const status = reply.body.status as { token: string; expirationTimestamp: string };
    expect(status.token.split('.')).toHaveLength(3);
    expect(Date.parse(status.expirationTimestamp) - sandbox.clock.now().getTime()).toBeGreaterThan(3590_000);
  });

  it('refuses durations under ten minutes, and tokens of unknown accounts', async () => {
    const short = await admin('POST', '/api/v1/namespaces/team/serviceaccounts/bot/token', {
      spec: { expirationSeconds: 60 },
    });
    expect(short.body.message).toBe(
      'TokenRequest.authentication.k8s.io "bot" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
    );
    const missing = await admin('POST', '/api/v1/namespaces/team/serviceaccounts/ghost/token', { spec: {} });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('serviceaccounts "ghost" not found');
  });

  it('answers an unknown bearer token with 401 Unauthorized', async () => {
    const reply = await admin('GET', '/api/v1/namespaces', undefined, { token: 'not-a-token' });
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
  });

  it('stops accepting a token once its ServiceAccount is gone (the token is bound to its uid)', async () => {
    await admin('POST', '/api/v1/namespaces/other/serviceaccounts', { metadata: { name: 'temp' } });
    const temp = sandbox.api.issueToken('other', 'temp').token;
    expect((await admin('GET', '/version', undefined, { token: temp })).status).toBe(200);
    await admin('DELETE', '/api/v1/namespaces/other/serviceaccounts/temp');
    await admin('POST', '/api/v1/namespaces/other/serviceaccounts', { metadata: { name: 'temp' } });
    expect((await admin('GET', '/version', undefined, { token: temp })).status).toBe(401);
  });
});

describe('authorization (RBAC rule semantics)', () => {
  it('allows what the Role grants in its namespace only', async () => {
    expect((await asBot('GET', '/api/v1/namespaces/team/configmaps')).status).toBe(200);
    const elsewhere = await asBot('GET', '/api/v1/namespaces/other/configmaps');
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'configmaps is forbidden: User "system:serviceaccount:team:bot" cannot list resource "configmaps" in API group "" in the namespace "other"',
      reason: 'Forbidden',
      details: { kind: 'configmaps' },
      code: 403,
    });
  });

  it('names the object, the group and the subresource in the 403', async () => {
    const named = await asBot('DELETE', '/api/v1/namespaces/team/configmaps/x');
    expect(named.body.message).toBe(
      'configmaps "x" is forbidden: User "system:serviceaccount:team:bot" cannot delete resource "configmaps" in API group "" in the namespace "team"',
    );
    expect(named.body.details).toEqual({ name: 'x', kind: 'configmaps' });
    const scaled = await asBot(
      'PATCH',
      '/apis/apps/v1/namespaces/team/deployments/web',
      {},
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(scaled.body.message).toBe(
      'deployments.apps "web" is forbidden: User "system:serviceaccount:team:bot" cannot patch resource "deployments" in API group "apps" in the namespace "team"',
    );
    expect(scaled.body.details).toEqual({ name: 'web', group: 'apps', kind: 'deployments' });
  });

  it('matches subresources exactly: deployments/status is granted, deployments is not', async () => {
    await admin('POST', '/apis/apps/v1/namespaces/team/deployments', {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      },
    });
    const status = await asBot(
      'PATCH',
      '/apis/apps/v1/namespaces/team/deployments/web/status',
      { status: {} },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(status.status).toBe(200);
  });

  it('honours resourceNames: only the named object, and never a list', async () => {
    await admin('POST', '/api/v1/namespaces/team/secrets', { metadata: { name: 'allowed' } });
    await admin('POST', '/api/v1/namespaces/team/secrets', { metadata: { name: 'hidden' } });
    expect((await asBot('GET', '/api/v1/namespaces/team/secrets/allowed')).status).toBe(200);
    expect((await asBot('GET', '/api/v1/namespaces/team/secrets/hidden')).status).toBe(403);
    expect((await asBot('GET', '/api/v1/namespaces/team/secrets')).status).toBe(403);
  });

  it('grants ClusterRoleBindings cluster-wide, with "at the cluster scope" when refused', async () => {
    expect((await asBot('GET', '/api/v1/namespaces')).status).toBe(200);
    const get = await asBot('GET', '/api/v1/namespaces/team');
    expect(get.body.message).toBe(
      'namespaces "team" is forbidden: User "system:serviceaccount:team:bot" cannot get resource "namespaces" in API group "" at the cluster scope',
    );
  });

  it('lets every authenticated user read discovery (bootstrap system:discovery)', async () => {
    expect((await asBot('GET', '/api')).status).toBe(200);
    expect((await asBot('GET', '/apis/apps/v1')).status).toBe(200);
    expect((await asBot('GET', '/version')).status).toBe(200);
  });

  it('adds the RBAC reason when a binding refers to a missing role', async () => {
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, {
      metadata: { name: 'dangling' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'nope' },
      subjects: [{ kind: 'ServiceAccount', name: 'bot' }],
    });
    const reply = await asBot('GET', '/api/v1/namespaces/team/pods');
    expect(reply.body.message).toBe(
      'pods is forbidden: User "system:serviceaccount:team:bot" cannot list resource "pods" in API group "" in the namespace "team": RBAC: role.rbac.authorization.k8s.io "nope" not found',
    );
    await admin('DELETE', `${RBAC}/namespaces/team/rolebindings/dangling`);
  });

  it('keeps the admin all-powerful: the admin token, and no token at all (kubectl over http)', async () => {
    expect((await admin('GET', '/api/v1/namespaces/other/secrets')).status).toBe(200);
    const withToken = await admin('GET', '/api/v1/namespaces/other/secrets', undefined, {
      token: 'revroll-sandbox-token',
    });
    expect(withToken.status).toBe(200);
  });

  it('throws client-node ApiException 403 for a kubeconfig acting as the ServiceAccount', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(sandbox.kubeconfigFor('team', 'bot'));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    expect((await core.listNamespacedConfigMap({ namespace: 'team' })).items).toBeDefined();
    const error = await core.listNamespacedPod({ namespace: 'team' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(k8s.ApiException);
    expect((error as k8s.ApiException<string>).code).toBe(403);
  });
});

describe('access reviews answer from the same authorizer', () => {
  it('SelfSubjectAccessReview: allowed with the RBAC reason, or not allowed', async () => {
    const review = (verb: string, resource: string, namespace: string) =>
      asBot('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb, group: '', resource, namespace } },
      });
    const yes = await review('list', 'configmaps', 'team');
    expect(yes.status).toBe(201);
    expect(yes.body.status).toEqual({
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "bot-reads/team" of Role "config-reader" to ServiceAccount "bot/team"',
    });
    expect((await review('list', 'configmaps', 'other')).body.status).toEqual({ allowed: false });
  });

  it('SubjectAccessReview: for another user, by ClusterRoleBinding', async () => {
    const reply = await admin('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'system:serviceaccount:team:bot',
        groups: ['system:serviceaccounts', 'system:authenticated'],
        resourceAttributes: { verb: 'list', resource: 'namespaces' },
      },
    });
    expect(reply.body.status).toEqual({
      allowed: true,
      reason:
        'RBAC: allowed by ClusterRoleBinding "bot-lists-ns" of ClusterRole "ns-lister" to ServiceAccount "bot/team"',
    });
  });
});
