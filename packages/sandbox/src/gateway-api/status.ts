/**
 * Gateway and HTTPRoute status as the owning revision writes it (`gatewaycommon/context.go`
 * `ResolveGatewayInstances`, `conversion.go` `SetProgrammedCondition`, `reportGatewayStatus`;
 * reference istio-gateways-ambient-multicluster.md §4):
 *
 * - Accepted: "Resource accepted".
 * - Programmed: True once the generated Service has instances on the listener ports ("Resource
 *   programmed, assigned to service(s) web-istio.ns.svc.cluster.local:80"); False with
 *   AddressNotAssigned while a LoadBalancer has no external address ("address pending for
 *   hostname") or no pod backs the Service ("no instances found for hostname"); False with
 *   AddressNotUsable when the Service is missing. Deployment READINESS is not checked: a pod
 *   that exists (has an IP) counts as an instance.
 * - addresses: external IPs, else the internal ones (Hostname for `istio`, IP and Hostname for
 *   waypoints); never removed once reported.
 *
 * Pure: the caller resolves Services and pods.
 */
import type { Condition } from '../controllers/context.ts';
import type { KubeObject } from '../store.ts';
import type { ClassInfo } from './ownership.ts';
import type { GatewaySpec, Listener } from './render.ts';

/** One Service the Gateway is exposed on, as resolved from the cluster. */
export type ResolvedService = {
  host: string;
  service: KubeObject | undefined;
  /** Pods selected by the Service that have an IP and are not terminating. */
  instances: number;
};

export type RouteAttachment = { listener: string | undefined; namespace: string };

type GatewayCondition = Condition & { observedGeneration: number };

function condition(
  existing: GatewayCondition[],
  type: string,
  status: 'True' | 'False',
  reason: string,
  message: string,
  generation: number,
  now: string,
): GatewayCondition {
  const current = existing.find((c) => c.type === type);
  const lastTransitionTime = current && current.status === status ? (current.lastTransitionTime ?? now) : now;
  return { type, status, reason, message, observedGeneration: generation, lastTransitionTime };
}

function humanJoin(items: string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  if (items.length === 2) return `${items[0]} and ${items[1]}`;
  return `${items.slice(0, -1).join(', ')}, and ${items.at(-1)}`;
}

type Resolution = {
  internal: string[];
  internalIP: string[];
  external: string[];
  pending: string[];
  warnings: string[];
  usable: boolean;
};

function resolve(services: readonly ResolvedService[], ports: readonly number[]): Resolution {
  const internal = new Set<string>();
  const internalIP = new Set<string>();
  const external = new Set<string>();
  const pending = new Set<string>();
  const warnings: string[] = [];
  let usable = true;
  for (const { host, service, instances } of services) {
    if (!service) {
      warnings.push(`hostname "${host}" not found`);
      usable = false;
      continue;
    }
    const spec = (service.spec ?? {}) as { type?: string; clusterIP?: string; ports?: { port?: number }[] };
    const ingress = (
      (service.status as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)
        ?.loadBalancer?.ingress ?? []
    )
      .map((i) => i.ip ?? i.hostname ?? '')
      .filter((a) => a !== '');
    for (const port of ports) {
      const onService = (spec.ports ?? []).some((p) => p.port === port);
      if (instances > 0 && onService) {
        internal.add(`${host}:${port}`);
        if (spec.clusterIP && spec.clusterIP !== 'None') internalIP.add(spec.clusterIP);
        if (ingress.length > 0) for (const address of ingress) external.add(address);
        else if (spec.type === 'LoadBalancer' && !pending.has(host)) {
          warnings.push(`address pending for hostname "${host}"`);
          pending.add(host);
        }
      } else if (instances === 0) {
        warnings.push(`no instances found for hostname "${host}"`);
      } else if (!onService) {
        warnings.push(`port ${port} not found for hostname "${host}"`);
        usable = false;
      }
    }
  }
  return {
    internal: [...internal].sort(),
    internalIP: [...internalIP].sort(),
    external: [...external].sort(),
    pending: [...pending].sort(),
    warnings: [...new Set(warnings)].sort(),
    usable,
  };
}

function supportedKinds(protocol: string | undefined) {
  const group = 'gateway.networking.k8s.io';
  switch (protocol) {
    case 'HTTP':
    case 'HTTPS':
      return [
        { group, kind: 'HTTPRoute' },
        { group, kind: 'GRPCRoute' },
      ];
    case 'TCP':
      return [{ group, kind: 'TCPRoute' }];
    case 'TLS':
      return [{ group, kind: 'TLSRoute' }];
    default:
      return [];
  }
}

export function gatewayStatus(options: {
  gateway: KubeObject;
  info: ClassInfo;
  services: readonly ResolvedService[];
  routes: readonly RouteAttachment[];
  now: string;
}): Record<string, unknown> {
  const { gateway, info, services, routes, now } = options;
  const spec = (gateway.spec ?? {}) as GatewaySpec;
  const generation = gateway.metadata.generation ?? 1;
  const previous = (gateway.status ?? {}) as {
    conditions?: GatewayCondition[];
    addresses?: unknown[];
    listeners?: { name?: string; conditions?: GatewayCondition[] }[];
  };
  const existing = previous.conditions ?? [];
  const listeners: Listener[] = spec.listeners ?? [];
  const ports = [...new Set(listeners.map((l) => l.port).filter((p): p is number => p !== undefined))];
  const r = resolve(services, ports);

  let programmed: GatewayCondition;
  const assigned =
    r.internal.length > 0
      ? `Resource programmed, assigned to service(s) ${humanJoin(r.internal)}`
      : 'Resource programmed';
  if (services.length === 0) {
    programmed = condition(
      existing,
      'Programmed',
      'False',
      'UnsupportedAddress',
      'Failed to assign to any requested addresses',
      generation,
      now,
    );
  } else if (r.warnings.length > 0) {
    const message =
      r.internal.length > 0
        ? `Assigned to service(s) ${humanJoin(r.internal)}, but failed to assign to all requested addresses: ${r.warnings.join('; ')}`
        : `Failed to assign to any requested addresses: ${r.warnings.join('; ')}`;
    programmed = condition(
      existing,
      'Programmed',
      'False',
      r.usable ? 'AddressNotAssigned' : 'AddressNotUsable',
      message,
      generation,
      now,
    );
  } else {
    programmed = condition(existing, 'Programmed', 'True', 'Programmed', assigned, generation, now);
  }
  const accepted = condition(existing, 'Accepted', 'True', 'Accepted', 'Resource accepted', generation, now);

  let addresses: { type: string; value: string }[] = r.external.map((value) => ({ type: 'IPAddress', value }));
  if (addresses.length === 0) {
    if (info.addressType !== 'Hostname') addresses = r.internalIP.map((value) => ({ type: 'IPAddress', value }));
    for (const hostport of r.internal) {
      const host = hostport.slice(0, hostport.lastIndexOf(':'));
      if (!r.pending.includes(host) && !addresses.some((a) => a.value === host))
        addresses.push({ type: 'Hostname', value: host });
    }
  }
  const status: Record<string, unknown> = {
    ...(addresses.length > 0 ? { addresses } : previous.addresses ? { addresses: previous.addresses } : {}),
    conditions: [accepted, programmed],
    listeners: listeners.map((l) => {
      const before = previous.listeners?.find((p) => p.name === l.name)?.conditions ?? [];
      const attached = routes.filter((route) => route.listener === undefined || route.listener === l.name).length;
      return {
        name: l.name,
        attachedRoutes: attached,
        conditions: [
          condition(before, 'Accepted', 'True', 'Accepted', 'No errors found', generation, now),
          condition(before, 'Conflicted', 'False', 'NoConflicts', 'No errors found', generation, now),
          condition(before, 'Programmed', 'True', 'Programmed', 'No errors found', generation, now),
          condition(before, 'ResolvedRefs', 'True', 'ResolvedRefs', 'No errors found', generation, now),
        ],
        supportedKinds: supportedKinds(l.protocol),
      };
    }),
  };
  return status;
}

/** A route's `status.parents` entry for one Gateway parent, as the Gateway's owner reports it. */
export function routeParentStatus(options: {
  route: KubeObject;
  parentRef: Record<string, unknown>;
  backendsFound: boolean;
  missingBackend?: string;
  previous?: { conditions?: GatewayCondition[] };
  now: string;
}): Record<string, unknown> {
  const { route, parentRef, backendsFound, missingBackend, previous, now } = options;
  const generation = route.metadata.generation ?? 1;
  const before = previous?.conditions ?? [];
  return {
    parentRef,
    controllerName: 'istio.io/gateway-controller',
    conditions: [
      condition(before, 'Accepted', 'True', 'Accepted', 'Route was valid', generation, now),
      backendsFound
        ? condition(before, 'ResolvedRefs', 'True', 'ResolvedRefs', 'All references resolved', generation, now)
        : condition(
            before,
            'ResolvedRefs',
            'False',
            'BackendNotFound',
            `backend(${missingBackend ?? ''}) not found`,
            generation,
            now,
          ),
    ],
  };
}
