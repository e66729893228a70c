/**
 * What a revision's gateway deployment controller renders for a Gateway: ServiceAccount,
 * Deployment and Service named `<gw>-<class>` (`<gw>` for waypoint and east-west classes),
 * from the `kube-gateway` / `waypoint` templates of the istio-discovery chart
 * (`files/kube-gateway.yaml`, `files/waypoint.yaml`; `deploymentcontroller.go` `render`,
 * `extractServicePorts`, `extractInfrastructureMetadata`, `setLabelOverrides`; golden files
 * `gatewaycommon/testdata/deployment/simple.yaml`, `waypoint.yaml`), as in reference
 * istio-gateways-ambient-multicluster.md §2 and §6.
 *
 * Pure: the Gateway and the revision's facts in, objects out. Not injected (since 1.18): the
 * proxy container is rendered with the OWNING revision's image and `CA_ADDR`, and the pod
 * template carries `istio.io/rev=<owning revision>`, so an owner change rolls the pods.
 */
import type { KubeObject } from '../store.ts';
import type { ClassInfo, RevisionInfo } from './ownership.ts';

export type Listener = {
  name?: string;
  port?: number;
  protocol?: string;
  hostname?: string;
  allowedRoutes?: { namespaces?: { from?: string } };
};

export type GatewaySpec = {
  gatewayClassName?: string;
  listeners?: Listener[];
  addresses?: { type?: string; value?: string }[];
  infrastructure?: { labels?: Record<string, string>; annotations?: Record<string, string> };
};

export type Rendered = {
  deploymentName: string;
  objects: { kind: 'ServiceAccount' | 'Deployment' | 'Service'; object: KubeObject }[];
};

export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
export const GATEWAY_CLASS_LABEL = 'gateway.networking.k8s.io/gateway-class-name';
export const MANAGED_LABEL = 'gateway.istio.io/managed';

/** Annotations the templates never copy from the Gateway onto what they render. */
const OMITTED_ANNOTATIONS = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'gateway.istio.io/name-override',
  'gateway.istio.io/service-account',
  'gateway.istio.io/controller-version',
];

/** `GetDefaultName`: `<gw>-<class>`, or just `<gw>` for classes that disable the suffix. */
export function defaultName(gateway: KubeObject, info: ClassInfo): string {
  const name = gateway.metadata.name ?? '';
  const className = (gateway.spec as GatewaySpec | undefined)?.gatewayClassName ?? '';
  return info.disableNameSuffix ? name : `${name}-${className}`;
}

/** The Deployment/Service name, honouring `gateway.istio.io/name-override`. */
export function renderedName(gateway: KubeObject, info: ClassInfo): string {
  return gateway.metadata.annotations?.['gateway.istio.io/name-override'] ?? defaultName(gateway, info);
}

/**
 * `extractInfrastructureMetadata` with PILOT_ENABLE_GATEWAY_API_COPY_LABELS_ANNOTATIONS=true: the
 * Gateway's own labels/annotations, unless `spec.infrastructure` sets them (then only those,
 * minus `gateway.networking.k8s.io/` keys).
 */
function infrastructure(gateway: KubeObject, which: 'labels' | 'annotations'): Record<string, string> {
  const infra = (gateway.spec as GatewaySpec | undefined)?.infrastructure?.[which];
  if (infra)
    return Object.fromEntries(Object.entries(infra).filter(([k]) => !k.startsWith('gateway.networking.k8s.io/')));
  return { ...(gateway.metadata[which] ?? {}) };
}

/** `extractServicePorts`: status-port 15021, then one port per distinct listener port. */
export function servicePorts(listeners: readonly Listener[]): Record<string, unknown>[] {
  const ports: Record<string, unknown>[] = [
    { name: 'status-port', port: 15021, protocol: 'TCP', appProtocol: 'tcp', targetPort: 15021 },
  ];
  const seen = new Set<number>();
  listeners.forEach((l, i) => {
    if (l.port === undefined || seen.has(l.port)) return;
    seen.add(l.port);
    const protocol = (l.protocol ?? 'TCP').toLowerCase();
    // Listener names allow dots and 253 characters; port names do not.
    const name = (l.name ?? '').replace(/\./g, '-').slice(0, 63) || `${protocol}-${i}`;
    ports.push({ name, port: l.port, protocol: 'TCP', appProtocol: protocol, targetPort: l.port });
  });
  return ports;
}

function istiodAddress(revision: RevisionInfo): string {
  const service = revision.name === 'default' ? 'istiod' : `istiod-${revision.name}`;
  return `${service}.${revision.namespace}.svc:15012`;
}

function proxyContainer(gateway: KubeObject, name: string, info: ClassInfo, revision: RevisionInfo) {
  const namespace = gateway.metadata.namespace ?? '';
  const waypoint = info.template === 'waypoint';
  const discovery = istiodAddress(revision);
  // A full reference in `sidecar.istio.io/proxyImage` pins the image (inject.ProxyImage).
  const pinned = gateway.metadata.annotations?.['sidecar.istio.io/proxyImage'];
  const image = pinned && pinned.includes('/') ? pinned : revision.proxyImage;
  return {
    name: 'istio-proxy',
    image,
    args: [
      'proxy',
      waypoint ? 'waypoint' : 'router',
      '--domain',
      '$(POD_NAMESPACE).svc.cluster.local',
      ...(waypoint ? ['--serviceCluster', `${name}.$(POD_NAMESPACE)`] : []),
      '--proxyLogLevel',
      'warning',
      '--proxyComponentLogLevel',
      'misc:error',
      '--log_output_level',
      'default:info',
    ],
    env: [
      { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
      { name: 'CA_ADDR', value: discovery },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
      // discoveryAddress only when it is not the default istiod (pkg/kube/inject/template.go).
      {
        name: 'PROXY_CONFIG',
        value: discovery === 'istiod.istio-system.svc:15012' ? '{}\n' : `{"discoveryAddress":"${discovery}"}\n`,
      },
      { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
      { name: 'ISTIO_META_WORKLOAD_NAME', value: name },
      { name: 'ISTIO_META_OWNER', value: `kubernetes://apis/apps/v1/namespaces/${namespace}/deployments/${name}` },
      { name: 'ISTIO_META_MESH_ID', value: 'cluster.local' },
      { name: 'TRUST_DOMAIN', value: 'cluster.local' },
    ],
    ports: [
      { containerPort: 15020, name: 'metrics', protocol: 'TCP' },
      { containerPort: 15021, name: 'status-port', protocol: 'TCP' },
      { containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' },
    ],
    readinessProbe: {
      failureThreshold: 4,
      httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' },
      periodSeconds: 15,
    },
  };
}

/** Renders the three objects for `gateway` as `revision` would, with `info`'s template. */
export function renderGateway(gateway: KubeObject, info: ClassInfo, revision: RevisionInfo): Rendered {
  const spec = (gateway.spec ?? {}) as GatewaySpec;
  const gwName = gateway.metadata.name ?? '';
  const namespace = gateway.metadata.namespace ?? '';
  const className = spec.gatewayClassName ?? '';
  const name = renderedName(gateway, info);
  const serviceAccount =
    gateway.metadata.annotations?.['gateway.istio.io/service-account'] ?? defaultName(gateway, info);
  const waypoint = info.template === 'waypoint';

  const infraLabels = infrastructure(gateway, 'labels');
  // setLabelOverrides: with ambient on, non-waypoint gateways opt out of ambient capture.
  if (revision.ambient && !waypoint && infraLabels['istio.io/dataplane-mode'] === undefined)
    infraLabels['istio.io/dataplane-mode'] = 'none';
  const infraAnnotations = Object.fromEntries(
    Object.entries(infrastructure(gateway, 'annotations')).filter(([k]) => !OMITTED_ANNOTATIONS.includes(k)),
  );
  const labels = {
    ...infraLabels,
    [GATEWAY_NAME_LABEL]: gwName,
    [GATEWAY_CLASS_LABEL]: className,
    [MANAGED_LABEL]: info.managedLabel,
  };
  const metadata = (objectName: string, extraAnnotations: Record<string, string> = {}) => ({
    name: objectName,
    namespace,
    labels,
    annotations: { ...infraAnnotations, ...extraAnnotations },
    ownerReferences: [
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: gwName, uid: gateway.metadata.uid ?? '' },
    ],
  });

  const podLabels = {
    // First, so the Gateway's labels can override it.
    'sidecar.istio.io/inject': 'false',
    ...infraLabels,
    ...(waypoint ? { 'istio.io/dataplane-mode': 'none' } : {}),
    'service.istio.io/canonical-name': name,
    'service.istio.io/canonical-revision': 'latest',
    [GATEWAY_NAME_LABEL]: gwName,
    [GATEWAY_CLASS_LABEL]: className,
    [MANAGED_LABEL]: info.managedLabel,
  };
  const podAnnotations = {
    ...infraAnnotations,
    // The revision, never a tag; it wins over a Gateway annotation of the same key.
    'istio.io/rev': revision.name,
    'prometheus.io/path': '/stats/prometheus',
    'prometheus.io/port': '15020',
    'prometheus.io/scrape': 'true',
  };
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(name),
    spec: {
      selector: { matchLabels: { [GATEWAY_NAME_LABEL]: gwName } },
      template: {
        metadata: { labels: podLabels, annotations: podAnnotations },
        spec: {
          serviceAccountName: serviceAccount,
          containers: [proxyContainer(gateway, name, info, revision)],
          ...(waypoint
            ? {}
            : { securityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] } }),
        },
      },
    },
  };
  const serviceType = gateway.metadata.annotations?.['networking.istio.io/service-type'] ?? info.defaultServiceType;
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(name, waypoint ? { 'networking.istio.io/traffic-distribution': 'PreferClose' } : {}),
    spec: {
      ipFamilyPolicy: 'PreferDualStack',
      ports: servicePorts(spec.listeners ?? []),
      selector: { [GATEWAY_NAME_LABEL]: gwName },
      type: serviceType,
    },
  };
  const sa: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(serviceAccount) };
  return {
    deploymentName: name,
    objects: [
      { kind: 'ServiceAccount', object: sa },
      { kind: 'Deployment', object: deployment },
      { kind: 'Service', object: service },
    ],
  };
}
