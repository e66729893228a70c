/**
 * The resource types the simulation reads and writes, looked up once from the store's registry
 * (registered by `registerBuiltins`). A missing required type is a wiring error, reported at start.
 */
import type { ResourceType, Store } from '../store.ts';

export type SimTypes = {
  namespaces: ResourceType;
  pods: ResourceType;
  services: ResourceType;
  configmaps: ResourceType;
  serviceaccounts: ResourceType;
  deployments: ResourceType;
  replicasets: ResourceType;
  statefulsets: ResourceType;
  daemonsets: ResourceType;
  mutatingwebhookconfigurations: ResourceType;
  validatingwebhookconfigurations: ResourceType;
  /** Optional: Events and Nodes are written when the API serves them. */
  events?: ResourceType;
  nodes?: ResourceType;
};

const REQUIRED: [keyof SimTypes, string, string][] = [
  ['namespaces', '', 'namespaces'],
  ['pods', '', 'pods'],
  ['services', '', 'services'],
  ['configmaps', '', 'configmaps'],
  ['serviceaccounts', '', 'serviceaccounts'],
  ['deployments', 'apps', 'deployments'],
  ['replicasets', 'apps', 'replicasets'],
  ['statefulsets', 'apps', 'statefulsets'],
  ['daemonsets', 'apps', 'daemonsets'],
  ['mutatingwebhookconfigurations', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations'],
  ['validatingwebhookconfigurations', 'admissionregistration.k8s.io', 'validatingwebhookconfigurations'],
];

export function simTypes(store: Store): SimTypes {
  const found: Partial<SimTypes> = {};
  const missing: string[] = [];
  for (const [key, group, plural] of REQUIRED) {
    const type = store.findType(group, plural);
    if (type) found[key] = type;
    else missing.push(group ? `${plural}.${group}` : plural);
  }
  if (missing.length > 0) {
    throw new Error(
      `sandbox: resource types not registered in the store: ${missing.join(', ')} (call registerBuiltins first)`,
    );
  }
  const events = store.findType('', 'events');
  const nodes = store.findType('', 'nodes');
  return { ...(found as SimTypes), ...(events ? { events } : {}), ...(nodes ? { nodes } : {}) };
}
