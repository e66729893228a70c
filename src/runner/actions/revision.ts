/** Revision actions: install (or wait for) the new istiod, check a revision is ready, post-run health. */
import type { Observation } from '../../engine/decide.ts';
import type { RunState } from '../../engine/state.ts';
import { istiodName, Label } from '../../mesh/labels.ts';
import type { MeshSnapshot } from '../../mesh/revisions.ts';
import { Resources } from '../../ports/cluster.ts';
import type { ActionContext } from './context.ts';

/** Why the revision is not ready to serve (undefined: it is). */
export function revisionReady(ctx: ActionContext, snapshot: MeshSnapshot, revision: string): string | undefined {
  const found = snapshot.revisions.find((r) => r.name === revision);
  if (!found || !found.deployment)
    return `revision ${revision} is not installed (no ${istiodName(revision)} Deployment in ${ctx.istioNs})`;
  if (!found.injector) return `revision ${revision} has no injector MutatingWebhookConfiguration`;
  if (found.injectorDeactivated) return `the injector of revision ${revision} (${found.injector}) is deactivated`;
  if (!found.ready) return `${istiodName(revision)} has no ready replica`;
  return undefined;
}

async function waitRevisionReady(ctx: ActionContext, revision: string, timeoutMs: number): Promise<string | undefined> {
  const ok = await ctx.cluster.waitFor(
    Resources.deployments,
    { namespace: ctx.istioNs, labelSelector: `app=istiod,${Label.rev}=${revision}` },
    (objects) =>
      [...objects.values()].some(
        (d) => ((d.status as { availableReplicas?: number } | undefined)?.availableReplicas ?? 0) > 0,
      ),
    timeoutMs,
    ctx.signal,
  );
  if (!ok) return `${istiodName(revision)} was not ready within ${Math.round(timeoutMs / 1000)}s`;
  return revisionReady(ctx, await ctx.mesh(), revision);
}

/** Runs the installer (unless the install is external), then waits for the new revision to be ready. */
export async function install(ctx: ActionContext, state: RunState): Promise<Observation> {
  const spec = ctx.spec;
  if (spec.install.mode !== 'external') {
    if (!ctx.installer) return { type: 'install', ok: false, message: 'no command runner available' };
    const command = spec.install.command ?? spec.install.mode;
    const result = await ctx.installer.run(command, spec.install.args, {
      timeoutMs: spec.install.timeout,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    ctx.onOutput?.(`$ ${command} ${spec.install.args.join(' ')}\n${result.output}`);
    if (!result.ok)
      return {
        type: 'install',
        ok: false,
        message: `${result.error ?? `${command} failed`}${result.output ? `; output ends: ${lastLine(result.output)}` : ''}`,
      };
  }
  const problem = await waitRevisionReady(ctx, state.to, spec.install.readyTimeout);
  if (problem) return { type: 'install', ok: false, message: problem };
  return { type: 'install', ok: true, message: `revision ${state.to} is ready` };
}

/** The revision's istiod is Ready (an available replica, its injector in place) right now. */
export async function checkRevision(ctx: ActionContext, revision: string): Promise<Observation> {
  const problem = revisionReady(ctx, await ctx.mesh(), revision);
  return problem
    ? { type: 'check-revision', ok: false, message: problem }
    : { type: 'check-revision', ok: true, message: `${istiodName(revision)} is ready and injecting` };
}

/** After a run: the revision is ready and the default tag is where the run left it. */
export async function health(ctx: ActionContext, state: RunState, revision: string): Promise<Observation> {
  const snapshot = await ctx.mesh();
  const problem = revisionReady(ctx, snapshot, revision);
  const notes: string[] = [];
  if (problem) notes.push(problem);
  const defaultTag = state.tags.find((t) => t.tag === 'default');
  if (defaultTag && snapshot.defaultRevision !== (defaultTag.original ?? revision))
    notes.push(`default tag points at ${snapshot.defaultRevision ?? 'nothing'}`);
  return {
    type: 'health',
    ok: notes.length === 0,
    message:
      notes.length === 0
        ? `${revision} healthy, default tag on ${snapshot.defaultRevision ?? 'none'}`
        : notes.join('; '),
  };
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines.at(-1) ?? '').slice(0, 200);
}
