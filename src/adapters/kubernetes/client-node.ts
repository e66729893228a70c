/**
 * What the adapter uses of @kubernetes/client-node, imported from the modules that define it
 * rather than from the package index. The index loads every generated API and model (about a
 * thousand modules); these need only the configuration, its authenticators and the watch. With
 * the module hook of `module-hooks.ts` the configuration module loads without them too.
 */
export { KubeConfig } from '@kubernetes/client-node/dist/config.js';
export { Watch } from '@kubernetes/client-node/dist/watch.js';
export { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
