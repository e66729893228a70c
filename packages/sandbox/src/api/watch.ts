/**
 * Watches as kube-apiserver serves them: chunked JSON lines, one `{"type":…,"object":…}` per
 * event, headers flushed at once (client-node waits for them). Synthetic ADDED events only when
 * the resourceVersion is unset or "0"; a too-old resourceVersion is one ERROR event with the 410
 * Expired Status, then the stream ends (wire reference §4).
 *
 * An idle watch sends nothing at all: no keep-alive lines. client-node gives up on a watch after
 * 30 s without a byte (wire reference §0.5), so its re-watch path is what keeps a client current,
 * as against a real cluster. With `allowWatchBookmarks=true` the server sends BOOKMARK events
 * carrying only `metadata.resourceVersion` (of the store, with every earlier event already sent)
 * about every minute and 2 s before the `timeoutSeconds` deadline, as the watch cache's
 * `nextBookmarkTime` schedules them (k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go).
 *
 * Faults: a watch may be dropped (connection destroyed) after N events or after a time.
 */
import type { ServerResponse } from 'node:http';
import { StoreError, resourceKey, type ChangeEvent, type KubeObject, type Store } from '../store.ts';
import type { Served } from './served.ts';
import { failureStatus } from './status.ts';
import { selectionFromQuery, selects, type Selection } from './list.ts';

/** How open watches break (from the fault settings, read when a watch starts). */
export type WatchFaults = { dropAfterEvents?: number; dropAfterMs?: number };

export type WatchOptions = {
  store: Store;
  served: Served;
  namespace: string | undefined;
  query: URLSearchParams;
  /** Real ms between periodic bookmarks. */
  bookmarkIntervalMs: number;
  faults: WatchFaults;
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
  const { store, served, query, faults } = options;
  const selection = selectionFromQuery(query, served, options.namespace);
  const storageKey = resourceKey(served.storage);
  let ended = false;
  let sent = 0;
  let unsubscribe: (() => void) | undefined;
  const timers: NodeJS.Timeout[] = [];

  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe?.();
    for (const timer of timers) clearTimeout(timer);
    if (!res.writableEnded) res.end();
    options.onEnd();
  };
  /** A dropped connection: no clean end of the chunked stream, the socket just goes. */
  const drop = () => {
    if (ended) return;
    ended = true;
    unsubscribe?.();
    for (const timer of timers) clearTimeout(timer);
    res.socket?.destroy();
    options.onEnd();
  };
  let dropping = false;
  const send = (type: string, object: unknown) => {
    if (ended || dropping) return;
    const line = `${JSON.stringify({ type, object })}\n`;
    if (type !== 'BOOKMARK' && type !== 'ERROR') sent += 1;
    if (faults.dropAfterEvents !== undefined && sent >= faults.dropAfterEvents) {
      // The Nth event reaches the client, then the connection goes.
      dropping = true;
      res.write(line, () => drop());
      return;
    }
    res.write(line);
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
  if (ended) return { end };
  scheduleTimers(options, timers, send, end, drop);
  return { end };
}

function scheduleTimers(
  options: WatchOptions,
  timers: NodeJS.Timeout[],
  send: (type: string, object: unknown) => void,
  end: () => void,
  drop: () => void,
): void {
  const { store, served, query, faults } = options;
  // Store listeners run synchronously, so every event up to the store's current version has
  // been sent when a timer fires: a BOOKMARK there is safe to resume from.
  const bookmark = () =>
    send('BOOKMARK', {
      kind: served.kind,
      apiVersion: served.apiVersion,
      metadata: { resourceVersion: String(store.resourceVersion()) },
    });
  const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
  const deadlineMs = Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 ? timeoutSeconds * 1000 : undefined;
  if (query.get('allowWatchBookmarks') === 'true') {
    const periodic = () => {
      bookmark();
      timers.push(setTimeout(periodic, options.bookmarkIntervalMs));
    };
    timers.push(setTimeout(periodic, options.bookmarkIntervalMs));
    if (deadlineMs !== undefined && deadlineMs > 2000) timers.push(setTimeout(bookmark, deadlineMs - 2000));
  }
  if (deadlineMs !== undefined) timers.push(setTimeout(end, deadlineMs));
  if (faults.dropAfterMs !== undefined) timers.push(setTimeout(drop, faults.dropAfterMs));
}
