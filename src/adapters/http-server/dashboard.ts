/**
 * The daemon's read-only dashboard, mounted by the HTTP server: `/` lists the runs, and
 * `/runs/<policy>` shows the report of a policy's run (the same HTML as `revroll report`),
 * updated live over Server-Sent Events from `/runs/<policy>/stream` (and `/stream` for the
 * list). `/runs/<policy>/report.json` is the report's data. Nothing here writes anything: GET
 * and HEAD only, and the pages hold no credential (reports carry none; Prometheus and Slack
 * settings never reach them).
 *
 * One report is built per policy per `refreshMs` however many pages watch it, and at most
 * `maxStreams` streams are open at once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReportModel } from '../../report/model.ts';
import { escapeHtml, liveUpdate, renderPage, renderReportHtml, type ReportAssets } from '../../report/render-html.ts';
import { indexUpdate, renderIndexHtml, type IndexRow } from '../../report/render-index.ts';
import type { ClientUpdate } from '../../report/client.ts';
import type { RunView, StoredRunSummary } from '../../ports/runs.ts';
import { RevrollError } from '../../errors.ts';

export type DashboardOptions = {
  runs: () => RunView[];
  /** Stored states by policy (for progress on the front page). */
  states: () => Promise<ReadonlyMap<string, StoredRunSummary>>;
  /** Builds the report of a policy's run; rejects with a RevrollError when there is none. */
  report: (policy: string) => Promise<ReportModel>;
  assets: () => Promise<ReportAssets>;
  version: string;
  now?: () => Date;
  /** How often streams look for changes (default 2 s). */
  refreshMs?: number;
  /** Streams open at once (default 50); more are refused with 503. */
  maxStreams?: number;
  /** A comment line this often keeps proxies from closing idle streams (default 15 s). */
  heartbeatMs?: number;
};

export type Dashboard = {
  /** Answers `path` when it is a dashboard route; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
  /** Ends every open stream (the server is closing). */
  close(): void;
};

const POLICY_PATH = /^\/runs\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\/stream|\/report\.json)?$/;

export function createDashboard(options: DashboardOptions): Dashboard {
  const now = options.now ?? (() => new Date());
  const refreshMs = options.refreshMs ?? 2_000;
  const maxStreams = options.maxStreams ?? 50;
  const streams = new Set<ServerResponse>();
  const cache = new Map<string, { at: number; value: Promise<ClientUpdate> }>();

  /** One computation per key per refresh interval, shared by every page and stream. */
  function cached(key: string, compute: () => Promise<ClientUpdate>): Promise<ClientUpdate> {
    const hit = cache.get(key);
    const t = Date.now();
    if (hit && t - hit.at < refreshMs) return hit.value;
    const value = compute();
    cache.set(key, { at: t, value });
    value.catch(() => cache.delete(key));
    return value;
  }

  async function indexRows(): Promise<IndexRow[]> {
    const states = await options.states().catch(() => new Map<string, StoredRunSummary>());
    return options.runs().map((r) => indexRow(r, r.name ? states.get(r.name) : undefined));
  }

  const indexData = () => cached('/', async () => indexUpdate(await indexRows(), now()));
  const reportData = (policy: string) => cached(policy, async () => liveUpdate(await options.report(policy)));

  async function page(res: ServerResponse, status: number, html: string): Promise<void> {
    headers(res, status, 'text/html; charset=utf-8');
    res.end(res.req.method === 'HEAD' ? undefined : html);
  }

  async function notFound(res: ServerResponse, message: string): Promise<void> {
    await page(
      res,
      404,
      renderPage({
        title: 'revroll: not found',
        header: '<h1>Not found</h1>',
        main: `<p>${escapeHtml(message)}</p><p><a href="/">All runs</a></p>`,
        data: { charts: [] },
        options: { assets: await options.assets(), version: options.version },
      }),
    );
  }

  const streaming: Streaming = { streams, maxStreams, refreshMs, heartbeatMs: options.heartbeatMs ?? 15_000 };

  return {
    async handle(req, res, path) {
      const match = POLICY_PATH.exec(path);
      if (path !== '/' && path !== '/stream' && !match) return false;
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ error: `${method} is not allowed on ${path}: the dashboard is read-only` })}\n`);
        return true;
      }
      if (path === '/stream') {
        stream(streaming, req, res, indexData);
        return true;
      }
      if (path === '/') {
        const rows = await indexRows();
        const html = renderIndexHtml(rows, now(), {
          assets: await options.assets(),
          version: options.version,
          live: { stream: '/stream', index: '/' },
        });
        await page(res, 200, html);
        return true;
      }
      const policy = (match as RegExpExecArray)[1] as string;
      const suffix = (match as RegExpExecArray)[3];
      if (!options.runs().some((r) => r.name === policy)) {
        await notFound(res, `no policy ${policy} is loaded by this daemon`);
        return true;
      }
      if (suffix === '/stream') {
        stream(streaming, req, res, () => reportData(policy));
        return true;
      }
      let model: ReportModel;
      try {
        model = await options.report(policy);
      } catch (error) {
        if (!(error instanceof RevrollError)) throw error;
        await notFound(res, error.message);
        return true;
      }
      if (suffix === '/report.json') {
        headers(res, 200, 'application/json');
        res.end(res.req.method === 'HEAD' ? undefined : `${JSON.stringify(model)}\n`);
        return true;
      }
      const html = renderReportHtml(model, {
        assets: await options.assets(),
        version: options.version,
        live: { stream: `/runs/${policy}/stream`, index: '/' },
      });
      await page(res, 200, html);
      return true;
    },
    close() {
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}

/** The open event streams and how they are paced. */
type Streaming = { streams: Set<ServerResponse>; maxStreams: number; refreshMs: number; heartbeatMs: number };

/** Sends each new version of `data` as a `report` event until the client leaves. */
function stream(
  { streams, maxStreams, refreshMs, heartbeatMs }: Streaming,
  req: IncomingMessage,
  res: ServerResponse,
  data: () => Promise<ClientUpdate>,
): void {
  if (streams.size >= maxStreams) {
    headers(res, 503, 'text/plain; charset=utf-8');
    res.end('too many open dashboard streams\n');
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Proxies (nginx) buffer responses unless told not to.
    'x-accel-buffering': 'no',
  });
  res.write(`retry: ${refreshMs}\n\n`);
  streams.add(res);
  let last = '';
  let busy = false;
  const push = async () => {
    if (busy) return;
    busy = true;
    try {
      const text = JSON.stringify(await data());
      if (text !== last) {
        last = text;
        res.write(`event: report\ndata: ${text}\n\n`);
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      res.write(`event: problem\ndata: ${JSON.stringify({ message })}\n\n`);
    } finally {
      busy = false;
    }
  };
  const poll = setInterval(() => void push(), refreshMs);
  const beat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs);
  const end = () => {
    clearInterval(poll);
    clearInterval(beat);
    streams.delete(res);
  };
  req.on('close', end);
  res.on('close', end);
  void push();
}

function headers(res: ServerResponse, status: number, type: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  });
}

/** One row of the front page: the daemon's view of a policy, completed from its stored run. */
function indexRow(r: RunView, state: StoredRunSummary | undefined): IndexRow {
  const finished = state?.records.filter((x) => x.status !== 'pending' && x.status !== 'running').length;
  return {
    ...(r.name ? { name: r.name } : {}),
    file: r.file,
    valid: r.valid,
    problems: r.problems.length,
    ...((r.runId ?? state?.runId) ? { runId: r.runId ?? state?.runId } : {}),
    ...((r.phase ?? state?.phase) ? { phase: r.phase ?? state?.phase } : {}),
    ...(r.step ? { step: r.step } : {}),
    ...((r.hold ?? state?.hold) ? { holdReason: (r.hold ?? state?.hold)?.reason } : {}),
    ...(state && finished !== undefined ? { progress: { finished, total: state.records.length } } : {}),
    ...(r.lastOutcome ? { lastOutcome: r.lastOutcome } : {}),
    ...(r.nextScheduledAt ? { nextScheduledAt: r.nextScheduledAt } : {}),
  };
}
