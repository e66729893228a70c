/**
 * `revroll plan` and `revroll run`: resolve a policy against the cluster, show every mutation in
 * order, and (for run) execute it with live progress.
 */
import { applyOverrides } from '../../policy/identity.ts';
import type { RunPlan } from '../../engine/plan.ts';
import { planRun } from '../../engine/plan.ts';
import { initialState } from '../../engine/decide.ts';
import { describeLabels } from '../../engine/plan.ts';
import type { PlannedMutation } from '../../engine/simulate.ts';
import { formatDuration } from '../../policy/durations.ts';
import type { Policy } from '../../policy/types.ts';
import type { ClusterPort } from '../../ports/cluster.ts';
import { connectCluster, composeRunner, createMetricsFor, requireStateNamespace } from '../../runner/compose.ts';
import { createExecutor } from '../../runner/executor.ts';
import { planMutations } from '../../runner/plan-mutations.ts';
import { runPolicy, snapshotCluster, type RunResult } from '../../runner/run-policy.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import { loadPolicyFile } from '../policy-file.ts';
import type { ClusterFlags } from '../program.ts';
import { formatProblem } from '../../errors.ts';
import { createProgress } from '../progress.ts';
import { writeJson } from '../json-out.ts';

export type PlanFlags = ClusterFlags & { output: 'text' | 'json'; debug?: boolean };
export type RunFlags = PlanFlags & { dryRun?: boolean };

/** Loads the policy (applying --prometheus-url) and prints its warnings. */
async function preparePolicy(file: string, flags: ClusterFlags, io: CliIo): Promise<Policy> {
  const { policy, warnings } = await loadPolicyFile(file, io.cwd);
  for (const warning of warnings) io.err(`${formatProblem(warning)} (warning)\n`);
  return applyOverrides(policy, { ...(flags.prometheusUrl ? { prometheusUrl: flags.prometheusUrl } : {}) });
}

export async function planCommand(file: string, flags: PlanFlags, io: CliIo): Promise<ExitCode> {
  const policy = await preparePolicy(file, flags, io);
  const cluster = connectCluster({ ...flagsFor(flags), env: io.env });
  const { plan, problems, gates, mutations } = await planWithMutations(cluster, policy, io);
  if (flags.output === 'json') {
    await writeJson(io, { plan, mutations, problems, gates, requests: cluster.requestCounts() });
  } else {
    if (plan) io.out(renderPlan(policy, plan, mutations));
    if (gates.length > 0) {
      io.out('\nGates evaluated now:\n');
      for (const g of gates) io.out(`  ${g.check.padEnd(28)} ${g.text}\n`);
    } else if (policy.spec.gates.checks.length > 0) {
      io.out(
        !policy.spec.prometheus?.url
          ? '\nGates: not evaluated (no Prometheus URL: set spec.prometheus.url or --prometheus-url)\n'
          : '\nGates: not evaluated (the plan has problems, listed below)\n',
      );
    }
    for (const problem of problems) io.err(`problem: ${problem.path}: ${problem.message}\n`);
  }
  if (problems.length > 0 || gates.some((g) => g.rejected)) return ExitCode.failure;
  return ExitCode.ok;
}

/**
 * The plan, its gates evaluated now and its mutations. The cluster snapshot stays inside: it is
 * released before the output is written (at 2,000 x 10 it is some 10 MB).
 */
async function planWithMutations(cluster: ClusterPort, policy: Policy, io: CliIo) {
  const snapshot = await snapshotCluster(cluster, policy);
  const { plan, problems } = planRun(policy, snapshot);
  const metrics = await createMetricsFor(policy, io.env);
  const versionOf = (rev: string | undefined) => snapshot.mesh.revisions.find((r) => r.name === rev)?.version;
  const fromVersion = versionOf(plan?.from);
  const toVersion = versionOf(plan?.to);
  const gates =
    plan && metrics
      ? await metrics.evaluatePlan(policy, plan, {
          ...(fromVersion ? { from: fromVersion } : {}),
          ...(toVersion ? { to: toVersion } : {}),
        })
      : [];
  const mutations = plan ? await planMutations(cluster, policy, plan, snapshot, new Date()) : [];
  return { plan, problems, gates, mutations };
}

export function renderPlan(policy: Policy, plan: RunPlan, mutations: readonly PlannedMutation[]): string {
  const lines: string[] = [];
  const spec = policy.spec;
  lines.push(`Policy ${plan.policy}: ${plan.from} -> ${plan.to} (${plan.strategy} strategy), plan ${plan.hash}`);
  lines.push('');
  lines.push('Waves:');
  for (const wave of plan.waves) {
    const workloads = wave.namespaces.reduce((n, ns) => n + ns.workloads.length, 0);
    const pods = wave.namespaces.reduce((n, ns) => n + ns.pods, 0);
    lines.push(
      `  ${wave.index + 1}. ${wave.name}: ${wave.namespaces.length} namespace(s), ${workloads} workload(s), ${pods} pod(s); bake ${formatDuration(wave.bakeMs)}, ${wave.maxParallelRestarts} parallel restarts`,
    );
    for (const ns of wave.namespaces) {
      lines.push(
        `     - ${ns.name} (${describeLabels(ns.original)}): ${ns.workloads.map((w) => `${w.kind.toLowerCase()}/${w.name}`).join(', ') || 'no workloads'}; ${ns.pods} pod(s)`,
      );
      for (const skipped of ns.skipped)
        lines.push(`       skipped ${skipped.kind.toLowerCase()}/${skipped.name}: ${skipped.reason}`);
    }
    for (const [name, index] of Object.entries(plan.gatewayApi.ambient))
      if (index === wave.index)
        lines.push(
          `     - ${name} (ambient): its waypoints move by their Gateway's label; the namespace is never labelled istio.io/rev, no workload restarts`,
        );
    if (spec.workloads.stragglers === 'restart')
      lines.push(`     then step delete-stragglers: delete the wave's pods still not on ${plan.to} after convergence`);
  }
  if (plan.gateways.length > 0) {
    lines.push('');
    lines.push('Gateways:');
    for (const g of plan.gateways)
      lines.push(`  ${g.namespace}/${g.name} (istio.io/rev=${g.original ?? 'none'}): ${g.upgrade}`);
  }
  lines.push(...renderGatewayApi(plan));
  lines.push('');
  const writes = mutations.reduce((n, m) => n + m.writes.length, 0);
  lines.push(`Mutations, in order (the run simulated: every step succeeds; ${writes} API write(s)):`);
  mutations.forEach((m, i) => lines.push(`  ${String(i + 1).padStart(3)}. ${m.summary}`));
  for (const u of plan.uninstalls.filter((u) => u.when === 'rollback'))
    lines.push(
      `  on rollback only: uninstall revision ${u.revision} (only if nothing references it), deleting ${u.deletes.length} object(s): ${u.deletes.join(', ') || 'none'}`,
    );
  lines.push('');
  lines.push('Time:');
  const per = plan.waves.map((w, i) => `${w.name} <= ${formatDuration(plan.timing.perWaveMaxMs[i] ?? 0)}`).join(', ');
  lines.push(`  per wave (rollout timeout + warm-up ${formatDuration(spec.gates.warmup)} + bake): ${per}`);
  lines.push(
    `  whole run at most ${formatDuration(plan.timing.totalMaxMs)}; at least ${formatDuration(plan.timing.perWaveFixedMs.reduce((a, b) => a + b, 0))} of warm-up and bake`,
  );
  lines.push(
    plan.timing.detectMs > 0
      ? `  a failing canary is detected within ${formatDuration(plan.timing.detectMs)} after a wave's warm-up (failureLimit ${spec.gates.failureLimit} x interval ${formatDuration(spec.gates.interval)}), plus scrape delay`
      : '  no enforced gates: a bad canary is only caught by rollouts and convergence',
  );
  if (plan.warnings.length > 0) {
    lines.push('');
    for (const warning of plan.warnings) lines.push(`warning: ${warning}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Per Gateway API Gateway or waypoint: its owner and why, the steps that would move it, and what the run does. */
export function renderGatewayApi(plan: RunPlan): string[] {
  const api = plan.gatewayApi;
  if (api.gateways.length === 0 && api.others.length === 0) return [];
  const lines = ['', 'Gateway API gateways and waypoints:'];
  const moveStep = (g: (typeof api.gateways)[number]) =>
    g.wave !== undefined ? `wave/${plan.waves[g.wave]?.name ?? g.wave}/waypoints` : 'gateway-api/move';
  for (const g of api.gateways) {
    lines.push(`  ${g.namespace}/${g.name} (${g.className}, Deployment ${g.deployment}): ${g.resolution}`);
    lines.push(
      `     if nothing were done, moved by: ${g.movedBy.length > 0 ? g.movedBy.join(', ') : 'no step (it stays on the old revision)'}`,
    );
    if (g.mode === 'follow') {
      lines.push(
        '     revroll: leaves it to follow its namespace or tag (spec.gatewayApi.mode: follow), outside any gate',
      );
      continue;
    }
    const pin = g.pin ? `pins it (istio.io/rev=${plan.from}) at gateway-api/pin, then ` : '';
    const move =
      g.moveTo === g.originalRev
        ? `restores its own labels (${g.originalRev === null ? 'the pin comes off' : `istio.io/rev=${g.originalRev}`}): it then resolves to ${plan.to}`
        : `sets istio.io/rev=${g.moveTo ?? ''}`;
    const unpin = g.unpin ? `; on promotion, promote/unpin-gateways puts its labels back as they were` : '';
    lines.push(`     revroll: ${pin}moves it at ${moveStep(g)} (${move})${unpin}; checked on its Deployment`);
  }
  for (const o of api.others)
    lines.push(`  ${o.namespace}/${o.name}: not on ${plan.from}, left alone (${o.resolution})`);
  return lines;
}

export async function runCommandCli(file: string, flags: RunFlags, io: CliIo): Promise<ExitCode> {
  const policy = await preparePolicy(file, flags, io);
  const json = flags.output === 'json';
  // The logger (pino) loads here: `revroll plan` logs nothing and never loads it.
  const { createLogger } = await import('../../telemetry/logger.ts');
  const logger = createLogger({ level: flags.debug ? 'debug' : 'warn', pretty: io.isTty && !json });
  const cluster = connectCluster({ ...flagsFor(flags), env: io.env });
  const metrics = await createMetricsFor(policy, io.env);

  if (flags.dryRun) {
    const snapshot = await snapshotCluster(cluster, policy);
    const { plan, problems } = planRun(policy, snapshot);
    if (!plan) {
      for (const problem of problems) io.err(`problem: ${problem.path}: ${problem.message}\n`);
      return ExitCode.failure;
    }
    const deps = composeRunner(policy, {
      cluster,
      stateNamespace: flags.stateNamespace,
      logger,
      env: io.env,
      ...(metrics ? { metrics: metrics.source } : {}),
    });
    const mutations = await planMutations(cluster, policy, plan, snapshot, new Date());
    const executor = createExecutor(policy, { ...deps, stateNamespace: flags.stateNamespace, now: () => new Date() });
    const observation = await executor.execute(initialState(policy, plan, 'dry-run', new Date()), { type: 'precheck' });
    const precheckProblems =
      observation.type === 'precheck'
        ? observation.problems
        : [observation.type === 'done' ? observation.message : 'precheck did not run'];
    // Findings that do not stop the run (warnings, ztunnel and istio-cni versions): shown, never refused.
    const precheckNotes = observation.type === 'precheck' ? (observation.notes ?? []) : [];
    if (json) {
      await writeJson(io, { dryRun: true, plan, mutations, precheck: precheckProblems, precheckNotes });
    } else {
      io.out(renderPlan(policy, plan, mutations));
      if (precheckNotes.length > 0) io.out(`\nPrecheck notes:\n${precheckNotes.map((n) => `  - ${n}`).join('\n')}\n`);
      io.out(
        precheckProblems.length === 0
          ? '\nPrecheck: ok. Dry run: nothing was changed.\n'
          : `\nPrecheck failed:\n${precheckProblems.map((p) => `  - ${p}`).join('\n')}\nDry run: nothing was changed.\n`,
      );
    }
    return precheckProblems.length === 0 ? ExitCode.ok : ExitCode.failure;
  }

  await requireStateNamespace(cluster, flags.stateNamespace);
  const deps = composeRunner(policy, {
    cluster,
    stateNamespace: flags.stateNamespace,
    logger,
    env: io.env,
    ...(metrics ? { metrics: metrics.source } : {}),
  });
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = createProgress(io);
  try {
    const result = await runPolicy(policy, deps, {
      signal: controller.signal,
      leaseTtlMs: leaseTtlMs(io.env),
      onProgress: (state, changed) => {
        if (!json) progress.update(state, changed);
      },
    });
    progress.stop();
    return reportRun(result, json, io);
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** REVROLL_LEASE_TTL_SECONDS shortens the lease (tests, crash drills); the default is 30 s. */
export function leaseTtlMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.REVROLL_LEASE_TTL_SECONDS);
  return Number.isFinite(seconds) && seconds >= 1 ? seconds * 1000 : 30_000;
}

function flagsFor(flags: ClusterFlags) {
  return {
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
  };
}

/** Prints the outcome and maps it to the CLI contract's exit codes. */
export function reportRun(result: RunResult, json: boolean, io: CliIo): ExitCode {
  const code = exitCodeFor(result);
  if (json) {
    io.out(
      `${JSON.stringify({ outcome: result.outcome, message: result.message, problems: result.problems, state: result.state }, null, 2)}\n`,
    );
    return code;
  }
  for (const problem of result.problems ?? []) io.err(`problem: ${problem.path}: ${problem.message}\n`);
  const line = `${result.outcome}: ${result.message}\n`;
  if (code === ExitCode.ok) io.out(line);
  else io.err(line);
  if (result.outcome === 'held' && result.state?.hold?.kind === 'approval') {
    io.err(
      `decide with: revroll approve ${result.state.policy}   or   revroll reject ${result.state.policy}; then run again to continue\n`,
    );
  }
  return code;
}

export function exitCodeFor(result: RunResult): ExitCode {
  switch (result.outcome) {
    case 'promoted':
      return ExitCode.ok;
    case 'rolled-back':
      return ExitCode.rolledBack;
    case 'held':
      return ExitCode.held;
    case 'failed':
    case 'locked':
    case 'interrupted':
      return ExitCode.failure;
  }
}
