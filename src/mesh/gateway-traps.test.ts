import { describe, expect, it } from 'vitest';
import {
  findGatewayTraps,
  hasGatewayMoveFix,
  resolveGatewayOwners,
  type GatewayFacts,
  type OwnerRevision,
  type TagView,
  type TrapInput,
} from './gateway-traps.ts';

const rev = (name: string, version: string, over: Partial<OwnerRevision> = {}): OwnerRevision => ({
  name,
  version,
  running: true,
  ambient: false,
  ...over,
});

const gw = (over: Partial<GatewayFacts> = {}): GatewayFacts => ({
  namespace: 'ingress',
  name: 'public',
  className: 'istio',
  labels: {},
  namespaceLabels: {},
  unmanaged: false,
  ...over,
});

const tags = (over: Partial<TagView> = {}): TagView => ({
  webhookTags: [{ tag: 'default', revision: '1-24-3', name: 'istio-revision-tag-default' }],
  serviceTags: [],
  defaultTagWebhookExists: true,
  defaultValidatorRevision: '1-24-3',
  ...over,
});

const revisions = [rev('1-24-3', '1.24.3'), rev('1-25-1', '1.25.1')];
const owners = (g: GatewayFacts, r: readonly OwnerRevision[] = revisions, t: TagView = tags()) =>
  resolveGatewayOwners(g, r, t).owners;

describe('resolveGatewayOwners', () => {
  it('follows the own label first (even empty), then the namespace label, then the default tag', () => {
    expect(owners(gw())).toEqual(['1-24-3']);
    expect(owners(gw({ namespaceLabels: { 'istio.io/rev': '1-25-1' } }))).toEqual(['1-25-1']);
    expect(owners(gw({ labels: { 'istio.io/rev': '1-24-3' }, namespaceLabels: { 'istio.io/rev': '1-25-1' } }))).toEqual(
      ['1-24-3'],
    );
    expect(owners(gw({ labels: { 'istio.io/rev': '' }, namespaceLabels: { 'istio.io/rev': '1-25-1' } }))).toEqual([
      '1-24-3',
    ]);
    expect(owners(gw({ labels: { 'istio.io/rev': 'gone' } }))).toEqual([]);
  });

  it('resolves tags through webhooks, and through tag Services from 1.28 only', () => {
    const t = tags({ serviceTags: [{ tag: 'stable', revision: '1-24-3', name: 'istiod-revision-tag-stable' }] });
    expect(owners(gw({ namespaceLabels: { 'istio.io/rev': 'stable' } }), revisions, t)).toEqual([]);
    const newer = [rev('1-28-3', '1.28.3')];
    const t28 = tags({ serviceTags: [{ tag: 'stable', revision: '1-28-3', name: 'istiod-revision-tag-stable' }] });
    expect(owners(gw({ namespaceLabels: { 'istio.io/rev': 'stable' } }), newer, t28)).toEqual(['1-28-3']);
  });

  it('uses the default-validator fallback only without a default tag webhook, from the fixed versions', () => {
    const noTag = tags({ webhookTags: [], defaultTagWebhookExists: false, defaultValidatorRevision: '1-25-5' });
    expect(owners(gw(), [rev('1-25-5', '1.25.5'), rev('1-25-4x', '1.25.4')], noTag)).toEqual(['1-25-5']);
    expect(owners(gw(), [rev('1-25-5', '1.25.4')], noTag)).toEqual([]);
  });

  it('leaves waypoints to ambient revisions, and skips stopped revisions, unknown classes and manual deployments', () => {
    const waypoint = gw({ className: 'istio-waypoint' });
    expect(owners(waypoint)).toEqual([]);
    expect(owners(waypoint, [rev('1-24-3', '1.24.3', { ambient: true })])).toEqual(['1-24-3']);
    expect(owners(gw(), [rev('1-24-3', '1.24.3', { running: false })])).toEqual([]);
    expect(owners(gw({ className: 'other' }))).toEqual([]);
    expect(owners(gw({ unmanaged: true }))).toEqual([]);
  });

  it('lets every revision claim a Gateway whose namespace it does not know', () => {
    expect(owners(gw({ namespaceLabels: undefined }))).toEqual(['1-24-3', '1-25-1']);
  });
});

describe('findGatewayTraps', () => {
  const input = (over: Partial<TrapInput> = {}): TrapInput => ({
    from: '1-24-3',
    to: '1-25-1',
    movedTags: ['default'],
    revisions,
    tags: tags(),
    gateways: [gw()],
    ...over,
  });

  it('refuses dual ownership now: an unrevisioned istiod and the revision holding the default tag', () => {
    const { problems } = findGatewayTraps(
      input({
        from: 'default',
        to: '1-29-1',
        revisions: [rev('default', '1.28.2'), rev('1-29-1', '1.29.1')],
        tags: tags({ webhookTags: [{ tag: 'default', revision: '1-29-1', name: 'istio-revision-tag-default' }] }),
      }),
    );
    expect(problems).toEqual([
      'Gateway ingress/public has two owners now, default (1.28.2) and 1-29-1 (1.29.1) (no istio.io/rev on it or its namespace: it follows the default): both apply its Deployment, which flaps between their images; label it istio.io/rev=<one revision name, not default> or remove the unrevisioned istiod before the upgrade',
    ]);
  });

  it('refuses an unrevisioned istiod that would keep claiming label-less Gateways once default moves', () => {
    const unrevisioned = input({
      from: 'default',
      revisions: [rev('default', '1.24.3'), rev('1-25-1', '1.25.1')],
      tags: tags({ webhookTags: [], defaultTagWebhookExists: false, defaultValidatorRevision: 'default' }),
      gateways: [gw(), gw({ name: 'pinned', labels: { 'istio.io/rev': '1-25-1' } })],
    });
    const { problems } = findGatewayTraps(unrevisioned);
    expect(problems).toEqual([
      'Gateway ingress/public would have two owners once promotion moves the default tag to 1-25-1: default (1.24.3) and 1-25-1 (1.25.1); the unrevisioned istiod runs as revision "default", so it keeps claiming label-less Gateways, and no label can tell it from the default tag: label the Gateway istio.io/rev=1-25-1 (a revision name) or remove the unrevisioned istiod before the upgrade',
    ]);
    // Only pinned Gateways: a warning for the ones created later.
    const pinnedOnly = findGatewayTraps({ ...unrevisioned, gateways: [gw({ labels: { 'istio.io/rev': '1-25-1' } })] });
    expect(pinnedOnly.problems).toEqual([]);
    expect(pinnedOnly.notes).toEqual([
      expect.stringMatching(
        /^warning: the unrevisioned istiod \(revision "default", 1\.24\.3\) keeps claiming label-less/,
      ),
    ]);
  });

  it('refuses a half-moved tag read by a 1.28+ revision, warns when no revision reads tag Services', () => {
    const half = (service: string, version: string) =>
      findGatewayTraps(
        input({
          revisions: [rev(service, version), rev('1-29-1', '1.29.1')],
          to: '1-29-1',
          tags: tags({
            webhookTags: [{ tag: 'prod-stable', revision: '1-29-1', name: 'istio-revision-tag-prod-stable' }],
            serviceTags: [{ tag: 'prod-stable', revision: service, name: 'istiod-revision-tag-prod-stable' }],
          }),
          gateways: [gw({ namespace: 'shop', name: 'shop-gw', namespaceLabels: { 'istio.io/rev': 'prod-stable' } })],
        }),
      );
    const read = half('1-28-3', '1.28.3');
    expect(read.problems[0]).toBe(
      'tag prod-stable is half moved: its webhook istio-revision-tag-prod-stable points at 1-29-1, its Service istiod-revision-tag-prod-stable at 1-28-3; 1-28-3 (1.28.3) reads tag Services, so both revisions claim prod-stable and own the Gateways that use it: make both point at one revision (istioctl tag set prod-stable --revision <rev> --overwrite writes both) before the upgrade',
    );
    expect(read.problems[1]).toMatch(/^Gateway shop\/shop-gw has two owners now, 1-28-3 \(1\.28\.3\) and 1-29-1/);
    const unread = half('1-27-5', '1.27.5');
    expect(unread.problems).toEqual([]);
    expect(unread.notes[0]).toMatch(/^warning: tag prod-stable is half moved/);
  });

  it('warns, once per old owner, that moving Gateways off a version without the #59959 fix may drop traffic', () => {
    const { problems, notes } = findGatewayTraps(
      input({ gateways: [gw(), gw({ name: 'b' }), gw({ name: 'pinned', labels: { 'istio.io/rev': '1-25-1' } })] }),
    );
    expect(problems).toEqual([]);
    expect(notes).toEqual([
      'warning: moving Gateway(s) ingress/public, ingress/b off 1-24-3 (1.24.3) may drop their traffic for about 30 s each: without the gateway-move fix the old owner drops a Gateway from xDS as soon as another revision takes it, and its pods serve empty config until they are replaced (istio/istio#59959; fixed in 1.29.5, 1.30.2, 1.31.0; no 1.28.x); move them in a quiet window, or first move 1-24-3 to a fixed patch of its minor where there is one',
    ]);
    const fixed = findGatewayTraps(input({ revisions: [rev('1-24-3', '1.29.5'), rev('1-25-1', '1.30.2')] }));
    expect(fixed.notes).toEqual([]);
  });

  it('refuses moving waypoints to a target revision without the ambient profile', () => {
    const waypoint = gw({ namespace: 'reviews', name: 'waypoint', className: 'istio-waypoint' });
    const fixedRevisions = (toAmbient: boolean) => [
      rev('1-24-3', '1.29.5', { ambient: true }),
      rev('1-25-1', '1.30.2', { ambient: toAmbient }),
    ];
    const refused = findGatewayTraps(input({ revisions: fixedRevisions(false), gateways: [waypoint, gw()] }));
    expect(refused.problems).toEqual([
      'waypoint(s) reviews/waypoint would move to 1-25-1, whose istiod runs without the ambient profile (PILOT_ENABLE_AMBIENT is not true): it manages no istio-waypoint Gateway, so nothing would render them and their traffic would stop; install 1-25-1 with the ambient profile',
    ]);
    expect(findGatewayTraps(input({ revisions: fixedRevisions(true), gateways: [waypoint] })).problems).toEqual([]);
    // Already on the target by its own label: nothing moves it.
    const onTarget = gw({ ...waypoint, labels: { 'istio.io/rev': '1-25-1' } });
    expect(findGatewayTraps(input({ revisions: fixedRevisions(false), gateways: [onTarget] })).problems).toEqual([]);
  });

  it.each([
    ['1.28.10', false],
    ['1.29.4', false],
    ['1.29.5', true],
    ['1.30.1', false],
    ['1.30.2', true],
    ['1.31.0', true],
    ['1.31.0-alpha.0', true],
    [undefined, false],
  ] as const)('gateway-move fix in %s: %s', (version, fixed) => {
    expect(hasGatewayMoveFix(version)).toBe(fixed);
  });
});
