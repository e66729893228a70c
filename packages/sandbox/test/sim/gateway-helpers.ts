/** Helpers for the Gateway API and ambient simulation tests. */
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../src/index.ts';
import type { KubeObject } from '../../src/store.ts';
import { createKubectl, until } from './helpers.ts';

export type Kube = {
  kubectl: ReturnType<typeof createKubectl>['kubectl'];
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  dispose(): void;
};

/** kubectl and client-node clients on the sandbox's kubeconfig. */
export function kube(sandbox: Sandbox): Kube {
  const k = createKubectl(sandbox.kubeconfig);
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sandbox.kubeconfig);
  return {
    kubectl: k.kubectl,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    dispose: k.dispose,
  };
}

export const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

type Template = {
  metadata?: { annotations?: Record<string, string> };
  spec?: { containers?: { image?: string; env?: { name: string; value?: string }[] }[] };
};

/** What a rendered gateway Deployment says about its owner: template revision, image, CA_ADDR. */
export function rendering(deployment: KubeObject | k8s.V1Deployment | undefined) {
  const template = (deployment?.spec as { template?: Template } | undefined)?.template;
  const container = template?.spec?.containers?.[0];
  return {
    revision: template?.metadata?.annotations?.['istio.io/rev'],
    image: container?.image,
    caAddr: container?.env?.find((e) => e.name === 'CA_ADDR')?.value,
  };
}

export function deploymentOf(sandbox: Sandbox, namespace: string, name: string): KubeObject | undefined {
  return sandbox.store.tryGet(sandbox.controllers.types.deployments, namespace, name);
}

export function gatewayOf(sandbox: Sandbox, namespace: string, name: string): KubeObject | undefined {
  const type = sandbox.store.findType('gateway.networking.k8s.io', 'gateways');
  return type ? sandbox.store.tryGet(type, namespace, name) : undefined;
}

export function condition(gateway: KubeObject | undefined, type: string) {
  const conditions = (
    (gateway?.status ?? {}) as { conditions?: { type: string; status: string; reason: string; message: string }[] }
  ).conditions;
  return conditions?.find((c) => c.type === type);
}

/** Waits until `probe` returns a value (polling the simulation). */
export async function eventually<T>(probe: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  let value: T | undefined | false;
  await until(
    () => {
      value = probe();
      return value !== undefined && value !== false;
    },
    timeoutMs,
    what,
  );
  return value as T;
}
