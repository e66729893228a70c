/**
 * Stands in for client-node's generated index (`dist/gen/index.js`) where its configuration
 * module imports it (see `module-hooks.ts`): that module uses exactly these two, to build API
 * clients revroll never makes. They are client-node's own, from the modules that define them.
 */
export { createConfiguration } from '@kubernetes/client-node/dist/gen/configuration.js';
export { ServerConfiguration } from '@kubernetes/client-node/dist/gen/servers.js';
