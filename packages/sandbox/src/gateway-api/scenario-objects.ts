/**
 * The Gateway API part of a scenario as objects: Gateways, waypoints (a Gateway of class
 * `istio-waypoint` with the `mesh` listener on 15008/HBONE and `istio.io/waypoint-for`, as
 * `istioctl waypoint apply` writes it; `--enroll-namespace` labels the namespace
 * `istio.io/use-waypoint`) and HTTPRoutes. Written through the store as `kubectl apply` would
 * create them; Istio's controllers do the rest.
 */
import type { SimTypes } from '../controllers/resource-types.ts';
import type { Scenario, ScenarioGateway, ScenarioRoute, ScenarioWaypoint } from '../scenario.ts';
import type { KubeObject, Store } from '../store.ts';
import { GATEWAY_API_GROUP } from '../crds/gateway-api-crds.ts';

export function gatewayObject(g: ScenarioGateway): KubeObject {
  return {
    apiVersion: `${GATEWAY_API_GROUP}/v1`,
    kind: 'Gateway',
    metadata: {
      name: g.name,
      namespace: g.namespace,
      ...(g.labels ? { labels: { ...g.labels } } : {}),
      ...(g.annotations ? { annotations: { ...g.annotations } } : {}),
    },
    spec: {
      gatewayClassName: g.class,
      listeners: g.listeners.map((l) => ({
        name: l.name,
        port: l.port,
        protocol: l.protocol,
        ...(l.hostname ? { hostname: l.hostname } : {}),
        allowedRoutes: { namespaces: { from: l.allowedRoutes } },
      })),
      ...(g.addresses ? { addresses: g.addresses } : {}),
    },
  };
}

export function waypointObject(w: ScenarioWaypoint): KubeObject {
  return {
    apiVersion: `${GATEWAY_API_GROUP}/v1`,
    kind: 'Gateway',
    metadata: {
      name: w.name,
      namespace: w.namespace,
      labels: { 'istio.io/waypoint-for': w.for, ...(w.labels ?? {}) },
    },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  };
}

export function routeObject(r: ScenarioRoute): KubeObject {
  return {
    apiVersion: `${GATEWAY_API_GROUP}/v1`,
    kind: 'HTTPRoute',
    metadata: { name: r.name, namespace: r.namespace },
    spec: {
      parentRefs: [
        {
          group: GATEWAY_API_GROUP,
          kind: 'Gateway',
          name: r.gateway,
          ...(r.gatewayNamespace ? { namespace: r.gatewayNamespace } : {}),
        },
      ],
      ...(r.hostnames ? { hostnames: r.hostnames } : {}),
      rules: [
        { backendRefs: [{ group: '', kind: 'Service', name: r.backend.service, port: r.backend.port, weight: 1 }] },
      ],
    },
  };
}

/** Whether the scenario installs the Gateway API CRDs (explicit, or because it uses them). */
export function wantsGatewayApiCrds(scenario: Scenario): boolean {
  const api = scenario.gatewayApi;
  if (!api) return false;
  return api.crds ?? api.gateways.length + api.waypoints.length + api.routes.length > 0;
}

/** Creates the scenario's Gateways, waypoints and routes (the CRDs must be installed). */
export function applyGatewayApi(store: Store, types: SimTypes, scenario: Scenario): void {
  const api = scenario.gatewayApi;
  if (!api) return;
  const gateways = store.findType(GATEWAY_API_GROUP, 'gateways');
  const routes = store.findType(GATEWAY_API_GROUP, 'httproutes');
  if (!gateways || !routes) throw new Error('sandbox: the Gateway API CRDs are not installed');
  for (const g of api.gateways) store.create(gateways, g.namespace, gatewayObject(g));
  for (const w of api.waypoints) {
    store.create(gateways, w.namespace, waypointObject(w));
    if (!w.enrollNamespace) continue;
    const ns = store.get(types.namespaces, undefined, w.namespace);
    store.update(types.namespaces, undefined, {
      ...ns,
      metadata: { ...ns.metadata, labels: { ...ns.metadata.labels, 'istio.io/use-waypoint': w.name } },
    });
  }
  for (const r of api.routes) store.create(routes, r.namespace, routeObject(r));
}

/** The Deployment name a scenario Gateway's pods belong to (telemetry keys traffic by it). */
export function gatewayDeploymentName(g: ScenarioGateway): string {
  const suffixless = g.class === 'istio-waypoint' || g.class === 'istio-east-west';
  return g.annotations?.['gateway.istio.io/name-override'] ?? (suffixless ? g.name : `${g.name}-${g.class}`);
}
