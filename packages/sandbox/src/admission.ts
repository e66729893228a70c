/**
 * Admission as the API server does it with Istio's sidecar injector webhooks. At pod creation
 * every MutatingWebhookConfiguration in the store is evaluated, webhook by webhook, in name
 * order: `rules` (CREATE pods), `namespaceSelector` against the Namespace's labels and
 * `objectSelector` against the pod's labels, with real LabelSelector semantics. Nothing about
 * `istio-injection` or `istio.io/rev` is hard-coded here: precedence and opt-outs follow from the
 * selectors Istio writes (reference §2.2), including deactivated (`never-match`) injectors.
 *
 * A matching webhook is "called": its `clientConfig.service` must have a Ready endpoint (an
 * istiod pod selected by the Service), and a call may time out (a fault: it then takes the
 * webhook's `timeoutSeconds` and fails with "context deadline exceeded"). A failed call fails the
 * create under `failurePolicy: Fail` (500 `failed calling webhook "<name>": failed to call webhook:
 * Post "https://<svc>.<ns>.svc:443/inject?timeout=10s": ...`) and is skipped under `Ignore`: the
 * pod is created without that webhook's mutation and an audit note
 * `failed-open.mutation.webhook.admission.k8s.io/round_0_index_<i>` is recorded (in `warnings`),
 * as the mutating dispatcher does (k8s.io/apiserver/pkg/admission/plugin/webhook/mutating).
 * The revision injected is the one behind that Service; the pod gets what Istio writes
 * (reference §3). Like the real webhook, an already injected pod or a hostNetwork pod is skipped.
 */
import { labelSelectorRequirements, matches, type LabelSelector, type Requirement } from './selectors.ts';
import { StoreError, type KubeObject, type ResourceType, type Store } from './store.ts';
import { workloadOf } from './controllers/pod-util.ts';
import type { SimTypes } from './controllers/resource-types.ts';
import { cloneJson } from './clone.ts';

type Rule = { apiGroups?: string[]; apiVersions?: string[]; operations?: string[]; resources?: string[] };
type Webhook = {
  name: string;
  clientConfig?: { service?: { name: string; namespace: string; path?: string; port?: number }; url?: string };
  rules?: Rule[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  failurePolicy?: string;
  timeoutSeconds?: number;
};
type CompiledWebhook = {
  configuration: string;
  webhook: Webhook;
  namespace: Requirement[];
  object: Requirement[];
  podCreate: boolean;
};
type Container = { name: string; image?: string; env?: { name: string; value?: string }[]; [k: string]: unknown };

export type InjectionOutcome = 'injected' | 'skipped' | 'failed';

export type InjectionRecord = {
  namespace: string;
  pod: string;
  outcome: InjectionOutcome;
  /** The revision whose istiod handled (or failed) the request. */
  revision?: string;
  webhook?: string;
  configuration?: string;
  reason?: string;
};

export type Admission = {
  /** Warnings such as two revisions matching one pod (the real API server calls both). */
  readonly warnings: string[];
  /** The Istio version a revision runs, read from its istiod Deployment. */
  revisionVersion(revision: string, namespace?: string): string | undefined;
  /** Simulated ms that webhook calls timed out for since the last call (the API waits them). */
  takeDelay(): number;
};

/** Thrown by a webhook call that failed; the failure policy decides what it means. */
class WebhookCallError extends StoreError {}

export const PROXY_HUB = 'docker.io/istio';

export function installAdmission(options: {
  store: Store;
  types: SimTypes;
  /** Pods of a namespace from the controllers' index (endpoints of the webhook Service). */
  podsInNamespace: (namespace: string) => KubeObject[];
  onInjection?: (record: InjectionRecord) => void;
  /** Whether a call to this webhook times out (a fault). */
  webhookTimesOut?: (configuration: string, webhook: string) => boolean;
}): Admission {
  const { store, types, podsInNamespace } = options;
  const compiled = new WeakMap<KubeObject, CompiledWebhook[]>();
  const warnings: string[] = [];
  let delayMs = 0;
  const warn = (text: string) => {
    warnings.push(text);
    if (warnings.length > 100) warnings.shift();
  };

  function compile(mwc: KubeObject): CompiledWebhook[] {
    let out = compiled.get(mwc);
    if (out) return out;
    out = ((mwc.webhooks as Webhook[] | undefined) ?? []).map((webhook) => ({
      configuration: mwc.metadata.name ?? '',
      webhook,
      namespace: labelSelectorRequirements(webhook.namespaceSelector),
      object: labelSelectorRequirements(webhook.objectSelector),
      podCreate: (webhook.rules ?? []).some(ruleMatchesPodCreate),
    }));
    compiled.set(mwc, out);
    return out;
  }

  function deploymentFor(service: KubeObject, revision: string): KubeObject | undefined {
    const namespace = service.metadata.namespace ?? '';
    const byName = store.tryGet(types.deployments, namespace, service.metadata.name ?? '');
    if (byName) return byName;
    return store
      .list(types.deployments, { namespace })
      .items.find((d) => d.metadata.labels?.app === 'istiod' && d.metadata.labels['istio.io/rev'] === revision);
  }

  function versionOf(deployment: KubeObject | undefined): string | undefined {
    if (!deployment) return undefined;
    const label = deployment.metadata.labels?.['operator.istio.io/version'];
    if (label) return label;
    const image = ((deployment.spec as { template?: { spec?: { containers?: Container[] } } }).template?.spec
      ?.containers ?? [])[0]?.image;
    return image?.split(':').at(-1);
  }

  function callWebhook(
    hook: CompiledWebhook,
    namespace: string,
    podName: string,
  ): { revision: string; version: string; service: KubeObject } {
    const ref = hook.webhook.clientConfig?.service;
    const fail = (why: string): never => {
      options.onInjection?.({
        namespace,
        pod: podName,
        outcome: 'failed',
        webhook: hook.webhook.name,
        configuration: hook.configuration,
        reason: why,
      });
      const target = ref
        ? `https://${ref.name}.${ref.namespace}.svc:${ref.port ?? 443}${ref.path ?? '/'}?timeout=${hook.webhook.timeoutSeconds ?? 10}s`
        : (hook.webhook.clientConfig?.url ?? '');
      throw new WebhookCallError(
        'InternalError',
        500,
        `Internal error occurred: failed calling webhook "${hook.webhook.name}": failed to call webhook: Post "${target}": ${why}`,
      );
    };
    if (!ref) return fail('no service reference in clientConfig (URL webhooks are not simulated)');
    if (options.webhookTimesOut?.(hook.configuration, hook.webhook.name)) {
      delayMs += (hook.webhook.timeoutSeconds ?? 10) * 1000;
      return fail('context deadline exceeded');
    }
    const service = store.tryGet(types.services, ref.namespace, ref.name);
    if (!service) return fail(`service "${ref.name}" not found`);
    const selector = (service.spec as { selector?: Record<string, string> } | undefined)?.selector ?? {};
    const requirements = labelSelectorRequirements({ matchLabels: selector });
    const ready =
      Object.keys(selector).length > 0 &&
      podsInNamespace(ref.namespace).some((pod) => matches(requirements, pod.metadata.labels) && isReady(pod));
    if (!ready) return fail(`no endpoints available for service "${ref.name}"`);
    const revision = service.metadata.labels?.['istio.io/rev'] ?? selector['istio.io/rev'] ?? 'default';
    const version = versionOf(deploymentFor(service, revision));
    if (!version) return fail(`istiod behind service "${ref.name}" has no Deployment to read its version from`);
    return { revision, version, service };
  }

  store.addCreateHook((resource: ResourceType, object: KubeObject): KubeObject => {
    if (resource !== types.pods) return object;
    const namespace = object.metadata.namespace ?? '';
    const nsLabels = store.tryGet(types.namespaces, undefined, namespace)?.metadata.labels ?? {};
    const podLabels = object.metadata.labels ?? {};
    const matched: CompiledWebhook[] = [];
    for (const mwc of store.list(types.mutatingwebhookconfigurations).items) {
      for (const hook of compile(mwc)) {
        if (hook.podCreate && matches(hook.namespace, nsLabels) && matches(hook.object, podLabels)) matched.push(hook);
      }
    }
    if (matched.length === 0) return object;
    const podName = object.metadata.name ?? '';
    let pod = object;
    let injectedBy: { revision: string; webhook: string } | undefined;
    for (const [index, hook] of matched.entries()) {
      let called: ReturnType<typeof callWebhook>;
      try {
        called = callWebhook(hook, namespace, podName);
      } catch (error) {
        if (!(error instanceof WebhookCallError) || hook.webhook.failurePolicy !== 'Ignore') throw error;
        warn(
          `pod ${namespace}/${podName}: failed-open.mutation.webhook.admission.k8s.io/round_0_index_${index}: ${hook.webhook.name} (${error.message})`,
        );
        continue;
      }
      const { revision, version, service } = called;
      if (injectedBy) {
        // The real API server calls this webhook too; istiod sees the status annotation and skips.
        if (injectedBy.revision !== revision) {
          warn(
            `pod ${namespace}/${podName}: webhooks of revisions "${injectedBy.revision}" (${injectedBy.webhook}) and "${revision}" (${hook.webhook.name}) both match; the first one injected`,
          );
        }
        options.onInjection?.({
          namespace,
          pod: podName,
          outcome: 'skipped',
          revision,
          webhook: hook.webhook.name,
          configuration: hook.configuration,
          reason: 'already injected',
        });
        continue;
      }
      const skip = skipReason(pod);
      if (skip) {
        options.onInjection?.({
          namespace,
          pod: podName,
          outcome: 'skipped',
          revision,
          webhook: hook.webhook.name,
          configuration: hook.configuration,
          reason: skip,
        });
        continue;
      }
      pod = injectPod(pod, { revision, version, service });
      injectedBy = { revision, webhook: hook.webhook.name };
      options.onInjection?.({
        namespace,
        pod: podName,
        outcome: 'injected',
        revision,
        webhook: hook.webhook.name,
        configuration: hook.configuration,
      });
    }
    return pod;
  });

  return {
    warnings,
    takeDelay() {
      const taken = delayMs;
      delayMs = 0;
      return taken;
    },
    revisionVersion(revision, namespace = 'istio-system') {
      const name = revision === 'default' ? 'istiod' : `istiod-${revision}`;
      return versionOf(store.tryGet(types.deployments, namespace, name));
    },
  };
}

function ruleMatchesPodCreate(rule: Rule): boolean {
  const has = (list: string[] | undefined, value: string) => (list ?? []).some((v) => v === '*' || v === value);
  return (
    has(rule.operations, 'CREATE') &&
    has(rule.apiGroups, '') &&
    has(rule.apiVersions, 'v1') &&
    (rule.resources ?? []).some((r) => r === '*' || r === 'pods' || r === '*/*')
  );
}

function isReady(pod: KubeObject): boolean {
  const status = pod.status as { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
  return (
    !pod.metadata.deletionTimestamp &&
    status?.phase === 'Running' &&
    (status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false)
  );
}

/** Why istiod's injectRequired would say no for a pod the webhook was called for. */
function skipReason(pod: KubeObject): string | undefined {
  if (pod.metadata.annotations?.['sidecar.istio.io/status']) return 'already injected';
  if ((pod.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork) return 'hostNetwork';
  // The label wins over the annotation; the annotation only counts when no label is set.
  const label = pod.metadata.labels?.['sidecar.istio.io/inject'];
  const annotation = pod.metadata.annotations?.['sidecar.istio.io/inject'];
  if ((label ?? annotation)?.toLowerCase() === 'false') return 'sidecar.istio.io/inject=false';
  return undefined;
}

const SIDECAR_VOLUMES = [
  'workload-socket',
  'credential-socket',
  'workload-certs',
  'istio-envoy',
  'istio-data',
  'istio-podinfo',
  'istio-token',
  'istiod-ca-cert',
  'istio-ca-crl',
];

/** Writes what Istio's injection template writes (reference §3; gateway template §4). */
export function injectPod(
  input: KubeObject,
  target: { revision: string; version: string; service: KubeObject },
): KubeObject {
  const pod = cloneJson(input);
  const labels = { ...(pod.metadata.labels ?? {}) };
  const annotations = { ...(pod.metadata.annotations ?? {}) };
  const spec = (pod.spec ?? {}) as {
    containers?: Container[];
    initContainers?: Container[];
    volumes?: { name: string }[];
  };
  const namespace = pod.metadata.namespace ?? '';
  const serviceNamespace = target.service.metadata.namespace ?? 'istio-system';
  const discovery = `${target.service.metadata.name}.${serviceNamespace}.svc:15012`;
  const image = `${PROXY_HUB}/proxyv2:${target.version}`;
  const workload = workloadOf(pod)?.name ?? pod.metadata.name ?? pod.metadata.generateName?.replace(/-$/, '') ?? '';
  const owner = workloadOf(pod);
  const gateway = annotations['inject.istio.io/templates'] === 'gateway';
  const canonicalName = labels['app.kubernetes.io/name'] ?? labels.app ?? workload;
  const canonicalRevision = labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
  const env = [
    { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
    { name: 'CA_ADDR', value: discovery },
    {
      name: 'PROXY_CONFIG',
      value: discovery === 'istiod.istio-system.svc:15012' ? '{}\n' : `{"discoveryAddress":"${discovery}"}\n`,
    },
    { name: 'ISTIO_META_WORKLOAD_NAME', value: workload },
    {
      name: 'ISTIO_META_OWNER',
      value: `kubernetes://apis/apps/v1/namespaces/${namespace}/${(owner?.kind ?? 'Deployment').toLowerCase()}s/${workload}`,
    },
    { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
    { name: 'ISTIO_META_MESH_ID', value: 'cluster.local' },
    { name: 'TRUST_DOMAIN', value: 'cluster.local' },
  ];
  const proxyBase = {
    name: 'istio-proxy',
    image,
    args: [
      'proxy',
      gateway ? 'router' : 'sidecar',
      '--domain',
      '$(POD_NAMESPACE).svc.cluster.local',
      '--proxyLogLevel=warning',
    ],
    env,
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 15, failureThreshold: 4 },
  };
  labels['service.istio.io/canonical-name'] = canonicalName;
  labels['service.istio.io/canonical-revision'] = canonicalRevision;
  let status: Record<string, unknown>;
  if (gateway) {
    // The gateway template fills in the container the chart declared with `image: auto`.
    const containers = [...(spec.containers ?? [])];
    const index = containers.findIndex((c) => c.name === 'istio-proxy');
    const merged = { ...(index >= 0 ? containers[index] : {}), ...proxyBase };
    if (index >= 0) containers[index] = merged;
    else containers.push(merged);
    spec.containers = containers;
    status = {
      initContainers: null,
      containers: ['istio-proxy'],
      volumes: SIDECAR_VOLUMES.slice(0, 8),
      imagePullSecrets: null,
      revision: target.revision,
    };
  } else {
    labels['security.istio.io/tlsMode'] = 'istio';
    const appContainer = spec.containers?.[0]?.name;
    if (appContainer) {
      annotations['kubectl.kubernetes.io/default-container'] = appContainer;
      annotations['kubectl.kubernetes.io/default-logs-container'] = appContainer;
    }
    spec.initContainers = [
      ...(spec.initContainers ?? []),
      {
        name: 'istio-init',
        image,
        args: [
          'istio-iptables',
          '-p',
          '15001',
          '-z',
          '15006',
          '-u',
          '1337',
          '-m',
          'REDIRECT',
          '-i',
          '*',
          '-x',
          '',
          '-b',
          '*',
          '-d',
          '15090,15021,15020',
        ],
      },
      { ...proxyBase, restartPolicy: 'Always' },
    ];
    status = {
      initContainers: ['istio-init', 'istio-proxy'],
      containers: null,
      volumes: SIDECAR_VOLUMES,
      imagePullSecrets: null,
      revision: target.revision,
    };
  }
  spec.volumes = [
    ...(spec.volumes ?? []),
    ...SIDECAR_VOLUMES.filter((v) => (gateway ? v !== 'istio-ca-crl' : true)).map((name) => ({ name, emptyDir: {} })),
  ];
  annotations['istio.io/rev'] = target.revision;
  annotations['sidecar.istio.io/status'] = JSON.stringify(status);
  annotations['prometheus.io/scrape'] = 'true';
  annotations['prometheus.io/port'] = '15020';
  annotations['prometheus.io/path'] = '/stats/prometheus';
  pod.metadata.labels = labels;
  pod.metadata.annotations = annotations;
  pod.spec = spec;
  return pod;
}
