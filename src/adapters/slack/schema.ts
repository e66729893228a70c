/**
 * zod schemas for what Slack sends us: Web API answers, interaction payloads, and the value we
 * put in approval buttons (it comes back to us inside a signed payload, but is still parsed
 * strictly: a button from an older revroll or a hand-crafted payload must fail clearly).
 */
import { z } from 'zod';

/** Every Web API answer: `{ok: true, ...}` or `{ok: false, error: "channel_not_found"}` (HTTP 200 either way). */
export const SlackApiAnswerSchema = z.looseObject({
  ok: z.boolean(),
  error: z.string().max(200).optional(),
});

/** `chat.postMessage`: the channel ID (even when posted to `#name`) and the message timestamp. */
export const PostMessageAnswerSchema = z.looseObject({
  ok: z.literal(true),
  channel: z.string().min(1).max(40),
  ts: z.string().regex(/^\d+\.\d+$/),
});

/** `usergroups.users.list`: the group's member IDs. */
export const UserGroupUsersAnswerSchema = z.looseObject({
  ok: z.literal(true),
  users: z.array(z.string().max(40)).max(10_000),
});

/** Action IDs of the two approval buttons. */
export const APPROVE_ACTION_ID = 'revroll.approve';
export const REJECT_ACTION_ID = 'revroll.reject';

/**
 * What an approval button carries: the decision is bound to this exact run, step and plan, so a
 * click on an old message can never approve a newer run or a changed plan.
 */
export const ApprovalButtonValueSchema = z.strictObject({
  policy: z.string().min(1).max(253),
  runId: z.string().min(1).max(100),
  step: z.string().min(1).max(200),
  planHash: z.string().min(1).max(128),
  /** Identifies the request itself, so a replayed click cannot decide a later request for the same step. */
  expiresAt: z.string().max(40).optional(),
});
export type ApprovalButtonValue = z.output<typeof ApprovalButtonValueSchema>;

/** The parts of a `block_actions` interaction payload revroll uses. */
export const BlockActionsPayloadSchema = z.looseObject({
  type: z.literal('block_actions'),
  user: z.looseObject({
    id: z.string().regex(/^[UW][A-Z0-9]{2,}$/),
    username: z.string().max(100).optional(),
    name: z.string().max(100).optional(),
  }),
  channel: z.looseObject({ id: z.string().max(40), name: z.string().max(100).optional() }).optional(),
  container: z
    .looseObject({ message_ts: z.string().max(40).optional(), channel_id: z.string().max(40).optional() })
    .optional(),
  message: z.looseObject({ ts: z.string().max(40) }).optional(),
  // Slack's response URLs live on hooks.slack.com; anything else is refused so a payload can
  // never make revroll post to an arbitrary host.
  response_url: z.url({ protocol: /^https$/, hostname: /^hooks\.slack\.com$/ }).optional(),
  actions: z
    .array(
      z.looseObject({
        action_id: z.string().max(255),
        value: z.string().max(2000).optional(),
      }),
    )
    .min(1),
});
export type BlockActionsPayload = z.output<typeof BlockActionsPayloadSchema>;

/** A gate result as the engine reports it (`check`, `outcome`, `value`, `baseline`). */
const GateFactSchema = z.looseObject({
  check: z.string(),
  outcome: z.string(),
  value: z.number().nullable().optional(),
  baseline: z.number().nullable().optional(),
  shadow: z.boolean().optional(),
  message: z.string().optional(),
});

/**
 * The `details` of a RunEvent the formatter understands. Every field is optional and a malformed
 * one is dropped (`catch`), because a notification must render whatever the runner sends.
 */
export const EventDetailsSchema = z.looseObject({
  from: z.string().optional().catch(undefined),
  to: z.string().optional().catch(undefined),
  wave: z.union([z.string(), z.number()]).optional().catch(undefined),
  waves: z.array(z.string()).optional().catch(undefined),
  gates: z.array(GateFactSchema).optional().catch(undefined),
  expiresAt: z.string().optional().catch(undefined),
  point: z.string().optional().catch(undefined),
  planHash: z.string().optional().catch(undefined),
  decision: z.enum(['approved', 'rejected', 'expired']).optional().catch(undefined),
  by: z.string().optional().catch(undefined),
  via: z.string().optional().catch(undefined),
  decidedAt: z.string().optional().catch(undefined),
  hold: z.string().optional().catch(undefined),
});
export type EventDetails = z.output<typeof EventDetailsSchema>;
