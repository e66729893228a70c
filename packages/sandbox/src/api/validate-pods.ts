/**
 * Pods, pod templates and the workloads that carry them, as pkg/apis/core/validation
 * (ValidatePodSpec, validateContainers, ValidatePodUpdate) and pkg/apis/apps/validation
 * (ValidateDeployment/ReplicaSet/StatefulSet/DaemonSet and their updates) validate them.
 * Covered: containers (name, image, duplicate names, ports), restart policies, the selector and
 * its match with the template labels, replica counts, strategies, and what an update may not
 * change (a pod's spec beyond images and a few fields, a workload's selector, a StatefulSet's
 * spec beyond its updatable fields). The pod-update message omits the spec diff the real server
 * appends after it.
 */
import type { KubeObject } from '../store.ts';
import { jsonEqual } from '../store.ts';
import {
  duplicate,
  forbidden,
  goLabelSelector,
  goStringMap,
  immutable,
  invalidValue,
  notSupported,
  required,
  type FieldError,
} from './field-errors.ts';
import { dns1123Label } from './name-rules.ts';
import { labelSelectorRequirements, matches, type LabelSelector } from '../selectors.ts';
import { cloneJson } from '../clone.ts';

type Obj = Record<string, unknown>;
type Container = { name?: string; image?: string; ports?: Obj[]; restartPolicy?: string };
type PodSpec = {
  containers?: Container[];
  initContainers?: Container[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
};

const obj = (value: unknown): Obj => (typeof value === 'object' && value !== null ? (value as Obj) : {});
const list = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);

function containerErrors(containers: Container[], field: string, seen: Set<string>, init: boolean): FieldError[] {
  const errors: FieldError[] = [];
  containers.forEach((c, i) => {
    const at = `${field}[${i}]`;
    if (!c.name) errors.push(required(`${at}.name`));
    else {
      for (const msg of dns1123Label(c.name)) errors.push(invalidValue(`${at}.name`, c.name, msg));
      if (seen.has(c.name)) errors.push(duplicate(`${at}.name`, c.name));
      seen.add(c.name);
    }
    if (!c.image) errors.push(required(`${at}.image`));
    if (init && c.restartPolicy !== undefined && c.restartPolicy !== 'Always')
      errors.push(notSupported(`${at}.restartPolicy`, c.restartPolicy, ['Always']));
    if (!init && c.restartPolicy !== undefined)
      errors.push(forbidden(`${at}.restartPolicy`, 'may not be set for non-init containers'));
    list<Obj>(c.ports).forEach((p, j) => {
      const port = p.containerPort;
      if (typeof port !== 'number' || port < 1 || port > 65535)
        errors.push(
          invalidValue(
            `${at}.ports[${j}].containerPort`,
            typeof port === 'number' ? port : 0,
            'must be between 1 and 65535, inclusive',
          ),
        );
      if (p.protocol !== undefined && !['SCTP', 'TCP', 'UDP'].includes(String(p.protocol)))
        errors.push(notSupported(`${at}.ports[${j}].protocol`, String(p.protocol), ['SCTP', 'TCP', 'UDP']));
    });
  });
  return errors;
}

/** ValidatePodSpec (the parts clients get wrong); `field` is `spec` or `spec.template.spec`. */
export function podSpecErrors(spec: PodSpec, field: string, allowedRestart?: readonly string[]): FieldError[] {
  const errors: FieldError[] = [];
  const containers = list<Container>(spec.containers);
  if (containers.length === 0) errors.push(required(`${field}.containers`));
  const seen = new Set<string>();
  errors.push(...containerErrors(list<Container>(spec.initContainers), `${field}.initContainers`, seen, true));
  errors.push(...containerErrors(containers, `${field}.containers`, seen, false));
  const restart = spec.restartPolicy;
  const supported = allowedRestart ?? ['Always', 'OnFailure', 'Never'];
  if (restart !== undefined && !supported.includes(restart))
    errors.push(notSupported(`${field}.restartPolicy`, restart, supported));
  return errors;
}

export function validatePod(pod: KubeObject, field: string): FieldError[] {
  return podSpecErrors(obj(pod.spec) as PodSpec, field);
}

/** ValidatePodUpdate: a pod's spec only changes in these places. */
export function validatePodUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const normalize = (spec: PodSpec): Obj => {
    const copy = cloneJson(spec) as Obj & PodSpec;
    for (const c of [...list<Container>(copy.containers), ...list<Container>(copy.initContainers)]) delete c.image;
    delete copy.activeDeadlineSeconds;
    delete copy.tolerations;
    return copy;
  };
  if (jsonEqual(normalize(obj(pod.spec) as PodSpec), normalize(obj(old.spec) as PodSpec))) return [];
  return [
    forbidden(
      'spec',
      'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
    ),
  ];
}

function selectorErrors(selector: LabelSelector | undefined, field: string, what: string): FieldError[] {
  if (!selector) return [required(field)];
  const empty = Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
  if (empty) return [invalidValue(field, goLabelSelector(selector), `empty selector is invalid for ${what}`)];
  const errors: FieldError[] = [];
  for (const [i, e] of (selector.matchExpressions ?? []).entries()) {
    const op = e.operator;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(op))
      errors.push(
        notSupported(`${field}.matchExpressions[${i}].operator`, op, ['In', 'NotIn', 'Exists', 'DoesNotExist']),
      );
    else if ((op === 'In' || op === 'NotIn') && (e.values ?? []).length === 0)
      errors.push(
        required(`${field}.matchExpressions[${i}].values`, "must be specified when `operator` is 'In' or 'NotIn'"),
      );
    else if ((op === 'Exists' || op === 'DoesNotExist') && (e.values ?? []).length > 0)
      errors.push(
        forbidden(
          `${field}.matchExpressions[${i}].values`,
          "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        ),
      );
  }
  return errors;
}

function nonNegative(value: unknown, field: string): FieldError[] {
  return typeof value === 'number' && value < 0
    ? [invalidValue(field, value, 'must be greater than or equal to 0')]
    : [];
}

const WHAT: Record<string, string> = {
  'deployments.apps': 'deployment',
  'replicasets.apps': 'replicaset',
  'statefulsets.apps': 'statefulset',
  'daemonsets.apps': 'daemonset',
};

function isZero(value: unknown): boolean {
  return value === 0 || value === '0' || value === '0%';
}

function strategyErrors(key: string, spec: Obj): FieldError[] {
  const errors: FieldError[] = [];
  if (key === 'deployments.apps') {
    const strategy = obj(spec.strategy);
    const type = strategy.type as string | undefined;
    if (type !== undefined && type !== 'Recreate' && type !== 'RollingUpdate')
      errors.push(notSupported('spec.strategy.type', type, ['Recreate', 'RollingUpdate']));
    if (type === 'Recreate' && strategy.rollingUpdate !== undefined)
      errors.push(forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
    const rolling = obj(strategy.rollingUpdate);
    if (type !== 'Recreate' && isZero(rolling.maxUnavailable) && isZero(rolling.maxSurge))
      errors.push(
        invalidValue(
          'spec.strategy.rollingUpdate.maxUnavailable',
          // IntOrString prints through its String(): `0`.
          { go: String(rolling.maxUnavailable) },
          'may not be 0 when `maxSurge` is 0',
        ),
      );
    const deadline = spec.progressDeadlineSeconds;
    if (typeof deadline === 'number' && deadline <= ((spec.minReadySeconds as number | undefined) ?? 0))
      errors.push(invalidValue('spec.progressDeadlineSeconds', deadline, 'must be greater than minReadySeconds'));
  }
  if (key === 'statefulsets.apps') {
    const policy = spec.podManagementPolicy as string | undefined;
    if (policy !== undefined && policy !== 'OrderedReady' && policy !== 'Parallel')
      errors.push(notSupported('spec.podManagementPolicy', policy, ['OrderedReady', 'Parallel']));
    const type = obj(spec.updateStrategy).type as string | undefined;
    if (type !== undefined && type !== 'OnDelete' && type !== 'RollingUpdate')
      errors.push(notSupported('spec.updateStrategy.type', type, ['OnDelete', 'RollingUpdate']));
  }
  if (key === 'daemonsets.apps') {
    const type = obj(spec.updateStrategy).type as string | undefined;
    if (type !== undefined && type !== 'OnDelete' && type !== 'RollingUpdate')
      errors.push(notSupported('spec.updateStrategy.type', type, ['OnDelete', 'RollingUpdate']));
  }
  return errors;
}

/** The workload rules shared by Deployments, ReplicaSets, StatefulSets and DaemonSets. */
export function validateWorkload(key: string, object: KubeObject): FieldError[] {
  const spec = obj(object.spec);
  const template = obj(spec.template);
  const labels = obj(template.metadata).labels as Record<string, string> | undefined;
  const selector = spec.selector as LabelSelector | undefined;
  const errors: FieldError[] = [...selectorErrors(selector, 'spec.selector', WHAT[key] ?? 'workload')];
  if (errors.length === 0 && selector && !matches(labelSelectorRequirements(selector), labels ?? {}))
    errors.push(
      invalidValue(
        'spec.template.metadata.labels',
        goStringMap(labels ?? {}),
        '`selector` does not match template `labels`',
      ),
    );
  errors.push(...nonNegative(spec.replicas, 'spec.replicas'));
  errors.push(...nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  errors.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  // Workload pods are restarted by their controller: only `Always` (StatefulSet, DaemonSet and
  // Deployment templates; a ReplicaSet's too).
  errors.push(...podSpecErrors(obj(template.spec) as PodSpec, 'spec.template.spec', ['Always']));
  errors.push(...strategyErrors(key, spec));
  return errors;
}

const STATEFULSET_UPDATABLE = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
];

export function validateWorkloadUpdate(key: string, object: KubeObject, old: KubeObject): FieldError[] {
  const spec = obj(object.spec);
  const before = obj(old.spec);
  const errors: FieldError[] = [];
  if (key !== 'statefulsets.apps' && !jsonEqual(spec.selector, before.selector))
    errors.push(immutable('spec.selector', goLabelSelector(spec.selector as LabelSelector | undefined)));
  if (key === 'statefulsets.apps') {
    const rest = (s: Obj) => Object.fromEntries(Object.entries(s).filter(([k]) => !STATEFULSET_UPDATABLE.includes(k)));
    if (!jsonEqual(rest(spec), rest(before)))
      errors.push(
        forbidden(
          'spec',
          "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ),
      );
  }
  return errors;
}
