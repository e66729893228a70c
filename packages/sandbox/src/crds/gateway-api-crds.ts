/**
 * The Gateway API CRDs of the standard channel (kubernetes-sigs/gateway-api
 * `config/crd/standard/gateway.networking.k8s.io_*.yaml`, bundle v1.4.1, the version Istio
 * 1.28/1.29 build against: reference istio-gateways-ambient-multicluster.md §11). Real clusters
 * install them separately from Istio, so a scenario says whether they are present.
 *
 * Faithful where clients look: names, scope, short names, the `gateway-api` category, served
 * and storage versions, the bundle-version/channel annotations (what `istioctl x precheck`
 * reads), printer columns (`kubectl get gateway`: NAME CLASS ADDRESS PROGRAMMED AGE), the status
 * subresource, and the `status` defaults ("Waiting for controller") that make an unowned Gateway
 * show PROGRAMMED Unknown. Schemas are otherwise "preserve unknown fields".
 */
import type { KubeObject } from '../store.ts';
import type { PrinterColumn } from '../api/crd.ts';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const DEFAULT_GATEWAY_API_VERSION = 'v1.4.1';

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** The condition the CRD defaults a fresh object to, for each listed type. */
function waiting(...types: string[]) {
  return {
    conditions: types.map((type) => ({
      lastTransitionTime: '1970-01-01T00:00:00Z',
      message: 'Waiting for controller',
      reason: 'Pending',
      status: 'Unknown',
      type,
    })),
  };
}

type GatewayApiCrd = {
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortNames?: string[];
  versions: { name: string; storage: boolean }[];
  columns: PrinterColumn[];
  status?: Record<string, unknown>;
  subresources: boolean;
};

const CRDS: readonly GatewayApiCrd[] = [
  {
    kind: 'GatewayClass',
    plural: 'gatewayclasses',
    scope: 'Cluster',
    shortNames: ['gc'],
    versions: [
      { name: 'v1', storage: true },
      { name: 'v1beta1', storage: false },
    ],
    columns: [
      { name: 'Controller', type: 'string', jsonPath: '.spec.controllerName' },
      { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].status' },
      age,
      { name: 'Description', type: 'string', jsonPath: '.spec.description', priority: 1 },
    ],
    status: waiting('Accepted'),
    subresources: true,
  },
  {
    kind: 'Gateway',
    plural: 'gateways',
    scope: 'Namespaced',
    shortNames: ['gtw'],
    versions: [
      { name: 'v1', storage: true },
      { name: 'v1beta1', storage: false },
    ],
    columns: [
      { name: 'Class', type: 'string', jsonPath: '.spec.gatewayClassName' },
      { name: 'Address', type: 'string', jsonPath: '.status.addresses[*].value' },
      { name: 'Programmed', type: 'string', jsonPath: '.status.conditions[?(@.type=="Programmed")].status' },
      age,
    ],
    status: waiting('Accepted', 'Programmed'),
    subresources: true,
  },
  {
    kind: 'HTTPRoute',
    plural: 'httproutes',
    scope: 'Namespaced',
    versions: [
      { name: 'v1', storage: true },
      { name: 'v1beta1', storage: false },
    ],
    columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }, age],
    subresources: true,
  },
  {
    kind: 'GRPCRoute',
    plural: 'grpcroutes',
    scope: 'Namespaced',
    versions: [{ name: 'v1', storage: true }],
    columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }, age],
    subresources: true,
  },
  {
    kind: 'ReferenceGrant',
    plural: 'referencegrants',
    scope: 'Namespaced',
    shortNames: ['refgrant'],
    versions: [{ name: 'v1beta1', storage: true }],
    columns: [age],
    subresources: false,
  },
];

const PRESERVE = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** The standard-channel CRD objects, annotated with the bundle version. */
export function gatewayApiCrdObjects(bundleVersion = DEFAULT_GATEWAY_API_VERSION): KubeObject[] {
  return CRDS.map((crd) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${crd.plural}.${GATEWAY_API_GROUP}`,
      annotations: {
        'gateway.networking.k8s.io/bundle-version': bundleVersion,
        'gateway.networking.k8s.io/channel': 'standard',
      },
    },
    spec: {
      group: GATEWAY_API_GROUP,
      names: {
        categories: ['gateway-api'],
        kind: crd.kind,
        listKind: `${crd.kind}List`,
        plural: crd.plural,
        ...(crd.shortNames ? { shortNames: crd.shortNames } : {}),
        singular: crd.kind.toLowerCase(),
      },
      scope: crd.scope,
      versions: crd.versions.map((v) => ({
        additionalPrinterColumns: crd.columns,
        name: v.name,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: PRESERVE,
              status: crd.status ? { ...PRESERVE, default: crd.status } : PRESERVE,
            },
            required: ['spec'],
          },
        },
        served: true,
        storage: v.storage,
        subresources: crd.subresources ? { status: {} } : {},
      })),
    },
  }));
}
