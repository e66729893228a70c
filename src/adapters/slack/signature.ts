/**
 * Slack request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=<hex HMAC-SHA256(signingSecret, "v0:" + timestamp + ":" + rawBody)>`.
 * The raw body must be the exact bytes Slack sent: re-encoding a parsed form changes the HMAC.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's replay window: a request older or newer than this is refused. */
export const SLACK_SIGNATURE_TOLERANCE_SECONDS = 300;

/** Why a request's signature was refused. */
export type SignatureFailure =
  /** `X-Slack-Signature` or `X-Slack-Request-Timestamp` is absent or not in Slack's format. */
  | 'missing-or-malformed'
  /** The timestamp is outside the replay window. */
  | 'stale-timestamp'
  /** The HMAC does not match any configured signing secret. */
  | 'bad-signature';

export type SignatureVerdict = { ok: true; secretIndex: number } | { ok: false; reason: SignatureFailure };

const SIGNATURE_FORMAT = /^v0=[0-9a-f]{64}$/;
const TIMESTAMP_FORMAT = /^\d{1,12}$/;

/** `v0=<hex>` for `body` sent at `timestamp` (seconds), as Slack computes it. */
export function signSlackRequest(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`, 'utf8').digest('hex')}`;
}

/**
 * Checks a request against one or more signing secrets (a daemon may serve several Slack apps);
 * on success says which secret matched so the caller can require the one of the policy concerned.
 * Every secret is compared in constant time, and all of them are tried, so the time taken does
 * not reveal which one matched.
 */
export function verifySlackSignature(input: {
  secrets: readonly string[];
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  now: Date;
  toleranceSeconds?: number;
}): SignatureVerdict {
  const { timestamp, signature } = input;
  if (timestamp === undefined || signature === undefined) return { ok: false, reason: 'missing-or-malformed' };
  if (!TIMESTAMP_FORMAT.test(timestamp) || !SIGNATURE_FORMAT.test(signature))
    return { ok: false, reason: 'missing-or-malformed' };
  const tolerance = input.toleranceSeconds ?? SLACK_SIGNATURE_TOLERANCE_SECONDS;
  // Both directions: a timestamp far in the future is as suspicious as an old one.
  if (Math.abs(Math.floor(input.now.getTime() / 1000) - Number(timestamp)) > tolerance)
    return { ok: false, reason: 'stale-timestamp' };
  const given = Buffer.from(signature, 'utf8');
  let matched = -1;
  input.secrets.forEach((secret, index) => {
    const expected = Buffer.from(signSlackRequest(secret, timestamp, input.rawBody), 'utf8');
    // timingSafeEqual throws on different lengths; the format check above makes them equal, but
    // the explicit check keeps this safe if the format rule ever loosens.
    if (expected.length === given.length && timingSafeEqual(expected, given) && matched === -1) matched = index;
  });
  return matched === -1 ? { ok: false, reason: 'bad-signature' } : { ok: true, secretIndex: matched };
}
