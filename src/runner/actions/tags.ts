/** Revision tag actions: point tags at a revision, or remove them, as istioctl does. */
import type { Observation } from '../../engine/decide.ts';
import { applyMutations, assertDefaultTarget, planRemoveTag, planSetTag } from '../../mesh/tags.ts';
import { isClusterError } from '../../ports/cluster.ts';
import type { ActionContext } from './context.ts';

export type TagMove = { tag: string; revision: string | null };

/** Tag writes replace whole webhook configurations: on a conflict, observe again and re-plan (read-modify-write). */
export async function setTags(ctx: ActionContext, tags: TagMove[]): Promise<Observation> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await setTagsOnce(ctx, tags);
    } catch (error) {
      if (!isClusterError(error, 'conflict') || attempt >= 5) throw error;
    }
  }
}

async function setTagsOnce(ctx: ActionContext, tags: TagMove[]): Promise<Observation> {
  for (const { tag, revision } of tags) {
    const snapshot = await ctx.mesh();
    const target = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      name: `istio-revision-tag-${tag}`,
    };
    if (revision === null) {
      if (!snapshot.tags.some((t) => t.tag === tag)) continue;
      await applyMutations(ctx.cluster, planRemoveTag(snapshot, tag));
      await ctx.events.record(target, 'RevrollTagRemoved', `revision tag ${tag} removed`);
      continue;
    }
    if (tag === 'default') assertDefaultTarget(snapshot, revision);
    const current = snapshot.tags.find((t) => t.tag === tag);
    await applyMutations(ctx.cluster, planSetTag(snapshot, { tag, revision, overwrite: true }));
    await ctx.events.record(
      target,
      'RevrollTagMoved',
      `revision tag ${tag} now points at ${revision}${current ? ` (was ${current.revision})` : ''}`,
    );
  }
  return { type: 'done', ok: true, message: tags.map((t) => `${t.tag} -> ${t.revision ?? '(removed)'}`).join(', ') };
}
