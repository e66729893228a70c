/**
 * One sandbox API server per test file: a store with the built-in types and system namespaces,
 * a kubeconfig in a private HOME (kubectl's discovery and HTTP caches stay isolated), and a
 * kubectl runner (execFile, no shell, with a timeout).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore, type Store } from '../../src/store.ts';
import { createSystemNamespaces, registerBuiltins } from '../../src/resources.ts';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../../src/api-server.ts';
import { kubeconfigYaml } from '../../src/kubeconfig.ts';
import { createLifecycleControllers } from '../../src/controllers/garbage-collector.ts';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const fixture = (name: string) => join(FIXTURES, name);

export type KubectlResult = { code: number; stdout: string; stderr: string };

export type Harness = {
  store: Store;
  server: ApiServer;
  home: string;
  kubeconfigPath: string;
  kubectl(args: string[], timeoutMs?: number): Promise<KubectlResult>;
  /** fetch against the server with a path (JSON helpers below). */
  request(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
};

/**
 * The API server with the garbage collector and namespace controller running (a control plane
 * without the workload controllers: tests play those themselves).
 */
export async function startHarness(options: Partial<ApiServerOptions> = {}): Promise<Harness> {
  const store = createStore();
  registerBuiltins(store);
  createSystemNamespaces(store);
  const lifecycle = createLifecycleControllers(store);
  const server = await createApiServer({ store, log: () => undefined, ...options });
  const home = await mkdtemp(join(tmpdir(), 'revroll-api-'));
  const kubeconfigPath = join(home, 'kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(server.url));
  const kubectl = (args: string[], timeoutMs = 20_000) =>
    new Promise<KubectlResult>((resolve) => {
      execFile(
        '/usr/bin/kubectl',
        ['--kubeconfig', kubeconfigPath, ...args],
        {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECACHEDIR: join(home, 'cache') },
          timeout: timeoutMs,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
        },
      );
    });
  return {
    store,
    server,
    home,
    kubeconfigPath,
    kubectl,
    request: (path, init) => fetch(`${server.url}${path}`, init),
    close: async () => {
      lifecycle.close();
      await server.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

export async function json<T = Record<string, unknown>>(response: Response | Promise<Response>): Promise<T> {
  return (await (await response).json()) as T;
}

export function jsonInit(method: string, body: unknown, contentType = 'application/json'): RequestInit {
  return { method, headers: { 'Content-Type': contentType }, body: JSON.stringify(body) };
}
