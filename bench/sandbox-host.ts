/**
 * A sandbox cluster served from the benchmark process, with every API request logged at its
 * arrival (the sandbox's own log records a request when it completes, which places a long watch
 * at its end; arrival times are what attribute requests to run steps).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSandbox, isWatchParam, parseRoute, verbOf, type Sandbox, type Scenario } from '@revroll/sandbox';

/** One API request as it arrived. */
export type Arrival = { at: number; verb: string; group: string; resource: string; namespace?: string };

export type HostedSandbox = {
  sandbox: Sandbox;
  kubeconfigFile: string;
  dir: string;
  arrivals: Arrival[];
  /** How many proxies run on each revision (from the sandbox's own store). */
  proxies(): Record<string, number>;
  close(): Promise<void>;
};

export async function hostSandbox(scenario: Scenario, options: { idleTimeoutMs: number }): Promise<HostedSandbox> {
  const sandbox = await createSandbox({ scenario });
  try {
    await sandbox.waitForIdle({ timeoutMs: options.idleTimeoutMs });
  } catch (error) {
    await sandbox.close();
    throw error;
  }
  const dir = mkdtempSync(join(tmpdir(), 'revroll-bench-'));
  const kubeconfigFile = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigFile, sandbox.kubeconfig, { mode: 0o600 });
  const arrivals: Arrival[] = [];
  sandbox.api.addRoute((req) => {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const route = parseRoute(url.pathname.replace(/\/+$/, '') || '/');
    if (route.kind === 'resource') {
      const r = route.route;
      arrivals.push({
        at: Date.now(),
        verb: verbOf(req.method ?? 'GET', r, isWatchParam(url.searchParams.get('watch'))),
        group: r.group,
        resource: r.plural,
        ...(r.namespace ? { namespace: r.namespace } : {}),
      });
    } else {
      arrivals.push({ at: Date.now(), verb: 'get', group: '', resource: '(discovery)' });
    }
    return false;
  });
  return {
    sandbox,
    kubeconfigFile,
    dir,
    arrivals,
    proxies: () => sandbox.summary().pods.injected,
    async close() {
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
