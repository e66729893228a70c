/**
 * Which istiod revision owns a Gateway API Gateway: istiod's tag watcher (`pkg/revisions/
 * tag_watcher.go` `IsMine`, `GetMyTags`) and deployment controller (`gatewaycommon/
 * deploymentcontroller.go` `Reconcile`), as summarised in reference
 * istio-gateways-ambient-multicluster.md §1, with the version gates of §1 and §2.1.
 *
 * Pure: it reads a snapshot (revisions, tag objects, the namespace's labels) and decides. The
 * controller (controller.ts) gathers the snapshot from the store.
 */

export type RevisionInfo = {
  /** Revision name; `default` for an unrevisioned istiod (it runs with `REVISION=default`). */
  name: string;
  /** Istio version, e.g. `1.25.1` (gates version-dependent behaviour). */
  version: string;
  /** The istiod namespace. */
  namespace: string;
  /** `PILOT_ENABLE_AMBIENT=true`: the waypoint controller exists. */
  ambient: boolean;
  /** `AMBIENT_ENABLE_MULTI_NETWORK=true`: the east-west controller exists. */
  multiNetwork: boolean;
  /** Proxy image of the revision's injection values (`<hub>/proxyv2:<tag>`). */
  proxyImage: string;
  /** Has a Ready istiod pod: its controllers (deployment, status, classes) are running. */
  running: boolean;
};

/** What the tag watchers see: tag webhooks, tag Services, the default validator. */
export type TagSnapshot = {
  /** MWCs carrying `istio.io/tag`: tag -> the `istio.io/rev` they point at (one entry per MWC). */
  webhookTags: { tag: string; revision: string }[];
  /** Services carrying `istio.io/tag`, with their namespace. */
  serviceTags: { tag: string; revision: string; namespace: string }[];
  /** Whether an MWC named exactly `istio-revision-tag-default` exists (no `-<ns>` suffix is tried). */
  defaultTagWebhookExists: boolean;
  /** The `istio.io/rev` label of the `istiod-default-validator` VWC, if it exists. */
  defaultValidatorRevision: string | undefined;
};

export type GatewayMeta = {
  labels: Record<string, string>;
  /** The Gateway's namespace labels; undefined when the namespace is not known (not cached). */
  namespaceLabels: Record<string, string> | undefined;
};

/** `1.29.5`, `1.31.0-alpha.0` -> [1, 29, 5]; unparsable parts count as 0. */
export function parseVersion(version: string): [number, number, number] {
  const [major, minor, patch] = version.split(/[.-]/).map((p) => Number.parseInt(p, 10));
  return [major || 0, minor || 0, patch || 0];
}

/** True when `version` is at least the first patch listed for its minor (or a later minor). */
function atLeast(version: string, firstFixed: Record<number, number>, fromMinor: number): boolean {
  const [major, minor, patch] = parseVersion(version);
  if (major !== 1) return major > 1;
  if (minor >= fromMinor) return true;
  const first = firstFixed[minor];
  return first !== undefined && patch >= first;
}

/**
 * The default-validator fallback of `IsMine` (#57467): 1.25.5, 1.26.4, 1.27.1 and 1.28.0+.
 * Older revisions claim label-less Gateways only through a `default` tag.
 */
export function hasDefaultValidatorFallback(version: string): boolean {
  return atLeast(version, { 25: 5, 26: 4, 27: 1 }, 28);
}

/** The tag watcher reads tag Services (`istiod-revision-tag-<t>`) since 1.28. */
export function readsTagServices(version: string): boolean {
  return atLeast(version, {}, 28);
}

/**
 * #60158 (fix for #59959): every revision keeps emitting config for every Gateway; only
 * status and Deployment management follow `IsMine`. In 1.29.5, 1.30.2 and 1.31.0+, no 1.28.x.
 * Without it, a revision that loses a Gateway drops it from xDS at once: the Gateway's pods
 * still connected to it get empty config until the rollout has replaced them.
 */
export function keepsConfigOnOwnershipLoss(version: string): boolean {
  return atLeast(version, { 29: 5, 30: 2 }, 31);
}

/** `GetMyTags`: the revision's own name, its tag webhooks, and (1.28+) its tag Services. */
export function tagsOf(revision: RevisionInfo, snapshot: TagSnapshot): Set<string> {
  const tags = new Set<string>([revision.name]);
  for (const w of snapshot.webhookTags) if (w.revision === revision.name) tags.add(w.tag);
  if (readsTagServices(revision.version)) {
    for (const s of snapshot.serviceTags)
      if (s.revision === revision.name && s.namespace === revision.namespace) tags.add(s.tag);
  }
  return tags;
}

/** `IsMine(gw)`: own `istio.io/rev` label (even empty) first, else the namespace's, else default. */
export function isMine(revision: RevisionInfo, gateway: GatewayMeta, snapshot: TagSnapshot): boolean {
  let selected: string;
  if (Object.hasOwn(gateway.labels, 'istio.io/rev')) selected = gateway.labels['istio.io/rev'] ?? '';
  else if (gateway.namespaceLabels === undefined)
    return true; // not in the informer cache: every revision claims it
  else selected = gateway.namespaceLabels['istio.io/rev'] ?? '';
  const tags = tagsOf(revision, snapshot);
  if (tags.has(selected)) return true;
  if (selected !== '') return false;
  if (tags.has('default')) return true;
  return (
    hasDefaultValidatorFallback(revision.version) &&
    snapshot.defaultValidatorRevision === revision.name &&
    !snapshot.defaultTagWebhookExists
  );
}

export type ControllerName =
  'istio.io/gateway-controller' | 'istio.io/mesh-controller' | 'istio.io/eastwest-controller';

export type ClassInfo = {
  controller: ControllerName | 'istio.io/unmanaged-gateway';
  className: string;
  description: string;
  /** The deployment template; none for `istio-remote` (no Deployment, no routes). */
  template: 'kube-gateway' | 'waypoint' | undefined;
  /** `gateway.istio.io/managed` value on rendered objects. */
  managedLabel: string;
  defaultServiceType: 'LoadBalancer' | 'ClusterIP';
  /** Rendered names are `<gw>` instead of `<gw>-<class>`. */
  disableNameSuffix: boolean;
  /** Status address type when there is no external IP: Hostname, or both (``). */
  addressType: 'Hostname' | '';
};

const ISTIO: ClassInfo = {
  controller: 'istio.io/gateway-controller',
  className: 'istio',
  description: 'The default Istio GatewayClass',
  template: 'kube-gateway',
  managedLabel: 'istio.io-gateway-controller',
  defaultServiceType: 'LoadBalancer',
  disableNameSuffix: false,
  addressType: 'Hostname',
};
const REMOTE: ClassInfo = {
  controller: 'istio.io/unmanaged-gateway',
  className: 'istio-remote',
  description: 'Remote to this cluster. Does not deploy or affect configuration.',
  template: undefined,
  managedLabel: '',
  defaultServiceType: 'ClusterIP',
  disableNameSuffix: false,
  addressType: 'Hostname',
};
const WAYPOINT: ClassInfo = {
  controller: 'istio.io/mesh-controller',
  className: 'istio-waypoint',
  description: 'The default Istio waypoint GatewayClass',
  template: 'waypoint',
  managedLabel: 'istio.io-mesh-controller',
  defaultServiceType: 'ClusterIP',
  disableNameSuffix: true,
  addressType: '',
};
const EAST_WEST: ClassInfo = {
  controller: 'istio.io/eastwest-controller',
  className: 'istio-east-west',
  description: 'The default GatewayClass for Istio East West Gateways',
  template: 'waypoint',
  managedLabel: 'istio.io-eastwest-controller',
  defaultServiceType: 'LoadBalancer',
  disableNameSuffix: true,
  addressType: '',
};

/**
 * `ClassInfos` / `BuiltinClasses` of a revision (`gatewaycommon/classinfo.go`): `istio` and
 * `istio-remote` always (PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API defaults to true), the
 * waypoint class only with ambient, the east-west class only with multi-network.
 */
export function classInfos(revision: RevisionInfo): ClassInfo[] {
  return [ISTIO, REMOTE, ...(revision.ambient ? [WAYPOINT] : []), ...(revision.multiNetwork ? [EAST_WEST] : [])];
}

/**
 * The class info a revision uses for a Gateway: the GatewayClass object's controllerName when the
 * class exists, else the built-in name map; undefined means "skipping unknown controller".
 */
export function classFor(
  revision: RevisionInfo,
  className: string,
  classController: string | undefined,
): ClassInfo | undefined {
  const infos = classInfos(revision);
  const controller = classController ?? infos.find((c) => c.className === className)?.controller;
  return infos.find((c) => c.controller === controller);
}

/** `IsManaged`: a Gateway with more than one address, or a non-IP one, binds to a user deployment. */
export function isManaged(addresses: readonly { type?: string; value?: string }[] | undefined): boolean {
  if (!addresses || addresses.length === 0) return true;
  if (addresses.length > 1) return false;
  const type = addresses[0]?.type;
  return type === undefined || type === 'IPAddress';
}

/** `ManagedGatewayControllerVersion`: skip Gateways a newer (or unknown) controller version owns. */
export function controllerVersionDecision(annotation: string | undefined): 'take-over' | 'manage' | 'skip' {
  if (annotation === undefined) return 'take-over';
  if (!/^[+-]?\d+$/.test(annotation)) return 'skip'; // strconv.Atoi: no spaces, no fractions
  const version = Number(annotation);
  if (version > CONTROLLER_VERSION) return 'skip';
  return version === CONTROLLER_VERSION ? 'manage' : 'take-over';
}

/** `ControllerVersion` of 1.18+ controllers, written to `gateway.istio.io/controller-version`. */
export const CONTROLLER_VERSION = 5;
