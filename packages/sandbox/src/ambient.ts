/**
 * Ambient mode (reference istio-gateways-ambient-multicluster.md §5, §6):
 *
 * - `installZtunnel` / `installCni`: ONE DaemonSet each (`ztunnel`, `istio-cni-node`), not
 *   revisioned, shaped like the `ztunnel` and `istio-cni` charts as istioctl installs them (owner
 *   labels `istio.io/rev` and `operator.istio.io/component=Ztunnel|Cni`, so an istioctl-style
 *   `uninstall --revision` selector matches them). ztunnel's `revision` sets only the pod
 *   annotation `istio.io/rev` and `CA_ADDRESS`/`XDS_ADDRESS=istiod-<rev>.<ns>.svc:15012`: every
 *   node talks to one revision, and re-pointing it rolls the DaemonSet.
 * - `installCniCapture`: the CNI node agent's enrolment (`cni/pkg/util` `PodRedirectionEnabled`):
 *   a pod in a namespace labelled `istio.io/dataplane-mode=ambient` is captured (annotation
 *   `ambient.istio.io/redirection: enabled`) unless it has a sidecar (`sidecar.istio.io/status`),
 *   opts out (`istio.io/dataplane-mode=none`, or the annotation `disabled`), or uses the host
 *   network. Enrolment is not revisioned. Admission is untouched: the injector has no ambient
 *   exclusion, so an ambient namespace labelled `istio.io/rev=<tag>` gets SIDECARS (#60313),
 *   and those pods are then not captured.
 * - `waypointDestinations`: which Services send their traffic through a waypoint
 *   (`istio.io/use-waypoint[-namespace]` on the Service, else on its namespace; `none` opts out;
 *   `istio.io/waypoint-for` `service` or `all`).
 */
import { ISTIO_NAMESPACE, ownerLabels, upsert } from './istio.ts';
import type { Clock } from './clock.ts';
import type { SimTypes } from './controllers/resource-types.ts';
import { isPodReady } from './controllers/pod-util.ts';
import type { KubeObject, Store } from './store.ts';

export const AMBIENT_REDIRECTION = 'ambient.istio.io/redirection';
const HUB = 'docker.io/istio';

export type NodeAgentInstall = { version: string; revision: string; namespace?: string };

function istiodAddress(revision: string, namespace: string): string {
  return `${revision === 'default' ? 'istiod' : `istiod-${revision}`}.${namespace}.svc:15012`;
}

/** The `ztunnel` DaemonSet as the ztunnel chart renders it for `--set revision=<rev>`. */
export function installZtunnel(store: Store, types: SimTypes, install: NodeAgentInstall): void {
  const namespace = install.namespace ?? ISTIO_NAMESPACE;
  const labels = {
    app: 'ztunnel',
    'app.kubernetes.io/name': 'ztunnel',
    ...ownerLabels(install.revision, install.version, 'Ztunnel', namespace),
  };
  const xds = istiodAddress(install.revision, namespace);
  upsert(store, types.serviceaccounts, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'ztunnel', namespace, labels },
  });
  upsert(store, types.daemonsets, {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'ztunnel', namespace, labels },
    spec: {
      selector: { matchLabels: { app: 'ztunnel' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          // No `istio.io/rev` label on the pods (annotation only): Prometheus gets no istio_io_rev.
          labels: {
            app: 'ztunnel',
            'app.kubernetes.io/name': 'ztunnel',
            'sidecar.istio.io/inject': 'false',
            'istio.io/dataplane-mode': 'none',
          },
          annotations: {
            'sidecar.istio.io/inject': 'false',
            'istio.io/rev': install.revision,
            'prometheus.io/port': '15020',
            'prometheus.io/scrape': 'true',
          },
        },
        spec: {
          serviceAccountName: 'ztunnel',
          priorityClassName: 'system-node-critical',
          containers: [
            {
              name: 'istio-proxy',
              image: `${HUB}/ztunnel:${install.version}`,
              args: ['proxy', 'ztunnel'],
              ports: [{ containerPort: 15020, name: 'ztunnel-stats', protocol: 'TCP' }],
              env: [
                { name: 'CA_ADDRESS', value: xds },
                { name: 'XDS_ADDRESS', value: xds },
                { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
                { name: 'INPOD_ENABLED', value: 'true' },
                { name: 'TERMINATION_GRACE_PERIOD_SECONDS', value: '30' },
              ],
              readinessProbe: { httpGet: { port: 15021, path: '/healthz/ready' } },
            },
          ],
        },
      },
    },
  });
}

/** The `istio-cni-node` DaemonSet; `revision` only labels it (the agent's REVISION env is unused). */
export function installCni(store: Store, types: SimTypes, install: NodeAgentInstall): void {
  const namespace = install.namespace ?? ISTIO_NAMESPACE;
  const labels = { 'k8s-app': 'istio-cni-node', ...ownerLabels(install.revision, install.version, 'Cni', namespace) };
  upsert(store, types.serviceaccounts, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'istio-cni', namespace, labels },
  });
  upsert(store, types.daemonsets, {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'istio-cni-node', namespace, labels },
    spec: {
      selector: { matchLabels: { 'k8s-app': 'istio-cni-node' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: {
          labels: {
            'k8s-app': 'istio-cni-node',
            'sidecar.istio.io/inject': 'false',
            'istio.io/dataplane-mode': 'none',
          },
          annotations: {
            'sidecar.istio.io/inject': 'false',
            'prometheus.io/port': '15014',
            'prometheus.io/scrape': 'true',
          },
        },
        spec: {
          serviceAccountName: 'istio-cni',
          priorityClassName: 'system-node-critical',
          containers: [
            {
              name: 'install-cni',
              image: `${HUB}/install-cni:${install.version}`,
              args: ['--log_output_level=info'],
              env: [
                { name: 'REVISION', value: install.revision },
                { name: 'AMBIENT_ENABLED', value: 'true' },
              ],
            },
          ],
        },
      },
    },
  });
}

function isAmbientNamespace(namespace: KubeObject | undefined): boolean {
  return namespace?.metadata.labels?.['istio.io/dataplane-mode'] === 'ambient';
}

/** `PodRedirectionEnabled`, plus what the node agent needs to act: a node and a pod network. */
export function shouldCapture(namespace: KubeObject | undefined, pod: KubeObject): boolean {
  const labels = pod.metadata.labels ?? {};
  const annotations = pod.metadata.annotations ?? {};
  const spec = (pod.spec ?? {}) as { hostNetwork?: boolean; nodeName?: string };
  if (!isAmbientNamespace(namespace) && labels['istio.io/dataplane-mode'] !== 'ambient') return false;
  if (labels['istio.io/dataplane-mode'] === 'none') return false;
  if (annotations['sidecar.istio.io/status'] !== undefined) return false; // ztunnel and a sidecar: not supported
  if (annotations[AMBIENT_REDIRECTION] === 'disabled') return false;
  if (spec.hostNetwork) return false;
  if (pod.metadata.deletionTimestamp) return false;
  return (pod.status as { podIP?: string } | undefined)?.podIP !== undefined;
}

/**
 * The CNI node agent's enrolment: annotates captured pods, un-annotates pods whose namespace left
 * ambient. Only where an `istio-cni-node` pod is Ready on the pod's node (during a CNI restart,
 * new ambient pods on that node wait). Writes happen on the next turn, never inside a store
 * event (every watcher must see events in order).
 */
export function installCniCapture(options: {
  store: Store;
  types: SimTypes;
  clock: Clock;
  podsInNamespace: (namespace: string) => KubeObject[];
}): { quiescent(): boolean; close(): void } {
  const { store, types, clock, podsInNamespace } = options;
  const dirty = new Set<string>();
  let cancel: (() => void) | undefined;
  let closed = false;
  const agentReadyOn = (node: string | undefined) =>
    node !== undefined &&
    podsInNamespace(ISTIO_NAMESPACE).some(
      (p) =>
        p.metadata.labels?.['k8s-app'] === 'istio-cni-node' &&
        (p.spec as { nodeName?: string }).nodeName === node &&
        isPodReady(p),
    );

  function sync(namespaceName: string, podName: string): void {
    const pod = store.tryGet(types.pods, namespaceName, podName);
    if (!pod) return;
    const namespace = store.tryGet(types.namespaces, undefined, namespaceName);
    const annotated = pod.metadata.annotations?.[AMBIENT_REDIRECTION] === 'enabled';
    const capture = shouldCapture(namespace, pod);
    if (capture === annotated) return;
    if (capture && !agentReadyOn((pod.spec as { nodeName?: string }).nodeName)) return;
    const annotations = { ...(pod.metadata.annotations ?? {}) };
    if (capture) annotations[AMBIENT_REDIRECTION] = 'enabled';
    else delete annotations[AMBIENT_REDIRECTION];
    store.update(types.pods, namespaceName, { ...pod, metadata: { ...pod.metadata, annotations } });
  }

  function mark(pods: KubeObject[]): void {
    for (const pod of pods) dirty.add(`${pod.metadata.namespace}/${pod.metadata.name}`);
    if (dirty.size === 0 || cancel || closed) return;
    cancel = clock.after(0, () => {
      cancel = undefined;
      const batch = [...dirty];
      dirty.clear();
      for (const key of batch) {
        const [ns, name] = key.split('/') as [string, string];
        sync(ns, name);
      }
    });
  }

  const ambientPods = () =>
    store
      .list(types.namespaces)
      .items.filter(isAmbientNamespace)
      .flatMap((ns) => podsInNamespace(ns.metadata.name ?? ''));

  const stop = store.watch(undefined, (event) => {
    if (closed || event.type === 'DELETED') return;
    if (event.resource === types.pods) {
      // A node agent turning Ready enrols the ambient pods already waiting on its node.
      if (event.object.metadata.labels?.['k8s-app'] === 'istio-cni-node') {
        if (isPodReady(event.object)) mark(ambientPods());
        return;
      }
      mark([event.object]);
      return;
    }
    if (event.resource === types.namespaces && (isAmbientNamespace(event.object) || isAmbientNamespace(event.previous)))
      mark(podsInNamespace(event.object.metadata.name ?? ''));
  });
  return {
    quiescent: () => dirty.size === 0 && !cancel,
    close() {
      closed = true;
      stop();
      cancel?.();
    },
  };
}

type WaypointRef = { name: string; namespace: string };

/** `GetUseWaypoint`: the Service's own label wins, else its namespace's; `none` opts out. */
function useWaypoint(
  labels: Record<string, string> | undefined,
  ownNamespace: string,
): WaypointRef | 'none' | undefined {
  const name = labels?.['istio.io/use-waypoint'];
  if (name === undefined) return undefined;
  if (name === 'none') return 'none';
  return { name, namespace: labels?.['istio.io/use-waypoint-namespace'] ?? ownNamespace };
}

/** Services (namespace, workload = the Service's `app` selector) whose traffic crosses the waypoint. */
export function waypointDestinations(
  store: Store,
  types: SimTypes,
  waypoint: KubeObject,
): { namespace: string; workload: string }[] {
  const name = waypoint.metadata.name ?? '';
  const wpNamespace = waypoint.metadata.namespace ?? '';
  const forLabel = waypoint.metadata.labels?.['istio.io/waypoint-for'] ?? 'service';
  if (forLabel !== 'service' && forLabel !== 'all') return [];
  const out: { namespace: string; workload: string }[] = [];
  for (const ns of store.list(types.namespaces).items) {
    if (!isAmbientNamespace(ns)) continue;
    const nsName = ns.metadata.name ?? '';
    const nsChoice = useWaypoint(ns.metadata.labels, nsName);
    for (const service of store.list(types.services, { namespace: nsName }).items) {
      const choice = useWaypoint(service.metadata.labels, nsName) ?? nsChoice;
      if (!choice || choice === 'none' || choice.name !== name || choice.namespace !== wpNamespace) continue;
      const workload = (service.spec as { selector?: Record<string, string> } | undefined)?.selector?.app;
      if (workload) out.push({ namespace: nsName, workload });
    }
  }
  return out;
}
