/**
 * Child processes for the benchmark: asynchronous only, because the sandbox they talk to runs in
 * this process's event loop (a synchronous spawn would freeze the API server under kubectl).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ProcessResult = {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Peak resident set in MiB (VmHWM), when measured. */
  peakRssMiB?: number;
  timedOut: boolean;
};

export type RunProcessOptions = {
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  cwd?: string;
  /** Called with each complete stdout line as it arrives (progress of long runs). */
  onLine?: (line: string) => void;
  /** Measure peak RSS: the command must be `node`; the probe is preloaded. */
  measureRss?: boolean;
};

const RSS_PROBE = fileURLToPath(new URL('./rss-probe.js', import.meta.url));

export function runProcess(
  command: string,
  args: readonly string[],
  options: RunProcessOptions,
): Promise<ProcessResult> {
  const probeDir = options.measureRss ? mkdtempSync(join(tmpdir(), 'revroll-bench-rss-')) : undefined;
  const rssFile = probeDir ? join(probeDir, 'rss.json') : undefined;
  const finalArgs = options.measureRss ? ['--import', RSS_PROBE, ...args] : [...args];
  const env = { ...(options.env ?? process.env), ...(rssFile ? { BENCH_RSS_FILE: rssFile } : {}) };
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, finalArgs, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let partial = '';
    let polledKiB = 0;
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out.push(chunk);
      if (!options.onLine) return;
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    });
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    // Polling is the fallback for a process killed before its exit hook runs.
    const poll = options.measureRss
      ? setInterval(() => {
          polledKiB = Math.max(polledKiB, readPeakKiB(child.pid) ?? 0);
        }, 200)
      : undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      const wallMs = performance.now() - started;
      let peakKiB = polledKiB;
      if (rssFile) {
        try {
          peakKiB = Math.max(peakKiB, (JSON.parse(readFileSync(rssFile, 'utf8')) as { peakRssKiB: number }).peakRssKiB);
        } catch {
          // No exit hook ran (killed): keep the polled value.
        }
      }
      if (probeDir) rmSync(probeDir, { recursive: true, force: true });
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        wallMs,
        ...(options.measureRss ? { peakRssMiB: peakKiB / 1024 } : {}),
        timedOut,
      });
    });
  });
}

function readPeakKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN) || undefined;
  } catch {
    return undefined;
  }
}
