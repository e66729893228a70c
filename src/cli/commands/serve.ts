/**
 * `revroll serve --policies <dir> [--listen HOST:PORT]`: the in-cluster daemon. The composition
 * root (src/runner/compose.ts) wires the daemon (policy folder, schedules, runs), the metrics and
 * the HTTP server; this command waits for SIGTERM/SIGINT and shuts down within a bounded time: in-flight runs stop at
 * their next step boundary with their state persisted and their Lease released, so the next
 * daemon resumes them.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.ts';
import { composeServe } from '../../runner/compose.ts';
import { createLogger } from '../../telemetry/logger.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import type { ClusterFlags } from '../program.ts';
import { VERSION } from '../program.ts';

export type ServeFlags = ClusterFlags & {
  /** Folder of policy files (a mounted ConfigMap in the cluster). */
  policies: string;
  /** `HOST:PORT` (`[::]:8080` for IPv6; port 0 picks a free one). */
  listen: string;
  debug?: boolean;
};

/** Longest graceful shutdown before the daemon exits anyway (Kubernetes' default grace is 30 s). */
const SHUTDOWN_TIMEOUT_MS = 10_000;

/** Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65_535)
    throw new UsageError(`--listen ${value} is not HOST:PORT (for example 0.0.0.0:8080 or [::]:8080)`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export async function serveCommand(opts: ServeFlags, io: CliIo): Promise<ExitCode> {
  const { host, port } = parseListen(opts.listen);
  const dir = resolve(io.cwd, opts.policies);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`the policies folder ${dir} does not exist or is not a folder`);

  const logger = createLogger({ level: opts.debug ? 'debug' : 'info', pretty: io.isTty });
  const { daemon, server, holder, dispose } = await composeServe({
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.context ? { context: opts.context } : {}),
    env: io.env,
    policiesDir: dir,
    stateNamespace: opts.stateNamespace,
    logger,
    version: VERSION,
    ...(opts.prometheusUrl ? { prometheusUrl: opts.prometheusUrl } : {}),
  });
  const stateNamespace = opts.stateNamespace;

  const stop = waitForSignal();
  try {
    await daemon.start();
    const { url } = await server.listen(host, port);
    logger.info({ url, policies: dir, holder, stateNamespace }, 'revroll serve listening');
    const signal = await stop.promise;
    logger.info({ signal }, 'shutting down');
    const outcome = await Promise.race([
      Promise.all([daemon.stop(), server.close(2_000)]).then(() => 'stopped' as const),
      unrefTimeout(SHUTDOWN_TIMEOUT_MS).then(() => 'timeout' as const),
    ]);
    if (outcome === 'timeout') {
      logger.error(
        { timeoutMs: SHUTDOWN_TIMEOUT_MS },
        'shutdown timed out; exiting with runs not stopped (their state is saved after every decision)',
      );
      forceExitLater(ExitCode.failure);
      return ExitCode.failure;
    }
    logger.info('stopped');
    forceExitLater(ExitCode.ok);
    return ExitCode.ok;
  } catch (error) {
    await Promise.allSettled([daemon.stop(), server.close(0)]);
    throw error;
  } finally {
    stop.dispose();
    dispose();
  }
}

/** Resolves with the first SIGTERM or SIGINT. */
function waitForSignal(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const promise = new Promise<NodeJS.Signals>((resolveSignal) => {
    onSignal = (signal) => resolveSignal(signal);
  });
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return {
    promise,
    dispose() {
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
    },
  };
}

/** A timer that does not keep the process alive by itself. */
function unrefTimeout(ms: number): Promise<void> {
  return new Promise((resolveTimer) => setTimeout(resolveTimer, ms).unref());
}

/**
 * Client keep-alive sockets and timers of abandoned calls could keep the process up after a
 * clean stop; this unref'd timer only fires if something does.
 */
function forceExitLater(code: ExitCode): void {
  setTimeout(() => process.exit(code), 2_000).unref();
}
