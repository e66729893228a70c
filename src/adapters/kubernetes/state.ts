/**
 * Run state in a ConfigMap per policy, a Lease per policy, and Events: the cluster-side
 * persistence of a run, built on the cluster port.
 */
import { ExternalError } from '../../errors.ts';
import { Resources, type ClusterPort, type KubeObject } from '../../ports/cluster.ts';
import type { EventRecorder, EventTarget, LostEvents } from '../../ports/events.ts';
import type { Lock } from '../../ports/lock.ts';
import {
  POLICY_LABEL,
  stateConfigMapName,
  StateConflictError,
  type StateStore,
  type Stored,
} from '../../ports/state-store.ts';

export { POLICY_LABEL, RUN_ID_LABEL, stateConfigMapName } from '../../ports/state-store.ts';
import { KubernetesError } from './cluster.ts';

const STATE_KEY = 'state.json';
/** ConfigMaps hold at most 1 MiB; keep a margin for metadata. */
const MAX_STATE_BYTES = 950 * 1024;

export function createConfigMapStateStore(cluster: ClusterPort, namespace: string): StateStore {
  const decode = (cm: KubeObject): Stored | undefined => {
    const text = (cm.data as Record<string, string> | undefined)?.[STATE_KEY];
    if (text === undefined) return undefined;
    try {
      return { document: JSON.parse(text) as Record<string, unknown>, version: cm.metadata.resourceVersion ?? '' };
    } catch (error) {
      throw new ExternalError(
        'STATE_CORRUPT',
        `run state in ConfigMap ${namespace}/${cm.metadata.name} is not valid JSON`,
        `configmaps ${namespace}/${cm.metadata.name}`,
        { cause: error },
      );
    }
  };
  const encode = (policy: string, document: Record<string, unknown>): string => {
    const text = JSON.stringify(document);
    if (Buffer.byteLength(text) > MAX_STATE_BYTES) {
      throw new ExternalError(
        'STATE_TOO_LARGE',
        `run state of ${policy} is ${Buffer.byteLength(text)} bytes, over the ConfigMap limit`,
        `configmaps ${namespace}/${stateConfigMapName(policy)}`,
      );
    }
    return text;
  };
  return {
    async load(policy) {
      const cm = await cluster.get(Resources.configmaps, namespace, stateConfigMapName(policy));
      return cm ? decode(cm) : undefined;
    },
    async save(policy, document, version) {
      const name = stateConfigMapName(policy);
      const body: KubeObject = {
        metadata: {
          name,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'revroll', [POLICY_LABEL]: policy },
          ...(version ? { resourceVersion: version } : {}),
        },
        data: { [STATE_KEY]: encode(policy, document) },
      };
      try {
        // Only the new resourceVersion is read back: the answer need not echo the whole state.
        const stored = await cluster.mutate(
          { op: version ? 'replace' : 'create', ref: Resources.configmaps, namespace, object: body },
          { metadataOnly: true },
        );
        return stored?.metadata.resourceVersion ?? '';
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 409) {
          throw new StateConflictError(`run state of ${policy} was changed by someone else (${error.reason})`);
        }
        if (error instanceof KubernetesError && error.status === 404 && version) {
          throw new StateConflictError(`run state of ${policy} was deleted while the run was using it`);
        }
        throw error;
      }
    },
    async list() {
      const items = await cluster.list(Resources.configmaps, {
        namespace,
        labelSelector: 'app.kubernetes.io/managed-by=revroll,revroll.dev/policy',
      });
      const out: { policy: string; stored: Stored }[] = [];
      for (const cm of items) {
        const policy = cm.metadata.labels?.['revroll.dev/policy'];
        const stored = decode(cm);
        if (policy && stored) out.push({ policy, stored });
      }
      return out;
    },
  };
}

/** Kubernetes MicroTime: exactly six fraction digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function createLeaseLock(cluster: ClusterPort, namespace: string, now: () => Date): Lock {
  const leaseName = (name: string) => `revroll-${name}`;
  type LeaseSpec = {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    renewTime?: string;
    acquireTime?: string;
    leaseTransitions?: number;
  };
  const expiry = (spec: LeaseSpec) =>
    new Date(
      Date.parse(spec.renewTime ?? spec.acquireTime ?? '1970-01-01T00:00:00Z') +
        (spec.leaseDurationSeconds ?? 0) * 1000,
    );

  /** A conflict means someone wrote the Lease in between: read it again and decide again (a few times). */
  async function write(name: string, holder: string, ttlMs: number, mode: 'acquire' | 'renew'): Promise<boolean> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const result = await writeOnce(name, holder, ttlMs, mode);
      if (result !== 'conflict') return result;
    }
    return false;
  }

  async function writeOnce(
    name: string,
    holder: string,
    ttlMs: number,
    mode: 'acquire' | 'renew',
  ): Promise<boolean | 'conflict'> {
    const current = await cluster.get(Resources.leases, namespace, leaseName(name));
    const at = now();
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    if (!current) {
      if (mode === 'renew') return false;
      try {
        await cluster.mutate({
          op: 'create',
          ref: Resources.leases,
          namespace,
          object: {
            metadata: { name: leaseName(name), namespace, labels: { 'app.kubernetes.io/managed-by': 'revroll' } },
            spec: {
              holderIdentity: holder,
              leaseDurationSeconds: seconds,
              acquireTime: microTime(at),
              renewTime: microTime(at),
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 409) return 'conflict';
        throw error;
      }
    }
    const spec = (current.spec ?? {}) as LeaseSpec;
    const mine = spec.holderIdentity === holder;
    const free = !spec.holderIdentity || expiry(spec).getTime() <= at.getTime();
    if (!mine && (mode === 'renew' || !free)) return false;
    const next: LeaseSpec = {
      ...spec,
      holderIdentity: holder,
      leaseDurationSeconds: seconds,
      renewTime: microTime(at),
      ...(mine ? {} : { acquireTime: microTime(at), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      await cluster.mutate({ op: 'replace', ref: Resources.leases, namespace, object: { ...current, spec: next } });
      return true;
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 409) return 'conflict';
      throw error;
    }
  }

  return {
    acquire: (name, holder, ttlMs) => write(name, holder, ttlMs, 'acquire'),
    renew: (name, holder, ttlMs) => write(name, holder, ttlMs, 'renew'),
    async release(name, holder) {
      const current = await cluster.get(Resources.leases, namespace, leaseName(name));
      const spec = (current?.spec ?? {}) as LeaseSpec;
      if (!current || spec.holderIdentity !== holder) return;
      try {
        const { holderIdentity: _released, ...rest } = spec;
        await cluster.mutate({
          op: 'replace',
          ref: Resources.leases,
          namespace,
          object: { ...current, spec: { ...rest, leaseDurationSeconds: 1 } },
        });
      } catch (error) {
        if (!(error instanceof KubernetesError && error.status === 409)) throw error;
      }
    },
    async holder(name) {
      const current = await cluster.get(Resources.leases, namespace, leaseName(name));
      const spec = (current?.spec ?? {}) as LeaseSpec;
      if (!current || !spec.holderIdentity) return undefined;
      const expiresAt = expiry(spec);
      if (expiresAt.getTime() <= now().getTime()) return undefined;
      return { holder: spec.holderIdentity, expiresAt };
    },
  };
}

/**
 * core/v1 Events, named `<object>.<hex nanoseconds>` like client-go's recorder (`%v.%x` of
 * UnixNano): the recorder's millisecond clock times a million, plus a sequence for the
 * sub-millisecond part, so two Events of one recorder never share a name. Another writer naming
 * its Events the same way (a controller, another revroll) can still pick the same name: a create
 * answered AlreadyExists by someone else's Event is sent again under the next name, so the Event
 * is kept; one found to be ours (a create sent again after its answer was lost), or one that
 * cannot be read, counts as recorded: kept once. An Event lives in its
 * object's namespace; an Event about a cluster-scoped object (Namespace, webhook configuration)
 * lives in `default` with an empty `involvedObject.namespace`, the only place a real API server
 * accepts it (core/v1 event validation: "involvedObject.namespace: does not match
 * event.namespace"). Failures never fail the run: they are counted and reported through `lost`
 * and `onError`.
 */
export function createEventRecorder(
  cluster: ClusterPort,
  options: {
    now: () => Date;
    component?: string;
    onError?: (error: unknown) => void;
    /** Labels on every Event (see `scoped`). */
    labels?: Record<string, string>;
  },
  /** Shared by a recorder and the ones scoped from it. */
  shared: { sequence: number; lost: LostEvents } = { sequence: 0, lost: { count: 0 } },
): EventRecorder {
  const lost = shared.lost;
  return {
    scoped: (labels) => createEventRecorder(cluster, { ...options, labels: { ...options.labels, ...labels } }, shared),
    async record(
      target: EventTarget,
      reason: string,
      message: string,
      type: 'Normal' | 'Warning' = 'Normal',
      annotations?: Record<string, string>,
    ) {
      const at = options.now();
      const component = options.component ?? 'revroll';
      const namespace = target.namespace ?? CLUSTER_SCOPED_EVENT_NAMESPACE;
      const timestamp = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
      const text = message.length > 1000 ? `${message.slice(0, 997)}...` : message;
      const nextName = () => {
        shared.sequence += 1;
        const nanos = BigInt(at.getTime()) * 1_000_000n + BigInt(shared.sequence % 1_000_000);
        return `${target.name}.${nanos.toString(16)}`;
      };
      const create = (name: string) =>
        cluster.mutate(
          {
            op: 'create',
            ref: Resources.events,
            namespace,
            object: {
              metadata: {
                name,
                namespace,
                ...(options.labels ? { labels: options.labels } : {}),
                ...(annotations ? { annotations } : {}),
              },
              involvedObject: {
                apiVersion: target.apiVersion,
                kind: target.kind,
                name: target.name,
                ...(target.namespace ? { namespace: target.namespace } : {}),
                ...(target.uid ? { uid: target.uid } : {}),
              },
              reason,
              message: text,
              type,
              source: { component },
              firstTimestamp: timestamp,
              lastTimestamp: timestamp,
              count: 1,
              reportingComponent: component,
            },
          },
          { metadataOnly: true },
        );
      // Our own Event already there: a create whose answer was lost and that was sent again.
      // Reading it needs `get events`, which the chart does not grant: unread, a taken name is
      // taken as ours (the names are nanosecond-scaled: another writer's is the rare case).
      const isOurs = async (name: string) => {
        const existing = await cluster.get(Resources.events, namespace, name).catch(() => 'unread' as const);
        if (existing === 'unread') return true;
        const involved = existing?.involvedObject as { kind?: string; name?: string } | undefined;
        return (
          involved?.kind === target.kind &&
          involved.name === target.name &&
          existing?.reason === reason &&
          existing.message === text &&
          (existing.source as { component?: string } | undefined)?.component === component
        );
      };
      // Under a fresh name each time someone else's Event holds the one tried.
      const send = async (attempt: number): Promise<void> => {
        const name = nextName();
        const error = await create(name).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (error === undefined) return;
        const taken = error instanceof KubernetesError && error.status === 409 && error.reason === 'AlreadyExists';
        if (taken && (await isOurs(name))) return;
        if (!taken || attempt >= NAME_ATTEMPTS) throw error;
        return send(attempt + 1);
      };
      try {
        await send(1);
      } catch (error) {
        lost.count += 1;
        lost.lastError = `${reason} on ${target.kind} ${target.namespace ? `${target.namespace}/` : ''}${target.name}: ${error instanceof Error ? error.message : String(error)}`;
        options.onError?.(error);
      }
    },
    lost: () => ({ ...lost }),
  };
}

/** Names an Event tries before it counts as lost: a taken name is another writer's Event. */
const NAME_ATTEMPTS = 3;

/** Where Kubernetes keeps Events about cluster-scoped objects. */
export const CLUSTER_SCOPED_EVENT_NAMESPACE = 'default';
