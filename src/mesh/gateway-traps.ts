/**
 * The known Gateway API ownership traps, found before an upgrade moves anything (issue 15,
 * item 8; reference istio-gateways-ambient-multicluster.md §1 and §2.1):
 *
 * - dual ownership now: two running revisions claim one Gateway, both server-side-apply its
 *   Deployment with `Force`, and it flaps between their images (refused);
 * - a half-moved tag: the tag webhook `istio-revision-tag-<t>` and the tag Service
 *   `istiod-revision-tag-<t>` point at different revisions, so both claim `<t>` (refused when
 *   the Service's revision reads tag Services, 1.28+; else a warning);
 * - an unrevisioned istiod (`REVISION=default`) that keeps claiming label-less Gateways after the
 *   run moves the `default` tag: dual ownership from the promotion on (refused when such
 *   Gateways exist, else a warning);
 * - an old owner without the gateway-move fix (#60158 for istio/istio#59959): moving its
 *   Gateways may drop their traffic for ~30 s while the pods roll (a warning).
 *
 * Pure: it reads listed objects. `resolveGatewayOwners` is the whole ownership rule in one
 * function, so it can be folded with the Gateway observation later.
 */
import type { KubeObject, ResourceRef } from '../ports/cluster.ts';
import { Label } from './labels.ts';

/** `gateway.networking.k8s.io/v1` Gateways. */
export const gatewayResource: ResourceRef = {
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  resource: 'gateways',
  kind: 'Gateway',
  namespaced: true,
};

/** A revision as the ownership rule needs it. */
export type OwnerRevision = {
  /** `default` for an unrevisioned istiod. */
  name: string;
  version?: string;
  /** Has a ready istiod: its deployment controller runs. */
  running: boolean;
  /** `PILOT_ENABLE_AMBIENT=true`: it manages waypoints (class `istio-waypoint`). */
  ambient: boolean;
};

/** What istiod's tag watchers see. */
export type TagView = {
  /** Tag webhooks (MWCs with `istio.io/tag`): tag -> revision. */
  webhookTags: readonly { tag: string; revision: string; name: string }[];
  /** Tag Services `istiod-revision-tag-<t>` in the istiod namespace (istioctl 1.28+). */
  serviceTags: readonly { tag: string; revision: string; name: string }[];
  /** An MWC named exactly `istio-revision-tag-default` exists. */
  defaultTagWebhookExists: boolean;
  /** `istio.io/rev` of the VWC `istiod-default-validator`. */
  defaultValidatorRevision: string | undefined;
};

/** A Gateway as the rule reads it. */
export type GatewayFacts = {
  namespace: string;
  name: string;
  className: string;
  labels: Readonly<Record<string, string>>;
  /** Undefined when the namespace is unknown (istiod then claims it from every revision). */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
  /** Not managed by istiod's deployment controller: a manual deployment or a newer controller. */
  unmanaged: boolean;
};

/** `1.29.5` at least `firstFixed[minor]` within its minor, or at least `fromMinor`. */
function atLeast(version: string | undefined, firstFixed: Record<number, number>, fromMinor: number): boolean {
  const [major = 0, minor = 0, patch = 0] = (version ?? '').split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  if (major !== 1) return major > 1;
  if (minor >= fromMinor) return true;
  const first = firstFixed[minor];
  return first !== undefined && patch >= first;
}

/** #60158: all revisions keep config for every Gateway (1.29.5, 1.30.2, 1.31.0; no 1.28.x). */
export function hasGatewayMoveFix(version: string | undefined): boolean {
  return atLeast(version, { 29: 5, 30: 2 }, 31);
}

/**
 * The running revisions that own a Gateway, as `IsMine` decides (tag_watcher.go): the Gateway's
 * own `istio.io/rev` (even empty), else its namespace's; a revision owns it when that value is
 * one of its tags (its name, its tag webhooks, and from 1.28 its tag Services), or when the value
 * is empty and it holds `default`, or (1.25.5, 1.26.4, 1.27.1, 1.28.0+) the default validator
 * names it and no `istio-revision-tag-default` webhook exists. Waypoints are managed only by
 * ambient revisions; a Gateway of an unknown class by none.
 */
export function resolveGatewayOwners(
  gateway: GatewayFacts,
  revisions: readonly OwnerRevision[],
  tags: TagView,
): { owners: string[]; selected: string | undefined; via: 'own label' | 'namespace label' | 'not cached' } {
  const classes: Record<string, (r: OwnerRevision) => boolean> = {
    istio: () => true,
    'istio-waypoint': (r) => r.ambient,
  };
  const supports = classes[gateway.className];
  let selected: string | undefined;
  let via: 'own label' | 'namespace label' | 'not cached';
  if (Object.hasOwn(gateway.labels, Label.rev)) {
    selected = gateway.labels[Label.rev] ?? '';
    via = 'own label';
  } else if (gateway.namespaceLabels === undefined) via = 'not cached';
  else {
    selected = gateway.namespaceLabels[Label.rev] ?? '';
    via = 'namespace label';
  }
  if (!supports || gateway.unmanaged) return { owners: [], selected, via };
  const owners = revisions
    .filter((r) => r.running && supports(r))
    .filter((r) => {
      if (selected === undefined) return true;
      const mine = new Set<string>([r.name]);
      for (const w of tags.webhookTags) if (w.revision === r.name) mine.add(w.tag);
      if (atLeast(r.version, {}, 28)) for (const s of tags.serviceTags) if (s.revision === r.name) mine.add(s.tag);
      if (mine.has(selected)) return true;
      if (selected !== '') return false;
      if (mine.has('default')) return true;
      return (
        atLeast(r.version, { 25: 5, 26: 4, 27: 1 }, 28) &&
        tags.defaultValidatorRevision === r.name &&
        !tags.defaultTagWebhookExists
      );
    })
    .map((r) => r.name);
  return { owners, selected, via };
}

/** Reads Gateways, tag webhooks and Services and the default validator into the rule's inputs. */
export function gatewayFacts(gateways: readonly KubeObject[], namespaces: readonly KubeObject[]): GatewayFacts[] {
  const byName = new Map(namespaces.map((n) => [n.metadata.name ?? '', n.metadata.labels ?? {}]));
  return gateways.map((g) => {
    const spec = (g.spec ?? {}) as { gatewayClassName?: string; addresses?: { type?: string; value?: string }[] };
    const addresses = spec.addresses ?? [];
    const manual =
      addresses.length > 1 || (addresses.length === 1 && (addresses[0]?.type ?? 'IPAddress') !== 'IPAddress');
    const version = g.metadata.annotations?.['gateway.istio.io/controller-version'];
    const newer = version !== undefined && !(/^[+-]?\d+$/.test(version) && Number(version) <= 5);
    return {
      namespace: g.metadata.namespace ?? '',
      name: g.metadata.name ?? '',
      className: spec.gatewayClassName ?? '',
      labels: g.metadata.labels ?? {},
      namespaceLabels: byName.get(g.metadata.namespace ?? ''),
      unmanaged: manual || newer,
    };
  });
}

export function tagView(input: {
  webhooks: readonly KubeObject[];
  validators: readonly KubeObject[];
  tagServices: readonly KubeObject[];
}): TagView {
  const tagged = (objects: readonly KubeObject[]) =>
    objects.flatMap((o) => {
      const tag = o.metadata.labels?.[Label.tag];
      const revision = o.metadata.labels?.[Label.rev];
      return tag && revision ? [{ tag, revision, name: o.metadata.name ?? '' }] : [];
    });
  return {
    webhookTags: tagged(input.webhooks),
    serviceTags: tagged(input.tagServices),
    defaultTagWebhookExists: input.webhooks.some((w) => w.metadata.name === 'istio-revision-tag-default'),
    defaultValidatorRevision: input.validators.find((v) => v.metadata.name === 'istiod-default-validator')?.metadata
      .labels?.[Label.rev],
  };
}

export type TrapInput = {
  from: string;
  to: string;
  /** Tags the run moves to `to` on promotion. */
  movedTags: readonly string[];
  revisions: readonly OwnerRevision[];
  tags: TagView;
  gateways: readonly GatewayFacts[];
};

const FIX_VERSIONS = '1.29.5, 1.30.2, 1.31.0; no 1.28.x';

/** The traps as precheck problems (refusals) and notes (warnings). */
export function findGatewayTraps(input: TrapInput): { problems: string[]; notes: string[] } {
  const halfMoved = halfMovedTags(input);
  const problems: string[] = [...halfMoved.problems];
  const notes: string[] = [...halfMoved.notes];
  const version = (name: string) => input.revisions.find((r) => r.name === name)?.version ?? 'unknown version';
  const named = (owners: readonly string[]) => owners.map((o) => `${o} (${version(o)})`).join(' and ');
  const after = tagsAfterPromotion(input);
  const unrevisioned = input.revisions.find((r) => r.name === 'default' && r.running);
  let labelLessClaimed = 0;
  /** Gateways the run moves off an owner without the fix, per owner. */
  const unfixed = new Map<string, string[]>();
  /** Waypoints the run moves to a target that would not render them. */
  const unrendered: string[] = [];
  const target = input.revisions.find((r) => r.name === input.to);
  for (const gateway of input.gateways) {
    const id = `Gateway ${gateway.namespace}/${gateway.name}`;
    const now = resolveGatewayOwners(gateway, input.revisions, input.tags);
    if (now.owners.length > 1) {
      if (now.selected === '' && now.owners.includes('default')) labelLessClaimed += 1;
      problems.push(
        `${id} has two owners now, ${named(now.owners)} (${resolution(now)}): both apply its Deployment, which flaps between their images; ${dualFix(now.selected, now.owners)} before the upgrade`,
      );
      continue;
    }
    const later = resolveGatewayOwners(gateway, input.revisions, after);
    if (now.selected === '' && unrevisioned && later.owners.length > 1) {
      labelLessClaimed += 1;
      problems.push(
        `${id} would have two owners once promotion moves the default tag to ${input.to}: ${named(later.owners)}; the unrevisioned istiod runs as revision "default", so it keeps claiming label-less Gateways, and no label can tell it from the default tag: label the Gateway istio.io/rev=${input.to} (a revision name) or remove the unrevisioned istiod before the upgrade`,
      );
      continue;
    }
    const owner = now.owners[0];
    const moves = owner !== undefined && owner !== input.to && (owner === input.from || !later.owners.includes(owner));
    if (moves && !hasGatewayMoveFix(input.revisions.find((r) => r.name === owner)?.version))
      unfixed.set(owner, [...(unfixed.get(owner) ?? []), `${gateway.namespace}/${gateway.name}`]);
    if (moves && gateway.className === 'istio-waypoint' && target && !target.ambient)
      unrendered.push(`${gateway.namespace}/${gateway.name}`);
  }
  if (unrendered.length > 0)
    problems.push(
      `waypoint(s) ${unrendered.slice(0, 10).join(', ')}${unrendered.length > 10 ? ` and ${unrendered.length - 10} more` : ''} would move to ${input.to}, whose istiod runs without the ambient profile (PILOT_ENABLE_AMBIENT is not true): it manages no istio-waypoint Gateway, so nothing would render them and their traffic would stop; install ${input.to} with the ambient profile`,
    );
  for (const [owner, moving] of unfixed) {
    const shown = moving.slice(0, 10).join(', ') + (moving.length > 10 ? ` and ${moving.length - 10} more` : '');
    notes.push(
      `warning: moving Gateway(s) ${shown} off ${owner} (${version(owner)}) may drop their traffic for about 30 s each: without the gateway-move fix the old owner drops a Gateway from xDS as soon as another revision takes it, and its pods serve empty config until they are replaced (istio/istio#59959; fixed in ${FIX_VERSIONS}); move them in a quiet window, or first move ${owner} to a fixed patch of its minor where there is one`,
    );
  }
  if (unrevisioned && labelLessClaimed === 0 && input.movedTags.includes('default') && input.to !== 'default')
    notes.push(
      `warning: the unrevisioned istiod (revision "default", ${unrevisioned.version ?? 'unknown version'}) keeps claiming label-less Gateways after the default tag moves to ${input.to}: a Gateway created without istio.io/rev then has two owners; remove the unrevisioned istiod once nothing uses it`,
    );
  return { problems, notes };
}

/** The tag view after promotion: every moved tag's webhook and Service on `to`. */
function tagsAfterPromotion(input: TrapInput): TagView {
  const moved = new Set(input.movedTags);
  const move = <T extends { tag: string; revision: string }>(list: readonly T[]) =>
    list.map((t) => (moved.has(t.tag) ? { ...t, revision: input.to } : t));
  const webhookTags = move(input.tags.webhookTags);
  for (const tag of moved)
    if (!webhookTags.some((w) => w.tag === tag))
      webhookTags.push({ tag, revision: input.to, name: `istio-revision-tag-${tag}` });
  return {
    ...input.tags,
    webhookTags,
    serviceTags: move(input.tags.serviceTags),
    defaultTagWebhookExists: input.tags.defaultTagWebhookExists || moved.has('default'),
  };
}

function resolution(r: { selected: string | undefined; via: string }): string {
  if (r.selected === undefined) return 'its namespace is not known, so every revision claims it';
  if (r.selected === '') return 'no istio.io/rev on it or its namespace: it follows the default';
  return `${r.via} istio.io/rev=${r.selected}`;
}

function dualFix(selected: string | undefined, owners: readonly string[]): string {
  if (selected === '' && owners.includes('default'))
    return `label it istio.io/rev=<one revision name, not default> or remove the unrevisioned istiod`;
  if (selected === undefined) return 'make sure its namespace exists and is readable';
  return `make istio.io/rev=${selected} resolve to one revision (a tag's webhook and Service must agree)`;
}

/** Tags whose webhook and Service point at different revisions. */
function halfMovedTags(input: TrapInput): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  for (const service of input.tags.serviceTags) {
    const webhook = input.tags.webhookTags.find((w) => w.tag === service.tag);
    if (!webhook || webhook.revision === service.revision) continue;
    const reader = input.revisions.find((r) => r.name === service.revision);
    const claims = reader !== undefined && reader.running && atLeast(reader.version, {}, 28);
    const text = `tag ${service.tag} is half moved: its webhook ${webhook.name} points at ${webhook.revision}, its Service ${service.name} at ${service.revision}`;
    const fix = `make both point at one revision (istioctl tag set ${service.tag} --revision <rev> --overwrite writes both)`;
    if (claims)
      problems.push(
        `${text}; ${service.revision} (${reader.version ?? '?'}) reads tag Services, so both revisions claim ${service.tag} and own the Gateways that use it: ${fix} before the upgrade`,
      );
    else
      notes.push(
        `warning: ${text}; no running revision that reads tag Services (1.28+) claims it through the Service yet, but one will after an upgrade: ${fix}`,
      );
  }
  return { problems, notes };
}
