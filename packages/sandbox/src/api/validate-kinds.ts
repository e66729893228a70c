/**
 * Per-kind validation beyond pods and workloads, for what revroll and kubectl write: Services
 * (ports, types, the immutable cluster IP), ConfigMaps and Secrets (keys, the 1 MiB limit),
 * Leases, Events (pkg/apis/core/validation/events.go, legacyValidateEvent), webhook
 * configurations (pkg/apis/admissionregistration/validation), RBAC objects
 * (pkg/apis/rbac/validation, incl. the immutable roleRef) and CRD names.
 */
import type { KubeObject, ResourceType } from '../store.ts';
import { jsonEqual } from '../store.ts';
import {
  duplicate,
  forbidden,
  goStringSlice,
  immutable,
  invalidValue,
  notSupported,
  required,
  tooLong,
  type FieldError,
} from './field-errors.ts';
import { configMapKey, dns1123Label, dns1123Subdomain, fullyQualifiedName, qualifiedName } from './name-rules.ts';

export type KindValidator = (object: KubeObject, old: KubeObject | undefined, resource: ResourceType) => FieldError[];

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : {};
const list = (value: unknown): Obj[] => (Array.isArray(value) ? (value as Obj[]).map(obj) : []);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

const MAX_CONFIG_BYTES = 1024 * 1024;

function portRange(value: unknown, field: string): FieldError[] {
  return typeof value === 'number' && value >= 1 && value <= 65535
    ? []
    : [invalidValue(field, typeof value === 'number' ? value : 0, 'must be between 1 and 65535, inclusive')];
}

function service(object: KubeObject, old: KubeObject | undefined): FieldError[] {
  const spec = obj(object.spec);
  const errors: FieldError[] = [];
  const type = text(spec.type) ?? 'ClusterIP';
  const types = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
  if (!types.includes(type)) errors.push(notSupported('spec.type', type, types));
  const ports = list(spec.ports);
  const headless = spec.clusterIP === 'None';
  if (ports.length === 0 && !headless && type !== 'ExternalName') errors.push(required('spec.ports'));
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const at = `spec.ports[${i}]`;
    const name = text(port.name) ?? '';
    if (ports.length > 1 && name === '') errors.push(required(`${at}.name`));
    if (name !== '') {
      for (const msg of dns1123Label(name)) errors.push(invalidValue(`${at}.name`, name, msg));
      if (names.has(name)) errors.push(duplicate(`${at}.name`, name));
      names.add(name);
    }
    errors.push(...portRange(port.port, `${at}.port`));
    const protocol = text(port.protocol);
    if (protocol !== undefined && !['SCTP', 'TCP', 'UDP'].includes(protocol))
      errors.push(notSupported(`${at}.protocol`, protocol, ['SCTP', 'TCP', 'UDP']));
  });
  const before = old ? obj(old.spec) : undefined;
  // The cluster IP never changes once allocated (ExternalName services have none).
  if (before && before.clusterIP !== undefined && before.clusterIP !== '' && type !== 'ExternalName') {
    if (spec.clusterIP !== before.clusterIP) errors.push(immutable('spec.clusterIP', text(spec.clusterIP) ?? ''));
    const ips = Array.isArray(spec.clusterIPs) ? (spec.clusterIPs as string[]) : [];
    if (Array.isArray(before.clusterIPs) && ips[0] !== (before.clusterIPs as string[])[0])
      errors.push(invalidValue('spec.clusterIPs[0]', goStringSlice(ips), 'may not change once set'));
  }
  return errors;
}

function dataKeys(object: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  let size = 0;
  for (const field of ['data', 'binaryData', 'stringData']) {
    for (const [key, value] of Object.entries(obj(object[field]))) {
      for (const msg of configMapKey(key)) errors.push(invalidValue(`${field}[${key}]`, key, msg));
      size += Buffer.byteLength(key) + Buffer.byteLength(String(value));
    }
  }
  for (const key of Object.keys(obj(object.binaryData)))
    if (key in obj(object.data))
      errors.push(invalidValue(`data[${key}]`, key, 'duplicate of key present in binaryData'));
  // The whole object's data counts against the limit; the error names no field ("[]").
  if (size > MAX_CONFIG_BYTES) errors.push(tooLong('[]', MAX_CONFIG_BYTES));
  return errors;
}

function lease(object: KubeObject): FieldError[] {
  const spec = obj(object.spec);
  const errors: FieldError[] = [];
  const duration = spec.leaseDurationSeconds;
  if (typeof duration === 'number' && duration <= 0)
    errors.push(invalidValue('spec.leaseDurationSeconds', duration, 'must be greater than 0'));
  const transitions = spec.leaseTransitions;
  if (typeof transitions === 'number' && transitions < 0)
    errors.push(invalidValue('spec.leaseTransitions', transitions, 'must be greater than or equal to 0'));
  return errors;
}

/** legacyValidateEvent: what every Event must satisfy, whichever API version wrote it. */
export function eventErrors(event: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const namespace = event.metadata.namespace ?? '';
  const involvedNamespace = text(obj(event.involvedObject).namespace) ?? '';
  const mismatch = () => invalidValue('involvedObject.namespace', involvedNamespace, 'does not match event.namespace');
  if (event.eventTime === undefined || event.eventTime === null) {
    // Events about cluster-scoped objects live in `default` (or have no namespace at all).
    if (involvedNamespace === '' ? namespace !== '' && namespace !== 'default' : namespace !== involvedNamespace)
      errors.push(mismatch());
  } else {
    if (involvedNamespace === '' && namespace !== 'default' && namespace !== 'kube-system') errors.push(mismatch());
    const controller = text(event.reportingComponent) ?? '';
    if (controller === '') errors.push(required('reportingController'));
    else for (const msg of qualifiedName(controller)) errors.push(invalidValue('reportingController', controller, msg));
    const instance = text(event.reportingInstance) ?? '';
    if (instance === '') errors.push(required('reportingInstance'));
    if (instance.length > 128) errors.push(invalidValue('reportingInstance', '', 'can have at most 128 characters'));
    const action = text(event.action) ?? '';
    if (action === '') errors.push(required('action'));
    if (action.length > 128) errors.push(invalidValue('action', '', 'can have at most 128 characters'));
    const reason = text(event.reason) ?? '';
    if (reason === '') errors.push(required('reason'));
    if (reason.length > 128) errors.push(invalidValue('reason', '', 'can have at most 128 characters'));
    if ((text(event.message) ?? '').length > 1024)
      errors.push(invalidValue('message', '', 'can have at most 1024 characters'));
  }
  for (const msg of dns1123Subdomain(namespace)) errors.push(invalidValue('namespace', namespace, msg));
  return errors;
}

function webhookErrors(object: KubeObject, mutating: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const names = new Set<string>();
  list(object.webhooks).forEach((hook, i) => {
    const at = `webhooks[${i}]`;
    const name = text(hook.name) ?? '';
    if (name === '') errors.push(required(`${at}.name`));
    else for (const msg of fullyQualifiedName(name)) errors.push(invalidValue(`${at}.name`, name, msg));
    if (names.has(name)) errors.push(duplicate(`${at}.name`, name));
    names.add(name);
    const client = obj(hook.clientConfig);
    const hasUrl = client.url !== undefined;
    const hasService = client.service !== undefined;
    if (hasUrl === hasService) errors.push(required(`${at}.clientConfig`, 'exactly one of url or service is required'));
    if (hasService) {
      const svc = obj(client.service);
      if (!text(svc.name)) errors.push(required(`${at}.clientConfig.service.name`, 'service name is required'));
      if (!text(svc.namespace))
        errors.push(required(`${at}.clientConfig.service.namespace`, 'service namespace is required'));
      if (svc.port !== undefined) errors.push(...portRange(svc.port, `${at}.clientConfig.service.port`));
    }
    errors.push(...ruleErrors(list(hook.rules), at));
    const enums: [string, string[]][] = [
      ['failurePolicy', ['Fail', 'Ignore']],
      ['matchPolicy', ['Equivalent', 'Exact']],
      ['sideEffects', ['None', 'NoneOnDryRun']],
      ...(mutating ? ([['reinvocationPolicy', ['IfNeeded', 'Never']]] as [string, string[]][]) : []),
    ];
    for (const [field, supported] of enums) {
      const value = text(hook[field]);
      if (value !== undefined && !supported.includes(value))
        errors.push(notSupported(`${at}.${field}`, value, supported));
    }
    if (hook.sideEffects === undefined)
      errors.push(required(`${at}.sideEffects`, 'must specify one of None, NoneOnDryRun'));
    const versions = Array.isArray(hook.admissionReviewVersions) ? (hook.admissionReviewVersions as string[]) : [];
    if (versions.length === 0)
      errors.push(required(`${at}.admissionReviewVersions`, 'must specify one of v1, v1beta1'));
    else if (!versions.some((v) => v === 'v1' || v === 'v1beta1'))
      errors.push(
        invalidValue(
          `${at}.admissionReviewVersions`,
          goStringSlice(versions),
          'must include at least one of v1, v1beta1',
        ),
      );
    const timeout = hook.timeoutSeconds;
    if (typeof timeout === 'number' && (timeout < 1 || timeout > 30))
      errors.push(invalidValue(`${at}.timeoutSeconds`, timeout, 'the timeout value must be between 1 and 30 seconds'));
  });
  return errors;
}

function ruleErrors(rules: Obj[], at: string): FieldError[] {
  const errors: FieldError[] = [];
  rules.forEach((rule, j) => {
    const r = `${at}.rules[${j}]`;
    for (const field of ['operations', 'apiGroups', 'apiVersions', 'resources'])
      if (!Array.isArray(rule[field]) || (rule[field] as unknown[]).length === 0)
        errors.push(required(`${r}.${field}`));
    const operations = ['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE'];
    for (const [k, op] of (Array.isArray(rule.operations) ? (rule.operations as string[]) : []).entries())
      if (!operations.includes(op)) errors.push(notSupported(`${r}.operations[${k}]`, op, operations));
    const scope = text(rule.scope);
    if (scope !== undefined && !['*', 'Cluster', 'Namespaced'].includes(scope))
      errors.push(notSupported(`${r}.scope`, scope, ['*', 'Cluster', 'Namespaced']));
  });
  return errors;
}

function policyRules(object: KubeObject, namespaced: boolean): FieldError[] {
  const errors: FieldError[] = [];
  list(object.rules).forEach((rule, i) => {
    const at = `rules[${i}]`;
    const verbs = Array.isArray(rule.verbs) ? rule.verbs : [];
    if (verbs.length === 0) errors.push(required(`${at}.verbs`, 'verbs must contain at least one value'));
    const urls = Array.isArray(rule.nonResourceURLs) ? (rule.nonResourceURLs as string[]) : [];
    if (urls.length > 0) {
      if (namespaced)
        errors.push(
          invalidValue(
            `${at}.nonResourceURLs`,
            goStringSlice(urls),
            'namespaced rules cannot apply to non-resource URLs',
          ),
        );
      const resources = Array.isArray(rule.resources) ? rule.resources : [];
      if ((Array.isArray(rule.apiGroups) && rule.apiGroups.length > 0) || resources.length > 0)
        errors.push(
          invalidValue(
            `${at}.nonResourceURLs`,
            goStringSlice(urls),
            'rules cannot apply to both regular resources and non-resource URLs',
          ),
        );
      return;
    }
    if (!Array.isArray(rule.apiGroups) || rule.apiGroups.length === 0)
      errors.push(required(`${at}.apiGroups`, 'resource rules must supply at least one api group'));
    if (!Array.isArray(rule.resources) || rule.resources.length === 0)
      errors.push(required(`${at}.resources`, 'resource rules must supply at least one resource'));
  });
  return errors;
}

function roleRefText(ref: Obj): string {
  return `rbac.RoleRef{APIGroup:${JSON.stringify(text(ref.apiGroup) ?? '')}, Kind:${JSON.stringify(text(ref.kind) ?? '')}, Name:${JSON.stringify(text(ref.name) ?? '')}}`;
}

function binding(object: KubeObject, old: KubeObject | undefined, cluster: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const ref = obj(object.roleRef);
  if (ref.apiGroup !== 'rbac.authorization.k8s.io')
    errors.push(notSupported('roleRef.apiGroup', text(ref.apiGroup) ?? '', ['rbac.authorization.k8s.io']));
  const kinds = cluster ? ['ClusterRole'] : ['ClusterRole', 'Role'];
  if (!kinds.includes(text(ref.kind) ?? '')) errors.push(notSupported('roleRef.kind', text(ref.kind) ?? '', kinds));
  if (!text(ref.name)) errors.push(required('roleRef.name'));
  list(object.subjects).forEach((subject, i) => {
    const at = `subjects[${i}]`;
    const kind = text(subject.kind) ?? '';
    if (!['Group', 'ServiceAccount', 'User'].includes(kind))
      errors.push(notSupported(`${at}.kind`, kind, ['ServiceAccount', 'User', 'Group']));
    if (!text(subject.name)) errors.push(required(`${at}.name`));
    const group = text(subject.apiGroup) ?? '';
    if (kind === 'ServiceAccount') {
      if (group !== '') errors.push(notSupported(`${at}.apiGroup`, group, ['']));
      if (cluster && !text(subject.namespace)) errors.push(required(`${at}.namespace`));
    } else if ((kind === 'User' || kind === 'Group') && group !== 'rbac.authorization.k8s.io') {
      errors.push(notSupported(`${at}.apiGroup`, group, ['rbac.authorization.k8s.io']));
    }
  });
  if (old && !jsonEqual(object.roleRef, old.roleRef))
    errors.push(invalidValue('roleRef', { go: roleRefText(ref) }, 'cannot change roleRef'));
  return errors;
}

/** A CRD's name must be `<plural>.<group>`: served versions are found by that name. */
function crd(object: KubeObject): FieldError[] {
  const spec = obj(object.spec);
  const names = obj(spec.names);
  const errors: FieldError[] = [];
  const expected = `${text(names.plural) ?? ''}.${text(spec.group) ?? ''}`;
  if (object.metadata.name !== expected)
    errors.push(invalidValue('metadata.name', object.metadata.name ?? '', 'must be spec.names.plural+"."+spec.group'));
  if (!text(spec.group)) errors.push(required('spec.group'));
  if (!text(names.plural)) errors.push(required('spec.names.plural'));
  if (!text(names.kind)) errors.push(required('spec.names.kind'));
  const scope = text(spec.scope);
  if (!['Cluster', 'Namespaced'].includes(scope ?? ''))
    errors.push(notSupported('spec.scope', scope ?? '', ['Cluster', 'Namespaced']));
  const versions = list(spec.versions);
  if (versions.filter((v) => v.storage === true).length !== 1) {
    // The value is the versions slice; Go prints every field, this prints the ones that matter.
    const printed = versions.length
      ? `[]apiextensions.CustomResourceDefinitionVersion{${versions
          .map(
            (v) =>
              `apiextensions.CustomResourceDefinitionVersion{Name:${JSON.stringify(text(v.name) ?? '')}, Served:${v.served === true}, Storage:${v.storage === true}}`,
          )
          .join(', ')}}`
      : '[]apiextensions.CustomResourceDefinitionVersion(nil)';
    errors.push(
      invalidValue('spec.versions', { go: printed }, 'must have exactly one version marked as storage version'),
    );
  }
  return errors;
}

function namespaceSpec(object: KubeObject): FieldError[] {
  const finalizers = Array.isArray(obj(object.spec).finalizers) ? (obj(object.spec).finalizers as string[]) : [];
  const errors: FieldError[] = [];
  for (const f of finalizers) for (const msg of qualifiedName(f)) errors.push(invalidValue('spec.finalizers', f, msg));
  return errors;
}

function secretType(object: KubeObject, old: KubeObject | undefined): FieldError[] {
  if (!old) return [];
  const before = text(old.type) ?? 'Opaque';
  const now = text(object.type) ?? 'Opaque';
  return before === now ? [] : [immutable('type', now)];
}

function immutableData(object: KubeObject, old: KubeObject | undefined): FieldError[] {
  if (!old || old.immutable !== true) return [];
  const errors: FieldError[] = [];
  if (!jsonEqual(object.data, old.data) || !jsonEqual(object.binaryData, old.binaryData))
    errors.push(forbidden('data', 'field is immutable when `immutable` is set'));
  if (object.immutable !== true) errors.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
  return errors;
}

export const kindValidators: Record<string, KindValidator> = {
  services: service,
  configmaps: (o, old) => [...dataKeys(o), ...immutableData(o, old)],
  secrets: (o, old) => [...dataKeys(o), ...secretType(o, old), ...immutableData(o, old)],
  'leases.coordination.k8s.io': lease,
  events: eventErrors,
  namespaces: namespaceSpec,
  'mutatingwebhookconfigurations.admissionregistration.k8s.io': (o) => webhookErrors(o, true),
  'validatingwebhookconfigurations.admissionregistration.k8s.io': (o) => webhookErrors(o, false),
  'roles.rbac.authorization.k8s.io': (o) => policyRules(o, true),
  'clusterroles.rbac.authorization.k8s.io': (o) => policyRules(o, false),
  'rolebindings.rbac.authorization.k8s.io': (o, old) => binding(o, old, false),
  'clusterrolebindings.rbac.authorization.k8s.io': (o, old) => binding(o, old, true),
  'customresourcedefinitions.apiextensions.k8s.io': crd,
};
