import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signSlackRequest, verifySlackSignature } from './signature.ts';

// Slack's worked example (docs.slack.dev/authentication/verifying-requests-from-slack).
const DOC_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const DOC_TIMESTAMP = '1531420618';
const DOC_BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const DOC_SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const DOC_NOW = new Date(Number(DOC_TIMESTAMP) * 1000 + 30_000);

const SECRET = 'test-signing-secret';
const TIMESTAMP = '1700000000';
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';
const NOW = new Date(1_700_000_000_000);
// Computed independently of signature.ts: HMAC-SHA256 over "v0:<ts>:<body>", hex, "v0=" prefix.
const HAND_SIGNATURE = `v0=${createHmac('sha256', SECRET).update(`v0:${TIMESTAMP}:${BODY}`).digest('hex')}`;

describe('src/adapters/slack/signature', () => {
  it("matches Slack's documented example", () => {
    expect(signSlackRequest(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY)).toBe(DOC_SIGNATURE);
    expect(
      verifySlackSignature({
        secrets: [DOC_SECRET],
        timestamp: DOC_TIMESTAMP,
        signature: DOC_SIGNATURE,
        rawBody: DOC_BODY,
        now: DOC_NOW,
      }),
    ).toEqual({ ok: true, secretIndex: 0 });
  });

  it('matches a signature computed by hand', () => {
    expect(signSlackRequest(SECRET, TIMESTAMP, BODY)).toBe(HAND_SIGNATURE);
    expect(
      verifySlackSignature({
        secrets: [SECRET],
        timestamp: TIMESTAMP,
        signature: HAND_SIGNATURE,
        rawBody: BODY,
        now: NOW,
      }),
    ).toEqual({ ok: true, secretIndex: 0 });
  });

  it('says which of several secrets matched', () => {
    expect(
      verifySlackSignature({
        secrets: ['other-app', SECRET],
        timestamp: TIMESTAMP,
        signature: HAND_SIGNATURE,
        rawBody: BODY,
        now: NOW,
      }),
    ).toEqual({ ok: true, secretIndex: 1 });
  });

  it.each([
    ['a forged signature', { signature: `v0=${'0'.repeat(64)}` }, 'bad-signature'],
    ['another secret', { secrets: ['not-the-secret'] }, 'bad-signature'],
    ['a changed body', { rawBody: `${BODY}&x=1` }, 'bad-signature'],
    ['a changed timestamp', { timestamp: '1700000001' }, 'bad-signature'],
    [
      'an uppercase hex signature',
      { signature: HAND_SIGNATURE.toUpperCase().replace('V0=', 'v0=') },
      'missing-or-malformed',
    ],
    ['a short signature', { signature: HAND_SIGNATURE.slice(0, 40) }, 'missing-or-malformed'],
    ['a v1 signature', { signature: HAND_SIGNATURE.replace('v0=', 'v1=') }, 'missing-or-malformed'],
    ['no signature', { signature: undefined }, 'missing-or-malformed'],
    ['no timestamp', { timestamp: undefined }, 'missing-or-malformed'],
    ['a non-numeric timestamp', { timestamp: '17e8' }, 'missing-or-malformed'],
    ['a timestamp 5 min 1 s old', { now: new Date(NOW.getTime() + 301_000) }, 'stale-timestamp'],
    ['a timestamp 5 min 1 s in the future', { now: new Date(NOW.getTime() - 301_000) }, 'stale-timestamp'],
    ['no secret configured', { secrets: [] }, 'bad-signature'],
  ] as const)('refuses %s', (_name, change, reason) => {
    const input = {
      secrets: [SECRET],
      timestamp: TIMESTAMP,
      signature: HAND_SIGNATURE,
      rawBody: BODY,
      now: NOW,
      ...change,
    } as Parameters<typeof verifySlackSignature>[0];
    expect(verifySlackSignature(input)).toEqual({ ok: false, reason });
  });

  it('accepts a timestamp exactly 5 minutes away', () => {
    expect(
      verifySlackSignature({
        secrets: [SECRET],
        timestamp: TIMESTAMP,
        signature: HAND_SIGNATURE,
        rawBody: BODY,
        now: new Date(NOW.getTime() + 300_000),
      }).ok,
    ).toBe(true);
  });
});
