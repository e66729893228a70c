/**
 * A kubeconfig for the sandbox. The cluster is plain HTTP with `insecure-skip-tls-verify: true`:
 * client-node refuses `http://` without it, and kubectl accepts it. kubectl sends no token over
 * http (the server then treats it as the admin); client-node sends the token: the admin token
 * below, or a ServiceAccount's token for a kubeconfig that acts as that ServiceAccount.
 */
import { stringify } from 'yaml';

/** The admin kubeconfig's token: full access, also when RBAC is enforced. */
export const ADMIN_TOKEN = 'revroll-sandbox-token';

export function kubeconfigYaml(
  serverUrl: string,
  contextName = 'revroll-sandbox',
  user: { name?: string; token?: string; namespace?: string } = {},
): string {
  const userName = user.name ?? `${contextName}-user`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: contextName, cluster: { server: serverUrl, 'insecure-skip-tls-verify': true } }],
    users: [{ name: userName, user: { token: user.token ?? ADMIN_TOKEN } }],
    contexts: [
      {
        name: contextName,
        context: { cluster: contextName, user: userName, namespace: user.namespace ?? 'default' },
      },
    ],
    'current-context': contextName,
    preferences: {},
  });
}
