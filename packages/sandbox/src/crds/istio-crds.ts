/**
 * Istio's CustomResourceDefinitions as the `base` chart installs them
 * (`manifests/charts/base/files/crd-all.gen.yaml`, istio/istio; reference
 * istio-gateways-ambient-multicluster.md §11): 15 CRDs in four groups, every one with a status
 * subresource and the `None` conversion, so a real Istio cluster answers a list of EnvoyFilters
 * or VirtualServices with 200 (and an empty list). Names, versions (served and storage),
 * short names, categories and printer columns follow the file; the schemas are reduced to
 * "preserve unknown fields", since the sandbox does not validate Istio's specs (istiod's
 * validating webhook does that on a real cluster).
 */
import type { KubeObject } from '../store.ts';
import type { PrinterColumn } from '../api/crd.ts';

type IstioCrd = {
  group: 'networking.istio.io' | 'security.istio.io' | 'telemetry.istio.io' | 'extensions.istio.io';
  kind: string;
  plural: string;
  shortNames?: string[];
  /** Served versions in the file's order; `storage` names the stored one. */
  versions: string[];
  storage: string;
  columns: PrinterColumn[];
};

const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description:
    'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC. Populated by the system. Read-only. Null for lists.',
};

const column = (name: string, jsonPath: string, description: string): PrinterColumn => ({
  name,
  type: 'string',
  jsonPath,
  description,
});

// The networking kinds promoted to v1 keep v1alpha3 as their storage version (and security /
// telemetry keep v1beta1 / v1alpha1): objects stored before the promotion stay readable.
const NETWORKING_V1 = ['v1', 'v1alpha3', 'v1beta1'];

export const ISTIO_CRDS: readonly IstioCrd[] = [
  {
    group: 'extensions.istio.io',
    kind: 'TrafficExtension',
    plural: 'trafficextensions',
    versions: ['v1alpha1'],
    storage: 'v1alpha1',
    columns: [age],
  },
  {
    group: 'extensions.istio.io',
    kind: 'WasmPlugin',
    plural: 'wasmplugins',
    versions: ['v1alpha1'],
    storage: 'v1alpha1',
    columns: [age],
  },
  {
    group: 'networking.istio.io',
    kind: 'DestinationRule',
    plural: 'destinationrules',
    shortNames: ['dr'],
    versions: NETWORKING_V1,
    storage: 'v1alpha3',
    columns: [column('Host', '.spec.host', 'The name of a service from the service registry'), age],
  },
  {
    group: 'networking.istio.io',
    kind: 'EnvoyFilter',
    plural: 'envoyfilters',
    versions: ['v1alpha3'],
    storage: 'v1alpha3',
    columns: [],
  },
  {
    group: 'networking.istio.io',
    kind: 'Gateway',
    plural: 'gateways',
    shortNames: ['gw'],
    versions: NETWORKING_V1,
    storage: 'v1alpha3',
    columns: [],
  },
  {
    group: 'networking.istio.io',
    kind: 'ProxyConfig',
    plural: 'proxyconfigs',
    versions: ['v1beta1'],
    storage: 'v1beta1',
    columns: [],
  },
  {
    group: 'networking.istio.io',
    kind: 'ServiceEntry',
    plural: 'serviceentries',
    shortNames: ['se'],
    versions: NETWORKING_V1,
    storage: 'v1alpha3',
    columns: [
      column('Hosts', '.spec.hosts', 'The hosts associated with the ServiceEntry'),
      column(
        'Location',
        '.spec.location',
        'Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)',
      ),
      column('Resolution', '.spec.resolution', 'Service resolution mode for the hosts (NONE, STATIC, or DNS)'),
      age,
    ],
  },
  {
    group: 'networking.istio.io',
    kind: 'Sidecar',
    plural: 'sidecars',
    versions: NETWORKING_V1,
    storage: 'v1alpha3',
    columns: [],
  },
  {
    group: 'networking.istio.io',
    kind: 'VirtualService',
    plural: 'virtualservices',
    shortNames: ['vs'],
    versions: NETWORKING_V1,
    storage: 'v1alpha3',
    columns: [
      column('Gateways', '.spec.gateways', 'The names of gateways and sidecars that should apply these routes'),
      column('Hosts', '.spec.hosts', 'The destination hosts to which traffic is being sent'),
      age,
    ],
  },
  {
    group: 'networking.istio.io',
    kind: 'WorkloadEntry',
    plural: 'workloadentries',
    shortNames: ['we'],
    versions: NETWORKING_V1,
    storage: 'v1alpha3',
    columns: [age, column('Address', '.spec.address', 'Address associated with the network endpoint.')],
  },
  {
    group: 'networking.istio.io',
    kind: 'WorkloadGroup',
    plural: 'workloadgroups',
    shortNames: ['wg'],
    versions: NETWORKING_V1,
    storage: 'v1alpha3',
    columns: [age],
  },
  {
    group: 'security.istio.io',
    kind: 'AuthorizationPolicy',
    plural: 'authorizationpolicies',
    shortNames: ['ap'],
    versions: ['v1', 'v1beta1'],
    storage: 'v1beta1',
    columns: [column('Action', '.spec.action', 'The operation to take.'), age],
  },
  {
    group: 'security.istio.io',
    kind: 'PeerAuthentication',
    plural: 'peerauthentications',
    shortNames: ['pa'],
    versions: ['v1', 'v1beta1'],
    storage: 'v1beta1',
    columns: [column('Mode', '.spec.mtls.mode', 'Defines the mTLS mode used for peer authentication.'), age],
  },
  {
    group: 'security.istio.io',
    kind: 'RequestAuthentication',
    plural: 'requestauthentications',
    shortNames: ['ra'],
    versions: ['v1', 'v1beta1'],
    storage: 'v1beta1',
    columns: [],
  },
  {
    group: 'telemetry.istio.io',
    kind: 'Telemetry',
    plural: 'telemetries',
    shortNames: ['telemetry'],
    versions: ['v1', 'v1alpha1'],
    storage: 'v1alpha1',
    columns: [age],
  },
];

const PRESERVE = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** The CustomResourceDefinition objects, labelled and annotated as the base chart renders them. */
export function istioCrdObjects(): KubeObject[] {
  return ISTIO_CRDS.map((crd) => {
    const groupCategory = crd.group.replace(/\./g, '-');
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: {
        name: `${crd.plural}.${crd.group}`,
        // The chart's labels, and the annotation that keeps CRDs when the release is deleted.
        labels: { app: 'istio-pilot', chart: 'istio', heritage: 'Tiller', release: 'istio' },
        annotations: { 'helm.sh/resource-policy': 'keep' },
      },
      spec: {
        group: crd.group,
        names: {
          categories: ['istio-io', groupCategory],
          kind: crd.kind,
          listKind: `${crd.kind}List`,
          plural: crd.plural,
          ...(crd.shortNames ? { shortNames: crd.shortNames } : {}),
          singular: crd.kind.toLowerCase(),
        },
        scope: 'Namespaced',
        versions: crd.versions.map((name) => ({
          ...(crd.columns.length > 0 ? { additionalPrinterColumns: crd.columns } : {}),
          name,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: PRESERVE, status: PRESERVE },
              'x-kubernetes-preserve-unknown-fields': true,
            },
          },
          served: true,
          storage: name === crd.storage,
          subresources: { status: {} },
        })),
      },
    };
  });
}
