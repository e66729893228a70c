/**
 * The module hook in a real Node process: the Kubernetes adapter loads without client-node's
 * generated API clients and still lists from the sandbox API server over HTTP.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '@revroll/sandbox';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

let sandbox: Sandbox;
let dir: string;
beforeAll(async () => {
  sandbox = await createSandbox({ scenario: 'demo' });
  dir = mkdtempSync(join(tmpdir(), 'revroll-hooks-'));
  writeFileSync(join(dir, 'kubeconfig'), sandbox.kubeconfig);
});
afterAll(async () => {
  await sandbox.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Registers the hook, records every module loaded, lists namespaces, prints both. */
function child(register: boolean): string {
  return `
import { registerHooks } from 'node:module';
const loaded = [];
${register ? `const { registerClientNodeHooks } = await import(${JSON.stringify(join(here, 'module-hooks.ts'))});\nregisterClientNodeHooks();` : ''}
registerHooks({ resolve(s, c, next) { const r = next(s, c); loaded.push(r.url); return r; } });
const { loadKubeConfig } = await import(${JSON.stringify(join(here, 'kubeconfig.ts'))});
const { createKubernetesCluster } = await import(${JSON.stringify(join(here, 'cluster.ts'))});
const { config } = loadKubeConfig({ file: ${JSON.stringify(join(dir, 'kubeconfig'))}, env: {} });
const names = (await createKubernetesCluster({ config }).list({ group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false })).map((n) => n.metadata.name);
process.stdout.write(JSON.stringify({ names, loaded }));
`;
}

async function load(register: boolean): Promise<{ names: string[]; loaded: string[] }> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', child(register)], { timeout: 60_000 });
  return JSON.parse(stdout) as { names: string[]; loaded: string[] };
}

describe('registerClientNodeHooks', () => {
  it('loads the adapter without the generated index, and the adapter still talks to the API server', async () => {
    const slim = await load(true);
    const whole = await load(false);
    const generated = (urls: string[]) => urls.filter((u) => u.includes('/client-node/dist/gen/models/')).length;

    expect(slim.names).toContain('istio-system');
    expect(slim.names).toEqual(whole.names);
    expect(slim.loaded.some((u) => u.endsWith('/kubernetes/client-node-gen.ts'))).toBe(true);
    expect(generated(slim.loaded)).toBe(0);
    expect(generated(whole.loaded)).toBeGreaterThan(500);
  });
});
