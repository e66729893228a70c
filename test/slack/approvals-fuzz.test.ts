/**
 * Bad input to `POST /slack/actions`, fuzzed (DESIGN section 9): whatever a correctly signed
 * body contains, the handler answers with a clear refusal, never throws, and writes nothing.
 * The run is finished so that no mutation can reach a decision, and payloads carry no
 * response_url, so no request leaves the handler (the strict HTTP mock would fail the test).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSlackActionHandler } from '../../src/adapters/slack/actions.ts';
import { createApprovals } from '../../src/runner/approvals.ts';
import { setupHttpMocks } from '../helpers/http-mock.ts';
import { clickPayload, ENV, finishedRun, POLICY, signedRequest, slackSettings } from './fixtures.ts';
import { createInMemoryStateStoreDouble } from './in-memory-state-store.ts';

setupHttpMocks();

function setup() {
  const store = createInMemoryStateStoreDouble({
    [POLICY]: finishedRun() as unknown as Record<string, unknown>,
  });
  const handle = createSlackActionHandler({
    approvals: createApprovals({ store }),
    policies: () => new Map([[POLICY, slackSettings()]]),
    env: ENV,
  });
  return { store, handle };
}

const REFUSALS = [400, 401, 403, 404, 409];

describe('POST /slack/actions fuzzed (src/adapters/slack/actions)', () => {
  it('refuses arbitrary signed bodies', async () => {
    const { store, handle } = setup();
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 500 }), async (body) => {
        const response = await handle(signedRequest(body));
        expect(REFUSALS).toContain(response.status);
        expect(response.body.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
    expect(store.writes).toBe(0);
  });

  it('refuses signed payloads with one field replaced by any JSON value', async () => {
    const { store, handle } = setup();
    const base = clickPayload();
    delete base.response_url;
    const keys = Object.keys(base);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...keys), fc.jsonValue(), async (key, value) => {
        const response = await handle(signedRequest({ ...base, [key]: value }));
        expect(REFUSALS).toContain(response.status);
      }),
      { numRuns: 300 },
    );
    expect(store.writes).toBe(0);
  });

  it('refuses signed button values of any shape', async () => {
    const { store, handle } = setup();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        async (value) => {
          const payload = clickPayload({ value });
          delete payload.response_url;
          const response = await handle(signedRequest(payload));
          expect(REFUSALS).toContain(response.status);
        },
      ),
      { numRuns: 300 },
    );
    expect(store.writes).toBe(0);
  });
});
