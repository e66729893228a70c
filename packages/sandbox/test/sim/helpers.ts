/** Shared helpers for the sandbox simulation tests. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClock, type Clock } from '../../src/clock.ts';
import { createControllers, type Controllers } from '../../src/controllers/index.ts';
import { installAdmission, type Admission } from '../../src/admission.ts';
import { registerBuiltins } from '../../src/resources.ts';
import { createStore, type KubeObject, type Store } from '../../src/store.ts';
import { isPodReady } from '../../src/controllers/pod-util.ts';

const run = promisify(execFile);

export type Sim = { store: Store; clock: Clock; controllers: Controllers; admission: Admission; close(): void };

/** Store + controllers + admission, without HTTP (fast unit-level simulation). */
export function createSim(
  options: { startLatencyMs?: number; nodes?: number; readiness?: (pod: KubeObject) => boolean; speed?: number } = {},
): Sim {
  const clock = createClock({ speed: options.speed ?? 1 });
  const store = createStore({ now: clock.now });
  registerBuiltins(store);
  const nodes = Array.from({ length: options.nodes ?? 3 }, (_, i) => `node-${i + 1}`);
  const controllers = createControllers({
    store,
    clock,
    nodes,
    startLatencyMs: options.startLatencyMs ?? 20,
    ...(options.readiness ? { readiness: options.readiness } : {}),
  });
  const admission = installAdmission({ store, types: controllers.types, podsInNamespace: controllers.podsInNamespace });
  return {
    store,
    clock,
    controllers,
    admission,
    close() {
      controllers.close();
      clock.close();
    },
  };
}

export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function pods(store: Store, namespace: string): KubeObject[] {
  return store.list(store.findType('', 'pods')!, { namespace }).items;
}

export function readyPods(store: Store, namespace: string): KubeObject[] {
  return pods(store, namespace).filter(isPodReady);
}

export function namespace(store: Store, name: string, labels: Record<string, string> = {}): void {
  store.create(store.findType('', 'namespaces')!, undefined, { metadata: { name, labels } });
}

export function deployment(
  name: string,
  replicas: number,
  extra: { podLabels?: Record<string, string>; strategy?: unknown; progressDeadlineSeconds?: number } = {},
): KubeObject {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      ...(extra.strategy ? { strategy: extra.strategy } : {}),
      ...(extra.progressDeadlineSeconds ? { progressDeadlineSeconds: extra.progressDeadlineSeconds } : {}),
      template: {
        metadata: { labels: { app: name, ...extra.podLabels } },
        spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
      },
    },
  };
}

/** What `kubectl rollout restart` writes: a new template annotation. */
export function restart(
  store: Store,
  plural: string,
  ns: string,
  name: string,
  stamp = new Date().toISOString(),
): void {
  const type = store.findType('apps', plural)!;
  const current = store.get(type, ns, name);
  const spec = current.spec as { template: { metadata?: { annotations?: Record<string, string> } } };
  store.update(type, ns, {
    ...current,
    spec: {
      ...spec,
      template: {
        ...spec.template,
        metadata: {
          ...spec.template.metadata,
          annotations: { ...spec.template.metadata?.annotations, 'kubectl.kubernetes.io/restartedAt': stamp },
        },
      },
    },
  });
}

/** Runs the real kubectl against a kubeconfig, with an isolated HOME (no shared caches). */
export function createKubectl(kubeconfig: string): {
  kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  dispose(): void;
} {
  const home = mkdtempSync(join(tmpdir(), 'revroll-kubectl-'));
  const file = join(home, 'kubeconfig');
  writeFileSync(file, kubeconfig);
  return {
    async kubectl(...args) {
      try {
        const { stdout, stderr } = await run('kubectl', args, {
          env: { PATH: process.env.PATH ?? '/usr/bin', HOME: home, KUBECONFIG: file },
          timeout: 60_000,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code?: number; stdout?: string; stderr?: string };
        return {
          code: typeof e.code === 'number' ? e.code : 1,
          stdout: e.stdout ?? '',
          stderr: e.stderr ?? String(error),
        };
      }
    },
    dispose: () => rmSync(home, { recursive: true, force: true }),
  };
}

/** Parses Prometheus text exposition into samples; throws on a malformed line. */
export function parseExposition(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!match) throw new Error(`malformed exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[4]) });
  }
  return samples;
}
