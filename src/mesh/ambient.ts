/**
 * Ambient's node agents, ztunnel and istio-cni, as revroll must treat them (reference
 * istio-gateways-ambient-multicluster.md §5 and §11): one DaemonSet each, not revisioned, never
 * touched by a wave or an uninstall, and bound by the skew rule "ztunnel at 1.x works with the
 * control plane at 1.x and 1.x+1" (the same for istio-cni): a node agent may lag istiod by at
 * most one minor and never lead it.
 *
 * Pure: functions over listed DaemonSets and known revision versions.
 */
import type { KubeObject } from '../ports/cluster.ts';
import { Label } from './labels.ts';
import { imageTag } from './revisions.ts';

/** `ztunnel` (DaemonSet `ztunnel`) or `istio-cni` (DaemonSet `istio-cni-node`). */
export type NodeAgentKind = 'ztunnel' | 'istio-cni';

/** Label selectors that find each DaemonSet, as the ztunnel and istio-cni charts label them. */
export const nodeAgentSelectors: Readonly<Record<NodeAgentKind, string>> = {
  ztunnel: 'app=ztunnel',
  'istio-cni': 'k8s-app=istio-cni-node',
};

/** One node agent DaemonSet and what ties it to a revision. */
export type NodeAgent = {
  kind: NodeAgentKind;
  namespace: string;
  name: string;
  /** Istio version from the agent's image tag, when readable. */
  version?: string;
  /** The owner label `istio.io/rev` (what an istioctl-style uninstall selects it by). */
  revisionLabel?: string;
  /** ztunnel: the revision of its pod-template annotation `istio.io/rev` (the chart's `revision`). */
  revisionAnnotation?: string;
  /** ztunnel: the revision whose istiod its `XDS_ADDRESS` names (`istiod-<rev>.<ns>.svc:15012`). */
  xdsRevision?: string;
};

type Template = {
  metadata?: { annotations?: Record<string, string> };
  spec?: { containers?: { name?: string; image?: string; env?: { name: string; value?: string }[] }[] };
};

/** The node agent a DaemonSet is, or undefined. Known by its name or its chart's selector label. */
export function nodeAgentOf(daemonset: KubeObject): NodeAgent | undefined {
  if (daemonset.kind !== undefined && daemonset.kind !== 'DaemonSet') return undefined;
  const labels = daemonset.metadata.labels ?? {};
  const name = daemonset.metadata.name ?? '';
  const kind: NodeAgentKind | undefined =
    name === 'ztunnel' || labels[Label.app] === 'ztunnel'
      ? 'ztunnel'
      : name === 'istio-cni-node' || labels['k8s-app'] === 'istio-cni-node'
        ? 'istio-cni'
        : undefined;
  if (!kind) return undefined;
  const template = (daemonset.spec as { template?: Template } | undefined)?.template;
  const containers = template?.spec?.containers ?? [];
  const container =
    containers.find((c) => c.name === (kind === 'ztunnel' ? 'istio-proxy' : 'install-cni')) ?? containers[0];
  const version = container?.image ? imageTag(container.image) : undefined;
  const agent: NodeAgent = { kind, namespace: daemonset.metadata.namespace ?? '', name };
  if (version) agent.version = version;
  if (labels[Label.rev]) agent.revisionLabel = labels[Label.rev];
  if (kind === 'ztunnel') {
    const annotation = template?.metadata?.annotations?.[Label.rev];
    if (annotation) agent.revisionAnnotation = annotation;
    const xds = container?.env?.find((e) => e.name === 'XDS_ADDRESS')?.value;
    const xdsRevision = xds !== undefined ? revisionOfIstiodAddress(xds) : undefined;
    if (xdsRevision) agent.xdsRevision = xdsRevision;
  }
  return agent;
}

/** `istiod-1-25-1.istio-system.svc:15012` -> `1-25-1`; `istiod.istio-system.svc:15012` -> `default`. */
export function revisionOfIstiodAddress(address: string): string | undefined {
  const host = address.split(':')[0] ?? '';
  const service = host.split('.')[0] ?? '';
  if (service === 'istiod') return 'default';
  return service.startsWith('istiod-') && service.length > 'istiod-'.length
    ? service.slice('istiod-'.length)
    : undefined;
}

/** The node agents among listed DaemonSets (each once), ztunnel first. */
export function findNodeAgents(daemonsets: readonly KubeObject[]): NodeAgent[] {
  const unique = new Map(daemonsets.map((d) => [`${d.metadata.namespace ?? ''}/${d.metadata.name ?? ''}`, d]));
  return [...unique.values()]
    .map(nodeAgentOf)
    .filter((a): a is NodeAgent => a !== undefined)
    .sort((a, b) => AGENT_ORDER[a.kind] - AGENT_ORDER[b.kind] || a.name.localeCompare(b.name));
}

const AGENT_ORDER: Record<NodeAgentKind, number> = { ztunnel: 0, 'istio-cni': 1 };

export function describeAgent(agent: NodeAgent): string {
  return `DaemonSet ${agent.namespace}/${agent.name} (${agent.kind})`;
}

/** `1.25.1` -> [1, 25]; undefined when not a version. */
export function minorOf(version: string): [number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.\d+)?/.exec(version);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

export const SKEW_RULE = 'a node agent (ztunnel, istio-cni) may lag istiod by at most one minor and never lead it';

/**
 * Checks the skew rule between an agent version and an istiod version: undefined when it holds
 * (or a version cannot be read: the caller says so), else why not.
 */
export function skewViolation(agentVersion: string, istiodVersion: string): string | undefined {
  const agent = minorOf(agentVersion);
  const istiod = minorOf(istiodVersion);
  if (!agent || !istiod) return undefined;
  const lag = (istiod[0] - agent[0]) * 100 + (istiod[1] - agent[1]);
  if (lag < 0) return `${agentVersion} would lead istiod ${istiodVersion}`;
  if (lag > 1) return `${agentVersion} would lag istiod ${istiodVersion} by ${lag} minors`;
  return undefined;
}

/** Which revisions a node agent still carries: its owner label, ztunnel's annotation and XDS_ADDRESS. */
export function agentRevisions(agent: NodeAgent): { how: string; revision: string }[] {
  const out: { how: string; revision: string }[] = [];
  if (agent.revisionLabel)
    out.push({ how: `label ${Label.rev}=${agent.revisionLabel}`, revision: agent.revisionLabel });
  if (agent.revisionAnnotation)
    out.push({
      how: `pod-template annotation ${Label.rev}=${agent.revisionAnnotation}`,
      revision: agent.revisionAnnotation,
    });
  if (agent.xdsRevision) out.push({ how: `XDS_ADDRESS of istiod-${agent.xdsRevision}`, revision: agent.xdsRevision });
  return out;
}

/** The revision and version of the run, as the skew check needs them. */
export type SkewContext = {
  from: string;
  to: string;
  /** Known istiod versions per revision (from their images). */
  versions: ReadonlyMap<string, string | undefined>;
};

/**
 * The precheck of item 7: a note per agent (its version and revision, and the rule), and a
 * problem per agent that breaks the rule now (against the istiod it talks to) or would break it
 * once the upgrade is done (against `to`, the only istiod left after the old one is uninstalled).
 * revroll never changes ztunnel or istio-cni, so an upgrade they cannot follow is refused.
 */
export function nodeAgentChecks(
  agents: readonly NodeAgent[],
  context: SkewContext,
): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const toVersion = context.versions.get(context.to) ?? versionFromName(context.to);
  for (const agent of agents) {
    const id = describeAgent(agent);
    const talksTo = agent.kind === 'ztunnel' ? (agent.xdsRevision ?? agent.revisionAnnotation) : undefined;
    const bound = talksTo ?? agent.revisionLabel ?? context.from;
    const boundVersion = context.versions.get(bound);
    notes.push(
      `${id}: version ${agent.version ?? 'unknown'}, revision ${agent.revisionLabel ?? 'none'}${talksTo ? `, served by istiod-${talksTo}` : ''}; never changed by revroll (rule: ${SKEW_RULE})`,
    );
    if (!agent.version) {
      problems.push(`${id}: its image has no readable version, so the skew rule (${SKEW_RULE}) cannot be checked`);
      continue;
    }
    if (talksTo !== undefined && !context.versions.has(talksTo)) {
      problems.push(`${id} is served by istiod-${talksTo}, which is not installed: fix ztunnel before the upgrade`);
      continue;
    }
    const now = boundVersion !== undefined ? skewViolation(agent.version, boundVersion) : undefined;
    if (now) problems.push(`${id} already breaks the skew rule against ${bound}: ${agent.kind} ${now} (${SKEW_RULE})`);
    const after = toVersion !== undefined ? skewViolation(agent.version, toVersion) : undefined;
    if (after)
      problems.push(
        `upgrading to ${context.to} (${toVersion}) breaks the skew rule for ${id}: ${agent.kind} ${after} once ${context.from} is gone (${SKEW_RULE}); revroll never changes ${agent.kind}: upgrade one minor at a time, or move ${agent.kind} to ${context.to} with its image in one rollout before the run`,
      );
  }
  return { problems, notes };
}

/** A revision named like `1-25-1` (the usual convention) gives `1.25.1` when istiod is not installed yet. */
function versionFromName(revision: string): string | undefined {
  const match = /^(\d+)-(\d+)(?:-(\d+))?/.exec(revision);
  return match ? `${match[1]}.${match[2]}.${match[3] ?? '0'}` : undefined;
}

/**
 * Why an uninstall of `revision` must refuse, per node agent still carrying it: deleting the
 * agent (its owner label matches the uninstall selector) or its istiod (it still talks to it)
 * would take ambient traffic down on every node. revroll never deletes or re-points them.
 */
export function agentUninstallRefusals(
  agents: readonly NodeAgent[],
  revision: string,
  names: ReadonlySet<string>,
): { agent: NodeAgent; detail: string }[] {
  const out: { agent: NodeAgent; detail: string }[] = [];
  for (const agent of agents) {
    const carried = agentRevisions(agent).filter((r) => r.revision === revision || names.has(r.revision));
    if (carried.length === 0) continue;
    out.push({
      agent,
      detail: `${describeAgent(agent)} still carries ${revision} (${carried.map((c) => c.how).join(', ')}): revroll never deletes or re-points ${agent.kind}; move it to the new revision first (e.g. helm upgrade ${agent.kind === 'ztunnel' ? 'ztunnel' : 'istio-cni'} --set revision=<new>), then uninstall`,
    });
  }
  return out;
}
