/**
 * The built-in resource types the sandbox serves, with the names, scopes, short names and
 * categories of kube-apiserver 1.32 (kubectl resolves `deploy`, `svc`, `all` from them), plus
 * the CustomResourceDefinition machinery that turns an applied CRD into a served type.
 */
import type { ResourceType, Store } from './store.ts';
import { installCrdSync } from './api/crd.ts';
import { createDefaulter } from './api/defaults.ts';
import { validateWrite } from './api/validation.ts';

type Spec = Omit<ResourceType, 'singular'> & { singular?: string };

const all = ['all'];
const status = ['status'];

function define(spec: Spec): ResourceType {
  return { ...spec, singular: spec.singular ?? spec.kind.toLowerCase() };
}

function core(kind: string, plural: string, extra: Partial<Spec> = {}): ResourceType {
  return define({ group: '', version: 'v1', kind, plural, namespaced: true, ...extra });
}

function grouped(
  group: string,
  version: string,
  kind: string,
  plural: string,
  extra: Partial<Spec> = {},
): ResourceType {
  return define({ group, version, kind, plural, namespaced: true, ...extra });
}

export const builtinResources: ResourceType[] = [
  core('Namespace', 'namespaces', { namespaced: false, shortNames: ['ns'], subresources: status }),
  core('Node', 'nodes', { namespaced: false, shortNames: ['no'], subresources: status }),
  core('Pod', 'pods', { shortNames: ['po'], categories: all, subresources: status }),
  core('Service', 'services', { shortNames: ['svc'], categories: all, subresources: status }),
  core('ConfigMap', 'configmaps', { shortNames: ['cm'] }),
  core('Secret', 'secrets'),
  core('Event', 'events', { shortNames: ['ev'] }),
  core('ServiceAccount', 'serviceaccounts', { shortNames: ['sa'] }),
  core('Endpoints', 'endpoints', { shortNames: ['ep'], singular: 'endpoints' }),
  grouped('apps', 'v1', 'Deployment', 'deployments', {
    shortNames: ['deploy'],
    categories: all,
    subresources: status,
    hasSpec: true,
    generation: 'spec+annotations',
  }),
  grouped('apps', 'v1', 'StatefulSet', 'statefulsets', {
    shortNames: ['sts'],
    categories: all,
    subresources: status,
    hasSpec: true,
  }),
  grouped('apps', 'v1', 'DaemonSet', 'daemonsets', {
    shortNames: ['ds'],
    categories: all,
    subresources: status,
    hasSpec: true,
  }),
  grouped('apps', 'v1', 'ReplicaSet', 'replicasets', {
    shortNames: ['rs'],
    categories: all,
    subresources: status,
    hasSpec: true,
  }),
  grouped('apps', 'v1', 'ControllerRevision', 'controllerrevisions'),
  grouped('batch', 'v1', 'Job', 'jobs', { categories: all, subresources: status, hasSpec: true }),
  grouped('batch', 'v1', 'CronJob', 'cronjobs', {
    shortNames: ['cj'],
    categories: all,
    subresources: status,
    hasSpec: true,
  }),
  grouped('admissionregistration.k8s.io', 'v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', {
    namespaced: false,
    generation: 'webhooks',
  }),
  grouped('admissionregistration.k8s.io', 'v1', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', {
    namespaced: false,
    generation: 'webhooks',
  }),
  grouped('coordination.k8s.io', 'v1', 'Lease', 'leases'),
  grouped('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices'),
  grouped('rbac.authorization.k8s.io', 'v1', 'Role', 'roles'),
  grouped('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'),
  grouped('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', { namespaced: false }),
  grouped('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', { namespaced: false }),
  grouped('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', {
    shortNames: ['pdb'],
    subresources: status,
    hasSpec: true,
  }),
  grouped('autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', {
    shortNames: ['hpa'],
    categories: all,
    subresources: status,
    hasSpec: true,
  }),
  grouped('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', {
    namespaced: false,
    shortNames: ['crd', 'crds'],
    subresources: status,
    hasSpec: true,
  }),
  grouped('authorization.k8s.io', 'v1', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews', { namespaced: false }),
  grouped('authorization.k8s.io', 'v1', 'SubjectAccessReview', 'subjectaccessreviews', { namespaced: false }),
];

/**
 * Registers every built-in type and keeps CRD-declared types in sync with the CRDs stored
 * (whoever writes them: the HTTP API or the simulation directly).
 */
export function registerBuiltins(store: Store): void {
  for (const type of builtinResources) store.registerType(type);
  // Every write is defaulted and validated, whoever writes (the API or the simulation).
  store.setPipeline({ defaults: createDefaulter(), validate: validateWrite });
  installCrdSync(store, isBuiltin);
}

/** The namespaces every cluster has; kubectl's context defaults to `default`. Idempotent. */
export const SYSTEM_NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

export function createSystemNamespaces(store: Store): void {
  const namespaces = store.findType('', 'namespaces');
  if (!namespaces) throw new Error('registerBuiltins(store) must run first');
  for (const name of SYSTEM_NAMESPACES) {
    if (!store.tryGet(namespaces, undefined, name)) {
      store.create(
        namespaces,
        undefined,
        {
          metadata: { name, labels: { 'kubernetes.io/metadata.name': name } },
          spec: { finalizers: ['kubernetes'] },
          status: { phase: 'Active' },
        },
        { skipHooks: true },
      );
    }
  }
}

/** Kinds that only accept `create` (reviews are computed, never stored). */
export const CREATE_ONLY = new Set([
  'selfsubjectaccessreviews.authorization.k8s.io',
  'subjectaccessreviews.authorization.k8s.io',
]);

const BUILTIN_KEYS = new Set(builtinResources.map((t) => `${t.group}/${t.plural}`));

export function isBuiltin(type: Pick<ResourceType, 'group' | 'plural'>): boolean {
  return BUILTIN_KEYS.has(`${type.group}/${type.plural}`);
}
