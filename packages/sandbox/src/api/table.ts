/**
 * Server-side printing (`Accept: ...;as=Table;g=meta.k8s.io;v=v1`), what `kubectl get` renders.
 * Columns follow kube-apiserver 1.32's printers for the kinds revroll users look at; other kinds
 * get Name/Age (custom resources also their CRD's additionalPrinterColumns). `priority: 1`
 * columns show only with `-o wide`.
 */
import { resourceKey, type KubeObject } from '../store.ts';
import { formatSelector, labelSelectorRequirements, type LabelSelector } from '../selectors.ts';
import type { Served } from './served.ts';
import type { PrinterColumn } from './crd.ts';
import { firstJsonPathMatch } from './printer-jsonpath.ts';

export type ColumnDefinition = { name: string; type: string; format: string; description: string; priority: number };
type Cell = string | number | boolean | null;
type Printer = { columns: ColumnDefinition[]; cells: (object: KubeObject, now: Date) => Cell[] };
type Obj = Record<string, unknown>;

function column(name: string, type = 'string', priority = 0, format = ''): ColumnDefinition {
  const descriptions: Record<string, string> = {
    Name: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
    Age: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.',
  };
  return { name, type, format: name === 'Name' ? 'name' : format, description: descriptions[name] ?? name, priority };
}

/** kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

function since(timestamp: unknown, now: Date): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now.getTime() - t);
}

const age = (o: KubeObject, now: Date) => since(o.metadata.creationTimestamp, now);
const field = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((v, k) => (typeof v === 'object' && v !== null ? (v as Obj)[k] : undefined), o);
const num = (value: unknown) => (typeof value === 'number' ? value : 0);
const arr = (value: unknown) => (Array.isArray(value) ? (value as Obj[]) : []);
const orNone = (value: unknown) => (value === undefined || value === null || value === '' ? '<none>' : String(value));

function podTemplateColumns(o: KubeObject): Cell[] {
  const containers = arr(field(o, 'spec', 'template', 'spec', 'containers'));
  const selector = field(o, 'spec', 'selector') as LabelSelector | undefined;
  let selectorText = '<none>';
  try {
    selectorText = selector ? formatSelector(labelSelectorRequirements(selector)) || '<none>' : '<none>';
  } catch {
    selectorText = '<invalid>';
  }
  return [containers.map((c) => c.name).join(','), containers.map((c) => c.image).join(','), selectorText];
}

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  let reason = String(field(o, 'status', 'reason') ?? field(o, 'status', 'phase') ?? 'Pending');
  for (const status of arr(field(o, 'status', 'containerStatuses'))) {
    const waiting = field(status, 'state', 'waiting', 'reason');
    const terminated = field(status, 'state', 'terminated', 'reason');
    if (typeof waiting === 'string' && waiting !== '') reason = waiting;
    else if (typeof terminated === 'string' && terminated !== '') reason = terminated;
  }
  return reason;
}

function eventObject(o: KubeObject): string {
  const involved = (o.involvedObject ?? o.regarding) as Obj | undefined;
  return `${String(involved?.kind ?? '').toLowerCase()}/${String(involved?.name ?? '')}`;
}

const printers: Record<string, Printer> = {
  namespaces: {
    columns: [column('Name'), column('Status'), column('Age')],
    cells: (o, now) => [o.metadata.name ?? '', String(field(o, 'status', 'phase') ?? 'Active'), age(o, now)],
  },
  pods: {
    columns: [
      column('Name'),
      column('Ready'),
      column('Status'),
      column('Restarts'),
      column('Age'),
      column('IP', 'string', 1),
      column('Node', 'string', 1),
      column('Nominated Node', 'string', 1),
      column('Readiness Gates', 'string', 1),
    ],
    cells: (o, now) => {
      // Native sidecars (init containers with restartPolicy Always, like Istio's proxy since 1.27's
      // default) count in READY, as kubectl shows them on a real cluster.
      const sidecars = arr(field(o, 'spec', 'initContainers')).filter((c) => c.restartPolicy === 'Always');
      const sidecarNames = new Set(sidecars.map((c) => c.name));
      const statuses = [
        ...arr(field(o, 'status', 'containerStatuses')),
        ...arr(field(o, 'status', 'initContainerStatuses')).filter((s) => sidecarNames.has(s.name)),
      ];
      const total = arr(field(o, 'spec', 'containers')).length + sidecars.length;
      const ready = statuses.filter((s) => s.ready === true).length;
      const restarts = statuses.reduce((sum, s) => sum + num(s.restartCount), 0);
      const gates = arr(field(o, 'spec', 'readinessGates'));
      return [
        o.metadata.name ?? '',
        `${ready}/${total}`,
        podStatus(o),
        String(restarts),
        age(o, now),
        orNone(field(o, 'status', 'podIP')),
        orNone(field(o, 'spec', 'nodeName')),
        orNone(field(o, 'status', 'nominatedNodeName')),
        gates.length === 0 ? '<none>' : `0/${gates.length}`,
      ];
    },
  },
  'deployments.apps': {
    columns: [
      column('Name'),
      column('Ready'),
      column('Up-to-date', 'integer'),
      column('Available', 'integer'),
      column('Age'),
      column('Containers', 'string', 1),
      column('Images', 'string', 1),
      column('Selector', 'string', 1),
    ],
    cells: (o, now) => [
      o.metadata.name ?? '',
      `${num(field(o, 'status', 'readyReplicas'))}/${num(field(o, 'spec', 'replicas'))}`,
      num(field(o, 'status', 'updatedReplicas')),
      num(field(o, 'status', 'availableReplicas')),
      age(o, now),
      ...podTemplateColumns(o),
    ],
  },
  'statefulsets.apps': {
    columns: [
      column('Name'),
      column('Ready'),
      column('Age'),
      column('Containers', 'string', 1),
      column('Images', 'string', 1),
    ],
    cells: (o, now) => [
      o.metadata.name ?? '',
      `${num(field(o, 'status', 'readyReplicas'))}/${num(field(o, 'spec', 'replicas'))}`,
      age(o, now),
      ...podTemplateColumns(o).slice(0, 2),
    ],
  },
  'replicasets.apps': {
    columns: [
      column('Name'),
      column('Desired', 'integer'),
      column('Current', 'integer'),
      column('Ready', 'integer'),
      column('Age'),
      column('Containers', 'string', 1),
      column('Images', 'string', 1),
      column('Selector', 'string', 1),
    ],
    cells: (o, now) => [
      o.metadata.name ?? '',
      num(field(o, 'spec', 'replicas')),
      num(field(o, 'status', 'replicas')),
      num(field(o, 'status', 'readyReplicas')),
      age(o, now),
      ...podTemplateColumns(o),
    ],
  },
  'daemonsets.apps': {
    columns: [
      column('Name'),
      column('Desired', 'integer'),
      column('Current', 'integer'),
      column('Ready', 'integer'),
      column('Up-to-date', 'integer'),
      column('Available', 'integer'),
      column('Node Selector'),
      column('Age'),
    ],
    cells: (o, now) => {
      const nodeSelector = field(o, 'spec', 'template', 'spec', 'nodeSelector') as Record<string, string> | undefined;
      const selectorText = nodeSelector
        ? Object.entries(nodeSelector)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')
        : '';
      const s = (k: string) => num(field(o, 'status', k));
      return [
        o.metadata.name ?? '',
        s('desiredNumberScheduled'),
        s('currentNumberScheduled'),
        s('numberReady'),
        s('updatedNumberScheduled'),
        s('numberAvailable'),
        selectorText || '<none>',
        age(o, now),
      ];
    },
  },
  services: {
    columns: [
      column('Name'),
      column('Type'),
      column('Cluster-IP'),
      column('External-IP'),
      column('Port(s)'),
      column('Age'),
      column('Selector', 'string', 1),
    ],
    cells: (o, now) => {
      const ports = arr(field(o, 'spec', 'ports')).map(
        (p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`,
      );
      const ingress = arr(field(o, 'status', 'loadBalancer', 'ingress')).map((i) => i.ip ?? i.hostname);
      const selector = field(o, 'spec', 'selector') as Record<string, string> | undefined;
      const type = String(field(o, 'spec', 'type') ?? 'ClusterIP');
      const external = ingress.length > 0 ? ingress.join(',') : type === 'LoadBalancer' ? '<pending>' : '<none>';
      return [
        o.metadata.name ?? '',
        type,
        orNone(field(o, 'spec', 'clusterIP')),
        external,
        ports.join(',') || '<none>',
        age(o, now),
        selector
          ? Object.entries(selector)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')
          : '<none>',
      ];
    },
  },
  configmaps: {
    columns: [column('Name'), column('Data', 'integer'), column('Age')],
    cells: (o, now) => [
      o.metadata.name ?? '',
      Object.keys((o.data as Obj | undefined) ?? {}).length +
        Object.keys((o.binaryData as Obj | undefined) ?? {}).length,
      age(o, now),
    ],
  },
  secrets: {
    columns: [column('Name'), column('Type'), column('Data', 'integer'), column('Age')],
    cells: (o, now) => [
      o.metadata.name ?? '',
      String(o.type ?? 'Opaque'),
      Object.keys((o.data as Obj | undefined) ?? {}).length,
      age(o, now),
    ],
  },
  'mutatingwebhookconfigurations.admissionregistration.k8s.io': {
    columns: [column('Name'), column('Webhooks', 'integer'), column('Age')],
    cells: (o, now) => [o.metadata.name ?? '', arr(o.webhooks).length, age(o, now)],
  },
  'validatingwebhookconfigurations.admissionregistration.k8s.io': {
    columns: [column('Name'), column('Webhooks', 'integer'), column('Age')],
    cells: (o, now) => [o.metadata.name ?? '', arr(o.webhooks).length, age(o, now)],
  },
  events: {
    columns: [
      column('Last Seen'),
      column('Type'),
      column('Reason'),
      column('Object'),
      column('Message'),
      column('Subobject', 'string', 1),
      column('Source', 'string', 1),
      column('First Seen', 'string', 1),
      column('Count', 'integer', 1),
      column('Name', 'string', 1),
    ],
    cells: (o, now) => {
      const last =
        o.lastTimestamp ?? field(o, 'series', 'lastObservedTime') ?? o.eventTime ?? o.metadata.creationTimestamp;
      const first = o.firstTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp;
      const source = (o.source as Obj | undefined)?.component ?? o.reportingComponent ?? '';
      return [
        since(last, now),
        String(o.type ?? ''),
        String(o.reason ?? ''),
        eventObject(o),
        String(o.message ?? ''),
        String(field(o, 'involvedObject', 'fieldPath') ?? ''),
        String(source),
        since(first, now),
        num(o.count) || 1,
        o.metadata.name ?? '',
      ];
    },
  },
  'horizontalpodautoscalers.autoscaling': {
    columns: [
      column('Name'),
      column('Reference'),
      column('Targets'),
      column('MinPods', 'integer'),
      column('MaxPods', 'integer'),
      column('Replicas', 'integer'),
      column('Age'),
    ],
    cells: (o, now) => {
      const ref = field(o, 'spec', 'scaleTargetRef') as Obj | undefined;
      const metrics = arr(field(o, 'spec', 'metrics'));
      const current = arr(field(o, 'status', 'currentMetrics'));
      const targets = metrics.map((m, i) => {
        const target = field(m, 'resource', 'target', 'averageUtilization');
        const value = field(current[i], 'resource', 'current', 'averageUtilization');
        return `${field(m, 'resource', 'name') === undefined ? '' : `${String(field(m, 'resource', 'name'))}: `}${value === undefined ? '<unknown>' : `${String(value)}%`}/${target === undefined ? '<unknown>' : `${String(target)}%`}`;
      });
      return [
        o.metadata.name ?? '',
        ref ? `${String(ref.kind)}/${String(ref.name)}` : '<none>',
        targets.join(', ') || '<none>',
        num(field(o, 'spec', 'minReplicas')) || 1,
        num(field(o, 'spec', 'maxReplicas')),
        num(field(o, 'status', 'currentReplicas')),
        age(o, now),
      ];
    },
  },
  'leases.coordination.k8s.io': {
    columns: [column('Name'), column('Holder'), column('Age')],
    cells: (o, now) => [o.metadata.name ?? '', String(field(o, 'spec', 'holderIdentity') ?? ''), age(o, now)],
  },
  'customresourcedefinitions.apiextensions.k8s.io': {
    columns: [column('Name'), column('Created At', 'date')],
    cells: (o) => [o.metadata.name ?? '', o.metadata.creationTimestamp ?? ''],
  },
};

const defaultPrinter: Printer = {
  columns: [column('Name'), column('Age')],
  cells: (o, now) => [o.metadata.name ?? '', age(o, now)],
};

/** Evaluates a CRD printer column's JSONPath: the first match, as kube-apiserver's table convertor. */
function simpleJsonPath(o: KubeObject, path: string): unknown {
  return firstJsonPathMatch(o, path);
}

function customPrinter(columns: PrinterColumn[]): Printer {
  return {
    columns: [
      column('Name'),
      ...columns.map((c) => column(c.name, c.type === 'date' ? 'string' : c.type, c.priority ?? 0, c.format ?? '')),
      ...(columns.some((c) => c.name === 'Age') ? [] : [column('Age')]),
    ],
    cells: (o, now) => [
      o.metadata.name ?? '',
      ...columns.map((c) => {
        const value = simpleJsonPath(o, c.jsonPath);
        if (c.type === 'date') return since(value, now);
        if (value === undefined || value === null) return null;
        return typeof value === 'object' ? JSON.stringify(value) : (value as Cell);
      }),
      ...(columns.some((c) => c.name === 'Age') ? [] : [age(o, now)]),
    ],
  };
}

function printerFor(served: Served): Printer {
  if (served.custom && served.printerColumns.length > 0) return customPrinter(served.printerColumns);
  return printers[resourceKey(served.storage)] ?? defaultPrinter;
}

export type TableOptions = {
  includeObject: 'None' | 'Metadata' | 'Object';
  now: Date;
  /** `meta.k8s.io/v1` (default) or `meta.k8s.io/v1beta1`, as the Accept header asked. */
  groupVersion?: string;
};

/** Builds a meta.k8s.io/v1 Table from stored objects (cells read the storage form). */
export function toTable(
  served: Served,
  objects: readonly KubeObject[],
  resourceVersion: string,
  options: TableOptions,
  listMeta: Record<string, unknown> = {},
): Record<string, unknown> {
  const printer = printerFor(served);
  const groupVersion = options.groupVersion || 'meta.k8s.io/v1';
  return {
    kind: 'Table',
    apiVersion: groupVersion,
    metadata: { resourceVersion, ...listMeta },
    columnDefinitions: printer.columns,
    rows: objects.map((o) => ({
      cells: printer.cells(o, options.now),
      object:
        options.includeObject === 'None'
          ? undefined
          : options.includeObject === 'Object'
            ? served.fromStorage(o)
            : { kind: 'PartialObjectMetadata', apiVersion: groupVersion, metadata: o.metadata },
    })),
  };
}

export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept);
}
