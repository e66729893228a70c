/**
 * Watches: chunked JSON lines, one `{"type":…,"object":…}` per event. Headers are flushed at
 * once (client-node waits for them), synthetic ADDED events are sent only when the
 * resourceVersion is unset or "0", a too-old resourceVersion is a 410 ERROR event followed by
 * close, and a bare newline every few seconds keeps client-node from dropping an idle watch
 * after 30 s. With `allowWatchBookmarks=true` a tick after changes sends a BOOKMARK instead.
 */
import type { ServerResponse } from 'node:http';
import { StoreError, resourceKey, type ChangeEvent, type KubeObject, type Store } from '../store.ts';
import type { Served } from './served.ts';
import { failureStatus } from './status.ts';
import { selectionFromQuery, selects, type Selection } from './list.ts';

export type WatchOptions = {
  store: Store;
  served: Served;
  namespace: string | undefined;
  query: URLSearchParams;
  keepAliveMs: number;
  /** Renders an object for the wire (e.g. as a one-row Table for `kubectl get -w`). */
  render: (object: KubeObject) => unknown;
  /** Called once the watch has ended, whatever the cause. */
  onEnd: () => void;
};

export type OpenWatch = { end(): void };

type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Maps a store change to what a selective watcher sees (an object leaving the selection is DELETED). */
function translate(
  store: Store,
  selection: Selection,
  event: ChangeEvent,
): { type: WatchType; object: KubeObject } | undefined {
  const now = selects(store, selection, event.object);
  if (event.type !== 'MODIFIED') return now ? { type: event.type, object: event.object } : undefined;
  const before = event.previous ? selects(store, selection, event.previous) : false;
  if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: event.object };
  return before ? { type: 'DELETED', object: event.object } : undefined;
}

/** Starts a watch on `res`. Selector errors must be checked by the caller before (they are 400s). */
export function startWatch(res: ServerResponse, options: WatchOptions): OpenWatch {
  const { store, served, query } = options;
  const selection = selectionFromQuery(query, served, options.namespace);
  const storageKey = resourceKey(served.storage);
  let ended = false;
  let unsubscribe: (() => void) | undefined;
  const timers: NodeJS.Timeout[] = [];

  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe?.();
    for (const timer of timers) clearInterval(timer);
    if (!res.writableEnded) res.end();
    options.onEnd();
  };
  const send = (type: string, object: unknown) => {
    if (!ended) res.write(`${JSON.stringify({ type, object })}\n`);
  };

  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  res.on('close', end);

  const rvParam = query.get('resourceVersion');
  const initial = rvParam === null || rvParam === '' || rvParam === '0';
  const listener = (event: ChangeEvent) => {
    if (ended || resourceKey(event.resource) !== storageKey) return;
    try {
      const seen = translate(store, selection, event);
      if (seen) send(seen.type, options.render(seen.object));
    } catch {
      // A broken stream must never fail the write that notified it: drop this watcher instead.
      end();
    }
  };
  try {
    if (initial) {
      const { items, resourceVersion } = store.list(served.storage, selection.options);
      for (const item of items) if (selects(store, selection, item)) send('ADDED', options.render(item));
      unsubscribe = store.watch(resourceVersion, listener);
    } else {
      const from = Number(rvParam);
      if (!Number.isFinite(from)) throw new StoreError('BadRequest', 400, `invalid resource version "${rvParam}"`);
      unsubscribe = store.watch(from, listener);
    }
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    send('ERROR', failureStatus(error.code, error.reason, error.message));
    end();
    return { end };
  }

  // Store listeners run synchronously, so every event up to the store's current version has
  // been sent when a tick fires: a BOOKMARK there is safe to resume from.
  const bookmarks = query.get('allowWatchBookmarks') === 'true';
  let bookmarked = store.resourceVersion();
  const tick = () => {
    if (ended) return;
    const rv = store.resourceVersion();
    if (bookmarks && rv !== bookmarked) {
      bookmarked = rv;
      send('BOOKMARK', { kind: served.kind, apiVersion: served.apiVersion, metadata: { resourceVersion: String(rv) } });
    } else {
      res.write('\n');
    }
  };
  timers.push(setInterval(tick, options.keepAliveMs));
  const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
  if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) timers.push(setTimeout(end, timeoutSeconds * 1000));
  return { end };
}
