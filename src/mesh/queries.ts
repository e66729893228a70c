/**
 * Gate queries: the PromQL behind each preset, scoped to a wave or to the cohort still on the old
 * revision, and the expansion of custom query templates (reference section 7, DESIGN section 4).
 *
 * Pure: no I/O, no clock. Everything a value can contribute to a query goes through one of the
 * escaping functions below, so a namespace, revision or version can never change what a query
 * means: at worst it matches nothing.
 */
import { RevrollError } from '../errors.ts';
import type { GateCheck, GatePreset } from '../policy/types.ts';
import { findTemplateReferences, isTemplateVariable, type TemplateVariable } from '../policy/promql.ts';
import type { MeasureScope } from '../ports/metrics.ts';

/** A query cannot be built for this check and scope (a template misuses a variable, a value is missing). */
export class GateQueryError extends RevrollError {
  constructor(message: string) {
    super('GATE_QUERY', message);
  }
}

/** What a gate evaluates. */
export type GateQueries = {
  /** PromQL returning one number: the check's value. */
  value: string;
  /** PromQL returning the requests per second behind `value`, so the traffic floor can apply. */
  traffic?: string;
  /** Who is measured, for messages: `wave [a, b] on proxies 1.25.1`, `cohort on proxies 1.24.3`... */
  subject: string;
};

/** The label istiod, its gateways and pods with their own `istio.io/rev` label carry once Prometheus maps pod labels. */
const REV_LABEL = 'istio_io_rev';

/** Characters RE2 treats as syntax; the same set as Go's regexp.QuoteMeta. */
const REGEX_META = /[\\.+*?()|[\]{}^$]/g;

/** Escapes `value` so that, as an RE2 regex, it matches exactly itself. */
export function escapeRegex(value: string): string {
  return value.replace(REGEX_META, '\\$&');
}

/**
 * Escapes `value` for the inside of a double- or single-quoted PromQL string: backslash, the
 * quote, and line breaks are escaped; other control characters are refused because no
 * Kubernetes name or Istio version contains them and they have no portable escape in PromQL.
 */
export function escapeString(value: string, quote: '"' | "'" = '"'): string {
  let out = '';
  for (const char of value) {
    if (char === '\\') out += '\\\\';
    else if (char === quote) out += `\\${quote}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char < ' ' || char === '\u007f')
      throw new GateQueryError(
        `value ${JSON.stringify(value)} contains a control character and cannot be used in a query`,
      );
    else out += char;
  }
  return out;
}

/** A quoted PromQL string literal holding exactly `value`. */
export function quote(value: string): string {
  return `"${escapeString(value)}"`;
}

/**
 * An anchored alternation matching exactly the given names, for `=~`: `^(a|b)$`. An empty list
 * or an empty name is refused: a regex that matches "" also selects series without the label.
 */
export function namespacesRegex(namespaces: readonly string[]): string {
  if (namespaces.length === 0) throw new GateQueryError('the scope has no namespaces to measure');
  for (const name of namespaces) {
    if (name === '') throw new GateQueryError('the scope has an empty namespace name');
  }
  return `^(${[...new Set(namespaces)].map(escapeRegex).join('|')})$`;
}

const DURATION_UNITS: readonly [string, number][] = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

/** A window in milliseconds as a PromQL duration in the largest exact unit: `5m`, `90s`, `1500ms`. */
export function promDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0)
    throw new GateQueryError(`window ${ms} ms is not a positive whole number of milliseconds`);
  for (const [unit, size] of DURATION_UNITS) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Restricts a proxy metric to the pods whose proxy runs `version`: `istio_build{component="proxy"}`
 * is 1 per pod and carries the version in `tag`, and the sample Prometheus config gives every
 * series the `namespace` and `pod` of its target (reference section 7). `max by` folds duplicates
 * (a pod scraped by two jobs) so the join stays many-to-one.
 */
function onProxyVersion(version: string): string {
  nonEmpty('the proxy version', version);
  return ` * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy",tag=${quote(version)}})`;
}

type ProxyScope = { matchers: string; join: string; subject: string };

/**
 * Which proxies a request-based preset measures. A wave: its namespaces (as destinations), and
 * only the new proxies when the lead passes `toVersion` (during a bake, pods not yet restarted
 * must not dilute the canary). The cohort: every proxy still on `fromVersion`, cluster-wide.
 */
function proxyScope(scope: MeasureScope): ProxyScope {
  if (scope.subject === 'wave') {
    const namespaces = `destination_workload_namespace=~${quote(namespacesRegex(scope.namespaces))}`;
    const names = `wave [${scope.namespaces.join(', ')}]`;
    if (scope.toVersion === undefined) return { matchers: namespaces, join: '', subject: names };
    return {
      matchers: namespaces,
      join: onProxyVersion(scope.toVersion),
      subject: `${names} on proxies ${scope.toVersion}`,
    };
  }
  const fromVersion = requireCohortVersion(scope);
  return { matchers: '', join: onProxyVersion(fromVersion), subject: `cohort on proxies ${fromVersion}` };
}

/** The cohort is found by proxy version, which only separates it from the canary when the versions differ. */
function requireCohortVersion(scope: MeasureScope): string {
  if (scope.fromVersion === undefined) {
    throw new GateQueryError(
      `a cohort baseline needs the Istio version of revision ${scope.fromRevision} (proxies are told apart by istio_build{component="proxy"} tag), and it is unknown`,
    );
  }
  if (scope.toVersion !== undefined && scope.toVersion === scope.fromVersion) {
    throw new GateQueryError(
      `revisions ${scope.fromRevision} and ${scope.toRevision} both run Istio ${scope.fromVersion}: their proxies cannot be told apart by version, so a cohort baseline is impossible (use baseline: before)`,
    );
  }
  return scope.fromVersion;
}

function selector(metric: string, ...matchers: string[]): string {
  return `${metric}{${matchers.filter((m) => m !== '').join(',')}}`;
}

/** The revision whose istiod is measured: the canary for a wave, the old one for the cohort. */
function istiodRevision(scope: MeasureScope): string {
  return nonEmpty('the revision', scope.subject === 'wave' ? scope.toRevision : scope.fromRevision);
}

/** An empty label value in a matcher also selects series without the label: never measure "everything" by accident. */
function nonEmpty(what: string, value: string): string {
  if (value === '')
    throw new GateQueryError(`${what} is empty; an empty label value would match series without the label`);
  return value;
}

/**
 * istiod creates its error counters on the first error, so a healthy istiod has no series at
 * all. `or 0 * ...istio_build{component="pilot"}` turns that into 0, but only while that
 * istiod is being scraped: an unscraped istiod stays "no series" (NoData), never a clean 0.
 */
function istiodRate(metric: string, revision: string, window: string, extra = ''): string {
  const rev = `${REV_LABEL}=${quote(revision)}`;
  const matchers = extra === '' ? rev : `${extra},${rev}`;
  return `sum(rate(${metric}{${matchers}}[${window}])) or 0 * max(istio_build{component="pilot",${rev}})`;
}

/** The Gateway API pod label `gateway.networking.k8s.io/gateway-name` as Prometheus' labelmap writes it (reference §7). */
const GATEWAY_NAME_LABEL = 'gateway_networking_k8s_io_gateway_name';

/** Gateway API proxies: a Gateway reports its own requests as `source`, a waypoint as `waypoint`. */
type GatewayKind = 'gateway' | 'waypoint';
const GATEWAY_REPORTER: Record<GatewayKind, string> = { gateway: 'source', waypoint: 'waypoint' };

/** An anchored alternation of exact values (never empty, never matching ""). */
function exactRegex(what: string, values: readonly string[]): string {
  if (values.length === 0) throw new GateQueryError(`the scope has no ${what} to measure`);
  for (const value of values) nonEmpty(`a ${what} name`, value);
  return `^(${[...new Set(values)].map(escapeRegex).join('|')})$`;
}

/**
 * The per-pod rates of a Gateway API metric, un-aggregated. A wave measures the Gateways the
 * step moves (`scope.gateways`, one selector per namespace joined with `or`, so a name never
 * matches a same-named Gateway elsewhere), else every Gateway whose pods run in the wave's
 * namespaces; only the new proxies when `toVersion` is known. The cohort is every Gateway of
 * that kind whose proxy is still on `fromVersion`. The rendered pods carry the Gateway's name
 * label, so `GATEWAY_NAME_LABEL!=""` leaves out injected gateways and sidecars.
 */
function gatewayRates(
  metric: string,
  kind: GatewayKind,
  scope: MeasureScope,
  window: string,
  extra = '',
): { expr: string; subject: string } {
  const common = [`reporter=${quote(GATEWAY_REPORTER[kind])}`, extra];
  const plural = `${kind}s`;
  if (scope.subject === 'cohort') {
    const fromVersion = requireCohortVersion(scope);
    const sel = selector(metric, ...common, `${GATEWAY_NAME_LABEL}!=""`);
    return {
      expr: `rate(${sel}[${window}])${onProxyVersion(fromVersion)}`,
      subject: `cohort ${plural} on proxies ${fromVersion}`,
    };
  }
  let selectors: string[];
  let names: string;
  const gateways = scope.gateways ?? [];
  if (gateways.length > 0) {
    const byNamespace = new Map<string, string[]>();
    for (const g of gateways) byNamespace.set(g.namespace, [...(byNamespace.get(g.namespace) ?? []), g.name]);
    selectors = [...byNamespace].map(([namespace, list]) =>
      selector(
        metric,
        ...common,
        `namespace=${quote(nonEmpty('a Gateway namespace', namespace))}`,
        `${GATEWAY_NAME_LABEL}=~${quote(exactRegex('Gateway', list))}`,
      ),
    );
    names = `${plural} [${gateways.map((g) => `${g.namespace}/${g.name}`).join(', ')}]`;
  } else {
    selectors = [
      selector(
        metric,
        ...common,
        `namespace=~${quote(namespacesRegex(scope.namespaces))}`,
        `${GATEWAY_NAME_LABEL}!=""`,
      ),
    ];
    names = `${plural} in [${scope.namespaces.join(', ')}]`;
  }
  const rates = selectors.map((s) => `rate(${s}[${window}])`);
  const union = rates.length === 1 ? (rates[0] as string) : `(${rates.join(' or ')})`;
  if (scope.toVersion === undefined) return { expr: union, subject: names };
  return { expr: `${union}${onProxyVersion(scope.toVersion)}`, subject: `${names} on proxies ${scope.toVersion}` };
}

/** 5xx share and p99 of Gateway API gateways or waypoints, from their own series. */
function gatewayQueries(kind: GatewayKind, measure: '5xx' | 'p99', window: string, scope: MeasureScope): GateQueries {
  const requests = gatewayRates('istio_requests_total', kind, scope, window);
  const traffic = `sum(${requests.expr})`;
  if (measure === '5xx') {
    const errors = gatewayRates('istio_requests_total', kind, scope, window, 'response_code=~"5.."');
    return { value: `(sum(${errors.expr}) or vector(0)) / ${traffic}`, traffic, subject: requests.subject };
  }
  const buckets = gatewayRates('istio_request_duration_milliseconds_bucket', kind, scope, window);
  return { value: `histogram_quantile(0.99, sum by (le) (${buckets.expr}))`, traffic, subject: requests.subject };
}

/**
 * The share of ztunnel connections to the scope's workloads that failed. ztunnel is one
 * DaemonSet for the whole mesh (never moved by a wave), so the wave is the traffic to its
 * namespaces and the cohort the traffic to every other namespace. A failed connection is
 * counted when it closes with `response_flags="CONNECT"` (istio/ztunnel `src/proxy/metrics.rs`:
 * the flag is set before the close is counted; `istio_tcp_connections_failed_total` is
 * unstable and missing from older ztunnels). The join on `istio_build{component="ztunnel"}`
 * keeps only ztunnel's series (sidecars export `istio_tcp_*` too), and leaves no series when
 * ztunnel is not scraped. No connections at all is 0/0: NoData.
 */
function ztunnelQueries(window: string, scope: MeasureScope): GateQueries {
  let matcher: string;
  let subject: string;
  if (scope.subject === 'wave') {
    matcher = `destination_workload_namespace=~${quote(namespacesRegex(scope.namespaces))}`;
    subject = `ztunnel connections to [${scope.namespaces.join(', ')}]`;
  } else if (scope.namespaces.length > 0) {
    matcher = `destination_workload_namespace!~${quote(namespacesRegex(scope.namespaces))}`;
    subject = `cohort: ztunnel connections outside [${scope.namespaces.join(', ')}]`;
  } else {
    matcher = '';
    subject = 'cohort: every ztunnel connection';
  }
  const onZtunnel = ' * on (namespace,pod) group_left() max by (namespace,pod) (istio_build{component="ztunnel"})';
  const opened = `sum(rate(${selector('istio_tcp_connections_opened_total', matcher)}[${window}])${onZtunnel})`;
  const failed = `sum(rate(${selector('istio_tcp_connections_closed_total', matcher, 'response_flags="CONNECT"')}[${window}])${onZtunnel})`;
  return { value: `(${failed} or vector(0)) / ${opened}`, subject };
}

function presetQueries(preset: GatePreset, window: string, scope: MeasureScope): GateQueries {
  switch (preset) {
    case 'proxy-5xx-ratio': {
      const { matchers, join, subject } = proxyScope(scope);
      const total = `sum(rate(${selector('istio_requests_total', 'reporter="destination"', matchers)}[${window}])${join})`;
      const errors = `sum(rate(${selector('istio_requests_total', 'reporter="destination"', matchers, 'response_code=~"5.."')}[${window}])${join})`;
      // No 5xx series at all means no 5xx answers: `or vector(0)` keeps the ratio 0 instead of
      // empty. Zero traffic still gives 0/0 = NaN, which the judge reads as NoData.
      return { value: `(${errors} or vector(0)) / ${total}`, traffic: total, subject };
    }
    case 'proxy-p99-latency': {
      const { matchers, join, subject } = proxyScope(scope);
      const buckets = `rate(${selector('istio_request_duration_milliseconds_bucket', 'reporter="destination"', matchers)}[${window}])${join}`;
      const traffic = `sum(rate(${selector('istio_requests_total', 'reporter="destination"', matchers)}[${window}])${join})`;
      return { value: `histogram_quantile(0.99, sum by (le) (${buckets}))`, traffic, subject };
    }
    case 'istiod-xds-rejects': {
      const revision = istiodRevision(scope);
      return { value: istiodRate('pilot_total_xds_rejects', revision, window), subject: `istiod ${revision}` };
    }
    case 'istiod-push-errors': {
      const revision = istiodRevision(scope);
      return {
        value: istiodRate('pilot_xds_pushes', revision, window, 'type=~".*_senderr"'),
        subject: `istiod ${revision}`,
      };
    }
    case 'proxy-convergence-p99': {
      const revision = istiodRevision(scope);
      const buckets = `rate(pilot_proxy_convergence_time_bucket{${REV_LABEL}=${quote(revision)}}[${window}])`;
      return { value: `histogram_quantile(0.99, sum by (le) (${buckets}))`, subject: `istiod ${revision}` };
    }
    case 'sidecar-injection-failures': {
      const revision = istiodRevision(scope);
      return { value: istiodRate('sidecar_injection_failure_total', revision, window), subject: `istiod ${revision}` };
    }
    case 'gateway-5xx-ratio':
      return gatewayQueries('gateway', '5xx', window, scope);
    case 'gateway-p99-latency':
      return gatewayQueries('gateway', 'p99', window, scope);
    case 'waypoint-5xx-ratio':
      return gatewayQueries('waypoint', '5xx', window, scope);
    case 'waypoint-p99-latency':
      return gatewayQueries('waypoint', 'p99', window, scope);
    case 'ztunnel-connection-failures':
      return ztunnelQueries(window, scope);
  }
}

/** Builds the queries of a check (preset or custom template) for a scope. Throws GateQueryError when it cannot. */
export function buildGateQueries(
  check: Pick<GateCheck, 'name' | 'preset' | 'query' | 'window'>,
  scope: MeasureScope,
): GateQueries {
  const window = promDuration(check.window);
  if (check.preset !== undefined) return presetQueries(check.preset, window, scope);
  if (check.query !== undefined) {
    const subject =
      scope.subject === 'wave' ? `wave [${scope.namespaces.join(', ')}]` : `cohort on revision ${scope.fromRevision}`;
    return { value: expandTemplate(check.query, templateValues(scope, window)), subject };
  }
  throw new GateQueryError(`check ${check.name} has neither a preset nor a query`);
}

/**
 * Values of template variables. Unknown ones (a cohort has no single namespace, a version not
 * discovered) are absent, and using them is an error that says why.
 */
export type TemplateValues = {
  /** Namespace names, matched exactly; `all` for the cohort, which spans every namespace. */
  namespaces: readonly string[] | 'all';
  namespace?: string;
  revision: string;
  fromRevision: string;
  toRevision: string;
  window: string;
  version?: string;
  fromVersion?: string;
  toVersion?: string;
};

/** Template values for a scope: a wave measures the canary revision and version, the cohort the old ones. */
export function templateValues(scope: MeasureScope, window: string): TemplateValues {
  const wave = scope.subject === 'wave';
  const single = wave && scope.namespaces.length === 1 ? scope.namespaces[0] : undefined;
  const version = wave ? scope.toVersion : scope.fromVersion;
  return {
    namespaces: wave ? scope.namespaces : 'all',
    ...(single !== undefined ? { namespace: single } : {}),
    revision: wave ? scope.toRevision : scope.fromRevision,
    fromRevision: scope.fromRevision,
    toRevision: scope.toRevision,
    window,
    ...(version !== undefined ? { version } : {}),
    ...(scope.fromVersion !== undefined ? { fromVersion: scope.fromVersion } : {}),
    ...(scope.toVersion !== undefined ? { toVersion: scope.toVersion } : {}),
  };
}

/** Where a reference sits: in a quoted string (after which operator, with which quote) or bare. */
type Context = { kind: 'bare' } | { kind: 'string'; quote: '"' | "'" | '`'; operator: 'regex' | 'equal' | 'other' };

/**
 * Finds the context of each offset of interest by scanning strings and comments the way the
 * PromQL lexer does. References are skipped whole, so their braces and names never count.
 */
function contextsOf(template: string, references: readonly { start: number; end: number }[]): Context[] {
  const contexts: Context[] = [];
  let index = 0;
  let next = 0;
  let open: { quote: '"' | "'" | '`'; operator: 'regex' | 'equal' | 'other' } | undefined;
  while (index < template.length) {
    const reference = references[next];
    if (reference !== undefined && index === reference.start) {
      contexts.push(open === undefined ? { kind: 'bare' } : { kind: 'string', ...open });
      index = reference.end;
      next += 1;
      continue;
    }
    const char = template[index] as string;
    if (open !== undefined) {
      if (char === '\\' && open.quote !== '`') index += 2;
      else {
        if (char === open.quote) open = undefined;
        index += 1;
      }
      continue;
    }
    if (char === '#') {
      const end = template.indexOf('\n', index);
      index = end < 0 ? template.length : end;
      continue;
    }
    if (char === '"' || char === "'" || char === '`') {
      const before = template.slice(0, index).trimEnd();
      const operator =
        before.endsWith('=~') || before.endsWith('!~') ? 'regex' : before.endsWith('=') ? 'equal' : 'other';
      open = { quote: char, operator };
    }
    index += 1;
  }
  return contexts;
}

/**
 * Expands `{{variable}}` references. Each value is escaped for where it sits: inside a regex
 * matcher (`=~`, `!~`) it is regex-escaped then string-escaped, inside any other string it is
 * string-escaped, and bare (outside a string) only `window` may appear, because its format is
 * fixed. `namespaces` is a regex and is refused in an `=`/`!=` matcher, where it would silently
 * match nothing. Throws GateQueryError with the variable's name and the reason.
 */
export function expandTemplate(template: string, values: TemplateValues): string {
  const references = findTemplateReferences(template);
  const contexts = contextsOf(template, references);
  let out = '';
  let cursor = 0;
  references.forEach((reference, i) => {
    const context = contexts[i] ?? { kind: 'bare' };
    out += template.slice(cursor, reference.start) + expandOne(reference.name, context, values);
    cursor = reference.end;
  });
  return out + template.slice(cursor);
}

function expandOne(name: string, context: Context, values: TemplateValues): string {
  if (!isTemplateVariable(name)) throw new GateQueryError(`unknown template variable {{${name}}}`);
  if (name === 'window') {
    // A duration is digits and a unit: safe bare and inside any string.
    return values.window;
  }
  if (context.kind === 'bare') {
    throw new GateQueryError(
      `{{${name}}} must sit inside a quoted label value, e.g. label=~"{{${name}}}"; outside a string its value would be read as PromQL`,
    );
  }
  const regex = context.operator === 'regex';
  let text: string;
  if (name === 'namespaces') {
    if (context.operator === 'equal') {
      throw new GateQueryError('{{namespaces}} is a regex: use it with =~ or !~, e.g. namespace=~"{{namespaces}}"');
    }
    text = values.namespaces === 'all' ? '^.+$' : namespacesRegex(values.namespaces);
  } else {
    const value = valueOf(name, values);
    // Prometheus anchors regex matchers itself, so `prefix-{{namespace}}` keeps working.
    text = regex ? escapeRegex(value) : value;
  }
  if (context.quote === '`') {
    // Raw strings have no escapes at all: a value that would end or break one is refused.
    if (/[`\r\n]/.test(text))
      throw new GateQueryError(`the value of {{${name}}} cannot be put in a \`raw\` string; use "..." quotes`);
    return text;
  }
  return escapeString(text, context.quote);
}

function valueOf(name: Exclude<TemplateVariable, 'window' | 'namespaces'>, values: TemplateValues): string {
  const value = values[name];
  if (value !== undefined) return nonEmpty(`{{${name}}}`, value);
  switch (name) {
    case 'namespace':
      throw new GateQueryError(
        values.namespaces === 'all'
          ? '{{namespace}} has no value for a cohort baseline, which spans every namespace; use {{namespaces}}'
          : '{{namespace}} needs a scope of exactly one namespace (the check is evaluated once per namespace)',
      );
    case 'version':
    case 'fromVersion':
    case 'toVersion':
      throw new GateQueryError(
        `{{${name}}} is unknown: the Istio version of the revision could not be read from its istiod image`,
      );
    default:
      throw new GateQueryError(`{{${name}}} has no value`);
  }
}

/**
 * One query listing which of the expected pods Prometheus has proxy series for: one row per
 * scraped (namespace, pod). The pod regex may also select same-named pods in other namespaces;
 * the caller compares pairs, so that only costs a few rows.
 */
export function buildCoverageQuery(pods: readonly { namespace: string; pod: string }[]): string {
  const namespaces = namespacesRegex(pods.map((p) => p.namespace));
  const names = `^(${[...new Set(pods.map((p) => p.pod))].map(escapeRegex).join('|')})$`;
  return `max by (namespace,pod) (istio_build{component="proxy",namespace=~${quote(namespaces)},pod=~${quote(names)}})`;
}
