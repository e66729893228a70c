/**
 * Loads the Kubernetes client configuration the way kubectl does: an explicit file, then
 * $KUBECONFIG, then ~/.kube/config, then the in-cluster service account.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from './client-node.ts';
import { UsageError } from '../../errors.ts';

export type KubeConfigSource = {
  /** `--kubeconfig`. */
  file?: string;
  /** `--context`. */
  context?: string;
  env?: NodeJS.ProcessEnv;
};

/** Where the configuration came from, for messages. */
export type LoadedKubeConfig = { config: KubeConfig; origin: string; server: string };

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function loadKubeConfig(source: KubeConfigSource = {}): LoadedKubeConfig {
  const env = source.env ?? process.env;
  const config = new KubeConfig();
  let origin: string;
  try {
    if (source.file) {
      if (!existsSync(source.file)) throw new UsageError(`kubeconfig file ${source.file} does not exist`);
      config.loadFromFile(source.file);
      origin = source.file;
    } else if (env.KUBECONFIG) {
      const files = env.KUBECONFIG.split(':').filter((f) => f !== '' && existsSync(f));
      if (files.length === 0) throw new UsageError(`KUBECONFIG names no existing file (${env.KUBECONFIG})`);
      config.loadFromFile(files[0] as string);
      for (const extra of files.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(extra);
        config.mergeConfig(more, true);
      }
      origin = `KUBECONFIG (${files.join(':')})`;
    } else if (existsSync(join(env.HOME ?? homedir(), '.kube', 'config'))) {
      const file = join(env.HOME ?? homedir(), '.kube', 'config');
      config.loadFromFile(file);
      origin = file;
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN)) {
      config.loadFromCluster();
      origin = 'in-cluster service account';
    } else {
      throw new UsageError(
        'no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config',
      );
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read kubeconfig: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (source.context) {
    if (!config.getContextObject(source.context)) {
      const known = config.getContexts().map((c) => c.name);
      throw new UsageError(`context "${source.context}" is not in ${origin} (contexts: ${known.join(', ') || 'none'})`);
    }
    config.setCurrentContext(source.context);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new UsageError(`${origin} has no current cluster (set current-context or pass --context)`);
  return { config, origin, server: cluster.server };
}
