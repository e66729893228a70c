/**
 * Server-side defaulting for the fields clients read back: Deployment `replicas` (rollout status
 * compares against it), webhook policies (the real server adds `matchPolicy: Equivalent`,
 * `reinvocationPolicy: Never`, `rules[].scope: "*"`), Service cluster IPs, namespace phase.
 * Every default is idempotent, so re-defaulting on update never bumps `generation`. The store runs
 * it on every write, the simulation's included: objects are stored defaulted, as on a real server
 * where controllers write through the API too.
 *
 * A Service update that omits its allocated cluster IP keeps it (the service registry's
 * patchAllocatedValues); changing it is then a validation error.
 */
import { resourceKey, type KubeObject, type ResourceType } from '../store.ts';

type Obj = Record<string, unknown>;

function obj(parent: Obj, key: string): Obj {
  const value = parent[key];
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Obj;
  const fresh: Obj = {};
  parent[key] = fresh;
  return fresh;
}

function setDefault(target: Obj, key: string, value: unknown): void {
  if (target[key] === undefined || target[key] === null) target[key] = value;
}

function list(value: unknown): Obj[] {
  return Array.isArray(value) ? (value.filter((v) => typeof v === 'object' && v !== null) as Obj[]) : [];
}

function defaultContainer(container: Obj): void {
  const image = String(container.image ?? '');
  const tag = image.includes('@') ? 'digest' : (/:([^/:]+)$/.exec(image)?.[1] ?? 'latest');
  setDefault(container, 'imagePullPolicy', tag === 'latest' ? 'Always' : 'IfNotPresent');
  setDefault(container, 'terminationMessagePath', '/dev/termination-log');
  setDefault(container, 'terminationMessagePolicy', 'File');
  setDefault(container, 'resources', {});
  for (const port of list(container.ports)) setDefault(port, 'protocol', 'TCP');
}

function defaultPodSpec(spec: Obj): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'securityContext', {});
  for (const c of [...list(spec.containers), ...list(spec.initContainers)]) defaultContainer(c);
}

function defaultTemplate(spec: Obj): void {
  defaultPodSpec(obj(obj(spec, 'template'), 'spec'));
}

function defaultWebhooks(object: KubeObject, mutating: boolean): void {
  for (const hook of list(object.webhooks)) {
    setDefault(hook, 'failurePolicy', 'Fail');
    setDefault(hook, 'matchPolicy', 'Equivalent');
    setDefault(hook, 'namespaceSelector', {});
    setDefault(hook, 'objectSelector', {});
    setDefault(hook, 'timeoutSeconds', 10);
    if (mutating) setDefault(hook, 'reinvocationPolicy', 'Never');
    const service = (hook.clientConfig as Obj | undefined)?.service as Obj | undefined;
    if (service) setDefault(service, 'port', 443);
    for (const rule of list(hook.rules)) setDefault(rule, 'scope', '*');
  }
}

export type Defaulter = (resource: ResourceType, object: KubeObject, old: KubeObject | undefined) => void;

/** Creates a defaulter; it owns the Service cluster-IP allocator (10.96.0.0/12, in order). */
export function createDefaulter(): Defaulter {
  let nextIp = 10;
  const allocateIp = () => {
    const n = nextIp++;
    return `10.96.${Math.floor(n / 256) % 256}.${n % 256}`;
  };

  return (resource, object, old) => {
    const hadSpec = object.spec !== undefined;
    const spec = obj(object, 'spec');
    const isCreate = old === undefined;
    switch (resourceKey(resource)) {
      case 'namespaces':
        // The namespace strategy sets this label on every write (NamespaceDefaultLabelName, GA 1.22).
        if (object.metadata.name)
          object.metadata.labels = { ...object.metadata.labels, 'kubernetes.io/metadata.name': object.metadata.name };
        if (!Array.isArray(spec.finalizers)) spec.finalizers = ['kubernetes'];
        if (isCreate) object.status = { phase: 'Active' };
        break;
      case 'pods':
        defaultPodSpec(spec);
        if (isCreate && object.status === undefined) object.status = { phase: 'Pending', qosClass: 'BestEffort' };
        break;
      case 'deployments.apps':
        setDefault(spec, 'replicas', 1);
        setDefault(spec, 'revisionHistoryLimit', 10);
        setDefault(spec, 'progressDeadlineSeconds', 600);
        setDefault(spec, 'strategy', {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
        });
        defaultTemplate(spec);
        break;
      case 'statefulsets.apps':
        setDefault(spec, 'replicas', 1);
        setDefault(spec, 'revisionHistoryLimit', 10);
        setDefault(spec, 'podManagementPolicy', 'OrderedReady');
        setDefault(spec, 'updateStrategy', { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
        defaultTemplate(spec);
        break;
      case 'daemonsets.apps':
        setDefault(spec, 'revisionHistoryLimit', 10);
        setDefault(spec, 'updateStrategy', {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
        });
        defaultTemplate(spec);
        break;
      case 'replicasets.apps':
        setDefault(spec, 'replicas', 1);
        defaultTemplate(spec);
        break;
      case 'services':
        defaultService(spec, old, isCreate, allocateIp);
        break;
      case 'mutatingwebhookconfigurations.admissionregistration.k8s.io':
        defaultWebhooks(object, true);
        break;
      case 'validatingwebhookconfigurations.admissionregistration.k8s.io':
        defaultWebhooks(object, false);
        break;
    }
    if (Object.keys(spec).length === 0 && !hadSpec) delete object.spec;
  };
}

function defaultService(spec: Obj, old: KubeObject | undefined, isCreate: boolean, allocateIp: () => string): void {
  setDefault(spec, 'type', 'ClusterIP');
  setDefault(spec, 'sessionAffinity', 'None');
  if (spec.type !== 'ExternalName') {
    const before = old?.spec as Obj | undefined;
    if (!isCreate && (spec.clusterIP === undefined || spec.clusterIP === '') && before?.clusterIP !== undefined) {
      spec.clusterIP = before.clusterIP;
      if (spec.clusterIPs === undefined && before.clusterIPs !== undefined) spec.clusterIPs = before.clusterIPs;
    }
    if (isCreate && (spec.clusterIP === undefined || spec.clusterIP === '')) spec.clusterIP = allocateIp();
    if (spec.clusterIP !== undefined) setDefault(spec, 'clusterIPs', [spec.clusterIP]);
    setDefault(spec, 'ipFamilies', ['IPv4']);
    setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
  }
  for (const port of list(spec.ports)) {
    setDefault(port, 'protocol', 'TCP');
    setDefault(port, 'targetPort', port.port);
  }
}
