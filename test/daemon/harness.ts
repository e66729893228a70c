/**
 * Harness for the daemon suites: a virtual clock, a sandbox with the state namespace, daemons
 * wired to it with real adapters, and readers of the run state and Leases.
 *
 * The fake-time design (why it is honest). The daemon and the runner only wait through
 * `clock.sleep`; everything else they do is real I/O against the sandbox, which runs in real time
 * (rollouts take tens of ms with `startLatencyMs: 20`). The virtual clock therefore jumps forward
 * only when EVERY daemon loop is asleep on it: each loop (one per loaded policy) is either asleep
 * or busy with real work, and `Daemon.loops()` says how many there are. While one loop waits for
 * a rollout, time stands still for everybody, so a wave's rollout takes ~0 virtual seconds and no
 * deadline is skipped. When all sleep, time jumps to the earliest wake-up. A week of nights costs
 * a few hundred wake-ups.
 *
 * One concession: `runPolicy` renews its Lease with a real-time interval (a third of the TTL),
 * while the Lease's expiry is computed in virtual time. The suites use a 3 h TTL, longer than any
 * single invocation (a window is 2 h), so a live runner never looks expired; a crashed one expires
 * 3 virtual hours after it last wrote its Lease.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubernetesCluster, type KubernetesCluster } from '../../src/adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../../src/adapters/kubernetes/kubeconfig.ts';
import { createConfigMapStateStore, createLeaseLock } from '../../src/adapters/kubernetes/state.ts';
import { terminalPhases, type RunState } from '../../src/engine/state.ts';
import { Resources, type ClusterPort } from '../../src/ports/cluster.ts';
import { composeRunner, policyFolderSource } from '../../src/runner/compose.ts';
import { createDaemon, type Daemon } from '../../src/runner/daemon.ts';
import type { Clock } from '../../src/ports/clock.ts';
import { createSandbox, type Sandbox } from '@revroll/sandbox';
import { createLogger, silentLogger } from '../../src/telemetry/logger.ts';
import { createRunnerMetrics, type RunnerMetrics } from '../../src/telemetry/metrics.ts';

export const STATE_NAMESPACE = 'revroll-system';
export const LEASE_TTL_MS = 3 * 3_600_000;

export type VirtualClock = Clock & {
  /** Sleepers waiting now. */
  sleepers(): number;
  /** Stops time at `at` (it reaches `at`, never passes it) until `resume()`. */
  pauseAt(at: Date): void;
  resume(): void;
  /** Resolves when time has reached the pause instant and every loop sleeps. */
  paused(timeoutMs?: number): Promise<void>;
  close(): void;
};

type Sleeper = { at: number; resolve: () => void };

/** Virtual time that advances only when at least `actors()` sleepers wait (see the module comment). */
export function createVirtualClock(start: Date, actors: () => number): VirtualClock {
  let now = start.getTime();
  let pause: number | undefined;
  const sleepers = new Set<Sleeper>();
  const tick = setInterval(() => {
    const needed = actors();
    if (sleepers.size === 0 || sleepers.size < needed) return;
    const earliest = Math.min(...[...sleepers].map((s) => s.at));
    if (pause !== undefined && earliest > pause) {
      now = Math.max(now, pause);
      return;
    }
    now = Math.max(now, earliest);
    for (const sleeper of [...sleepers]) {
      if (sleeper.at > now) continue;
      sleepers.delete(sleeper);
      sleeper.resolve();
    }
  }, 2);
  return {
    now: () => new Date(now),
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const sleeper: Sleeper = {
          at: now + Math.max(0, ms),
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          sleepers.delete(sleeper);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        sleepers.add(sleeper);
      });
    },
    sleepers: () => sleepers.size,
    pauseAt(at) {
      pause = at.getTime();
    },
    resume() {
      pause = undefined;
    },
    async paused(timeoutMs = 30_000) {
      await waitFor(
        () => pause !== undefined && now >= pause && sleepers.size >= actors(),
        'the virtual clock to reach its pause',
        timeoutMs,
      );
    },
    close() {
      clearInterval(tick);
    },
  };
}

/** Polls `condition` in real time. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits until a policy's run is finished in the cluster (Promoted, RolledBack or Failed) AND the
 * daemon's invocation that finished it has returned. The runner persists the terminal state
 * before it returns (it still sends notifications, writes Events and releases its Lease), and the
 * daemon folds the outcome into its runs API and metrics only once the runner has returned: a
 * test that reads the daemon's view as soon as the stored phase is terminal races that tail.
 * After a terminal state of the current spec the daemon never invokes the policy again, so
 * `running: false` then means the finishing invocation is over.
 */
export async function finished(h: Harness, daemon: Daemon, policy: string, timeoutMs = 45_000): Promise<RunState> {
  let state: RunState | undefined;
  await waitFor(
    async () => {
      state = await h.state(policy);
      if (!state || !terminalPhases.has(state.phase)) return false;
      const view = daemon.runs().find((r) => r.name === policy);
      return view !== undefined && !view.running;
    },
    `the run of ${policy} to finish and the daemon to return from it`,
    timeoutMs,
  );
  return state as RunState;
}

export type Harness = {
  sandbox: Sandbox;
  kubeconfigFile: string;
  /** A scratch folder (policies live in `dir/policies` unless a test builds its own). */
  dir: string;
  /** The test's own client (not a daemon's). */
  cluster: KubernetesCluster;
  state(policy: string): Promise<RunState | undefined>;
  leaseHolder(policy: string): Promise<string | undefined>;
  namespaceLabels(name: string): Promise<Record<string, string>>;
  close(): Promise<void>;
};

export async function createHarness(): Promise<Harness> {
  const sandbox = await createSandbox({ scenario: 'demo', startLatencyMs: 20 });
  // A cluster at rest before the upgrade: revroll refuses to start while workloads still roll out.
  await sandbox.waitForIdle();
  const dir = mkdtempSync(join(tmpdir(), 'revroll-daemon-'));
  const kubeconfigFile = join(dir, 'kubeconfig.yaml');
  writeFileSync(kubeconfigFile, sandbox.kubeconfig);
  const cluster = clientFor(kubeconfigFile);
  // The built-in scenarios carry the state namespace; create it only where one does not.
  if (!(await cluster.get(Resources.namespaces, undefined, STATE_NAMESPACE)))
    await cluster.mutate({ op: 'create', ref: Resources.namespaces, object: { metadata: { name: STATE_NAMESPACE } } });
  const store = createConfigMapStateStore(cluster, STATE_NAMESPACE);
  return {
    sandbox,
    kubeconfigFile,
    dir,
    cluster,
    async state(policy) {
      const stored = await store.load(policy);
      return stored?.document as RunState | undefined;
    },
    async leaseHolder(policy) {
      const lease = await cluster.get(Resources.leases, STATE_NAMESPACE, `revroll-${policy}`);
      return (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    },
    async namespaceLabels(name) {
      const ns = await cluster.get(Resources.namespaces, undefined, name);
      return ns?.metadata.labels ?? {};
    },
    async close() {
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function clientFor(kubeconfigFile: string): KubernetesCluster {
  return createKubernetesCluster({ config: loadKubeConfig({ file: kubeconfigFile, env: {} }).config });
}

export type TestDaemon = {
  daemon: Daemon;
  holder: string;
  cluster: KubernetesCluster;
  metrics: RunnerMetrics;
  /** Simulates the process dying: every API call fails from now on (its Lease is not released), then its loops end. */
  crash(): Promise<void>;
};

/** A daemon with real adapters over the sandbox, a virtual clock, and intervals suited to fake time. */
export function startTestDaemon(
  h: Harness,
  options: { holder: string; policiesDir: string; clock: Clock },
): TestDaemon {
  const real = clientFor(h.kubeconfigFile);
  let cut = false;
  // A dead process makes no requests: once cut, every call fails as an unreachable server would.
  const cluster = new Proxy(real, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        cut
          ? Promise.reject(new Error(`${options.holder} is dead`))
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  }) as KubernetesCluster;
  const port: ClusterPort = cluster;
  const logger = process.env.DEBUG_DAEMON ? createLogger({ level: 'info', pretty: false }) : silentLogger();
  const metrics = createRunnerMetrics();
  const daemon = createDaemon({
    policies: policyFolderSource({ dir: options.policiesDir, logger, rescanMs: 0, debounceMs: 50 }),
    clock: options.clock,
    logger,
    metrics,
    store: createConfigMapStateStore(port, STATE_NAMESPACE),
    lock: createLeaseLock(port, STATE_NAMESPACE, () => options.clock.now()),
    runnerDeps: (policy) => ({
      ...composeRunner(policy, { cluster, stateNamespace: STATE_NAMESPACE, logger, env: {}, clock: options.clock }),
      holder: options.holder,
    }),
    leaseTtlMs: LEASE_TTL_MS,
    statePollMs: 30 * 60_000,
    runPollMs: 10 * 60_000,
    lockedRetryMs: 30 * 60_000,
    errorBackoffMs: { min: 10 * 60_000, max: 60 * 60_000 },
  });
  return {
    daemon,
    holder: options.holder,
    cluster: real,
    metrics,
    async crash() {
      cut = true;
      await daemon.stop();
    },
  };
}

/** A policy for the demo scenario: no gates (warm-up 1 s), the given waves and schedule. */
export function policyYaml(
  name: string,
  options: { waves: { name: string; names?: string[]; bake: string }[]; schedule: string; extra?: string },
): string {
  const waves = options.waves
    .map(
      (w) =>
        `    - name: ${w.name}\n      namespaces:\n${w.names ? `        names: [${w.names.join(', ')}]` : '        percent: 100'}\n      bake: ${w.bake}`,
    )
    .join('\n');
  return `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata:
  name: ${name}
spec:
  revisions:
    from: 1-24-3
    to: 1-25-1
  waves:
${waves}
  gates:
    warmup: 1s
${options.extra ?? ''}  schedule:
${options.schedule}
`;
}

/** Nightly 02:00-04:00 Europe/Berlin, started by cron at 02:00, with optional freeze lines. */
export function berlinNights(freeze = ''): string {
  return `    cron: "0 2 * * *"
    timeZone: Europe/Berlin
    windows:
      - start: "02:00"
        end: "04:00"
${freeze}`;
}

/** Local wall-clock time in Berlin, `YYYY-MM-DD HH:MM`, for readable assertions. */
export function berlin(iso: string | undefined): string {
  if (!iso) return '(never)';
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone: 'Europe/Berlin',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).format(new Date(iso));
}

/** Cleanups registered by `startDaemon` and tests; `runCleanups` (an afterEach) runs them, newest first. */
export const cleanups: (() => Promise<void> | void)[] = [];
export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

export type DaemonProcess = {
  child: ChildProcess;
  url: Promise<string>;
  exit: Promise<number | null>;
  logs: () => string;
};

/** `revroll serve` as a real process against the harness's sandbox (killed by `runCleanups`). */
export function startDaemon(h: Harness, policiesDir: string, extraArgs: string[] = []): DaemonProcess {
  const child = spawn(
    process.execPath,
    [
      'src/cli/main.ts',
      'serve',
      '--policies',
      policiesDir,
      '--listen',
      '127.0.0.1:0',
      '--kubeconfig',
      h.kubeconfigFile,
      ...extraArgs,
    ],
    { cwd: process.cwd(), env: { ...process.env, KUBECONFIG: '', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let resolveUrl: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (resolveUrl = resolve));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr);
    if (match?.[1]) resolveUrl(match[1]);
  });
  child.stdout?.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, url, exit, logs: () => stderr };
}
