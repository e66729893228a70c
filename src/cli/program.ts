import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from './exit-codes.ts';
import { reportError } from './errors.ts';
import type { CliIo } from './io.ts';
import { UsageError } from '../errors.ts';

// Commands are loaded when they run, so `revroll --help` and `revroll lint` never load the
// Kubernetes client, Slack, Prometheus or the sandbox.
const commands = {
  lint: () => import('./commands/lint.ts'),
  run: () => import('./commands/run.ts'),
  status: () => import('./commands/status.ts'),
  report: () => import('./commands/report.ts'),
  approve: () => import('./commands/approve.ts'),
  serve: () => import('./commands/serve.ts'),
  sandbox: () => withSandbox(() => import('./commands/sandbox.ts')),
  demo: () => withSandbox(() => import('./commands/demo.ts')),
};

/** The sandbox is a development package: an installation without it (the image) says so. */
async function withSandbox<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (
      (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' &&
      String((error as Error).message).includes('@revroll/sandbox')
    ) {
      throw new UsageError(
        'the sandbox is not part of this installation (the container image ships the daemon only); run it from a clone of revroll: npm ci && npx revroll sandbox',
      );
    }
    throw error;
  }
}

/** Flags shared by every command that talks to a cluster. */
export type ClusterFlags = {
  kubeconfig?: string;
  context?: string;
  prometheusUrl?: string;
  stateNamespace: string;
};

/** What a command returns: the process exit code. */
export type CommandResult = Promise<ExitCode>;

function addClusterFlags(command: Command): Command {
  return command
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--prometheus-url <url>', "Prometheus URL (overrides the policy's spec.prometheus.url)")
    .option('--state-namespace <ns>', 'namespace holding run state ConfigMaps and Leases', 'revroll-system');
}

function outputOption(choices: string[]): Option {
  return new Option('-o, --output <format>', 'output format').choices(choices).default(choices[0]);
}

/**
 * Builds the command tree. Each action resolves to an exit code stored in `state.code`;
 * the error boundary in `runCli` handles anything thrown.
 */
export function createProgram(io: CliIo, state: { code: ExitCode }): Command {
  const program = new Command('revroll')
    .description(
      'Canary upgrades of an Istio control plane: waves of namespaces, telemetry gates, promotion or rollback.',
    )
    .version(VERSION, '-V, --version')
    .option('--debug', 'print stack traces and debug logs')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(run "revroll --help" for usage)');

  const debug = process.argv.includes('--debug');

  program
    .command('lint')
    .summary('check policy files offline')
    .description('Check policy files offline: schema, cross-field rules, durations, cron, PromQL.')
    .argument('<policy...>', 'policy files (YAML)')
    .action(async (files: string[]) => {
      state.code = await (await commands.lint()).lintCommand(files, io);
    });

  addClusterFlags(
    program
      .command('plan')
      .summary('resolve waves against the cluster, list every mutation, evaluate gates now')
      .description(
        'Resolve the waves against the cluster and list every mutation in order (the run simulated by the engine: every step succeeds, gates pass, approvals are granted; -o json gives each API write), the time arithmetic and the gates evaluated now. Changes nothing.',
      )
      .argument('<policy>', 'policy file')
      .addOption(outputOption(['text', 'json'])),
  ).action(async (file: string, opts: ClusterFlags & { output: 'text' | 'json' }) => {
    state.code = await (await commands.run()).planCommand(file, { ...opts, debug }, io);
  });

  addClusterFlags(
    program
      .command('run')
      .summary('run a policy from precheck to promotion or rollback (resumes an active run)')
      .description(
        'Run a policy: precheck, install or wait for the new revision, migrate wave by wave with gates, then promote or roll back. Exit 0 promoted, 3 rolled back, 4 held, 1 failed, 2 invalid input.',
      )
      .argument('<policy>', 'policy file')
      .option('--dry-run', 'plan and precheck, change nothing')
      .addOption(outputOption(['text', 'json'])),
  ).action(async (file: string, opts: ClusterFlags & { output: 'text' | 'json'; dryRun?: boolean }) => {
    state.code = await (await commands.run()).runCommandCli(file, { ...opts, debug }, io);
  });

  addClusterFlags(
    program
      .command('status')
      .summary("show a policy's run, or every run")
      .argument('[policy]', 'policy name')
      .addOption(outputOption(['text', 'json'])),
  ).action(async (policy: string | undefined, opts: ClusterFlags & { output: 'text' | 'json' }) => {
    state.code = await (await commands.status()).statusCommand(policy, opts, io);
  });

  addClusterFlags(
    program
      .command('report')
      .summary("render a policy's run: timeline, gate charts, namespaces, approvals, outcome")
      .description(
        'Render one run (the active or the last one, or --run ID while its Events last) from its state ConfigMap, its Events and, with --policy-file and a reachable Prometheus, range queries per gate and wave. HTML is one self-contained file.',
      )
      .argument('<policy>', 'policy name')
      .addOption(outputOption(['html', 'md', 'json']))
      .option('--out <file>', 'write the report to this file instead of standard output')
      .option('--run <id>', 'an older run of the policy, rebuilt from its Events')
      .option('--policy-file <file>', 'the policy file: thresholds, and the queries for Prometheus'),
  ).action(
    async (
      policy: string,
      opts: ClusterFlags & { output: 'html' | 'md' | 'json'; out?: string; run?: string; policyFile?: string },
    ) => {
      state.code = await (await commands.report()).reportCommand(policy, opts, io);
    },
  );

  addDecisionCommands(program, io, state, debug);
  addLocalCommands(program, io, state, debug);
  return program;
}

/** approve, reject and abort: decisions on a policy's run. */
function addDecisionCommands(program: Command, io: CliIo, state: { code: ExitCode }, debug: boolean): void {
  for (const verb of ['approve', 'reject'] as const) {
    addClusterFlags(
      program
        .command(verb)
        .summary(`${verb} the pending approval of a policy's run`)
        .argument('<policy>', 'policy name')
        .option('--step <id>', 'the step whose approval is decided (default: the pending one)')
        .option('--as <name>', 'who decides (recorded in the run state and Events)'),
    ).action(async (policy: string, opts: ClusterFlags & { step?: string; as?: string }) => {
      state.code = await (await commands.approve()).approveCommand(policy, verb === 'approve', opts, io);
    });
  }

  addClusterFlags(
    program
      .command('abort')
      .summary('roll back the active run of a policy')
      .description(
        'Request the rollback of the active run. If no runner holds the run and --policy-file is given, roll it back now.',
      )
      .argument('<policy>', 'policy name')
      .option('--policy-file <file>', 'the policy file, to perform the rollback here when no runner is active')
      .option('--as <name>', 'who aborts (recorded in the run state)'),
  ).action(async (policy: string, opts: ClusterFlags & { policyFile?: string; as?: string }) => {
    state.code = await (await commands.status()).abortCommand(policy, { ...opts, debug }, io);
  });

  addClusterFlags(
    program
      .command('serve')
      .summary('run the daemon: schedules, windows, Slack approvals, /metrics ')
      .requiredOption('--policies <dir>', 'folder of policy files')
      .option('--listen <host:port>', 'HTTP listen address', '0.0.0.0:8080'),
  ).action(async (opts: ClusterFlags & { policies: string; listen: string }) => {
    state.code = await (await commands.serve()).serveCommand({ ...opts, debug }, io);
  });
}

/** sandbox and demo: the simulated cluster on this machine. */
function addLocalCommands(program: Command, io: CliIo, state: { code: ExitCode }, debug: boolean): void {
  program
    .command('sandbox')
    .summary('start the simulated Kubernetes cluster running Istio (until Ctrl-C)')
    .option('--scenario <name|file>', 'built-in scenario (demo, bad-canary) or scenario file', 'demo')
    .option('--kubeconfig-out <file>', 'where to write the kubeconfig for kubectl and revroll')
    .option('--prometheus', 'also start a real Prometheus scraping the sandbox')
    .action(async (opts: { scenario: string; kubeconfigOut?: string; prometheus?: boolean }) => {
      state.code = await (await commands.sandbox()).sandboxCommand(opts, io);
    });

  program
    .command('demo')
    .summary('sandbox + Prometheus + a full run of policies/demo.yaml, end to end')
    .option(
      '--scenario <name|file>',
      'sandbox scenario: demo (healthy canary, promotes) or bad-canary (rolls back)',
      'demo',
    )
    .option('--policy <file>', 'policy to run instead of policies/demo.yaml')
    .action(async (opts: { scenario: string; policy?: string }) => {
      state.code = await (await commands.demo()).demoCommand({ ...opts, debug }, io);
    });
}

/** Runs the CLI on `argv` (without the node and script entries) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const state: { code: ExitCode } = { code: ExitCode.ok };
  const debug = argv.includes('--debug');
  const program = createProgram(io, state);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version asked for are "errors" to commander and successes to the user; help shown
      // because the command line was incomplete or wrong (no command, `help <unknown>`) is a usage
      // error: commander gives it a non-zero exit code.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
      if (error.code === 'commander.help') {
        if (error.exitCode === 0) return ExitCode.ok;
        const unknown = argv[0] === 'help' ? argv[1] : undefined;
        io.err(unknown ? `error: unknown command '${unknown}'\n` : 'error: no command given\n');
      }
      return ExitCode.invalid;
    }
    return reportError(error, io, debug);
  }
}

export const VERSION = '0.1.0';
