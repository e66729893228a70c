/**
 * The daemon idle (issue 16 item 1): `revroll serve` with 20 policies (copies of
 * policies/nightly.yaml under their own names: Slack, Prometheus gates, a night window that is
 * closed during the measurement), against a sandbox served from the bench process, /metrics
 * scraped every 5 s as Prometheus would. Peak RSS (VmHWM) of the daemon over the whole time.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from './processes.ts';
import { cliCommand } from './revroll-cli.ts';
import { hostSandbox } from './sandbox-host.ts';
import { benchScenario, STATE_NAMESPACE } from './scenario.ts';

export type ServeIdleResult = {
  policies: number;
  idleMs: number;
  readyAfterMs: number;
  scrapes: number;
  peakRssMiB: number;
  targetMiB: number;
  meetsTarget: boolean;
};

const NIGHTLY = fileURLToPath(new URL('../policies/nightly.yaml', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function serveIdleBenchmark(options: {
  cli: string;
  policies: number;
  idleMs: number;
  log: (line: string) => void;
}): Promise<ServeIdleResult> {
  const host = await hostSandbox(benchScenario({ namespaces: 50, workloads: 2, startLatencyMs: 200 }), {
    idleTimeoutMs: 120_000,
  });
  const dir = mkdtempSync(join(tmpdir(), 'revroll-bench-serve-'));
  try {
    const nightly = readFileSync(NIGHTLY, 'utf8');
    for (let i = 1; i <= options.policies; i++) {
      const name = `nightly-${String(i).padStart(2, '0')}`;
      writeFileSync(join(dir, `${name}.yaml`), nightly.replace(/^ {2}name: nightly-1-25$/m, `  name: ${name}`));
    }
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const command = cliCommand(options.cli, [
      'serve',
      '--policies',
      dir,
      '--kubeconfig',
      host.kubeconfigFile,
      '--state-namespace',
      STATE_NAMESPACE,
      '--listen',
      `127.0.0.1:${port}`,
    ]);
    const started = performance.now();
    let readyAfterMs = Number.NaN;
    let scrapes = 0;
    let stop = false;
    const prober = (async () => {
      while (!stop) {
        const ready = await fetch(`${base}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) {
          readyAfterMs = performance.now() - started;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      while (!stop) {
        await new Promise((r) => setTimeout(r, 5_000));
        if (
          !stop &&
          (await fetch(`${base}/metrics`).then(
            (r) => r.text().then(() => r.ok),
            () => false,
          ))
        )
          scrapes++;
      }
    })();
    const result = await runProcess(process.execPath, command.args, {
      env: command.env,
      timeoutMs: options.idleMs,
      measureRss: true,
    });
    stop = true;
    await prober;
    if (!Number.isFinite(readyAfterMs))
      throw new Error(`revroll serve never became ready: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    const peakRssMiB = result.peakRssMiB ?? Number.NaN;
    options.log(
      `  serve: ${options.policies} policies, ready after ${(readyAfterMs / 1000).toFixed(1)} s, ${scrapes} scrapes, peak RSS ${peakRssMiB.toFixed(0)} MiB over ${(options.idleMs / 1000).toFixed(0)} s`,
    );
    return {
      policies: options.policies,
      idleMs: options.idleMs,
      readyAfterMs,
      scrapes,
      peakRssMiB,
      targetMiB: 120,
      meetsTarget: peakRssMiB < 120,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await host.close();
  }
}
