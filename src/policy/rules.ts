/**
 * Cross-field rules, run on a policy that already matches the schema. Each rule is a small named
 * function returning findings with the path of the offending field; the loader turns paths into
 * `file:line:col`. Warnings do not make a policy invalid.
 */
import type { Policy } from './types.ts';

/** One thing a rule found. */
export type RuleFinding = {
  path: readonly (string | number)[];
  message: string;
  severity: 'error' | 'warning';
};

/** A named cross-field rule. */
export type PolicyRule = {
  rule: string;
  /** One line, for documentation and tests. */
  summary: string;
  check: (policy: Policy) => RuleFinding[];
};

const error = (path: RuleFinding['path'], message: string): RuleFinding => ({ path, message, severity: 'error' });
const warning = (path: RuleFinding['path'], message: string): RuleFinding => ({ path, message, severity: 'warning' });

/** Paths of the first occurrence of each value, and findings for every later duplicate. */
function duplicates<T>(
  items: readonly T[],
  key: (item: T) => string,
  path: (index: number) => RuleFinding['path'],
  what: string,
): RuleFinding[] {
  const seen = new Map<string, number>();
  const findings: RuleFinding[] = [];
  items.forEach((item, index) => {
    const value = key(item);
    const first = seen.get(value);
    if (first === undefined) seen.set(value, index);
    else findings.push(error(path(index), `duplicate ${what} "${value}" (first at index ${first})`));
  });
  return findings;
}

function distinctRevisions(policy: Policy): RuleFinding[] {
  const { from, to } = policy.spec.revisions;
  return from === to
    ? [error(['spec', 'revisions', 'to'], `"to" is the same revision as "from" (${from}): nothing to upgrade`)]
    : [];
}

function targetRevision(policy: Policy): RuleFinding[] {
  const { to } = policy.spec.revisions;
  if (to === 'auto')
    return [error(['spec', 'revisions', 'to'], '"auto" is only allowed for "from": name the revision to upgrade to')];
  if (to === 'default')
    return [
      error(
        ['spec', 'revisions', 'to'],
        '"default" names an unrevisioned control plane: a canary needs a revision name such as 1-25-1',
      ),
    ];
  return [];
}

function uniqueWaveNames(policy: Policy): RuleFinding[] {
  return duplicates(
    policy.spec.waves,
    (wave) => wave.name,
    (index) => ['spec', 'waves', index, 'name'],
    'wave name',
  );
}

function disjointWaveNamespaces(policy: Policy): RuleFinding[] {
  const owner = new Map<string, string>();
  const findings: RuleFinding[] = [];
  policy.spec.waves.forEach((wave, waveIndex) => {
    if (wave.namespaces.kind !== 'names') return;
    wave.namespaces.names.forEach((namespace, nameIndex) => {
      const first = owner.get(namespace);
      const path = ['spec', 'waves', waveIndex, 'namespaces', 'names', nameIndex];
      if (first === undefined) owner.set(namespace, wave.name);
      else if (first === wave.name)
        findings.push(error(path, `namespace "${namespace}" is listed twice in wave "${wave.name}"`));
      else
        findings.push(
          error(path, `namespace "${namespace}" is already in wave "${first}": a namespace moves in one wave only`),
        );
    });
  });
  return findings;
}

function excludedNamespaceInWave(policy: Policy): RuleFinding[] {
  const excluded = new Set(policy.spec.workloads.exclude.namespaces);
  const findings: RuleFinding[] = [];
  policy.spec.waves.forEach((wave, waveIndex) => {
    if (wave.namespaces.kind !== 'names') return;
    wave.namespaces.names.forEach((namespace, nameIndex) => {
      if (excluded.has(namespace)) {
        findings.push(
          warning(
            ['spec', 'waves', waveIndex, 'namespaces', 'names', nameIndex],
            `namespace "${namespace}" is in spec.workloads.exclude.namespaces: it will not be moved`,
          ),
        );
      }
    });
  });
  return findings;
}

function tagsStrategy(policy: Policy): RuleFinding[] {
  const { type, stableTag, canaryTag } = policy.spec.strategy;
  const path = ['spec', 'strategy'];
  if (type === 'labels') {
    return stableTag !== undefined || canaryTag !== undefined
      ? [warning(path, 'stableTag and canaryTag are ignored by the labels strategy (set type: tags to use them)')]
      : [];
  }
  const findings: RuleFinding[] = [];
  if (stableTag === undefined)
    findings.push(error(path, 'the tags strategy needs stableTag (the tag namespaces follow today, e.g. prod-stable)'));
  if (canaryTag === undefined)
    findings.push(
      error(path, 'the tags strategy needs canaryTag (the tag pointing at the new revision, e.g. prod-canary)'),
    );
  if (stableTag !== undefined && stableTag === canaryTag)
    findings.push(error([...path, 'canaryTag'], 'canaryTag must differ from stableTag'));
  if (canaryTag === 'default')
    findings.push(
      error([...path, 'canaryTag'], 'canaryTag cannot be "default": moving it would move every namespace at once'),
    );
  return findings;
}

function tagsAreNotRevisions(policy: Policy): RuleFinding[] {
  const { from, to } = policy.spec.revisions;
  const revisions = new Set([from, to]);
  const named: [RuleFinding['path'], string | undefined][] = [
    [['spec', 'strategy', 'stableTag'], policy.spec.strategy.stableTag],
    [['spec', 'strategy', 'canaryTag'], policy.spec.strategy.canaryTag],
    ...policy.spec.promote.tags.map((tag, index): [RuleFinding['path'], string] => [
      ['spec', 'promote', 'tags', index],
      tag,
    ]),
  ];
  // istioctl refuses a tag named like an existing revision: the webhooks would be ambiguous.
  return named
    .filter(([, tag]) => tag !== undefined && tag !== 'default' && revisions.has(tag))
    .map(([path, tag]) =>
      error(path, `tag "${tag}" has the name of a revision of this policy; tags and revisions need distinct names`),
    );
}

function uniquePromoteTags(policy: Policy): RuleFinding[] {
  return duplicates(
    policy.spec.promote.tags,
    (tag) => tag,
    (index) => ['spec', 'promote', 'tags', index],
    'tag',
  );
}

function uniqueCheckNames(policy: Policy): RuleFinding[] {
  return duplicates(
    policy.spec.gates.checks,
    (check) => check.name,
    (index) => ['spec', 'gates', 'checks', index, 'name'],
    'check name',
  );
}

function baselineRequired(policy: Policy): RuleFinding[] {
  const findings: RuleFinding[] = [];
  policy.spec.gates.checks.forEach((check, index) => {
    const relative = (['maxIncrease', 'maxRatio'] as const).filter((field) => check.threshold[field] !== undefined);
    if (check.baseline === 'none' && relative.length > 0) {
      findings.push(
        error(
          ['spec', 'gates', 'checks', index, 'threshold', relative[0] ?? 'maxRatio'],
          `${relative.join(' and ')} compare with a baseline: set baseline to "before" or "cohort"`,
        ),
      );
    }
    if (check.baseline !== 'none' && relative.length === 0) {
      findings.push(
        warning(
          ['spec', 'gates', 'checks', index, 'baseline'],
          `baseline "${check.baseline}" is measured but unused: no maxIncrease or maxRatio threshold`,
        ),
      );
    }
  });
  return findings;
}

function thresholdRange(policy: Policy): RuleFinding[] {
  return policy.spec.gates.checks.flatMap((check, index) => {
    const { min, max } = check.threshold;
    return min !== undefined && max !== undefined && min > max
      ? [
          error(
            ['spec', 'gates', 'checks', index, 'threshold', 'min'],
            `min (${min}) is greater than max (${max}): the check can never pass`,
          ),
        ]
      : [];
  });
}

function enforcedGates(policy: Policy): RuleFinding[] {
  const enforced = policy.spec.gates.checks.filter((check) => !check.shadow);
  return enforced.length === 0
    ? [warning(['spec', 'gates'], 'no enforced gate checks: waves pass on convergence alone')]
    : [];
}

function installModeFields(policy: Policy): RuleFinding[] {
  const install = policy.spec.install;
  const path = ['spec', 'install'];
  if (install.mode === 'external') {
    const extra = [
      install.command !== undefined ? 'command' : undefined,
      install.args.length > 0 ? 'args' : undefined,
    ].filter((field) => field !== undefined);
    return extra.map((field) =>
      error([...path, field], `${field} is only used by the istioctl and helm install modes (mode is external)`),
    );
  }
  return install.args.length === 0
    ? [
        error(
          path,
          `install mode ${install.mode} needs args (the argv passed to ${install.command ?? install.mode}, e.g. ["install", "-y", "--set", "revision=${policy.spec.revisions.to}"])`,
        ),
      ]
    : [];
}

function windowShape(policy: Policy): RuleFinding[] {
  return (policy.spec.schedule?.windows ?? []).flatMap((window, index) =>
    window.start === window.end
      ? [
          error(
            ['spec', 'schedule', 'windows', index, 'end'],
            'a window needs different start and end times (for "any time", list no windows)',
          ),
        ]
      : [],
  );
}

function freezeOrder(policy: Policy): RuleFinding[] {
  // Normalized bounds are `YYYY-MM-DDTHH:MM` strings, so string order is time order.
  return (policy.spec.schedule?.freeze ?? []).flatMap((freeze, index) =>
    freeze.from >= freeze.to
      ? [
          error(
            ['spec', 'schedule', 'freeze', index, 'to'],
            `freeze ends (${freeze.to}) before it starts (${freeze.from})`,
          ),
        ]
      : [],
  );
}

function windowLength(window: { startMinute: number; endMinute: number }): number {
  const minutes = window.endMinute - window.startMinute;
  return (minutes <= 0 ? minutes + 24 * 60 : minutes) * 60_000;
}

function wavesFitWindows(policy: Policy): RuleFinding[] {
  const windows = policy.spec.schedule?.windows ?? [];
  if (windows.length === 0) return [];
  // A wave starts only if warm-up and bake fit before the window closes (DESIGN section 6).
  const longest = Math.max(...windows.map(windowLength));
  const warmup = policy.spec.gates.warmup;
  return policy.spec.waves.flatMap((wave, index) =>
    warmup + wave.bake > longest
      ? [
          error(
            ['spec', 'waves', index, 'bake'],
            `warm-up plus bake (${(warmup + wave.bake) / 60_000} min) is longer than the longest maintenance window (${longest / 60_000} min): the wave could never start`,
          ),
        ]
      : [],
  );
}

function slackSettings(policy: Policy): RuleFinding[] {
  const slack = policy.spec.notify.slack;
  if (slack === undefined) return [];
  const path = ['spec', 'notify', 'slack'];
  const findings: RuleFinding[] = [];
  if (slack.webhookUrl === undefined && slack.botToken === undefined)
    findings.push(error(path, 'Slack needs webhookUrl or botToken to post'));
  if (slack.approvers !== undefined) {
    if (slack.signingSecret === undefined)
      findings.push(
        error([...path, 'approvers'], 'Slack approvals need signingSecret: approval clicks are verified with it'),
      );
    if (slack.botToken === undefined)
      findings.push(
        error([...path, 'approvers'], 'Slack approvals need botToken to post and update approval messages'),
      );
    if (slack.approvers.users.length === 0 && slack.approvers.userGroup === undefined) {
      findings.push(error([...path, 'approvers'], 'approvers needs users or userGroup: otherwise nobody may approve'));
    }
  }
  return findings;
}

const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-auth-token']);

function noCredentialHeaders(policy: Policy): RuleFinding[] {
  const headers = policy.spec.prometheus?.headers ?? {};
  return Object.keys(headers)
    .filter((name) => CREDENTIAL_HEADERS.has(name.toLowerCase()))
    .map((name) =>
      error(
        ['spec', 'prometheus', 'headers', name],
        `header "${name}" carries credentials: use prometheus.auth with a secret reference ({env: NAME} or {file: /path})`,
      ),
    );
}

function prometheusForGates(policy: Policy): RuleFinding[] {
  const prometheus = policy.spec.prometheus;
  const findings: RuleFinding[] = [];
  if (prometheus === undefined && policy.spec.gates.checks.length > 0) {
    findings.push(
      warning(['spec'], 'gate checks but no spec.prometheus: the Prometheus URL must come from --prometheus-url'),
    );
  }
  if (prometheus?.tls.insecureSkipVerify === true) {
    findings.push(
      warning(
        ['spec', 'prometheus', 'tls', 'insecureSkipVerify'],
        'TLS verification is off: gate results could be forged',
      ),
    );
  }
  return findings;
}

function uniqueGateways(policy: Policy): RuleFinding[] {
  return duplicates(
    policy.spec.gateways,
    (gateway) => `${gateway.namespace}/${gateway.name}`,
    (index) => ['spec', 'gateways', index, 'name'],
    'gateway',
  );
}

/** Every cross-field rule, in the order they run. */
export const POLICY_RULES: readonly PolicyRule[] = [
  { rule: 'distinct-revisions', summary: '`from` and `to` differ', check: distinctRevisions },
  { rule: 'target-revision', summary: '`to` names a real revision (not auto or default)', check: targetRevision },
  { rule: 'unique-wave-names', summary: 'wave names are unique', check: uniqueWaveNames },
  { rule: 'disjoint-wave-namespaces', summary: 'a namespace is named by one wave only', check: disjointWaveNamespaces },
  {
    rule: 'excluded-namespace-in-wave',
    summary: 'waves do not list excluded namespaces (warning)',
    check: excludedNamespaceInWave,
  },
  { rule: 'tags-strategy', summary: 'the tags strategy has distinct stableTag and canaryTag', check: tagsStrategy },
  { rule: 'tags-are-not-revisions', summary: 'tag names differ from revision names', check: tagsAreNotRevisions },
  { rule: 'unique-promote-tags', summary: 'promote.tags has no duplicates', check: uniquePromoteTags },
  { rule: 'unique-check-names', summary: 'gate check names are unique', check: uniqueCheckNames },
  { rule: 'baseline-required', summary: 'maxIncrease and maxRatio need a baseline', check: baselineRequired },
  { rule: 'threshold-range', summary: 'min is not above max', check: thresholdRange },
  { rule: 'enforced-gates', summary: 'at least one enforced check (warning)', check: enforcedGates },
  { rule: 'install-mode-fields', summary: 'command/args match the install mode', check: installModeFields },
  { rule: 'window-shape', summary: 'windows have distinct start and end', check: windowShape },
  { rule: 'freeze-order', summary: 'freeze periods end after they start', check: freezeOrder },
  { rule: 'waves-fit-windows', summary: 'warm-up plus bake fits in a maintenance window', check: wavesFitWindows },
  { rule: 'slack-settings', summary: 'Slack has credentials to post, and to verify approvals', check: slackSettings },
  { rule: 'no-credential-headers', summary: 'no credentials in Prometheus headers', check: noCredentialHeaders },
  {
    rule: 'prometheus-for-gates',
    summary: 'gates have a Prometheus; TLS verification on (warnings)',
    check: prometheusForGates,
  },
  { rule: 'unique-gateways', summary: 'gateways are listed once', check: uniqueGateways },
];

/** A finding with the name of the rule that produced it. */
export type NamedFinding = RuleFinding & { rule: string };

/** Runs every rule on a policy. */
export function runRules(policy: Policy, rules: readonly PolicyRule[] = POLICY_RULES): NamedFinding[] {
  return rules.flatMap((rule) => rule.check(policy).map((finding) => ({ ...finding, rule: rule.rule })));
}
