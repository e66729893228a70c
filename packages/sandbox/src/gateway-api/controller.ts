/**
 * Istio's per-revision Gateway API controllers, as each istiod runs them (reference
 * istio-gateways-ambient-multicluster.md §1-§4, §6): a deployment controller that
 * server-side-applies a Gateway's ServiceAccount, Deployment and Service, a status writer, and
 * the class controller that creates missing built-in GatewayClasses. Every revision with a Ready
 * istiod pod runs them independently, behind its own work queue, and acts only on the Gateways
 * `IsMine` gives it (ownership.ts). Nothing here decides for the product: two revisions that both
 * claim a Gateway both apply, alternately, and its Deployment flaps, as on a real cluster.
 *
 * Events that re-queue Gateways follow `NewDeploymentController`: the Gateway itself (generation,
 * labels or annotations), its namespace, its GatewayClass, the objects it owns, any tag change
 * (tag webhooks, tag Services, the default validator: every Gateway), istiod changes (every
 * Gateway). Routes and the Gateway's pods re-queue it for status.
 */
import type { Clock } from '../clock.ts';
import { createDefaulter } from '../api/defaults.ts';
import { isPodReady } from '../controllers/pod-util.ts';
import { isoSeconds } from '../time.ts';
import type { SimTypes } from '../controllers/resource-types.ts';
import { labelSelectorRequirements, matches } from '../selectors.ts';
import { jsonEqual, type ChangeEvent, type KubeObject, type ResourceType, type Store } from '../store.ts';
import { GATEWAY_API_GROUP } from '../crds/gateway-api-crds.ts';
import { applyRendered } from './apply.ts';
import {
  classFor,
  classInfos,
  controllerVersionDecision,
  CONTROLLER_VERSION,
  isManaged,
  isMine,
  keepsConfigOnOwnershipLoss,
  type ClassInfo,
  type RevisionInfo,
  type TagSnapshot,
} from './ownership.ts';
import { GATEWAY_NAME_LABEL, renderGateway, renderedName, type GatewaySpec } from './render.ts';
import { gatewayStatus, routeParentStatus, type ResolvedService, type RouteAttachment } from './status.ts';

export type GatewayOwnership = {
  namespace: string;
  name: string;
  className: string;
  /** Running revisions that claim it now (two or more: they fight over its Deployment). */
  owners: string[];
  /** The Programmed condition's status (`Unknown` while nobody owns it). */
  programmed: string;
};

export type GatewayController = {
  /** Running revisions that own the Gateway (IsMine and a known class), in name order. */
  owners(namespace: string, name: string): string[];
  /**
   * Whether pods connected to `revision` still get config for the Gateway (#59959): false when
   * that revision is running, lacks the fix, and no longer owns it.
   */
  configServed(namespace: string, gateway: string, revision: string): boolean;
  gateways(): GatewayOwnership[];
  revisions(): RevisionInfo[];
  /** No Gateway is queued for any revision. */
  quiescent(): boolean;
  /** The last reconcile errors (bounded), for diagnosing a simulation that misbehaves. */
  syncErrors(): readonly string[];
  close(): void;
};

type Queue = { keys: Set<string>; cancel?: () => void };
type GatewayTypes = { gateways?: ResourceType; gatewayclasses?: ResourceType; httproutes?: ResourceType };

const ISTIOD = labelSelectorRequirements({ matchLabels: { app: 'istiod' } });
const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

export function createGatewayController(options: {
  store: Store;
  clock: Clock;
  types: SimTypes;
  podsInNamespace: (namespace: string) => KubeObject[];
  /** Simulated ms between an event and the revision's reconcile (its work queue). */
  reconcileDelayMs?: number;
}): GatewayController {
  const { store, clock, types, podsInNamespace } = options;
  const delay = options.reconcileDelayMs ?? 100;
  const queues = new Map<string, Queue>();
  const defaulter = createDefaulter();
  let revisionCache: RevisionInfo[] | undefined;
  let tagCache: TagSnapshot | undefined;
  const errors: string[] = [];
  let nextServiceIp = 10;
  let closed = false;
  /** The revision whose reconcile is writing right now (store events are synchronous). */
  let writer: string | undefined;

  const gw = (): GatewayTypes => ({
    gateways: store.findType(GATEWAY_API_GROUP, 'gateways'),
    gatewayclasses: store.findType(GATEWAY_API_GROUP, 'gatewayclasses'),
    httproutes: store.findType(GATEWAY_API_GROUP, 'httproutes'),
  });
  const now = () => isoSeconds(clock.now());

  function revisions(): RevisionInfo[] {
    revisionCache ??= discoverRevisions(store, types, podsInNamespace);
    return revisionCache;
  }

  function tags(): TagSnapshot {
    tagCache ??= tagSnapshot(store, types);
    return tagCache;
  }

  function allGatewayKeys(): string[] {
    const type = gw().gateways;
    return type ? store.list(type).items.map((g) => keyOf(g.metadata.namespace ?? '', g.metadata.name ?? '')) : [];
  }

  function enqueue(...keys: string[]): void {
    if (closed || keys.length === 0) return;
    for (const revision of revisions()) {
      // A controller does not wake up for its own write (it would be a no-op): the others do,
      // one reconcile delay later, so two owners alternate instead of overwriting at once.
      if (revision.name === writer) continue;
      let queue = queues.get(revision.name);
      if (!queue) queues.set(revision.name, (queue = { keys: new Set() }));
      for (const key of keys) queue.keys.add(key);
      if (!queue.cancel) {
        const q = queue;
        const name = revision.name;
        q.cancel = clock.after(delay, () => {
          q.cancel = undefined;
          flush(name, q);
        });
      }
    }
  }

  function flush(revisionName: string, queue: Queue): void {
    if (closed) return;
    const keys = [...queue.keys];
    queue.keys.clear();
    const revision = revisions().find((r) => r.name === revisionName);
    if (!revision?.running) return; // a stopped istiod runs no controller
    ensureClasses(revision);
    for (const key of keys) {
      try {
        writer = revision.name;
        reconcile(revision, key);
      } catch (error) {
        // A work queue retries; a throw from a timer would take the process down. The error is
        // kept for diagnosis, as the workload controllers keep theirs.
        errors.push(`${revision.name} ${key}: ${error instanceof Error ? error.message : String(error)}`);
        if (errors.length > 50) errors.shift();
        writer = undefined;
        if (!closed) enqueue(key);
      } finally {
        writer = undefined;
      }
    }
  }

  /** The class controller: any istiod creates a missing built-in class, never updates one. */
  function ensureClasses(revision: RevisionInfo): void {
    const type = gw().gatewayclasses;
    if (!type) return;
    for (const info of classInfos(revision)) {
      let gc = store.tryGet(type, undefined, info.className);
      if (!gc)
        gc = store.create(type, undefined, {
          apiVersion: `${GATEWAY_API_GROUP}/v1`,
          kind: 'GatewayClass',
          metadata: { name: info.className },
          spec: { controllerName: info.controller, description: info.description },
        });
      const spec = (gc.spec ?? {}) as { controllerName?: string };
      if (spec.controllerName !== info.controller) continue;
      const conditions = ((gc.status ?? {}) as { conditions?: { type: string; status: string }[] }).conditions ?? [];
      if (conditions.some((c) => c.type === 'Accepted' && c.status === 'True')) continue;
      store.update(
        type,
        undefined,
        {
          ...gc,
          status: {
            conditions: [
              {
                type: 'Accepted',
                status: 'True',
                reason: 'Accepted',
                message: 'Handled by Istio controller',
                observedGeneration: gc.metadata.generation ?? 1,
                lastTransitionTime: now(),
              },
            ],
          },
        },
        { subresource: 'status' },
      );
    }
  }

  function classInfoOf(revision: RevisionInfo, gateway: KubeObject): ClassInfo | undefined {
    const className = (gateway.spec as GatewaySpec | undefined)?.gatewayClassName ?? '';
    const classType = gw().gatewayclasses;
    const gc = classType ? store.tryGet(classType, undefined, className) : undefined;
    return classFor(revision, className, (gc?.spec as { controllerName?: string } | undefined)?.controllerName);
  }

  function owns(revision: RevisionInfo, gateway: KubeObject): ClassInfo | undefined {
    const info = classInfoOf(revision, gateway);
    if (!info) return undefined; // "skipping unknown controller"
    const ns = store.tryGet(types.namespaces, undefined, gateway.metadata.namespace ?? '');
    const meta = {
      labels: gateway.metadata.labels ?? {},
      namespaceLabels: ns ? (ns.metadata.labels ?? {}) : undefined,
    };
    return isMine(revision, meta, tags()) ? info : undefined;
  }

  function reconcile(revision: RevisionInfo, key: string): void {
    const type = gw().gateways;
    if (!type) return;
    const [namespace, name] = key.split('/') as [string, string];
    let gateway = store.tryGet(type, namespace, name);
    if (!gateway) return;
    const info = owns(revision, gateway);
    if (!info) return;
    if (info.template && isManaged((gateway.spec as GatewaySpec | undefined)?.addresses)) {
      const decision = controllerVersionDecision(gateway.metadata.annotations?.['gateway.istio.io/controller-version']);
      if (decision !== 'skip') {
        if (decision === 'take-over') gateway = markControllerVersion(type, gateway);
        deploy(revision, gateway, info);
      }
    }
    writeStatus(type, gateway, info);
    writeRouteStatus(gateway);
  }

  /** Written through status RBAC in istiod; a metadata write here (the store keeps status separate). */
  function markControllerVersion(type: ResourceType, gateway: KubeObject): KubeObject {
    return store.update(type, gateway.metadata.namespace, {
      ...gateway,
      metadata: {
        ...gateway.metadata,
        annotations: {
          ...gateway.metadata.annotations,
          'gateway.istio.io/controller-version': String(CONTROLLER_VERSION),
        },
      },
    });
  }

  function deploy(revision: RevisionInfo, gateway: KubeObject, info: ClassInfo): void {
    const rendered = renderGateway(gateway, info, revision);
    const at = now();
    for (const { kind, object } of rendered.objects) {
      const type =
        kind === 'Deployment' ? types.deployments : kind === 'Service' ? types.services : types.serviceaccounts;
      applyRendered(store, type, object, {
        now: at,
        normalize: kind === 'Deployment' ? normalizeDeployment : undefined,
        createDefaults:
          kind === 'Deployment' ? deploymentCreateDefaults : kind === 'Service' ? serviceCreateDefaults : undefined,
      });
    }
  }

  // What kube-apiserver defaults, reused from the sandbox's own defaulting (the store is written
  // directly here): pod template fields on every write, Deployment fields on create.
  function normalizeDeployment(object: KubeObject): KubeObject {
    const template = (object.spec as { template?: { spec?: unknown } }).template;
    if (template?.spec) {
      const pod: KubeObject = { metadata: {}, spec: template.spec };
      defaulter(types.pods, pod, pod);
      template.spec = pod.spec;
    }
    return object;
  }
  function deploymentCreateDefaults(object: KubeObject): KubeObject {
    defaulter(types.deployments, object, undefined);
    return object;
  }
  function serviceCreateDefaults(object: KubeObject): KubeObject {
    const spec = (object.spec ?? {}) as Record<string, unknown>;
    // A range of its own, so these never collide with the API server's allocator (10.96.0.0/12).
    const n = nextServiceIp++;
    const ip = `10.100.${Math.floor(n / 256) % 256}.${n % 256}`;
    Object.assign(spec, { clusterIP: ip, clusterIPs: [ip], ipFamilies: ['IPv4'], sessionAffinity: 'None' });
    object.spec = spec;
    return object;
  }

  function resolveServices(gateway: KubeObject, info: ClassInfo): ResolvedService[] {
    const namespace = gateway.metadata.namespace ?? '';
    const spec = (gateway.spec ?? {}) as GatewaySpec;
    const hosts = isManaged(spec.addresses)
      ? [`${renderedName(gateway, info)}.${namespace}.svc.cluster.local`]
      : (spec.addresses ?? []).filter((a) => a.type === 'Hostname' && a.value).map((a) => a.value as string);
    return hosts.map((host) => {
      const [serviceName, serviceNamespace = namespace] = host.split('.');
      const service = store.tryGet(types.services, serviceNamespace, serviceName ?? '');
      const selector = (service?.spec as { selector?: Record<string, string> } | undefined)?.selector;
      const requirements =
        selector && Object.keys(selector).length > 0 ? labelSelectorRequirements({ matchLabels: selector }) : undefined;
      const instances = requirements
        ? podsInNamespace(serviceNamespace).filter(
            (p) =>
              !p.metadata.deletionTimestamp &&
              (p.status as { podIP?: string } | undefined)?.podIP !== undefined &&
              matches(requirements, p.metadata.labels),
          ).length
        : 0;
      return { host, service, instances };
    });
  }

  function attachments(gateway: KubeObject): { route: KubeObject; refs: Record<string, unknown>[] }[] {
    const routeType = gw().httproutes;
    if (!routeType) return [];
    const out: { route: KubeObject; refs: Record<string, unknown>[] }[] = [];
    for (const route of store.list(routeType).items) {
      const refs = parentRefsTo(route, gateway);
      if (refs.length > 0) out.push({ route, refs });
    }
    return out;
  }

  function writeStatus(type: ResourceType, gateway: KubeObject, info: ClassInfo): void {
    const listeners = (gateway.spec as GatewaySpec | undefined)?.listeners ?? [];
    const routes: RouteAttachment[] = [];
    for (const { route, refs } of attachments(gateway)) {
      for (const ref of refs) {
        const section = ref.sectionName as string | undefined;
        const routeNs = route.metadata.namespace ?? '';
        const allowed = listeners
          .filter((l) => section === undefined || l.name === section)
          .some((l) => allowsNamespace(l, routeNs, gateway.metadata.namespace ?? ''));
        if (allowed) routes.push({ listener: section, namespace: routeNs });
      }
    }
    const status = gatewayStatus({ gateway, info, services: resolveServices(gateway, info), routes, now: now() });
    const current = store.tryGet(type, gateway.metadata.namespace, gateway.metadata.name ?? '');
    if (!current || jsonEqual(current.status, status)) return;
    store.update(type, gateway.metadata.namespace, { ...current, status }, { subresource: 'status' });
  }

  function writeRouteStatus(gateway: KubeObject): void {
    const routeType = gw().httproutes;
    if (!routeType) return;
    for (const { route, refs } of attachments(gateway)) {
      const previous = ((route.status ?? {}) as { parents?: { parentRef?: Record<string, unknown> }[] }).parents ?? [];
      const missing = missingBackend(route);
      const ours = refs.map((parentRef) =>
        routeParentStatus({
          route,
          parentRef,
          backendsFound: missing === undefined,
          missingBackend: missing,
          previous: previous.find((p) => jsonEqual(p.parentRef, parentRef)) as { conditions?: never[] } | undefined,
          now: now(),
        }),
      );
      const others = previous.filter((p) => !refs.some((r) => jsonEqual(r, p.parentRef)));
      const status = { parents: [...others, ...ours] };
      if (jsonEqual(route.status, status)) continue;
      store.update(routeType, route.metadata.namespace, { ...route, status }, { subresource: 'status' });
    }
  }

  function missingBackend(route: KubeObject): string | undefined {
    const rules =
      ((route.spec ?? {}) as { rules?: { backendRefs?: { name?: string; namespace?: string; kind?: string }[] }[] })
        .rules ?? [];
    for (const rule of rules) {
      for (const ref of rule.backendRefs ?? []) {
        if ((ref.kind ?? 'Service') !== 'Service') continue;
        const namespace = ref.namespace ?? route.metadata.namespace ?? '';
        if (!store.tryGet(types.services, namespace, ref.name ?? ''))
          return `${ref.name}.${namespace}.svc.cluster.local`;
      }
    }
    return undefined;
  }

  function collect(gateway: KubeObject): void {
    // The garbage collector's part: objects whose ownerReferences name the deleted Gateway go.
    const uid = gateway.metadata.uid;
    const namespace = gateway.metadata.namespace;
    for (const type of [types.deployments, types.services, types.serviceaccounts]) {
      for (const object of store.list(type, { namespace }).items) {
        if (object.metadata.ownerReferences?.some((r) => r.kind === 'Gateway' && r.uid === uid))
          store.delete(type, namespace, object.metadata.name ?? '');
      }
    }
  }

  const onEvent = (event: ChangeEvent) => {
    if (closed) return;
    for (const action of route(event, gw(), types)) {
      if (action === 'revisions') revisionCache = undefined;
      else if (action === 'tags') tagCache = undefined;
      else if (action === 'all') enqueue(...allGatewayKeys());
      else if (action.startsWith('ns:')) {
        const type = gw().gateways;
        if (type)
          enqueue(
            ...store
              .list(type, { namespace: action.slice(3) })
              .items.map((g) => keyOf(g.metadata.namespace ?? '', g.metadata.name ?? '')),
          );
      } else if (action.startsWith('class:')) {
        const type = gw().gateways;
        if (type)
          enqueue(
            ...store
              .list(type)
              .items.filter((g) => (g.spec as GatewaySpec | undefined)?.gatewayClassName === action.slice(6))
              .map((g) => keyOf(g.metadata.namespace ?? '', g.metadata.name ?? '')),
          );
      } else if (action.startsWith('collect:')) collect(event.object);
      else enqueue(action);
    }
  };
  const stop = store.watch(undefined, onEvent);
  enqueue(...allGatewayKeys());

  function owners(namespace: string, name: string): string[] {
    const type = gw().gateways;
    const gateway = type ? store.tryGet(type, namespace, name) : undefined;
    if (!gateway) return [];
    return revisions()
      .filter((r) => r.running && owns(r, gateway) !== undefined)
      .map((r) => r.name)
      .sort();
  }

  return {
    owners,
    configServed(namespace, gatewayName, revisionName) {
      const revision = revisions().find((r) => r.name === revisionName);
      // A stopped istiod pushes nothing: its proxies keep their last config.
      if (!revision?.running || keepsConfigOnOwnershipLoss(revision.version)) return true;
      const type = gw().gateways;
      const gateway = type ? store.tryGet(type, namespace, gatewayName) : undefined;
      if (!gateway || !classInfoOf(revision, gateway)) return true;
      return owns(revision, gateway) !== undefined;
    },
    gateways() {
      const type = gw().gateways;
      if (!type) return [];
      return store.list(type).items.map((g) => {
        const conditions = ((g.status ?? {}) as { conditions?: { type: string; status: string }[] }).conditions ?? [];
        return {
          namespace: g.metadata.namespace ?? '',
          name: g.metadata.name ?? '',
          className: (g.spec as GatewaySpec | undefined)?.gatewayClassName ?? '',
          owners: owners(g.metadata.namespace ?? '', g.metadata.name ?? ''),
          programmed: conditions.find((c) => c.type === 'Programmed')?.status ?? 'Unknown',
        };
      });
    },
    revisions,
    syncErrors: () => errors,
    quiescent: () => [...queues.values()].every((q) => q.keys.size === 0 && !q.cancel),
    close() {
      closed = true;
      stop();
      for (const q of queues.values()) q.cancel?.();
      queues.clear();
    },
  };
}

/** Does the route's parentRef name this Gateway? Returns the matching refs. */
function parentRefsTo(route: KubeObject, gateway: KubeObject): Record<string, unknown>[] {
  const refs = ((route.spec ?? {}) as { parentRefs?: Record<string, unknown>[] }).parentRefs ?? [];
  return refs.filter(
    (ref) =>
      (ref.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP &&
      (ref.kind ?? 'Gateway') === 'Gateway' &&
      ref.name === gateway.metadata.name &&
      (ref.namespace ?? route.metadata.namespace) === gateway.metadata.namespace,
  );
}

/** `allowedRoutes.namespaces.from`: `Same` by default; `Selector` is treated as `All` here. */
function allowsNamespace(
  listener: { allowedRoutes?: { namespaces?: { from?: string } } },
  routeNs: string,
  gwNs: string,
) {
  const from = listener.allowedRoutes?.namespaces?.from ?? 'Same';
  return from === 'Same' ? routeNs === gwNs : from !== 'None';
}

const labelsChanged = (e: ChangeEvent) =>
  !e.previous ||
  !jsonEqual(e.previous.metadata.labels, e.object.metadata.labels) ||
  !jsonEqual(e.previous.metadata.annotations, e.object.metadata.annotations);

function gatewayOwner(object: KubeObject): string | undefined {
  const ref = object.metadata.ownerReferences?.find(
    (r) => r.kind === 'Gateway' && r.apiVersion.startsWith(GATEWAY_API_GROUP),
  );
  return ref ? keyOf(object.metadata.namespace ?? '', ref.name) : undefined;
}

/**
 * What an event re-queues: Gateway keys, or `all`, `ns:<ns>`, `class:<name>`, `collect:`, and
 * the cache invalidations `revisions` and `tags` (which come first).
 */
function route(event: ChangeEvent, gwTypes: GatewayTypes, types: SimTypes): string[] {
  const { resource, object, previous, type } = event;
  const key = keyOf(object.metadata.namespace ?? '', object.metadata.name ?? '');
  if (resource === gwTypes.gateways) {
    if (type === 'DELETED') return ['collect:'];
    const changed =
      type === 'ADDED' || previous?.metadata.generation !== object.metadata.generation || labelsChanged(event);
    return changed ? [key] : [];
  }
  if (resource === gwTypes.gatewayclasses) return [`class:${object.metadata.name ?? ''}`];
  if (resource === gwTypes.httproutes) {
    const refs = [object, ...(previous ? [previous] : [])].flatMap(
      (r) => ((r.spec ?? {}) as { parentRefs?: { name?: string; namespace?: string }[] }).parentRefs ?? [],
    );
    return [...new Set(refs.map((ref) => keyOf(ref.namespace ?? object.metadata.namespace ?? '', ref.name ?? '')))];
  }
  if (resource === types.namespaces)
    return type === 'MODIFIED' && !labelsChanged(event) ? [] : [`ns:${object.metadata.name ?? ''}`];
  if (resource === types.mutatingwebhookconfigurations || resource === types.validatingwebhookconfigurations)
    return ['tags', 'all'];
  if (resource === types.services) {
    const tagged =
      object.metadata.labels?.['istio.io/tag'] !== undefined ||
      previous?.metadata.labels?.['istio.io/tag'] !== undefined;
    if (tagged) return ['tags', 'all'];
    const owner = gatewayOwner(object);
    return owner ? [owner] : [];
  }
  if (resource === types.deployments) {
    if (matches(ISTIOD, object.metadata.labels)) return ['revisions', 'all'];
    const owner = gatewayOwner(object);
    const changed = type !== 'MODIFIED' || previous?.spec !== object.spec || labelsChanged(event);
    return owner && changed ? [owner] : [];
  }
  if (resource === types.serviceaccounts) {
    const owner = gatewayOwner(object);
    return owner ? [owner] : [];
  }
  if (resource === types.configmaps)
    return object.metadata.name?.startsWith('istio-sidecar-injector') ? ['revisions', 'all'] : [];
  if (resource === types.pods) return podActions(event);
  return [];
}

function podActions(event: ChangeEvent): string[] {
  const { object, previous, type } = event;
  const labels = object.metadata.labels ?? {};
  if (labels.app === 'istiod') {
    const readyChanged = type !== 'MODIFIED' || !previous || isPodReady(previous) !== isPodReady(object);
    return readyChanged ? ['revisions', 'all'] : [];
  }
  const gatewayName = labels[GATEWAY_NAME_LABEL];
  if (!gatewayName) return [];
  const ip = (o: KubeObject | undefined) => (o?.status as { podIP?: string } | undefined)?.podIP;
  const changed =
    type !== 'MODIFIED' ||
    ip(previous) !== ip(object) ||
    previous?.metadata.deletionTimestamp !== object.metadata.deletionTimestamp;
  return changed ? [keyOf(object.metadata.namespace ?? '', gatewayName)] : [];
}

/** Revisions from their istiod Deployments, with the facts the controllers need. */
function discoverRevisions(
  store: Store,
  types: SimTypes,
  podsInNamespace: (ns: string) => KubeObject[],
): RevisionInfo[] {
  const out: RevisionInfo[] = [];
  for (const d of store.list(types.deployments, { labelSelector: ISTIOD }).items) {
    const name = d.metadata.labels?.['istio.io/rev'] ?? 'default';
    const namespace = d.metadata.namespace ?? '';
    const container = ((
      d.spec as {
        template?: { spec?: { containers?: { image?: string; env?: { name: string; value?: string }[] }[] } };
      }
    ).template?.spec?.containers ?? [])[0];
    const env = new Map((container?.env ?? []).map((e) => [e.name, e.value]));
    const version = d.metadata.labels?.['operator.istio.io/version'] ?? container?.image?.split(':').at(-1) ?? '0.0.0';
    const injector = store.tryGet(
      types.configmaps,
      namespace,
      name === 'default' ? 'istio-sidecar-injector' : `istio-sidecar-injector-${name}`,
    );
    let hub = 'docker.io/istio';
    let tag = version;
    try {
      const values = JSON.parse(String((injector?.data as { values?: string } | undefined)?.values ?? '{}')) as {
        global?: { hub?: string; tag?: string };
      };
      hub = values.global?.hub ?? hub;
      tag = values.global?.tag ?? tag;
    } catch {
      // Unreadable values: the chart defaults stand.
    }
    const running = podsInNamespace(namespace).some(
      (p) =>
        p.metadata.labels?.app === 'istiod' &&
        p.metadata.labels['istio.io/rev'] === name &&
        !p.metadata.deletionTimestamp &&
        isPodReady(p),
    );
    out.push({
      name,
      version,
      namespace,
      ambient: env.get('PILOT_ENABLE_AMBIENT') === 'true',
      multiNetwork: env.get('AMBIENT_ENABLE_MULTI_NETWORK') === 'true',
      proxyImage: `${hub}/proxyv2:${tag}`,
      running,
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function tagSnapshot(store: Store, types: SimTypes): TagSnapshot {
  const tagged = labelSelectorRequirements({ matchExpressions: [{ key: 'istio.io/tag', operator: 'Exists' }] });
  const webhookTags: TagSnapshot['webhookTags'] = [];
  let defaultTagWebhookExists = false;
  for (const m of store.list(types.mutatingwebhookconfigurations).items) {
    if (m.metadata.name === 'istio-revision-tag-default') defaultTagWebhookExists = true;
    const tag = m.metadata.labels?.['istio.io/tag'];
    const revision = m.metadata.labels?.['istio.io/rev'];
    if (tag !== undefined && revision !== undefined) webhookTags.push({ tag, revision });
  }
  const serviceTags = store
    .list(types.services, { labelSelector: tagged })
    .items.filter((s) => s.metadata.labels?.['istio.io/rev'] !== undefined)
    .map((s) => ({
      tag: s.metadata.labels?.['istio.io/tag'] ?? '',
      revision: s.metadata.labels?.['istio.io/rev'] ?? '',
      namespace: s.metadata.namespace ?? '',
    }));
  const validator = store.tryGet(types.validatingwebhookconfigurations, undefined, 'istiod-default-validator');
  return {
    webhookTags,
    serviceTags,
    defaultTagWebhookExists,
    defaultValidatorRevision: validator?.metadata.labels?.['istio.io/rev'],
  };
}
