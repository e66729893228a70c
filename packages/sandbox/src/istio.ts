/**
 * Istio control planes as real objects in the store, shaped like the istio-discovery chart and
 * `istioctl` write them (reference §1, §2, §4): revisions, the unrevisioned default install,
 * revision tags (including the `default` tag's extra webhooks, validator and deactivation of the
 * unrevisioned injector) and injected gateways bound to a revision. Nothing else in the sandbox
 * knows about revisions: admission reads these objects, controllers roll the istiod Deployments.
 */
import { labelSelectorRequirements, matches, type LabelSelector } from './selectors.ts';
import type { KubeObject, ResourceType, Store } from './store.ts';
import { simTypes, type SimTypes } from './controllers/resource-types.ts';

export const ISTIO_NAMESPACE = 'istio-system';
const NEVER_MATCH: LabelSelector = { matchLabels: { 'istio.io/deactivated': 'never-match' } };

export type RevisionInstall = {
  /** Revision name (`1-25-1`), or `default` for the unrevisioned control plane. */
  revision: string;
  /** Istio version (`1.25.1`): image tags of istiod and of the proxies it injects. */
  version: string;
  replicas?: number;
  namespace?: string;
};

function ownerLabels(revision: string, version: string, component: string, namespace: string): Record<string, string> {
  return {
    'operator.istio.io/managed': 'Reconcile',
    'operator.istio.io/version': version,
    'operator.istio.io/component': component,
    'install.operator.istio.io/owning-resource': 'unknown',
    'install.operator.istio.io/owning-resource-namespace': namespace,
    'istio.io/rev': revision,
  };
}

function injectionWebhook(
  name: string,
  service: string,
  namespace: string,
  namespaceSelector: LabelSelector,
  objectSelector: LabelSelector,
): Record<string, unknown> {
  return {
    name,
    admissionReviewVersions: ['v1beta1', 'v1'],
    clientConfig: { service: { name: service, namespace, path: '/inject', port: 443 }, caBundle: '' },
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    reinvocationPolicy: 'Never',
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: '*' }],
    sideEffects: 'None',
    timeoutSeconds: 10,
    namespaceSelector,
    objectSelector,
  };
}

const exprs = (...list: [string, string, string[]?][]): LabelSelector => ({
  matchExpressions: list.map(([key, operator, values]) => ({ key, operator, ...(values ? { values } : {}) })),
});

/** The two `rev.*` webhooks of a revision MWC or tag MWC, for revision-or-tag `value`. */
function revWebhooks(value: string, service: string, namespace: string): Record<string, unknown>[] {
  return [
    injectionWebhook(
      'rev.namespace.sidecar-injector.istio.io',
      service,
      namespace,
      exprs(['istio.io/rev', 'In', [value]], ['istio-injection', 'DoesNotExist']),
      exprs(['sidecar.istio.io/inject', 'NotIn', ['false']]),
    ),
    injectionWebhook(
      'rev.object.sidecar-injector.istio.io',
      service,
      namespace,
      exprs(['istio.io/rev', 'DoesNotExist'], ['istio-injection', 'DoesNotExist']),
      exprs(['sidecar.istio.io/inject', 'NotIn', ['false']], ['istio.io/rev', 'In', [value]]),
    ),
  ];
}

/** The `namespace.*` and `object.*` webhooks only the default revision / default tag has. */
function defaultWebhooks(service: string, namespace: string): Record<string, unknown>[] {
  return [
    injectionWebhook(
      'namespace.sidecar-injector.istio.io',
      service,
      namespace,
      exprs(['istio-injection', 'In', ['enabled']]),
      exprs(['sidecar.istio.io/inject', 'NotIn', ['false']]),
    ),
    injectionWebhook(
      'object.sidecar-injector.istio.io',
      service,
      namespace,
      exprs(['istio-injection', 'DoesNotExist'], ['istio.io/rev', 'DoesNotExist']),
      exprs(['sidecar.istio.io/inject', 'In', ['true']], ['istio.io/rev', 'DoesNotExist']),
    ),
  ];
}

function upsert(store: Store, type: ResourceType, object: KubeObject): KubeObject {
  const namespace = type.namespaced ? object.metadata.namespace : undefined;
  const existing = store.tryGet(type, namespace, object.metadata.name ?? '');
  if (!existing) return store.create(type, namespace, object);
  return store.update(type, namespace, {
    ...object,
    metadata: { ...existing.metadata, labels: object.metadata.labels, annotations: object.metadata.annotations },
  });
}

function ensureNamespace(store: Store, types: SimTypes, name: string): void {
  if (!store.tryGet(types.namespaces, undefined, name)) {
    store.create(types.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
}

/** Installs an istiod control plane: revisioned (`istiod-<rev>`) or, for `default`, unrevisioned. */
export function installRevision(store: Store, install: RevisionInstall): void {
  const types = simTypes(store);
  const namespace = install.namespace ?? ISTIO_NAMESPACE;
  const { revision, version } = install;
  const unrevisioned = revision === 'default';
  const suffix = unrevisioned ? '' : `-${revision}`;
  const istiod = `istiod${suffix}`;
  const owner = ownerLabels(revision, version, 'Pilot', namespace);
  ensureNamespace(store, types, namespace);

  const selector: Record<string, string> = unrevisioned
    ? { app: 'istiod', istio: 'pilot' }
    : { app: 'istiod', 'istio.io/rev': revision };
  const podLabels = {
    app: 'istiod',
    'istio.io/rev': revision,
    istio: unrevisioned ? 'pilot' : 'istiod',
    'sidecar.istio.io/inject': 'false',
    'istio.io/dataplane-mode': 'none',
    'operator.istio.io/component': 'Pilot',
  };

  upsert(store, types.serviceaccounts, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: istiod, namespace, labels: { app: 'istiod', ...owner } },
  });
  upsert(store, types.configmaps, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `istio${suffix}`, namespace, labels: { app: 'istiod', ...owner } },
    data: {
      mesh: `defaultConfig:\n  discoveryAddress: ${istiod}.${namespace}.svc:15012\ndefaultProviders:\n  metrics:\n  - prometheus\nenablePrometheusMerge: true\nrootNamespace: ${namespace}\ntrustDomain: cluster.local`,
      meshNetworks: 'networks: {}',
    },
  });
  upsert(store, types.configmaps, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `istio-sidecar-injector${suffix}`, namespace, labels: { app: 'sidecar-injector', ...owner } },
    data: {
      values: JSON.stringify({
        revision: unrevisioned ? '' : revision,
        global: { hub: 'docker.io/istio', tag: version, istioNamespace: namespace },
      }),
      config:
        'defaultTemplates: [sidecar]\npolicy: enabled\nalwaysInjectSelector: []\nneverInjectSelector: []\ninjectedAnnotations: {}\ntemplates: {sidecar: "", gateway: ""}',
    },
  });
  upsert(store, types.deployments, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: istiod, namespace, labels: { app: 'istiod', istio: 'pilot', ...owner } },
    spec: {
      replicas: install.replicas ?? 1,
      selector: { matchLabels: unrevisioned ? { istio: 'pilot' } : selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
      template: {
        metadata: {
          labels: podLabels,
          annotations: {
            'prometheus.io/port': '15014',
            'prometheus.io/scrape': 'true',
            'sidecar.istio.io/inject': 'false',
          },
        },
        spec: {
          serviceAccountName: istiod,
          containers: [
            {
              name: 'discovery',
              image: `docker.io/istio/pilot:${version}`,
              args: [
                'discovery',
                '--monitoringAddr=:15014',
                '--log_output_level=default:info',
                '--domain',
                'cluster.local',
                '--keepaliveMaxServerConnectionAge',
                '30m',
              ],
              env: [
                { name: 'REVISION', value: revision },
                { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
              ],
              ports: [
                { containerPort: 8080, protocol: 'TCP' },
                { containerPort: 15010, protocol: 'TCP' },
                { containerPort: 15017, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/ready', port: 8080 }, initialDelaySeconds: 1, periodSeconds: 3 },
            },
          ],
        },
      },
    },
  });
  upsert(store, types.services, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: istiod, namespace, labels: { app: 'istiod', istio: 'pilot', ...owner } },
    spec: {
      type: 'ClusterIP',
      ports: [
        { name: 'grpc-xds', port: 15010, protocol: 'TCP' },
        { name: 'https-dns', port: 15012, protocol: 'TCP' },
        { name: 'https-webhook', port: 443, protocol: 'TCP', targetPort: 15017 },
        { name: 'http-monitoring', port: 15014, protocol: 'TCP' },
      ],
      selector,
    },
  });
  upsert(store, types.mutatingwebhookconfigurations, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name:
        namespace === ISTIO_NAMESPACE
          ? `istio-sidecar-injector${suffix}`
          : `istio-sidecar-injector${suffix}-${namespace}`,
      labels: { app: 'sidecar-injector', ...owner },
    },
    webhooks: [
      ...revWebhooks(revision, istiod, namespace),
      ...(unrevisioned ? defaultWebhooks(istiod, namespace) : []),
    ],
  });
  upsert(store, types.validatingwebhookconfigurations, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: {
      name: unrevisioned ? `istio-validator-${namespace}` : `istio-validator-${revision}-${namespace}`,
      labels: { app: 'istiod', istio: 'istiod', ...owner },
    },
    webhooks: [
      {
        name: 'rev.validation.istio.io',
        admissionReviewVersions: ['v1'],
        clientConfig: { service: { name: istiod, namespace, path: '/validate' } },
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        objectSelector: exprs(['istio.io/rev', 'In', [revision]]),
        rules: [
          {
            apiGroups: ['security.istio.io', 'networking.istio.io', 'telemetry.istio.io', 'extensions.istio.io'],
            apiVersions: ['*'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['*'],
          },
        ],
      },
    ],
  });
}

/** The canonical injector MWC of a revision: `istio.io/rev=<rev>` and no `istio.io/tag`. */
function canonicalInjector(store: Store, types: SimTypes, revision: string): KubeObject {
  const found = store
    .list(types.mutatingwebhookconfigurations)
    .items.filter(
      (m) => m.metadata.labels?.['istio.io/rev'] === revision && m.metadata.labels['istio.io/tag'] === undefined,
    );
  if (found.length === 0) throw new Error(`cannot find MutatingWebhookConfiguration with revision "${revision}"`);
  if (found.length > 1) throw new Error(`found multiple canonical webhooks for revision "${revision}"`);
  return found[0] as KubeObject;
}

/**
 * `istioctl tag set <tag> --revision <rev>` (reference §2.1): renders `istio-revision-tag-<tag>`
 * from the revision's canonical webhook; for `default` also the `namespace.*`/`object.*`
 * webhooks, `istiod-default-validator`, and deactivates the unrevisioned injector.
 */
export function setTag(
  store: Store,
  options: { tag: string; revision: string; overwrite?: boolean; namespace?: string },
): void {
  const types = simTypes(store);
  const namespace = options.namespace ?? ISTIO_NAMESPACE;
  const { tag, revision } = options;
  const mwcs = store.list(types.mutatingwebhookconfigurations).items;
  if (
    tag !== 'default' &&
    !options.overwrite &&
    mwcs.some((m) => m.metadata.labels?.['istio.io/rev'] === tag && m.metadata.labels['istio.io/tag'] === undefined)
  ) {
    throw new Error(`cannot create revision tag "${tag}": found existing control plane revision with same name`);
  }
  const canonical = canonicalInjector(store, types, revision);
  const name = namespace === ISTIO_NAMESPACE ? `istio-revision-tag-${tag}` : `istio-revision-tag-${tag}-${namespace}`;
  const existing = mwcs.find((m) => m.metadata.labels?.['istio.io/tag'] === tag);
  if (existing && !options.overwrite) {
    throw new Error(`revision tag "${tag}" already exists, and --overwrite is false`);
  }
  const source = ((canonical.webhooks as
    { clientConfig?: { service?: { name: string; namespace: string } } }[] | undefined) ?? [])[0];
  const service = source?.clientConfig?.service?.name ?? `istiod-${revision}`;
  const serviceNamespace = source?.clientConfig?.service?.namespace ?? namespace;
  // Labels: the canonical webhook's (minus `app`), then the tag's; operator labels stripped
  // because a tag made by `tag set` is user-managed (so `uninstall --revision` leaves it).
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(canonical.metadata.labels ?? {})) {
    if (key !== 'app' && !key.includes('operator.istio.io')) labels[key] = value;
  }
  Object.assign(labels, {
    'istio.io/tag': tag,
    'istio.io/rev': revision,
    app: 'sidecar-injector',
    'app.kubernetes.io/name': 'istiod',
    'app.kubernetes.io/part-of': 'istio',
  });
  if (existing && existing.metadata.name !== name)
    store.delete(types.mutatingwebhookconfigurations, undefined, existing.metadata.name ?? '');
  upsert(store, types.mutatingwebhookconfigurations, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name,
      labels,
      ...(canonical.metadata.annotations ? { annotations: { ...canonical.metadata.annotations } } : {}),
    },
    webhooks: [
      ...revWebhooks(tag, service, serviceNamespace),
      ...(tag === 'default' ? defaultWebhooks(service, serviceNamespace) : []),
    ],
  });
  if (tag !== 'default') return;

  // Deactivate (not delete) the unrevisioned injector, so one can switch back to it later.
  const old = store
    .list(types.mutatingwebhookconfigurations)
    .items.filter(
      (m) => m.metadata.labels?.['istio.io/rev'] === 'default' && m.metadata.labels['istio.io/tag'] === undefined,
    );
  if (old.length > 1)
    throw new Error('found multiple unrevisioned injectors (istio.io/rev=default without istio.io/tag)');
  const injector = old[0];
  if (injector) {
    store.update(types.mutatingwebhookconfigurations, undefined, {
      ...injector,
      webhooks: ((injector.webhooks as Record<string, unknown>[] | undefined) ?? []).map((w) => ({
        ...w,
        namespaceSelector: NEVER_MATCH,
        objectSelector: NEVER_MATCH,
      })),
    });
  }
  const validator = store.tryGet(types.validatingwebhookconfigurations, undefined, 'istiod-default-validator');
  const keepFail = (validator?.webhooks as { failurePolicy?: string }[] | undefined)?.[0]?.failurePolicy === 'Fail';
  upsert(store, types.validatingwebhookconfigurations, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: {
      name: 'istiod-default-validator',
      labels: { app: 'istiod', 'istio.io/rev': revision, 'istio.io/tag': 'default' },
    },
    webhooks: [
      {
        name: 'validation.istio.io',
        admissionReviewVersions: ['v1'],
        clientConfig: { service: { name: service, namespace: serviceNamespace, path: '/validate' } },
        failurePolicy: keepFail ? 'Fail' : 'Ignore',
        sideEffects: 'None',
        rules: [
          {
            apiGroups: ['security.istio.io', 'networking.istio.io', 'telemetry.istio.io', 'extensions.istio.io'],
            apiVersions: ['*'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['*'],
          },
        ],
      },
    ],
  });
}

/** `istioctl tag remove <tag>`: deletes MWCs and VWCs labelled `istio.io/tag=<tag>`. */
export function removeTag(store: Store, tag: string): void {
  const types = simTypes(store);
  const selector = labelSelectorRequirements({ matchLabels: { 'istio.io/tag': tag } });
  let found = 0;
  for (const type of [types.mutatingwebhookconfigurations, types.validatingwebhookconfigurations]) {
    for (const object of store.list(type, { labelSelector: selector }).items) {
      store.delete(type, undefined, object.metadata.name ?? '');
      found++;
    }
  }
  if (found === 0) throw new Error(`revision tag ${tag} does not exist`);
}

/**
 * `istioctl uninstall --revision <rev>` (reference §5): deletes what carries `istio.io/rev=<rev>`
 * and an operator component label. Tags made by `tag set` have no component label and stay.
 */
export function uninstallRevision(store: Store, revision: string): number {
  const types = simTypes(store);
  const requirements = labelSelectorRequirements({
    matchLabels: { 'istio.io/rev': revision },
    matchExpressions: [
      {
        key: 'operator.istio.io/component',
        operator: 'In',
        values: ['Pilot', 'IngressGateways', 'EgressGateways', 'Cni', 'Ztunnel'],
      },
    ],
  });
  let deleted = 0;
  for (const type of [
    types.deployments,
    types.daemonsets,
    types.services,
    types.configmaps,
    types.serviceaccounts,
    types.mutatingwebhookconfigurations,
    types.validatingwebhookconfigurations,
  ]) {
    for (const object of store.list(type).items) {
      if (!matches(requirements, object.metadata.labels)) continue;
      store.delete(type, type.namespaced ? object.metadata.namespace : undefined, object.metadata.name ?? '');
      deleted++;
    }
  }
  return deleted;
}

/**
 * An injected ingress gateway bound to a revision (gateway chart shape, reference §4): pod
 * template labels `sidecar.istio.io/inject: "true"` and `istio.io/rev: <rev>`, annotation
 * `inject.istio.io/templates: gateway`, container image `auto` that injection replaces.
 */
export function installGateway(
  store: Store,
  options: { name?: string; namespace?: string; revision: string; replicas?: number },
): void {
  const types = simTypes(store);
  const name = options.name ?? 'istio-ingressgateway';
  const namespace = options.namespace ?? ISTIO_NAMESPACE;
  ensureNamespace(store, types, namespace);
  const selector = { app: name, istio: 'ingressgateway' };
  const labels = { ...selector, 'istio.io/rev': options.revision, 'operator.istio.io/component': 'IngressGateways' };
  // The objects of chart gateways/istio-ingress (istio/istio manifests/charts/gateways/istio-ingress/
  // templates: serviceaccount.yaml, role.yaml, rolebindings.yaml, poddisruptionbudget.yaml,
  // autoscale.yaml with the chart's defaults), every one with the same owner labels.
  const account = `${name}-service-account`;
  upsert(store, types.serviceaccounts, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: account, namespace, labels },
  });
  const extra = (group: string, plural: string, object: KubeObject) => {
    const type = store.findType(group, plural);
    if (type) upsert(store, type, object);
  };
  extra('rbac.authorization.k8s.io', 'roles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: `${name}-sds`, namespace, labels },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'watch', 'list'] }],
  });
  extra('rbac.authorization.k8s.io', 'rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: `${name}-sds`, namespace, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${name}-sds` },
    subjects: [{ kind: 'ServiceAccount', name: account }],
  });
  extra('policy', 'poddisruptionbudgets', {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace, labels },
    spec: { minAvailable: 1, selector: { matchLabels: selector } },
  });
  extra('autoscaling', 'horizontalpodautoscalers', {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace, labels },
    spec: {
      maxReplicas: 5,
      minReplicas: options.replicas ?? 2,
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
      ],
    },
  });
  upsert(store, types.deployments, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels },
    spec: {
      replicas: options.replicas ?? 2,
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels: { ...selector, 'sidecar.istio.io/inject': 'true', 'istio.io/rev': options.revision },
          annotations: { 'inject.istio.io/templates': 'gateway', 'sidecar.istio.io/inject': 'true' },
        },
        spec: {
          serviceAccountName: account,
          containers: [
            {
              name: 'istio-proxy',
              image: 'auto',
              ports: [
                { containerPort: 8080 },
                { containerPort: 8443 },
                { containerPort: 15090, name: 'http-envoy-prom' },
              ],
            },
          ],
        },
      },
    },
  });
  upsert(store, types.services, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels },
    spec: {
      type: 'LoadBalancer',
      selector,
      ports: [
        { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
        { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
        { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
      ],
    },
  });
}
