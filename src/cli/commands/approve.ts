/** `revroll approve|reject <policy>`: decide the pending approval of a run from a terminal. */
import { ExternalError } from '../../errors.ts';
import { composeStateAccess, connectCluster, requireStateNamespace } from '../../runner/compose.ts';
import { decideFromCli } from '../../runner/approvals.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import type { ClusterFlags } from '../program.ts';

export async function approveCommand(
  policy: string,
  approve: boolean,
  flags: ClusterFlags & { step?: string; as?: string },
  io: CliIo,
): Promise<ExitCode> {
  const cluster = connectCluster({
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
    env: io.env,
  });
  await requireStateNamespace(cluster, flags.stateNamespace);
  const { store, events } = composeStateAccess(cluster, flags.stateNamespace);
  const result = await decideFromCli({
    store,
    policy,
    approve,
    ...(flags.step ? { step: flags.step } : {}),
    ...(flags.as ? { as: flags.as } : {}),
    now: new Date(),
    events: { recorder: events, namespace: flags.stateNamespace },
  });
  if (!result.ok) throw new ExternalError('APPROVAL_REFUSED', result.message, `run state of ${policy}`);
  io.out(`${result.message}\n`);
  return ExitCode.ok;
}
