/**
 * A module resolution hook, registered by the CLI entry before any command loads: when
 * client-node's configuration module (`dist/config.js`) imports the generated index
 * (`./gen/index.js`, every API and model: about 950 modules, 24 MB of JavaScript), it gets
 * `client-node-gen.ts` instead, which gives it the two names it imports from there. Loading the
 * Kubernetes client then costs about 40 MB instead of about 80 MB of RSS, in every command that
 * talks to a cluster. Nothing else changes: the rest of client-node loads as it is.
 *
 * `module.registerHooks` exists from Node 22.15 and 23.5; on older versions nothing is
 * registered and client-node loads whole.
 */
import * as nodeModule from 'node:module';

const CONFIG_MODULE = '/@kubernetes/client-node/dist/config.js';

export function registerClientNodeHooks(): boolean {
  const register = (nodeModule as { registerHooks?: typeof nodeModule.registerHooks }).registerHooks;
  if (typeof register !== 'function') return false;
  // Compiled (dist/, .js) or run from source (.ts): the stand-in has this file's extension.
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const format = extension === '.ts' ? 'module-typescript' : 'module';
  const standIn = new URL(`./client-node-gen${extension}`, import.meta.url).href;
  register({
    resolve(specifier, context, next) {
      if (specifier === './gen/index.js' && context.parentURL?.endsWith(CONFIG_MODULE))
        return { url: standIn, format, shortCircuit: true };
      return next(specifier, context);
    },
  });
  return true;
}
