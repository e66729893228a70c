/**
 * A real Prometheus (the `prometheus` binary, 2.42 on Debian) scraping the sandbox: temporary
 * config and data directory, a free loopback port, `/-/ready` awaited, and a clear error if the
 * binary is missing or exits early. `stop()` terminates it and removes the temporary files.
 *
 * The scrape job uses `honor_labels: true` because the sandbox writes the per-pod target labels
 * (`namespace`, `pod`, `istio_io_rev`) on the samples themselves (see telemetry.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const PROMETHEUS_BINARY = '/usr/bin/prometheus';

export class PrometheusNotInstalledError extends Error {
  constructor(binary: string) {
    super(`Prometheus is not installed: apt-get install prometheus (no executable at ${binary})`);
    this.name = 'PrometheusNotInstalledError';
  }
}

export type PrometheusOptions = {
  /** Scrape targets as URLs (`http://127.0.0.1:1234/metrics`). */
  targets: string[];
  scrapeIntervalMs?: number;
  binary?: string;
  /** Default 0: pick a free port. */
  port?: number;
  readyTimeoutMs?: number;
};

export type PrometheusInstance = {
  url: string;
  port: number;
  dataDir: string;
  /** Runs an instant query; returns the `data.result` vector. */
  query(expr: string, time?: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
};

/** A free loopback port: bind 0, read it, release it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function scrapeConfig(targets: string[], intervalMs: number): string {
  const seconds = `${Math.max(1, Math.round(intervalMs / 1000))}s`;
  const byPath = new Map<string, { scheme: string; path: string; hosts: string[] }>();
  for (const target of targets) {
    const url = new URL(target);
    const key = `${url.protocol}${url.pathname}`;
    const group = byPath.get(key) ?? { scheme: url.protocol.replace(':', ''), path: url.pathname, hosts: [] };
    group.hosts.push(url.host);
    byPath.set(key, group);
  }
  return stringify({
    global: { scrape_interval: seconds, evaluation_interval: seconds, scrape_timeout: seconds },
    scrape_configs: [...byPath.values()].map((group, i) => ({
      job_name: i === 0 ? 'revroll-sandbox' : `revroll-sandbox-${i}`,
      honor_labels: true,
      scheme: group.scheme,
      metrics_path: group.path,
      static_configs: [{ targets: group.hosts }],
    })),
  });
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusInstance> {
  const binary = options.binary ?? PROMETHEUS_BINARY;
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new PrometheusNotInstalledError(binary);
  }
  const dir = mkdtempSync(join(tmpdir(), 'revroll-prometheus-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, scrapeConfig(options.targets, options.scrapeIntervalMs ?? 1000));
  const port = options.port || (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      '--web.enable-lifecycle',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? `code ${code}`}`;
      resolve();
    });
  });
  child.once('error', (error) => {
    exited = error.message;
  });

  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(killer);
    }
    cleanup();
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (exited) {
      cleanup();
      throw new Error(`prometheus ${exited} before it was ready:\n${stderr.trim()}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within ${options.readyTimeoutMs ?? 20_000} ms:\n${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    url,
    port,
    dataDir,
    async query(expr, time) {
      const body = new URLSearchParams({ query: expr, ...(time !== undefined ? { time: String(time) } : {}) });
      const response = await fetch(`${url}/api/v1/query`, { method: 'POST', body });
      const json = (await response.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (json.status !== 'success')
        throw new Error(`prometheus query failed: ${json.error ?? response.status}: ${expr}`);
      return json.data?.result ?? [];
    },
    stop,
  };
}
