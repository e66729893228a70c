/** `revroll status` and `revroll abort`: read a run's state; request (and, if no runner is active, perform) its rollback. */
import { formatNumber } from '../../engine/gates.ts';
import type { RunState } from '../../engine/state.ts';
import { terminalPhases } from '../../engine/state.ts';
import { UsageError } from '../../errors.ts';
import { StateConflictError } from '../../ports/state-store.ts';
import {
  composeRunner,
  composeStateAccess,
  connectCluster,
  createMetricsFor,
  requireStateNamespace,
} from '../../runner/compose.ts';
import { parseStoredState, runPolicy } from '../../runner/run-policy.ts';
import { createLogger } from '../../telemetry/logger.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import type { ClusterFlags } from '../program.ts';
import { loadPolicyFile } from '../policy-file.ts';
import { leaseTtlMs, reportRun } from './run.ts';
import { createProgress, progressLine } from '../progress.ts';

export async function statusCommand(
  policy: string | undefined,
  flags: ClusterFlags & { output: 'text' | 'json' },
  io: CliIo,
): Promise<ExitCode> {
  const cluster = connectCluster({
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
    env: io.env,
  });
  const { store } = composeStateAccess(cluster, flags.stateNamespace);
  let states: RunState[];
  if (policy) {
    const stored = await store.load(policy);
    if (!stored) throw new UsageError(`no run of policy ${policy} in namespace ${flags.stateNamespace}`);
    states = [parseStoredState(stored.document, policy, flags.stateNamespace)];
  } else {
    states = (await store.list()).map(({ policy: name, stored }) =>
      parseStoredState(stored.document, name, flags.stateNamespace),
    );
  }
  if (flags.output === 'json') {
    io.out(`${JSON.stringify(policy ? states[0] : states, null, 2)}\n`);
    return ExitCode.ok;
  }
  if (states.length === 0) {
    io.out(`no runs in namespace ${flags.stateNamespace}\n`);
    return ExitCode.ok;
  }
  for (const state of states) io.out(renderStatus(state, policy !== undefined));
  return ExitCode.ok;
}

export function renderStatus(state: RunState, detailed: boolean): string {
  const lines: string[] = [];
  const step = state.steps[state.cursor];
  const done = state.records.filter((r) => r.status === 'done').length;
  lines.push(
    `${state.policy}  run ${state.runId}  ${state.from} -> ${state.to}  ${state.phase}${step && !terminalPhases.has(state.phase) ? ` at ${step.id}` : ''}  (${done}/${state.records.length} steps, updated ${state.updatedAt})`,
  );
  if (state.hold) lines.push(`  held (${state.hold.kind}) since ${state.hold.since}: ${state.hold.reason}`);
  if (state.rollbackReason) lines.push(`  rollback reason: ${state.rollbackReason}`);
  if (state.outcome) lines.push(`  outcome: ${state.outcome}`);
  if (state.audit && state.audit.eventsLost > 0)
    lines.push(
      `  warning: ${state.audit.eventsLost} audit Event(s) were not recorded by the API server${state.audit.lastError ? ` (last: ${state.audit.lastError})` : ''}`,
    );
  const pending = state.approvals.filter((a) => a.decision === undefined);
  for (const a of pending)
    lines.push(
      `  approval pending for ${a.step} until ${a.expiresAt} (revroll approve|reject ${state.policy} --step ${a.step})`,
    );
  if (detailed) {
    const last = state.gates?.recent.at(-1);
    if (last) {
      const wave = state.waves[state.gates?.wave ?? 0];
      lines.push(`  gates at ${last.at} (${wave !== undefined ? `wave ${wave}` : 'the gateways wave'}):`);
      for (const r of last.results) {
        lines.push(
          `    ${r.check.padEnd(28)} ${r.outcome.padEnd(7)} ${r.value === undefined || r.value === null ? '-' : formatNumber(r.value)}${r.baseline !== undefined && r.baseline !== null ? ` (baseline ${formatNumber(r.baseline)})` : ''}${r.shadow ? ' [shadow]' : ''}  ${r.message}`,
        );
      }
    }
    for (const g of state.gatewayApi?.gateways ?? [])
      lines.push(
        `  gateway ${g.namespace}/${g.name} (Deployment ${g.deployment}, ${g.mode}): original istio.io/rev ${g.originalRev ?? 'absent'}${g.pinned ? ', pinned' : ''}${g.moved ? ', moved' : ''}${g.held ? ', held on the old revision' : ''}`,
      );
    lines.push('  steps:');
    for (const record of state.records)
      if (record.status !== 'pending') lines.push(`    ${progressLine(record).trimEnd()}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function abortCommand(
  policyName: string,
  flags: ClusterFlags & { policyFile?: string; as?: string; debug?: boolean },
  io: CliIo,
): Promise<ExitCode> {
  const cluster = connectCluster({
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
    env: io.env,
  });
  await requireStateNamespace(cluster, flags.stateNamespace);
  const { store, lock } = composeStateAccess(cluster, flags.stateNamespace);
  const who = flags.as ?? io.env.USER ?? 'cli';
  for (let attempt = 0; ; attempt++) {
    const stored = await store.load(policyName);
    if (!stored) throw new UsageError(`no run of policy ${policyName} in namespace ${flags.stateNamespace}`);
    const state = parseStoredState(stored.document, policyName, flags.stateNamespace);
    if (terminalPhases.has(state.phase))
      throw new UsageError(
        `the run ${state.runId} of ${policyName} is already finished (${state.phase}); nothing to abort`,
      );
    if (state.phase === 'RollingBack') {
      io.out(`the run ${state.runId} of ${policyName} is already rolling back\n`);
      break;
    }
    if (!state.abortRequested) state.abortRequested = { by: who, at: new Date().toISOString() };
    try {
      await store.save(policyName, state as unknown as Record<string, unknown>, stored.version);
      io.out(`abort requested for run ${state.runId} of ${policyName} by ${who}\n`);
      break;
    } catch (error) {
      if (!(error instanceof StateConflictError) || attempt >= 4) throw error;
    }
  }
  const holder = await lock.holder(policyName);
  if (holder) {
    io.out(`runner ${holder.holder} holds the run and will roll it back\n`);
    return ExitCode.ok;
  }
  if (!flags.policyFile) {
    io.out(`no runner is active: run "revroll run <policy file>" (or pass --policy-file) to perform the rollback\n`);
    return ExitCode.held;
  }
  const { policy } = await loadPolicyFile(flags.policyFile, io.cwd);
  if (policy.metadata.name !== policyName)
    throw new UsageError(`${flags.policyFile} is policy ${policy.metadata.name}, not ${policyName}`);
  const logger = createLogger({ level: flags.debug ? 'debug' : 'warn', pretty: io.isTty });
  const metrics = await createMetricsFor(policy, io.env);
  const deps = composeRunner(policy, {
    cluster,
    stateNamespace: flags.stateNamespace,
    logger,
    env: io.env,
    ...(metrics ? { metrics: metrics.source } : {}),
  });
  const progress = createProgress(io);
  const result = await runPolicy(policy, deps, {
    leaseTtlMs: leaseTtlMs(io.env),
    onProgress: (state, changed) => progress.update(state, changed),
  });
  progress.stop();
  return reportRun(result, false, io);
}
