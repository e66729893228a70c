/**
 * The daemon's HTTP server (node:http, no framework): `/metrics`, `/healthz`, `/readyz`,
 * `POST /slack/actions`, `/api/runs` and the read-only dashboard (`/`, `/runs/<policy>`). Bounded on every side (header and request timeouts,
 * keep-alive, body size) and never crashing on bad input: every route answers JSON errors, and
 * a handler that throws yields a 500 without taking the process down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../telemetry/logger.ts';
import type { Dashboard } from './dashboard.ts';

/** What the Slack actions endpoint receives: the raw body, byte for byte (the signature covers it). */
export type SlackActionsHandler = (request: {
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  rawBody: string;
  now: Date;
}) => Promise<{ status: number; body: string }>;

/** Readiness: ok when the cluster answers (a cheap API call, cached by the server). */
export type ReadinessCheck = () => Promise<{ ok: boolean; message: string }>;

export type HttpServerOptions = {
  logger: Logger;
  metrics: { render(): Promise<string>; contentType: string };
  ready: ReadinessCheck;
  /** The runs API document. */
  runs: () => unknown;
  /** Mounted at `POST /slack/actions` when given; 404 otherwise. */
  slackActions?: SlackActionsHandler;
  /** The read-only dashboard (`/`, `/stream`, `/runs/<policy>...`, src/adapters/http-server/dashboard.ts), when given. */
  dashboard?: Dashboard;
  now?: () => Date;
  /** Largest accepted request body (default 64 KiB; more is 413). */
  maxBodyBytes?: number;
  /** How long a readiness answer is reused (default 5 s). */
  readyCacheMs?: number;
  /** Longest wait for one readiness check (default 3 s). */
  readyTimeoutMs?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
};

export type HttpServer = {
  /** Listens; resolves with the bound address (port 0 picks a free one). */
  listen(host: string, port: number): Promise<{ url: string; port: number }>;
  /** Stops accepting, lets in-flight requests finish for `graceMs`, then drops the rest. */
  close(graceMs?: number): Promise<void>;
  readonly server: Server;
};

const DEFAULT_MAX_BODY = 64 * 1024;

class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { logger } = options;
  const now = options.now ?? (() => new Date());
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const readyCacheMs = options.readyCacheMs ?? 5_000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 3_000;
  let readiness: { at: number; answer: Promise<{ ok: boolean; message: string }> } | undefined;

  /** One readiness check at a time, reused for a few seconds: probes must not hammer the API server. */
  function ready(): Promise<{ ok: boolean; message: string }> {
    const t = Date.now();
    if (readiness && t - readiness.at < readyCacheMs) return readiness.answer;
    const answer = withTimeout(options.ready(), readyTimeoutMs).catch((error: unknown) => ({
      ok: false,
      message: error instanceof Error ? error.message : String(error),
    }));
    readiness = { at: t, answer };
    return answer;
  }

  type Route = { methods: readonly string[]; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
  const routes = new Map<string, Route>([
    ['/healthz', { methods: ['GET', 'HEAD'], handle: async (_req, res) => send(res, 200, { status: 'ok' }) }],
    [
      '/readyz',
      {
        methods: ['GET', 'HEAD'],
        handle: async (_req, res) => {
          const answer = await ready();
          send(res, answer.ok ? 200 : 503, { status: answer.ok ? 'ready' : 'not ready', message: answer.message });
        },
      },
    ],
    [
      '/metrics',
      {
        methods: ['GET', 'HEAD'],
        handle: async (_req, res) => {
          const text = await options.metrics.render();
          res.writeHead(200, { 'content-type': options.metrics.contentType, 'cache-control': 'no-store' });
          res.end(text);
        },
      },
    ],
    ['/api/runs', { methods: ['GET', 'HEAD'], handle: async (_req, res) => send(res, 200, options.runs()) }],
    [
      '/slack/actions',
      {
        methods: ['POST'],
        handle: async (req, res) => {
          const handler = options.slackActions;
          if (!handler) throw new HttpError(404, 'Slack actions are not configured on this daemon');
          const rawBody = await readBody(req, maxBody);
          const answer = await handler({ headers: req.headers, rawBody, now: now() });
          const json = answer.body.trimStart().startsWith('{');
          res.writeHead(answer.status, { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8' });
          res.end(answer.body);
        },
      },
    ],
  ]);

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://revroll.invalid').pathname;
    } catch {
      throw new HttpError(400, 'malformed request target');
    }
    const route = routes.get(path.length > 1 ? path.replace(/\/+$/, '') : path);
    if (!route && options.dashboard && (await options.dashboard.handle(req, res, path))) return;
    if (!route) throw new HttpError(404, `no route ${path}`);
    const method = req.method ?? 'GET';
    if (!route.methods.includes(method))
      throw new HttpError(405, `${method} is not allowed on ${path}`, { allow: route.methods.join(', ') });
    await route.handle(req, res);
  }

  const server = createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => {
      dispatch(req, res).catch((error: unknown) => answerError(req, res, error, logger));
    },
  );
  server.on('clientError', answerClientError);

  return {
    server,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ url: `http://${shown}:${address.port}`, port: address.port });
        });
      });
    },
    close(graceMs = 2_000) {
      // Event streams never end by themselves: end them so the server can close.
      options.dashboard?.close();
      return new Promise((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}

/** A handler failed: answer with its HttpError's status (500 otherwise), or drop a response already started. */
function answerError(req: IncomingMessage, res: ServerResponse, error: unknown, logger: Logger): void {
  const status = error instanceof HttpError ? error.status : 500;
  if (status >= 500)
    logger.error(
      { err: error instanceof Error ? error.message : String(error), path: req.url?.slice(0, 200) },
      'http handler failed',
    );
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [key, value] of Object.entries(error instanceof HttpError ? error.headers : {})) res.setHeader(key, value);
  // A body we refused to read: close the connection instead of draining it.
  if (status === 413) res.setHeader('connection', 'close');
  send(res, status, { error: status === 500 ? 'internal error' : (error as Error).message });
  if (status === 413) res.on('finish', () => req.destroy());
}

/** Malformed HTTP, oversized headers, timeouts: answer if the socket still takes it. */
function answerClientError(error: Error, socket: Duplex): void {
  if (socket.writable && !(socket as { _httpMessage?: unknown })._httpMessage) {
    const code = (error as NodeJS.ErrnoException).code;
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({
      error: status === 431 ? 'headers too large' : status === 408 ? 'request timeout' : 'bad request',
    });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  } else {
    socket.destroy();
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** Reads the body as text, refusing more than `limit` bytes (by header at once, or while reading). */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.reject(new HttpError(413, `request body larger than ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.pause();
        reject(new HttpError(413, `request body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      if (done) return;
      done = true;
      reject(new HttpError(400, `request body unreadable: ${error.message}`));
    });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
