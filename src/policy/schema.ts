/**
 * The UpgradePolicy schema: the single source of truth for the policy language. Types come from
 * it (types.ts), and so do `schema/policy.schema.json` and `docs/policy-reference.md`
 * (reference.ts). The schema checks shape and single values; relations between fields are
 * named rules in rules.ts.
 *
 * Parsing with it normalizes: defaults are filled, every duration becomes milliseconds, a wave's
 * namespace selection becomes a tagged union, approvals inherit `spec.approvals`.
 */
import { z } from 'zod';
import { DURATION_PATTERN, tryParseDuration } from './durations.ts';
import {
  checkAbsolutePath,
  checkCron,
  checkDnsLabel,
  checkDnsSubdomain,
  checkEnvName,
  checkHttpUrl,
  checkLabelKey,
  checkLabelValue,
  checkLocalDateTime,
  checkRevisionName,
  checkSlackChannel,
  checkSlackGroupId,
  checkSlackMention,
  checkSlackUserId,
  checkTagName,
  checkTimeOfDay,
  checkTimeZone,
  localDateTimeBound,
  minuteOfDay,
} from './fields.ts';
import type { FieldCheck } from './fields.ts';
import { checkQueryTemplate, TEMPLATE_VARIABLES } from './promql.ts';

/** The apiVersion this build understands. */
export const API_VERSION = 'revroll.dev/v1alpha1';
/** The only kind of document revroll reads. */
export const POLICY_KIND = 'UpgradePolicy';

/** Attaches a field check to a string schema; its problems carry `rule`. */
function checked(rule: string, check: FieldCheck): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    const message = check(value);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message, params: { rule } });
  });
}

/** A duration string in the policy, milliseconds once parsed. */
function durationText(positive: boolean) {
  return z
    .string({
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'number'
          ? `a duration needs a unit: write e.g. "${issue.input}s" or "${issue.input}m", not a bare number`
          : undefined,
    })
    .regex(DURATION_PATTERN, {
      error: (issue) => `${describeInput(issue.input)} is not a duration: expected e.g. 90s, 15m, 1h30m or 500ms`,
      abort: true,
    })
    .superRefine((value, ctx) => {
      const parsed = tryParseDuration(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.reason, params: { rule: 'duration' } });
      else if (positive && parsed.ms === 0)
        ctx.addIssue({ code: 'custom', message: 'must be longer than 0s', params: { rule: 'duration' } });
    })
    .transform((value) => {
      const parsed = tryParseDuration(value);
      return parsed.ok ? parsed.ms : 0;
    });
}

const DURATION_HELP = 'Duration such as 90s, 15m, 1h30m, 500ms; milliseconds once loaded.';

/** A duration without a default. */
function duration(description: string, options: { positive?: boolean } = {}) {
  return durationText(options.positive === true).describe(`${description} ${DURATION_HELP}`);
}

/** A duration with a default, written in the policy syntax so the JSON Schema shows `10m`. */
function durationOr(defaultText: string, description: string, options: { positive?: boolean } = {}) {
  return durationText(options.positive === true)
    .prefault(defaultText)
    .describe(`${description} ${DURATION_HELP}`);
}

/** A value echoed in a message, kept short and typed (`"abc"`, `a number`). */
function describeInput(input: unknown): string {
  if (typeof input === 'string') return `"${input.length > 40 ? `${input.slice(0, 40)}...` : input}"`;
  return input === null ? 'null' : `a ${typeof input}`;
}

/** Exactly one of `keys` is set on the object (the others absent). */
function exactlyOne<T extends object>(keys: readonly (keyof T & string)[], rule: string) {
  return (value: T, ctx: z.RefinementCtx) => {
    const present = keys.filter((key) => value[key] !== undefined);
    if (present.length !== 1) {
      const list = keys.map((key) => `\`${key}\``).join(', ');
      ctx.addIssue({
        code: 'custom',
        message:
          present.length === 0
            ? `one of ${list} is required`
            : `only one of ${list} may be set (found ${present.map((key) => `\`${key}\``).join(' and ')})`,
        params: { rule },
      });
    }
  };
}

const DnsLabelSchema = checked('dns-label', checkDnsLabel);
const NamespaceNameSchema = checked('dns-label', checkDnsLabel).describe('Namespace name.');
const RevisionNameSchema = checked('revision-name', checkRevisionName);
const TagNameSchema = checked('tag-name', checkTagName);

/** A reference to a secret: never the secret itself. */
export const SecretRefSchema = z
  .strictObject(
    {
      env: checked('secret-ref', checkEnvName)
        .optional()
        .describe('Read the secret from this environment variable of the runner.'),
      file: checked('secret-ref', checkAbsolutePath)
        .optional()
        .describe('Read the secret from this file (e.g. a mounted Kubernetes Secret).'),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'string'
          ? 'secrets are never written in policy files: reference one as {env: NAME} or {file: /path/to/secret}'
          : undefined,
    },
  )
  .superRefine(exactlyOne(['env', 'file'], 'secret-ref'))
  .describe('Where a secret comes from: exactly one of `env` or `file`. A literal secret is an error.');

const LabelSelectorRequirementSchema = z
  .strictObject({
    key: checked('label-selector', checkLabelKey).describe('Label key.'),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('How the key relates to the values.'),
    values: z.array(checked('label-selector', checkLabelValue)).optional().describe('Values, for In and NotIn only.'),
  })
  .superRefine((requirement, ctx) => {
    const needsValues = requirement.operator === 'In' || requirement.operator === 'NotIn';
    const count = requirement.values?.length ?? 0;
    if (needsValues && count === 0) {
      ctx.addIssue({
        code: 'custom',
        message: `operator ${requirement.operator} needs at least one value`,
        params: { rule: 'label-selector' },
      });
    }
    if (!needsValues && requirement.values !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `operator ${requirement.operator} takes no values`,
        path: ['values'],
        params: { rule: 'label-selector' },
      });
    }
  })
  .describe('One matchExpressions requirement, as in a Kubernetes LabelSelector.');

/** A Kubernetes LabelSelector (all conditions must hold). */
export const LabelSelectorSchema = z
  .strictObject({
    matchLabels: z
      .record(z.string(), checked('label-selector', checkLabelValue))
      .optional()
      .describe('Labels that must be present with these values.'),
    matchExpressions: z.array(LabelSelectorRequirementSchema).optional().describe('Set-based requirements.'),
  })
  .superRefine((selector, ctx) => {
    for (const key of Object.keys(selector.matchLabels ?? {})) {
      const message = checkLabelKey(key);
      if (message !== undefined)
        ctx.addIssue({ code: 'custom', message, path: ['matchLabels', key], params: { rule: 'label-selector' } });
    }
  })
  .describe('Kubernetes LabelSelector. An empty selector selects everything.');

/** What happens when an approval is not given in time. */
export const ApprovalTimeoutActionSchema = z
  .enum(['reject', 'rollback', 'hold'])
  .describe(
    'What an expired approval means: `reject` (treated as a rejection: the run stops and rolls back if rollback.automatic), `rollback` (roll back now), `hold` (keep the run held and remind).',
  );

/** A human approval at a point of the run. */
export const ApprovalSchema = z
  .strictObject({
    required: z.boolean().default(false).describe('Whether the run waits for an approval here.'),
    timeout: duration('How long to wait for the approval; defaults to spec.approvals.timeout.', {
      positive: true,
    }).optional(),
    onTimeout: ApprovalTimeoutActionSchema.optional().describe(
      'What expiry means; defaults to spec.approvals.onTimeout.',
    ),
  })
  .describe('An approval point (Slack buttons or `revroll approve`).');

const WaveNamespacesSchema = z
  .strictObject({
    names: z.array(NamespaceNameSchema).min(1).optional().describe('These namespaces, by name.'),
    selector: LabelSelectorSchema.optional().describe('The remaining namespaces matching this selector.'),
    percent: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .describe('This percentage (1-100) of the namespaces that remain, rounded up.'),
    count: z.number().int().min(1).optional().describe('This many of the namespaces that remain.'),
  })
  .superRefine(exactlyOne(['names', 'selector', 'percent', 'count'], 'wave-selection'))
  .transform((selection) => {
    if (selection.names !== undefined) return { kind: 'names' as const, names: selection.names };
    if (selection.selector !== undefined) return { kind: 'selector' as const, selector: selection.selector };
    if (selection.percent !== undefined) return { kind: 'percent' as const, percent: selection.percent };
    return { kind: 'count' as const, count: selection.count ?? 1 };
  })
  .describe(
    'Which namespaces the wave moves: exactly one of `names`, `selector`, `percent`, `count`. Loaded as `{kind, ...}`. "Remain" means injected namespaces not yet moved by an earlier wave and not excluded.',
  );

/** One wave of namespaces, migrated together then baked and gated. */
export const WaveSchema = z
  .strictObject({
    name: DnsLabelSchema.describe('Wave name, unique in the policy (used in step IDs and messages).'),
    namespaces: WaveNamespacesSchema,
    maxParallelRestarts: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(5)
      .describe(
        'How many workload restarts (pod-template patches) are sent at the same time. Their rollouts then run together, each paced by its own rollout strategy (maxSurge, maxUnavailable).',
      ),
    bake: durationOr('10m', 'How long gates are evaluated after the warm-up before the wave passes.'),
    approval: ApprovalSchema.prefault({}).describe('Approval after the wave has baked, before the next wave.'),
  })
  .describe('A set of namespaces migrated together, then baked and gated.');

/** Workload kinds revroll restarts. */
export const WorkloadKindSchema = z.enum(['Deployment', 'StatefulSet', 'DaemonSet']).describe('Workload kind.');

const WorkloadRefSchema = z
  .strictObject({
    namespace: NamespaceNameSchema,
    kind: WorkloadKindSchema,
    name: checked('dns-subdomain', checkDnsSubdomain).describe('Workload name.'),
  })
  .describe('One workload.');

/** Which workloads are restarted and how. */
export const WorkloadsSchema = z
  .strictObject({
    kinds: z
      .array(WorkloadKindSchema)
      .min(1)
      .default(['Deployment', 'StatefulSet', 'DaemonSet'])
      .describe('Kinds of workloads restarted after a namespace moves.'),
    rolloutTimeout: durationOr('10m', 'How long one workload may take to roll out.', { positive: true }),
    exclude: z
      .strictObject({
        namespaces: z.array(NamespaceNameSchema).default([]).describe('Namespaces never moved.'),
        workloads: z
          .array(WorkloadRefSchema)
          .default([])
          .describe(
            'Workloads never restarted, and their pods never deleted as stragglers (their namespace still moves; they keep the old proxies, so uninstalling the old revision is refused while they run).',
          ),
      })
      .prefault({})
      .describe('What revroll never touches.'),
    stragglers: z
      .enum(['fail', 'ignore', 'restart'])
      .default('fail')
      .describe(
        "Pods of a moved namespace still on the old revision after rollouts (bare pods, Jobs): `fail` the wave, `ignore` them, or `restart` (delete) them, in the wave's `delete-stragglers` step right after the convergence check.",
      ),
    unhealthy: z
      .enum(['block', 'skip'])
      .default('block')
      .describe(
        'Workloads that could not roll out before the upgrade starts (a paused Deployment, one not Ready or still rolling out): `block` the run, listing each with what to do, or `skip` them (never restarted, and their pods never counted or deleted as stragglers: they stay on the old revision, so uninstalling it is refused while they run). Restarting them would time out and roll back the whole upgrade, and a rollback would then wait for them forever.',
      ),
  })
  .describe('Workload restarts.');

/** Built-in gate queries, so most policies need no PromQL. */
export const GatePresetSchema = z
  .enum([
    'proxy-5xx-ratio',
    'proxy-p99-latency',
    'istiod-xds-rejects',
    'istiod-push-errors',
    'proxy-convergence-p99',
    'sidecar-injection-failures',
    'gateway-5xx-ratio',
    'gateway-p99-latency',
    'waypoint-5xx-ratio',
    'waypoint-p99-latency',
    'ztunnel-connection-failures',
  ])
  .describe(
    'Built-in query: `proxy-5xx-ratio` (share of 5xx answers, 0-1), `proxy-p99-latency` (ms), `istiod-xds-rejects` (NACKs/s), `istiod-push-errors` (push send errors/s), `proxy-convergence-p99` (s), `sidecar-injection-failures` (failures/s); for Gateway API Gateways, from their own `reporter="source"` series, `gateway-5xx-ratio` (0-1) and `gateway-p99-latency` (ms); for waypoints (`reporter="waypoint"`), `waypoint-5xx-ratio` (0-1) and `waypoint-p99-latency` (ms); for ambient namespaces, `ztunnel-connection-failures` (share of ztunnel connections to workloads of the wave namespaces that failed, 0-1). Gateway and waypoint presets measure the Gateways the step moves, or those in the wave namespaces.',
  );

/** Typed thresholds: no expression strings. */
export const ThresholdSchema = z
  .strictObject({
    min: z.number().optional().describe('Fail when the value is below this.'),
    max: z.number().optional().describe('Fail when the value is above this.'),
    maxIncrease: z
      .number()
      .min(0)
      .optional()
      .describe('Fail when the value exceeds the baseline by more than this (absolute).'),
    maxRatio: z.number().gt(0).optional().describe('Fail when the value exceeds the baseline times this.'),
  })
  .superRefine((threshold, ctx) => {
    if (Object.values(threshold).every((value) => value === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'at least one of `min`, `max`, `maxIncrease`, `maxRatio` is required',
        params: { rule: 'threshold' },
      });
    }
  })
  .describe('When the measured value fails the check. Every field set must hold.');

const QuerySchema = z.string().superRefine((query, ctx) => {
  for (const problem of checkQueryTemplate(query)) {
    ctx.addIssue({ code: 'custom', message: problem.message, params: { rule: problem.rule, offset: problem.offset } });
  }
});

/** One telemetry check evaluated between waves. */
export const GateCheckSchema = z
  .strictObject({
    name: DnsLabelSchema.describe('Check name, unique in the policy.'),
    preset: GatePresetSchema.optional(),
    query: QuerySchema.optional().describe(
      `Custom PromQL template returning one number. Variables are written {{name}}: ${Object.keys(TEMPLATE_VARIABLES).join(', ')}.`,
    ),
    threshold: ThresholdSchema,
    baseline: z
      .enum(['none', 'before', 'cohort'])
      .default('none')
      .describe(
        'What `maxIncrease`/`maxRatio` compare with: `before` (the same namespaces measured before they moved), `cohort` (proxies still on the old revision over the same window), `none`.',
      ),
    window: durationOr('5m', 'Query range.', { positive: true }),
    minTraffic: z
      .number()
      .min(0)
      .optional()
      .describe('Requests per second below which the check is NoData; defaults to spec.gates.minTraffic.'),
    shadow: z.boolean().default(false).describe('Evaluated and reported, never enforced.'),
  })
  .superRefine(exactlyOne(['preset', 'query'], 'check-source'))
  .describe('A check: exactly one of `preset` or `query`, and a threshold.');

/** How gates are evaluated during a wave's bake. */
export const GatesSchema = z
  .strictObject({
    interval: durationOr('1m', 'Time between two evaluations.', { positive: true }),
    warmup: durationOr('2m', 'Wait after a wave converges before the first evaluation.'),
    failureLimit: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe(
        'A wave fails when the Fail evaluations of one enforced check reach this number (1: the first Fail fails the wave).',
      ),
    consecutiveErrorLimit: z
      .number()
      .int()
      .min(1)
      .default(4)
      .describe('The wave follows `onError` when consecutive Error evaluations of one check reach this number.'),
    onNoData: z.enum(['hold', 'fail', 'pass']).default('hold').describe('What a NoData outcome counts as.'),
    onError: z.enum(['hold', 'rollback']).default('hold').describe('What to do when consecutiveErrorLimit is reached.'),
    minTraffic: z
      .number()
      .min(0)
      .default(1)
      .describe('Default requests-per-second floor below which ratio checks are NoData.'),
    checks: z.array(GateCheckSchema).default([]).describe('The checks.'),
  })
  .transform((gates) => ({
    ...gates,
    checks: gates.checks.map((check) => ({ ...check, minTraffic: check.minTraffic ?? gates.minTraffic })),
  }))
  .describe('Telemetry gates between waves.');

/** A gateway upgraded with the mesh. */
export const GatewaySchema = z
  .strictObject({
    name: checked('dns-subdomain', checkDnsSubdomain).describe('Gateway Deployment name.'),
    namespace: NamespaceNameSchema.default('istio-system'),
    kind: z.enum(['Deployment']).default('Deployment').describe('Workload kind of the gateway.'),
    selector: LabelSelectorSchema.optional().describe(
      'Pods of the gateway, when they cannot be found from the Deployment.',
    ),
    upgrade: z
      .enum(['withFirstWave', 'afterLastWave', 'onPromote'])
      .default('onPromote')
      .describe('When the gateway moves to the new revision.'),
  })
  .describe('An injected gateway Deployment.');

/** One Gateway API Gateway or waypoint named to override `spec.gatewayApi.mode`. */
const GatewayApiOverrideSchema = z
  .strictObject({
    name: DnsLabelSchema.describe('Gateway name (the `gateway.networking.k8s.io/v1` Gateway, not its Deployment).'),
    namespace: NamespaceNameSchema,
    mode: z.enum(['pinned', 'follow']).describe('How this Gateway moves (see `spec.gatewayApi.mode`).'),
  })
  .describe('A per-Gateway override.');

/** Gateway API Gateways and waypoints istiod deploys (classes istio, istio-waypoint, istio-east-west). */
export const GatewayApiSchema = z
  .strictObject({
    mode: z
      .enum(['pinned', 'follow'])
      .default('pinned')
      .describe(
        "`pinned` (default): before any step that would re-render a Gateway as a side effect (a namespace relabel, a tag move), revroll sets the Gateway's own `istio.io/rev` to the revision it runs, then moves it in its own gated step and removes the pin; nothing moves outside a step of the plan (safety invariant 7). Istio copies Gateway labels onto the pods, so the pin itself rolls the Gateway's pods once on the same revision. `follow`: Gateways move with their namespace or tag, all at once, outside any gate.",
      ),
    order: z
      .enum(['after-waves', 'before-waves'])
      .default('after-waves')
      .describe(
        "When pinned Gateways move. `after-waves` (default): after every namespace wave passed and the promoted tags moved, so the ingress moves last, onto a canary the sidecars proved, and its move is the removal of the pin itself (the Gateway then resolves to the new revision through its namespace or tag): one rollout, and the cluster is left as it was. `before-waves`: before the first wave, by setting the Gateway's own label to the new revision; the label comes off on promotion, which rolls the pods once more on the same revision.",
      ),
    bake: duration(
      "How long the gateways wave evaluates its gates after its warm-up; defaults to the last wave's `bake`.",
    ).optional(),
    warmup: duration(
      'Wait after the gateways wave has rolled out before its gates count; defaults to `spec.gates.warmup`.',
    ).optional(),
    gates: z
      .array(GateCheckSchema)
      .default([])
      .describe(
        'Checks of the gateways wave, with the same fields, outcomes, baselines and coverage check as `spec.gates.checks` (interval, limits, onNoData and onError come from `spec.gates`). Measured over the namespaces of the Gateways the wave moves.',
      ),
    gateways: z.array(GatewayApiOverrideSchema).default([]).describe('Per-Gateway overrides of `mode`.'),
  })
  .describe('Gateway API Gateways and waypoints: how they move.');

const ApprovalsSchema = z
  .strictObject({
    beforeFirstWave: z.boolean().default(false).describe('Ask for an approval before the first wave.'),
    onInconclusive: z
      .boolean()
      .default(true)
      .describe('Ask a human when gates hold (NoData or errors) instead of waiting silently.'),
    timeout: durationOr('4h', 'Default approval timeout.', { positive: true }),
    onTimeout: ApprovalTimeoutActionSchema.default('hold'),
  })
  .describe('Approval defaults.');

const DayOfWeekSchema = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

const MaintenanceWindowSchema = z
  .strictObject({
    days: z
      .array(DayOfWeekSchema)
      .min(1)
      .default(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
      .describe('Days on which the window opens.'),
    start: checked('time-of-day', checkTimeOfDay).describe('Opening time, HH:MM in the schedule time zone.'),
    end: checked('time-of-day', checkTimeOfDay).describe('Closing time, HH:MM; earlier than start means the next day.'),
  })
  .transform((window) => ({ ...window, startMinute: minuteOfDay(window.start), endMinute: minuteOfDay(window.end) }))
  .describe('A maintenance window. Loaded with `startMinute`/`endMinute` (minutes since midnight).');

const FreezeSchema = z
  .strictObject({
    from: checked('date', checkLocalDateTime).describe(
      'Start: YYYY-MM-DD or YYYY-MM-DDTHH:MM in the schedule time zone.',
    ),
    to: checked('date', checkLocalDateTime).describe('End: a date alone includes that whole day.'),
    reason: z.string().min(1).max(200).describe('Why (shown in status and Slack).'),
  })
  .transform((freeze) => ({
    ...freeze,
    from: localDateTimeBound(freeze.from, 'from'),
    to: localDateTimeBound(freeze.to, 'to'),
  }))
  .describe('A period in which no wave starts. Loaded as `YYYY-MM-DDTHH:MM` bounds, `to` exclusive.');

/** When the daemon runs the policy. */
export const ScheduleSchema = z
  .strictObject({
    cron: checked('cron', checkCron).describe(
      'Five-field cron expression (minute hour day-of-month month day-of-week).',
    ),
    timeZone: checked('time-zone', checkTimeZone)
      .default('UTC')
      .describe('IANA time zone for cron, windows and freezes.'),
    windows: z.array(MaintenanceWindowSchema).default([]).describe('Maintenance windows; none means any time.'),
    freeze: z.array(FreezeSchema).default([]).describe('Freeze periods.'),
  })
  .describe('Schedule for `revroll serve`.');

const SlackSchema = z
  .strictObject({
    channel: checked('slack-id', checkSlackChannel).describe('Channel: #name or a channel ID.'),
    webhookUrl: SecretRefSchema.optional().describe('Incoming webhook URL (a secret reference).'),
    botToken: SecretRefSchema.optional().describe('Bot token (a secret reference); needed for threads and approvals.'),
    signingSecret: SecretRefSchema.optional().describe(
      'Signing secret verifying approval clicks (a secret reference).',
    ),
    approvers: z
      .strictObject({
        users: z
          .array(checked('slack-id', checkSlackUserId))
          .default([])
          .describe('Slack user IDs allowed to approve.'),
        userGroup: checked('slack-id', checkSlackGroupId)
          .optional()
          .describe('Slack user group whose members may approve.'),
      })
      .optional()
      .describe('Who may approve from Slack.'),
    mentionOnFailure: z
      .array(checked('slack-id', checkSlackMention))
      .default([])
      .describe('Users or groups mentioned when a run fails or rolls back.'),
  })
  .describe('Slack notifications and approvals.');

const PrometheusSchema = z
  .strictObject({
    url: checked('url', checkHttpUrl).describe('Base URL of the Prometheus HTTP API.'),
    auth: z
      .strictObject({
        bearer: z.strictObject({ token: SecretRefSchema }).optional().describe('Bearer token authentication.'),
        basic: z
          .strictObject({ username: z.string().min(1).describe('User name.'), password: SecretRefSchema })
          .optional()
          .describe('Basic authentication.'),
      })
      .superRefine(exactlyOne(['bearer', 'basic'], 'prometheus-auth'))
      .optional()
      .describe('Authentication: exactly one of `bearer` or `basic`.'),
    timeout: durationOr('10s', 'Timeout of one query.', { positive: true }),
    tls: z
      .strictObject({
        caFile: checked('path', checkAbsolutePath).optional().describe('CA bundle to trust.'),
        insecureSkipVerify: z.boolean().default(false).describe('Skip certificate verification (testing only).'),
      })
      .prefault({})
      .describe('TLS settings.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra HTTP headers (no credentials: use auth).'),
  })
  .describe('Prometheus to query; `--prometheus-url` overrides the URL.');

/** Resolves approvals that inherit `spec.approvals.timeout`/`onTimeout`. */
function resolveApproval(
  approval: z.output<typeof ApprovalSchema>,
  defaults: z.output<typeof ApprovalsSchema>,
): { required: boolean; timeout: number; onTimeout: z.output<typeof ApprovalTimeoutActionSchema> } {
  return {
    required: approval.required,
    timeout: approval.timeout ?? defaults.timeout,
    onTimeout: approval.onTimeout ?? defaults.onTimeout,
  };
}

/** What the policy asks for. */
export const PolicySpecSchema = z
  .strictObject({
    revisions: z
      .strictObject({
        from: z
          .string()
          .superRefine((value, ctx) => {
            const message = value === 'auto' ? undefined : checkRevisionName(value);
            if (message !== undefined) ctx.addIssue({ code: 'custom', message, params: { rule: 'revision-name' } });
          })
          .describe('Revision upgraded from, or `auto` (the revision the `default` tag points at).'),
        to: RevisionNameSchema.describe('Revision upgraded to (e.g. 1-25-1).'),
        istioNamespace: NamespaceNameSchema.default('istio-system').describe('Namespace of the istiod deployments.'),
      })
      .describe('Revisions.'),
    install: z
      .strictObject({
        mode: z
          .enum(['external', 'istioctl', 'helm'])
          .default('external')
          .describe(
            '`external`: something else installs the revision, revroll waits for it to be ready; `istioctl`/`helm`: revroll runs the command.',
          ),
        readyTimeout: durationOr('10m', 'How long to wait for the new revision to be ready.', { positive: true }),
        command: z.string().min(1).optional().describe('Binary to run (default `istioctl` or `helm`).'),
        args: z.array(z.string()).optional().describe('Arguments, as an argv list (never a shell string).'),
        timeout: durationOr('10m', 'Timeout of the install command.', { positive: true }),
      })
      .transform((install) => ({
        ...install,
        command: install.command ?? (install.mode === 'external' ? undefined : install.mode),
        args: install.args ?? [],
      }))
      .prefault({})
      .describe('How the new revision gets installed.'),
    strategy: z
      .strictObject({
        type: z
          .enum(['labels', 'tags'])
          .default('labels')
          .describe('`labels`: namespaces get istio.io/rev=<to>; `tags`: namespaces move from stableTag to canaryTag.'),
        stableTag: TagNameSchema.optional().describe('Tag namespaces follow before the upgrade (tags strategy).'),
        canaryTag: TagNameSchema.optional().describe('Tag pointing at the new revision during waves (tags strategy).'),
        restoreOriginalLabels: z
          .boolean()
          .default(true)
          .describe(
            'After promotion, put namespaces back in their original label form once the tag they follow points at the new revision.',
          ),
      })
      .prefault({})
      .describe('How namespaces move.'),
    waves: z.array(WaveSchema).min(1).describe('Waves, in order.'),
    workloads: WorkloadsSchema.prefault({}),
    gates: GatesSchema.prefault({}),
    gateways: z.array(GatewaySchema).default([]).describe('Gateways to upgrade.'),
    gatewayApi: GatewayApiSchema.prefault({}),
    promote: z
      .strictObject({
        tags: z.array(TagNameSchema).default(['default']).describe('Tags moved to the new revision on promotion.'),
        uninstallPrevious: z
          .boolean()
          .default(false)
          .describe('Uninstall the previous revision once nothing references it.'),
        approval: ApprovalSchema.prefault({}),
      })
      .prefault({})
      .describe('Promotion.'),
    rollback: z
      .strictObject({
        automatic: z.boolean().default(true).describe('Roll back on its own when a wave fails.'),
        uninstallCanary: z.boolean().default(false).describe('Uninstall the new revision after a rollback.'),
      })
      .prefault({})
      .describe('Rollback.'),
    errorBudget: z
      .strictObject({
        attempts: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(5)
          .describe(
            "Attempts of one step that fail (each after the API client's own retries) before the run holds (safety invariant 6): it then exits 4 (or waits, in the daemon), names the step and the last error, notifies, and gets a fresh budget on the next invocation.",
          ),
        backoff: durationOr('10s', 'Wait before the second attempt; it doubles for each further one, up to 5m.', {
          positive: true,
        }),
      })
      .prefault({})
      .describe('How long a failing step is retried before the run holds.'),
    approvals: ApprovalsSchema.prefault({}),
    schedule: ScheduleSchema.optional(),
    notify: z
      .strictObject({
        slack: SlackSchema.optional(),
        dashboardUrl: checked('url', checkHttpUrl)
          .optional()
          .describe(
            "External URL of `revroll serve`'s dashboard (e.g. https://revroll.example.com); Slack messages link to `<dashboardUrl>/runs/<policy>`.",
          ),
      })
      .prefault({})
      .describe('Notifications.'),
    prometheus: PrometheusSchema.optional(),
  })
  .transform((spec) => ({
    ...spec,
    waves: spec.waves.map((wave) => ({ ...wave, approval: resolveApproval(wave.approval, spec.approvals) })),
    promote: { ...spec.promote, approval: resolveApproval(spec.promote.approval, spec.approvals) },
    gatewayApi: {
      ...spec.gatewayApi,
      bake: spec.gatewayApi.bake ?? spec.waves.at(-1)?.bake ?? 0,
      warmup: spec.gatewayApi.warmup ?? spec.gates.warmup,
      gates: spec.gatewayApi.gates.map((check) => ({
        ...check,
        minTraffic: check.minTraffic ?? spec.gates.minTraffic,
      })),
    },
  }))
  .describe('The upgrade.');

/** An UpgradePolicy document. */
export const PolicySchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION).describe(`Always \`${API_VERSION}\`.`),
    kind: z.literal(POLICY_KIND).describe(`Always \`${POLICY_KIND}\`.`),
    metadata: z
      .strictObject({
        name: DnsLabelSchema.describe('Policy name (DNS-1123 label): names the run state and lock.'),
        labels: z.record(z.string(), z.string()).default({}).describe('Free-form labels.'),
        annotations: z.record(z.string(), z.string()).default({}).describe('Free-form annotations.'),
      })
      .describe('Identity of the policy.'),
    spec: PolicySpecSchema,
  })
  .describe('A revroll UpgradePolicy: canary upgrade of an Istio control plane.');
