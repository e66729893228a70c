/**
 * Start-up (issue 16 item 3): `revroll --help` and `revroll lint` of the example policies, each
 * run as its own process the way the bin runs it (shebang flags applied), N times; medians of
 * the wall time (process start to exit) and of the peak RSS (VmHWM).
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runProcess } from './processes.ts';
import { cliCommand } from './revroll-cli.ts';
import { median } from './stats.ts';

export type StartupCommand = {
  command: string;
  runs: { wallMs: number; peakRssMiB: number }[];
  medians: { wallMs: number; peakRssMiB: number };
  targets: { wallMs: number; peakRssMiB?: number };
  meetsTarget: boolean;
};

export type StartupResult = { help: StartupCommand; lint: StartupCommand };

const POLICIES = fileURLToPath(new URL('../policies/', import.meta.url));

async function measure(
  cli: string,
  label: string,
  args: string[],
  runs: number,
  targets: StartupCommand['targets'],
): Promise<StartupCommand> {
  const command = cliCommand(cli, args);
  const results: StartupCommand['runs'] = [];
  // One unmeasured run first: the file system cache, as for an operator's second command.
  await runProcess(process.execPath, command.args, { env: command.env, timeoutMs: 60_000 });
  for (let i = 0; i < runs; i++) {
    const r = await runProcess(process.execPath, command.args, {
      env: command.env,
      timeoutMs: 60_000,
      measureRss: true,
    });
    if (r.code !== 0) throw new Error(`${label} exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
    results.push({ wallMs: r.wallMs, peakRssMiB: r.peakRssMiB ?? Number.NaN });
  }
  const medians = {
    wallMs: median(results.map((r) => r.wallMs)),
    peakRssMiB: median(results.map((r) => r.peakRssMiB)),
  };
  return {
    command: label,
    runs: results,
    medians,
    targets,
    meetsTarget:
      medians.wallMs <= targets.wallMs &&
      (targets.peakRssMiB === undefined || medians.peakRssMiB <= targets.peakRssMiB),
  };
}

export async function startupBenchmark(options: {
  cli: string;
  runs: number;
  log: (line: string) => void;
}): Promise<StartupResult> {
  const policies = readdirSync(POLICIES)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => `${POLICIES}${f}`);
  const help = await measure(options.cli, 'revroll --help', ['--help'], options.runs, { wallMs: 250, peakRssMiB: 70 });
  options.log(`  --help: ${help.medians.wallMs.toFixed(0)} ms, ${help.medians.peakRssMiB.toFixed(1)} MiB (median)`);
  const lint = await measure(
    options.cli,
    `revroll lint policies/*.yaml (${policies.length} files)`,
    ['lint', ...policies],
    options.runs,
    { wallMs: 400 },
  );
  options.log(`  lint: ${lint.medians.wallMs.toFixed(0)} ms, ${lint.medians.peakRssMiB.toFixed(1)} MiB (median)`);
  return { help, lint };
}
