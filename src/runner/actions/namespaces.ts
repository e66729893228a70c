/** Namespace actions: set (or remove) the injection labels revroll owns, a few namespaces at a time. */
import type { NamespaceLabels, Observation } from '../../engine/decide.ts';
import { mapLimit } from '../../lib/concurrency.ts';
import { Label } from '../../mesh/labels.ts';
import { Resources } from '../../ports/cluster.ts';
import type { ActionContext } from './context.ts';

/** Namespace patches in flight at once. */
const PARALLEL_PATCHES = 8;

export async function labelNamespaces(
  ctx: ActionContext,
  namespaces: { name: string; labels: NamespaceLabels }[],
): Promise<Observation> {
  await mapLimit(namespaces, PARALLEL_PATCHES, async ({ name, labels }) => {
    await ctx.cluster.mutate(
      {
        op: 'merge-patch',
        ref: Resources.namespaces,
        name,
        patch: { metadata: { labels: { [Label.injection]: labels.injection, [Label.rev]: labels.rev } } },
      },
      { metadataOnly: true },
    );
    const parts = [
      labels.injection === null ? 'istio-injection-' : `istio-injection=${labels.injection}`,
      labels.rev === null ? 'istio.io/rev-' : `istio.io/rev=${labels.rev}`,
    ];
    await ctx.events.record(
      { apiVersion: 'v1', kind: 'Namespace', name },
      'RevrollMigrated',
      `namespace labels set: ${parts.join(' ')}`,
    );
  });
  return { type: 'done', ok: true, message: `labelled ${namespaces.length} namespace(s)` };
}
