/**
 * A cloud load balancer (what a cloud provider's service controller, or MetalLB on a lab
 * cluster, does): a Service of type LoadBalancer gets `status.loadBalancer.ingress` with an
 * external IP after a short provisioning delay; a Service that stops being a LoadBalancer loses
 * it. Without it a real cluster shows EXTERNAL-IP <pending>, and Istio reports a Gateway's
 * Programmed condition False with "address pending for hostname" (scenario `loadBalancer: false`).
 */
import type { Clock } from './clock.ts';
import type { SimTypes } from './controllers/resource-types.ts';
import type { KubeObject, Store } from './store.ts';

export type LoadBalancer = { quiescent(): boolean; close(): void };

type LbStatus = { loadBalancer?: { ingress?: { ip?: string }[] } };

export function createLoadBalancer(options: {
  store: Store;
  clock: Clock;
  types: SimTypes;
  /** Simulated ms from a LoadBalancer Service appearing to its external IP. */
  provisionMs?: number;
}): LoadBalancer {
  const { store, clock, types } = options;
  const provisionMs = options.provisionMs ?? 300;
  const pending = new Map<string, () => void>();
  let next = 200;
  let closed = false;

  const hasIngress = (s: KubeObject) => ((s.status as LbStatus | undefined)?.loadBalancer?.ingress?.length ?? 0) > 0;
  const isLb = (s: KubeObject) => (s.spec as { type?: string } | undefined)?.type === 'LoadBalancer';

  function provision(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (pending.has(key)) return;
    pending.set(
      key,
      clock.after(provisionMs, () => {
        pending.delete(key);
        const current = store.tryGet(types.services, namespace, name);
        if (closed || !current || !isLb(current) || hasIngress(current)) return;
        const n = next++;
        // The range kind's cloud provider and MetalLB examples use: outside the pod and service CIDRs.
        const ip = `172.18.${255 - Math.floor(n / 256)}.${n % 256}`;
        store.update(
          types.services,
          namespace,
          {
            ...current,
            status: {
              ...((current.status as object | undefined) ?? {}),
              loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] },
            },
          },
          { subresource: 'status' },
        );
      }),
    );
  }

  function sync(service: KubeObject): void {
    const namespace = service.metadata.namespace ?? '';
    const name = service.metadata.name ?? '';
    if (isLb(service) && !hasIngress(service)) provision(namespace, name);
    else if (!isLb(service) && hasIngress(service))
      store.update(types.services, namespace, { ...service, status: { loadBalancer: {} } }, { subresource: 'status' });
  }

  const stop = store.watch(undefined, (event) => {
    if (closed || event.resource !== types.services || event.type === 'DELETED') return;
    sync(event.object);
  });
  for (const service of store.list(types.services).items) sync(service);

  return {
    quiescent: () => pending.size === 0,
    close() {
      closed = true;
      stop();
      for (const cancel of pending.values()) cancel();
      pending.clear();
    },
  };
}
