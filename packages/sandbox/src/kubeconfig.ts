/**
 * A kubeconfig for the sandbox. The cluster is plain HTTP with `insecure-skip-tls-verify: true`:
 * client-node refuses `http://` without it, and kubectl accepts it. kubectl sends no token over
 * http; client-node sends the dummy one, which the sandbox accepts.
 */
import { stringify } from 'yaml';

export function kubeconfigYaml(serverUrl: string, contextName = 'revroll-sandbox'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: contextName, cluster: { server: serverUrl, 'insecure-skip-tls-verify': true } }],
    users: [{ name: `${contextName}-user`, user: { token: 'revroll-sandbox-token' } }],
    contexts: [
      { name: contextName, context: { cluster: contextName, user: `${contextName}-user`, namespace: 'default' } },
    ],
    'current-context': contextName,
    preferences: {},
  });
}
