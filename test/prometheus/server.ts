/**
 * A real Prometheus for tests, fed by backfill (reference/prometheus-testing.md, way B):
 * series are written as OpenMetrics, turned into blocks by `promtool tsdb create-blocks-from
 * openmetrics`, and served by a Prometheus with no scrape jobs. Results are exact when queries
 * sit on the sample grid, so gate values can be asserted to the last digit (with a float
 * tolerance).
 *
 *   const prom = await startPrometheus([series('up', { job: 'a' }, steady(T0, T1, 1))]);
 *   ... prom.url ...
 *   await prom.stop();
 *
 * One server per test file (`beforeAll`); each test uses its own label values.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

/** One series: name, labels and samples as [unix seconds, value], in time order. */
export type Series = {
  name: string;
  labels: Readonly<Record<string, string>>;
  samples: readonly (readonly [number, number])[];
};

export function series(
  name: string,
  labels: Readonly<Record<string, string>>,
  samples: readonly (readonly [number, number])[],
): Series {
  return { name, labels, samples };
}

/** Samples every `stepSeconds` from `from` to `to` (inclusive) of a counter growing at `perSecond`. */
export function counter(from: number, to: number, perSecond: number, stepSeconds = 15): [number, number][] {
  const out: [number, number][] = [];
  for (let t = from; t <= to; t += stepSeconds) out.push([t, (t - from) * perSecond]);
  return out;
}

/** Samples every `stepSeconds` from `from` to `to` (inclusive) of a constant gauge. */
export function gauge(from: number, to: number, value: number, stepSeconds = 15): [number, number][] {
  const out: [number, number][] = [];
  for (let t = from; t <= to; t += stepSeconds) out.push([t, value]);
  return out;
}

/** An OpenMetrics label value: backslash, quote and newline escaped. */
function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/**
 * OpenMetrics text for promtool: untyped samples (any name works), one series after the other
 * (samples of a series in time order, or promtool drops them silently), seconds timestamps, and
 * the mandatory `# EOF`.
 */
export function openMetrics(all: readonly Series[]): string {
  const lines: string[] = [];
  for (const s of all) {
    const labels = Object.entries(s.labels)
      .map(([k, v]) => `${k}="${labelValue(v)}"`)
      .join(',');
    let last = Number.NEGATIVE_INFINITY;
    for (const [t, v] of s.samples) {
      if (t <= last) throw new Error(`series ${s.name}{${labels}}: samples out of order at ${t}`);
      if (t > 1e11) throw new Error(`series ${s.name}: timestamp ${t} looks like milliseconds; use seconds`);
      last = t;
      lines.push(`${s.name}{${labels}} ${formatValue(v)} ${t}`);
    }
  }
  lines.push('# EOF', '');
  return lines.join('\n');
}

export type TestPrometheus = {
  /** Base URL, e.g. http://127.0.0.1:40013. */
  url: string;
  stop: () => Promise<void>;
};

/** Backfills `data`, starts Prometheus on a free port and waits until it is ready. */
export async function startPrometheus(data: readonly Series[]): Promise<TestPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'revroll-prom-'));
  const dataDir = join(dir, 'data');
  const input = join(dir, 'data.om');
  const config = join(dir, 'prometheus.yml');
  await writeFile(input, openMetrics(data));
  await writeFile(config, 'global:\n  scrape_interval: 15s\nscrape_configs: []\n');
  try {
    await run(PROMTOOL, [
      'tsdb',
      'create-blocks-from',
      'openmetrics',
      '-q',
      '--max-block-duration=24h',
      input,
      dataDir,
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`promtool backfill failed: ${(error as { stderr?: string }).stderr ?? String(error)}`);
  }
  // Port 0 and the "Listening on" log line: no window in which another process takes the port.
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${dataDir}`,
      // Retention counts from the newest block: without this, old backfilled blocks vanish.
      '--storage.tsdb.retention.time=100y',
      '--web.listen-address=127.0.0.1:0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stop = async () => {
    await stopProcess(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const url = await listeningUrl(child);
    await waitReady(url, child);
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(
      () => fail(new Error(`Prometheus did not report its address within 10 s:\n${log}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      const match = /msg="Listening on" address=(\S+)/.exec(log);
      if (match?.[1] !== undefined) done(`http://${match[1]}`);
    };
    const onExit = (code: number | null) =>
      fail(new Error(`Prometheus exited (code ${code}) before listening:\n${log}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining stderr so the child never blocks on a full pipe.
      child.stderr?.resume();
    };
    const done = (url: string) => {
      cleanup();
      resolve(url);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Prometheus exited with code ${child.exitCode} while starting`);
    try {
      const response = await fetch(`${url}/-/ready`);
      if (response.ok) return;
    } catch {
      // Not accepting connections yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Prometheus at ${url} was not ready within 10 s`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
