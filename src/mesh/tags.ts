/**
 * Revision tags, set and removed as `istioctl tag set|remove` does (reference sections 2.1-2.4):
 * the tag MWC is built from the target revision's own injector webhook; the `default` tag adds
 * the `namespace.*`/`object.*` webhooks, renders `istiod-default-validator`, and deactivates the
 * unrevisioned injector. Planning is pure (snapshot in, mutations out); `applyMutations` runs them.
 */
import { RevrollError, SafetyError } from '../errors.ts';
import { Resources, type ClusterPort, type KubeObject, type Mutation } from '../ports/cluster.ts';
import { istiodName, Label, NEVER_MATCH, tagWebhookName, Webhook } from './labels.ts';
import type { MeshSnapshot } from './revisions.ts';

/** A tag operation was refused, as istioctl would refuse it. */
export class TagError extends RevrollError {}

type WebhookClientConfig = {
  service?: { name: string; namespace: string; path?: string; port?: number };
  url?: string;
  caBundle?: string;
};

type MutatingWebhook = {
  name: string;
  clientConfig: WebhookClientConfig;
  namespaceSelector?: unknown;
  objectSelector?: unknown;
  rules?: unknown[];
  failurePolicy?: string;
  sideEffects?: string;
  admissionReviewVersions?: string[];
  reinvocationPolicy?: string;
  matchPolicy?: string;
  timeoutSeconds?: number;
};

export type SetTagOptions = {
  tag: string;
  revision: string;
  /** Replace an existing tag (istioctl `--overwrite`). revroll always passes true when moving a tag it manages. */
  overwrite: boolean;
};

/** Plans `istioctl tag set <tag> --revision <rev> [--overwrite]`. Throws TagError where istioctl fails. */
export function planSetTag(snapshot: MeshSnapshot, options: SetTagOptions): Mutation[] {
  const { tag, revision, overwrite } = options;
  const ns = snapshot.istioNamespace;
  // 1. A tag may not shadow a revision name (skipped for --overwrite and for `default`).
  if (!overwrite && tag !== 'default' && snapshot.revisions.some((r) => r.name === tag && r.injector)) {
    throw new TagError('TAG_IS_REVISION', `cannot create tag "${tag}": a revision with that name exists`);
  }
  // 2. The canonical webhook of the target revision: `istio.io/rev=<rev>,!istio.io/tag`.
  const canonical = snapshot.webhooks.filter(
    (w) => w.metadata.labels?.[Label.rev] === revision && !w.metadata.labels?.[Label.tag],
  );
  if (canonical.length === 0) {
    throw new TagError(
      'REVISION_NOT_FOUND',
      `cannot point tag "${tag}" at revision "${revision}": no injector MutatingWebhookConfiguration with istio.io/rev=${revision}`,
    );
  }
  if (canonical.length > 1) {
    throw new TagError(
      'REVISION_AMBIGUOUS',
      `cannot point tag "${tag}" at revision "${revision}": ${canonical.length} injector webhooks carry istio.io/rev=${revision} (${canonical.map((w) => w.metadata.name).join(', ')})`,
    );
  }
  const source = canonical[0] as KubeObject;
  // 3. An existing tag is only replaced with --overwrite (this applies to `default` too).
  const existing = snapshot.webhooks.find((w) => w.metadata.labels?.[Label.tag] === tag);
  if (existing && !overwrite) {
    throw new TagError(
      'TAG_EXISTS',
      `revision tag "${tag}" already exists (pointing at ${existing.metadata.labels?.[Label.rev]}); overwrite is needed to move it`,
    );
  }

  const mutations: Mutation[] = [];
  const webhook = buildTagWebhook(source, tag, revision, ns);
  if (existing) {
    mutations.push({
      op: 'replace',
      ref: Resources.mutatingwebhookconfigurations,
      object: { ...webhook, metadata: { ...webhook.metadata, resourceVersion: existing.metadata.resourceVersion } },
    });
  } else {
    mutations.push({ op: 'create', ref: Resources.mutatingwebhookconfigurations, object: webhook });
  }

  if (tag === 'default') {
    const validator = buildDefaultValidator(
      revision,
      ns,
      snapshot.validators.find((v) => v.metadata.name === 'istiod-default-validator'),
    );
    const current = snapshot.validators.find((v) => v.metadata.name === 'istiod-default-validator');
    mutations.push(
      current
        ? {
            op: 'replace',
            ref: Resources.validatingwebhookconfigurations,
            object: {
              ...validator,
              metadata: { ...validator.metadata, resourceVersion: current.metadata.resourceVersion },
            },
          }
        : { op: 'create', ref: Resources.validatingwebhookconfigurations, object: validator },
    );
    mutations.push(...planDeactivateUnrevisionedInjector(snapshot));
  }
  return mutations;
}

/** Plans `istioctl tag remove <tag>`: its MWCs, VWCs and tag Services go; nothing is reactivated. */
export function planRemoveTag(snapshot: MeshSnapshot, tag: string, tagServices: KubeObject[] = []): Mutation[] {
  const webhooks = snapshot.webhooks.filter((w) => w.metadata.labels?.[Label.tag] === tag);
  const validators = snapshot.validators.filter((v) => v.metadata.labels?.[Label.tag] === tag);
  const services = tagServices.filter((s) => s.metadata.labels?.[Label.tag] === tag);
  if (webhooks.length === 0 && services.length === 0) {
    throw new TagError('TAG_NOT_FOUND', `revision tag "${tag}" does not exist`);
  }
  return [
    ...webhooks.map((w): Mutation => ({
      op: 'delete',
      ref: Resources.mutatingwebhookconfigurations,
      name: w.metadata.name ?? '',
    })),
    ...validators.map((v): Mutation => ({
      op: 'delete',
      ref: Resources.validatingwebhookconfigurations,
      name: v.metadata.name ?? '',
    })),
    ...services.map((s): Mutation => ({
      op: 'delete',
      ref: Resources.services,
      namespace: snapshot.istioNamespace,
      name: s.metadata.name ?? '',
    })),
  ];
}

/**
 * Annotations a tool writes about its own handling of an object, which must not follow a copy:
 * `kubectl apply`'s last-applied configuration (a later apply of the tag would diff against the
 * injector), Helm's release ownership (the tag would look like part of the istiod release).
 */
export function bookkeepingAnnotation(key: string): boolean {
  return key === 'kubectl.kubernetes.io/last-applied-configuration' || key.startsWith('meta.helm.sh/');
}

/**
 * Builds the `istio-revision-tag-<tag>` MWC from the revision's own injector: its caBundle,
 * service (so it points at istiod-<rev>, not at a tag Service), path, URL, reinvocation policy,
 * labels (minus `app` and every operator.istio.io key) and annotations, less the bookkeeping
 * annotations that belong to the tool that wrote the injector (`bookkeepingAnnotation`).
 */
export function buildTagWebhook(source: KubeObject, tag: string, revision: string, istioNamespace: string): KubeObject {
  const sourceHooks = (source.webhooks as MutatingWebhook[] | undefined) ?? [];
  const template = sourceHooks[0];
  if (!template)
    throw new TagError('REVISION_WEBHOOK_EMPTY', `injector ${source.metadata.name} has no webhooks to copy from`);
  const clientConfig: WebhookClientConfig = template.clientConfig.url
    ? {
        url: template.clientConfig.url,
        ...(template.clientConfig.caBundle ? { caBundle: template.clientConfig.caBundle } : {}),
      }
    : {
        service: {
          name: template.clientConfig.service?.name ?? istiodName(revision),
          namespace: template.clientConfig.service?.namespace ?? istioNamespace,
          path: template.clientConfig.service?.path ?? '/inject',
          port: template.clientConfig.service?.port ?? 443,
        },
        ...(template.clientConfig.caBundle ? { caBundle: template.clientConfig.caBundle } : {}),
      };
  const base = {
    clientConfig,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    failurePolicy: 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1beta1', 'v1'],
    ...(template.reinvocationPolicy ? { reinvocationPolicy: template.reinvocationPolicy } : {}),
  };
  const notOptedOut = { key: Label.inject, operator: 'NotIn', values: ['false'] };
  const webhooks: MutatingWebhook[] = [
    {
      ...base,
      name: Webhook.revNamespace,
      namespaceSelector: {
        matchExpressions: [
          { key: Label.rev, operator: 'In', values: [tag] },
          { key: Label.injection, operator: 'DoesNotExist' },
        ],
      },
      objectSelector: { matchExpressions: [notOptedOut] },
    },
    {
      ...base,
      name: Webhook.revObject,
      namespaceSelector: {
        matchExpressions: [
          { key: Label.rev, operator: 'DoesNotExist' },
          { key: Label.injection, operator: 'DoesNotExist' },
        ],
      },
      objectSelector: { matchExpressions: [notOptedOut, { key: Label.rev, operator: 'In', values: [tag] }] },
    },
  ];
  if (tag === 'default') {
    webhooks.push(
      {
        ...base,
        name: Webhook.namespace,
        namespaceSelector: { matchExpressions: [{ key: Label.injection, operator: 'In', values: ['enabled'] }] },
        objectSelector: { matchExpressions: [notOptedOut] },
      },
      {
        ...base,
        name: Webhook.object,
        namespaceSelector: {
          matchExpressions: [
            { key: Label.injection, operator: 'DoesNotExist' },
            { key: Label.rev, operator: 'DoesNotExist' },
          ],
        },
        objectSelector: {
          matchExpressions: [
            { key: Label.inject, operator: 'In', values: ['true'] },
            { key: Label.rev, operator: 'DoesNotExist' },
          ],
        },
      },
    );
  }
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(source.metadata.labels ?? {})) {
    if (key === Label.app || key.includes('operator.istio.io')) continue;
    labels[key] = value;
  }
  Object.assign(labels, {
    [Label.tag]: tag,
    [Label.rev]: revision,
    app: 'sidecar-injector',
    'app.kubernetes.io/name': 'istiod',
    'app.kubernetes.io/part-of': 'istio',
    'app.kubernetes.io/managed-by': 'revroll',
  });
  const copied = source.metadata.annotations
    ? Object.fromEntries(Object.entries(source.metadata.annotations).filter(([key]) => !bookkeepingAnnotation(key)))
    : undefined;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: tagWebhookName(tag, istioNamespace),
      labels,
      ...(copied && Object.keys(copied).length > 0 ? { annotations: copied } : {}),
    },
    webhooks,
  };
}

/**
 * The cluster-wide validator the `default` tag renders. An existing validator whose
 * failurePolicy istiod already switched to Fail keeps Fail (istioctl's fixWhConfig).
 */
export function buildDefaultValidator(revision: string, istioNamespace: string, existing?: KubeObject): KubeObject {
  const existingPolicy = (existing?.webhooks as { failurePolicy?: string }[] | undefined)?.[0]?.failurePolicy;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: {
      name: 'istiod-default-validator',
      labels: {
        [Label.rev]: revision,
        [Label.tag]: 'default',
        app: 'istiod',
        'app.kubernetes.io/managed-by': 'revroll',
      },
    },
    webhooks: [
      {
        name: 'validation.istio.io',
        clientConfig: {
          service: { name: istiodName(revision), namespace: istioNamespace, path: '/validate', port: 443 },
        },
        rules: [
          {
            operations: ['CREATE', 'UPDATE'],
            apiGroups: ['security.istio.io', 'networking.istio.io', 'telemetry.istio.io', 'extensions.istio.io'],
            apiVersions: ['*'],
            resources: ['*'],
          },
        ],
        failurePolicy: existingPolicy === 'Fail' ? 'Fail' : 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1beta1', 'v1'],
      },
    ],
  };
}

/**
 * Deactivates the unrevisioned injector (the one MWC with istio.io/rev=default and no tag) by
 * pointing every webhook's selectors at `istio.io/deactivated: never-match`, so the old control
 * plane can be switched back on later. More than one candidate is an error, as in istioctl.
 */
export function planDeactivateUnrevisionedInjector(snapshot: MeshSnapshot): Mutation[] {
  const candidates = snapshot.webhooks.filter(
    (w) => w.metadata.labels?.[Label.rev] === 'default' && !w.metadata.labels?.[Label.tag],
  );
  if (candidates.length === 0) return [];
  if (candidates.length > 1) {
    throw new TagError(
      'INJECTOR_AMBIGUOUS',
      `found ${candidates.length} unrevisioned injectors (${candidates.map((c) => c.metadata.name).join(', ')}); expected at most one`,
    );
  }
  const injector = candidates[0] as KubeObject;
  const webhooks = (injector.webhooks as MutatingWebhook[] | undefined) ?? [];
  const already = webhooks.every(
    (w) =>
      JSON.stringify(w.namespaceSelector) === JSON.stringify(NEVER_MATCH) &&
      JSON.stringify(w.objectSelector) === JSON.stringify(NEVER_MATCH),
  );
  if (already) return [];
  return [
    {
      op: 'replace',
      ref: Resources.mutatingwebhookconfigurations,
      object: {
        ...injector,
        webhooks: webhooks.map((w) => ({
          ...w,
          namespaceSelector: structuredClone(NEVER_MATCH),
          objectSelector: structuredClone(NEVER_MATCH),
        })),
      },
    },
  ];
}

/** Applies mutations in order. A replace that meets a conflict is reported, never retried blindly. */
export async function applyMutations(cluster: ClusterPort, mutations: readonly Mutation[]): Promise<void> {
  for (const mutation of mutations) {
    await cluster.mutate(mutation);
  }
}

/** Guards safety invariant 5: the `default` tag may only point at a revision that exists and is ready. */
export function assertDefaultTarget(snapshot: MeshSnapshot, revision: string): void {
  const target = snapshot.revisions.find((r) => r.name === revision);
  if (!target || !target.injector) {
    throw new SafetyError(
      'DEFAULT_TARGET_MISSING',
      `refusing to point the default tag at revision "${revision}": it is not installed`,
    );
  }
  if (!target.ready) {
    throw new SafetyError(
      'DEFAULT_TARGET_UNREADY',
      `refusing to point the default tag at revision "${revision}": istiod-${revision} has no ready replica`,
    );
  }
}
