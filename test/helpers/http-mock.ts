/**
 * Strict HTTP mocking with nock, for failure modes a real server will not produce on demand
 * (DESIGN section 9) and for Slack.
 *
 * Usage, once per test file (or per `describe`):
 *
 *   import { setupHttpMocks, mockHttp } from '../../test/helpers/http-mock.ts';
 *   setupHttpMocks();                        // or setupHttpMocks({ allowLocalhost: true })
 *   it('retries a 503', async () => {
 *     mockHttp('http://prom.test').post('/api/v1/query').reply(503).post('/api/v1/query').reply(200, {...});
 *     ...
 *   });
 *
 * What it enforces, after every test:
 * - no real network: every host is blocked unless it has interceptors, except 127.0.0.1 and
 *   localhost when `allowLocalhost` is set (for tests that also talk to a real local server);
 * - every request to a mocked host matched an interceptor, even if the code under test
 *   swallowed the error nock raised (adapters that never throw do exactly that);
 * - every interceptor was used: an unused one means the code did not make the call the test
 *   was written for.
 * A violation fails the test that caused it, and all interceptors are cleared between tests.
 * `assertHttpMocksDone()` runs the same checks on demand (e.g. in the middle of a test).
 */
import nock from 'nock';
import { afterAll, afterEach, beforeAll } from 'vitest';

export type HttpMockOptions = {
  /** Let requests to 127.0.0.1/localhost through (real local servers). */
  allowLocalhost?: boolean;
};

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

let unmatched: string[] = [];
let allowLocal = false;

function onNoMatch(request: { method?: string; url?: string }, matchResults?: unknown): void {
  const url = request.url ?? '(unknown URL)';
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    host = '';
  }
  // Requests to an allowed local host with no interceptors at all are real traffic, not misses.
  if (matchResults === undefined && allowLocal && LOCAL_HOSTS.has(host)) return;
  unmatched.push(`${request.method ?? 'GET'} ${url}`);
}

/** Installs the strict checks for the current file or describe block. */
export function setupHttpMocks(options: HttpMockOptions = {}): void {
  beforeAll(() => {
    allowLocal = options.allowLocalhost === true;
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
    if (allowLocal) nock.enableNetConnect((host) => LOCAL_HOSTS.has(host.replace(/:\d+$/, '')));
    nock.emitter.on('no match', onNoMatch);
  });
  afterEach(() => {
    try {
      assertHttpMocksDone();
    } finally {
      nock.cleanAll();
      unmatched = [];
    }
  });
  afterAll(() => {
    nock.emitter.off('no match', onNoMatch);
    nock.cleanAll();
    nock.enableNetConnect();
    nock.restore();
  });
}

/** Interceptors for `baseUrl` (a nock scope). */
export function mockHttp(baseUrl: string, options?: nock.Options): nock.Scope {
  return nock(baseUrl, options);
}

/** Throws when a request matched no interceptor or an interceptor was never used. */
export function assertHttpMocksDone(): void {
  const problems: string[] = [];
  if (unmatched.length > 0) problems.push(`requests that matched no interceptor:\n  ${unmatched.join('\n  ')}`);
  const pending = nock.pendingMocks();
  if (pending.length > 0) problems.push(`interceptors never used:\n  ${pending.join('\n  ')}`);
  if (problems.length > 0) {
    unmatched = [];
    nock.cleanAll();
    throw new Error(`HTTP mock check failed:\n${problems.join('\n')}`);
  }
}
