import { describe, expect, it } from 'vitest';
import { findSyntaxError } from '../policy/promql.ts';
import type { MeasureScope } from '../ports/metrics.ts';
import {
  buildCoverageQuery,
  buildGateQueries,
  escapeRegex,
  escapeString,
  expandTemplate,
  GateQueryError,
  namespacesRegex,
  promDuration,
  templateValues,
  type TemplateValues,
} from './queries.ts';

const at = new Date('2026-01-01T00:00:00Z');
const wave: MeasureScope = {
  subject: 'wave',
  namespaces: ['shop', 'pay'],
  fromRevision: '1-24-3',
  toRevision: '1-25-1',
  fromVersion: '1.24.3',
  toVersion: '1.25.1',
  at,
};
const cohort: MeasureScope = { ...wave, subject: 'cohort' };
const gatewaysWave: MeasureScope = {
  ...wave,
  namespaces: [],
  gateways: [
    { namespace: 'ingress', name: 'public' },
    { namespace: 'ingress', name: 'internal' },
    { namespace: 'shop', name: 'public' },
  ],
};
const check = (preset: NonNullable<Parameters<typeof buildGateQueries>[0]['preset']>) => ({
  name: 'c',
  preset,
  window: 300_000,
});

/** Reads a PromQL double-quoted string body back into its value (the inverse of escapeString). */
function unquote(body: string): string {
  return body.replace(/\\(.)/gs, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
}

/** The value of the first `label=~"..."` matcher in a query. */
function matcherValue(query: string, label: string): string {
  const match = new RegExp(`${label}=~?"((?:[^"\\\\]|\\\\.)*)"`).exec(query);
  if (!match?.[1] && match?.[1] !== '') throw new Error(`no ${label} matcher in ${query}`);
  return unquote(match[1]);
}

const ADVERSARIAL = [
  'we"ird',
  'back\\slash',
  'a|b',
  'x)',
  'c}',
  'line\nbreak',
  '.*',
  'tab\there',
  "it's",
  '{{window}}',
  '^$',
];

describe('src/mesh/queries', () => {
  describe('presets', () => {
    it('5xx ratio of a bake: the wave namespaces, only proxies of the new version, with a traffic query', () => {
      const q = buildGateQueries(check('proxy-5xx-ratio'), wave);
      const join =
        ' * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy",tag="1.25.1"})';
      const total = `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace=~"^(shop|pay)$"}[5m])${join})`;
      expect(q.traffic).toBe(total);
      expect(q.value).toBe(
        `(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace=~"^(shop|pay)$",response_code=~"5.."}[5m])${join}) or vector(0)) / ${total}`,
      );
      expect(q.subject).toBe('wave [shop, pay] on proxies 1.25.1');
    });

    it('a wave without toVersion (a "before" baseline) is scoped by namespace only', () => {
      const { toVersion: _, ...before } = wave;
      const q = buildGateQueries(check('proxy-5xx-ratio'), before);
      expect(q.value).not.toContain('istio_build');
      expect(q.traffic).toBe(
        'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace=~"^(shop|pay)$"}[5m]))',
      );
    });

    it('the cohort is every proxy of the old version, in every namespace', () => {
      const q = buildGateQueries(check('proxy-p99-latency'), cohort);
      expect(q.value).toBe(
        'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5m]) * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy",tag="1.24.3"})))',
      );
      expect(q.traffic).toContain('istio_requests_total{reporter="destination"}[5m]');
      expect(q.value).not.toContain('destination_workload_namespace');
    });

    it.each([
      [
        'istiod-xds-rejects',
        'sum(rate(pilot_total_xds_rejects{istio_io_rev="1-25-1"}[5m])) or 0 * max(istio_build{component="pilot",istio_io_rev="1-25-1"})',
      ],
      [
        'istiod-push-errors',
        'sum(rate(pilot_xds_pushes{type=~".*_senderr",istio_io_rev="1-25-1"}[5m])) or 0 * max(istio_build{component="pilot",istio_io_rev="1-25-1"})',
      ],
      [
        'proxy-convergence-p99',
        'histogram_quantile(0.99, sum by (le) (rate(pilot_proxy_convergence_time_bucket{istio_io_rev="1-25-1"}[5m])))',
      ],
      [
        'sidecar-injection-failures',
        'sum(rate(sidecar_injection_failure_total{istio_io_rev="1-25-1"}[5m])) or 0 * max(istio_build{component="pilot",istio_io_rev="1-25-1"})',
      ],
    ] as const)('%s measures istiod of the canary revision, no traffic query', (preset, value) => {
      const q = buildGateQueries(check(preset), wave);
      expect(q.value).toBe(value);
      expect(q.traffic).toBeUndefined();
      expect(buildGateQueries(check(preset), cohort).value).toBe(value.replaceAll('1-25-1', '1-24-3'));
    });

    it.each([
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
    ] as const)('%s parses for wave and cohort', (preset) => {
      for (const scope of /^(gateway|waypoint)-/.test(preset) ? [wave, cohort, gatewaysWave] : [wave, cohort]) {
        const q = buildGateQueries(check(preset), scope);
        expect(findSyntaxError(q.value)).toBeUndefined();
        if (q.traffic !== undefined) expect(findSyntaxError(q.traffic)).toBeUndefined();
      }
    });

    it('gateway-5xx-ratio of a gateways wave: exactly the moved Gateways, per namespace, on the new proxies', () => {
      const q = buildGateQueries(check('gateway-5xx-ratio'), gatewaysWave);
      const join =
        ' * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy",tag="1.25.1"})';
      const sel = (extra: string) =>
        `(rate(istio_requests_total{reporter="source",${extra}namespace="ingress",gateway_networking_k8s_io_gateway_name=~"^(public|internal)$"}[5m]) or rate(istio_requests_total{reporter="source",${extra}namespace="shop",gateway_networking_k8s_io_gateway_name=~"^(public)$"}[5m]))${join}`;
      expect(q.traffic).toBe(`sum(${sel('')})`);
      expect(q.value).toBe(`(sum(${sel('response_code=~"5..",')}) or vector(0)) / sum(${sel('')})`);
      expect(q.subject).toBe('gateways [ingress/public, ingress/internal, shop/public] on proxies 1.25.1');
    });

    it('gateway and waypoint presets of a namespace wave measure the Gateways whose pods run there', () => {
      const gateway = buildGateQueries(check('gateway-p99-latency'), wave);
      expect(gateway.value).toBe(
        'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="source",namespace=~"^(shop|pay)$",gateway_networking_k8s_io_gateway_name!=""}[5m]) * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy",tag="1.25.1"})))',
      );
      expect(gateway.subject).toBe('gateways in [shop, pay] on proxies 1.25.1');
      const waypoint = buildGateQueries(check('waypoint-5xx-ratio'), wave);
      expect(waypoint.value).toContain('reporter="waypoint",response_code=~"5..",namespace=~"^(shop|pay)$"');
      expect(waypoint.value).not.toContain('reporter="source"');
      expect(waypoint.subject).toBe('waypoints in [shop, pay] on proxies 1.25.1');
    });

    it('the gateway cohort is every Gateway API gateway still on the old version', () => {
      const q = buildGateQueries(check('gateway-5xx-ratio'), cohort);
      expect(q.traffic).toBe(
        'sum(rate(istio_requests_total{reporter="source",gateway_networking_k8s_io_gateway_name!=""}[5m]) * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy",tag="1.24.3"}))',
      );
      expect(q.subject).toBe('cohort gateways on proxies 1.24.3');
      expect(() => buildGateQueries(check('waypoint-p99-latency'), { ...cohort, toVersion: '1.24.3' })).toThrow(
        /cannot be told apart by version/,
      );
    });

    it('ztunnel-connection-failures: connections closed with CONNECT over opened, ztunnel series only, no traffic floor', () => {
      const q = buildGateQueries(check('ztunnel-connection-failures'), wave);
      const onZtunnel = ' * on (namespace,pod) group_left() max by (namespace,pod) (istio_build{component="ztunnel"})';
      expect(q.value).toBe(
        `(sum(rate(istio_tcp_connections_closed_total{destination_workload_namespace=~"^(shop|pay)$",response_flags="CONNECT"}[5m])${onZtunnel}) or vector(0)) / sum(rate(istio_tcp_connections_opened_total{destination_workload_namespace=~"^(shop|pay)$"}[5m])${onZtunnel})`,
      );
      expect(q.traffic).toBeUndefined();
      expect(buildGateQueries(check('ztunnel-connection-failures'), cohort).value).toContain(
        'destination_workload_namespace!~"^(shop|pay)$"',
      );
      expect(() => buildGateQueries(check('ztunnel-connection-failures'), gatewaysWave)).toThrow(/no namespaces/);
    });

    it('escapes adversarial Gateway names and namespaces, and refuses empty ones', () => {
      for (const name of ADVERSARIAL) {
        const q = buildGateQueries(check('gateway-5xx-ratio'), {
          ...gatewaysWave,
          gateways: [{ namespace: name, name }],
        });
        expect(findSyntaxError(q.value)).toBeUndefined();
        expect(matcherValue(q.value, 'namespace')).toBe(name);
        expect(new RegExp(matcherValue(q.value, 'gateway_networking_k8s_io_gateway_name')).test(name)).toBe(true);
      }
      expect(() =>
        buildGateQueries(check('gateway-5xx-ratio'), { ...gatewaysWave, gateways: [{ namespace: 'a', name: '' }] }),
      ).toThrow(GateQueryError);
      expect(() =>
        buildGateQueries(check('waypoint-5xx-ratio'), { ...gatewaysWave, gateways: [{ namespace: '', name: 'w' }] }),
      ).toThrow(GateQueryError);
    });

    it('refuses a cohort when proxies cannot be told apart by version', () => {
      const { fromVersion: _, ...unknown } = cohort;
      expect(() => buildGateQueries(check('proxy-5xx-ratio'), unknown)).toThrow(
        /Istio version of revision 1-24-3.*unknown/,
      );
      expect(() => buildGateQueries(check('proxy-5xx-ratio'), { ...cohort, toVersion: '1.24.3' })).toThrow(
        /both run Istio 1\.24\.3/,
      );
    });

    it('refuses an empty scope and empty names: they would match series without the label', () => {
      expect(() => buildGateQueries(check('proxy-5xx-ratio'), { ...wave, namespaces: [] })).toThrow(GateQueryError);
      expect(() => buildGateQueries(check('proxy-5xx-ratio'), { ...wave, namespaces: [''] })).toThrow(
        /empty namespace/,
      );
      expect(() => buildGateQueries(check('istiod-xds-rejects'), { ...wave, toRevision: '' })).toThrow(/empty/);
      expect(() => buildGateQueries(check('proxy-5xx-ratio'), { ...wave, toVersion: '' })).toThrow(/empty/);
    });

    it('escapes adversarial namespaces and versions in presets', () => {
      const q = buildGateQueries(check('proxy-5xx-ratio'), {
        ...wave,
        namespaces: ADVERSARIAL,
        toVersion: '1.25"}) or vector(1) #',
      });
      expect(findSyntaxError(q.value)).toBeUndefined();
      const regex = new RegExp(matcherValue(q.value, 'destination_workload_namespace'));
      for (const name of ADVERSARIAL) expect(regex.test(name)).toBe(true);
      for (const decoy of ['a', 'b', 'anything', 'x', 'weird', 'line', '', 'c']) expect(regex.test(decoy)).toBe(false);
      expect(matcherValue(q.value, 'tag')).toBe('1.25"}) or vector(1) #');
    });
  });

  describe('promDuration', () => {
    it.each([
      [300_000, '5m'],
      [90_000, '90s'],
      [3_600_000, '1h'],
      [5_400_000, '90m'],
      [1_500, '1500ms'],
    ])('%d ms is %s', (ms, text) => {
      expect(promDuration(ms)).toBe(text);
    });

    it.each([0, -1, 1.5, Number.NaN])('refuses %d', (ms) => {
      expect(() => promDuration(ms)).toThrow(GateQueryError);
    });
  });

  describe('escaping', () => {
    it('regex-escapes every RE2 metacharacter', () => {
      const value = '\\.+*?()|[]{}^$';
      expect(new RegExp(`^${escapeRegex(value)}$`).test(value)).toBe(true);
      expect(escapeRegex('a.b')).toBe('a\\.b');
    });

    it('string-escapes quotes, backslashes and line breaks, and refuses other control characters', () => {
      expect(escapeString('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
      expect(escapeString("it's", "'")).toBe("it\\'s");
      expect(() => escapeString('nul\u0000')).toThrow(/control character/);
    });

    it('builds an anchored alternation without duplicates', () => {
      expect(namespacesRegex(['a', 'b', 'a'])).toBe('^(a|b)$');
    });
  });

  describe('custom templates', () => {
    const values = (over: Partial<TemplateValues> = {}): TemplateValues => ({ ...templateValues(wave, '5m'), ...over });

    it('expands every variable for a wave', () => {
      const query =
        'sum(rate(x{namespace=~"{{namespaces}}", rev="{{ revision }}", from="{{fromRevision}}", to="{{toRevision}}", v="{{version}}", fv="{{fromVersion}}", tv="{{toVersion}}"}[{{window}}]))';
      expect(expandTemplate(query, values())).toBe(
        'sum(rate(x{namespace=~"^(shop|pay)$", rev="1-25-1", from="1-24-3", to="1-25-1", v="1.25.1", fv="1.24.3", tv="1.25.1"}[5m]))',
      );
    });

    it('uses the old revision and version, and every namespace, for the cohort', () => {
      const query = 'sum(x{namespace=~"{{namespaces}}", rev="{{revision}}", v="{{version}}"})';
      expect(expandTemplate(query, templateValues(cohort, '5m'))).toBe(
        'sum(x{namespace=~"^.+$", rev="1-24-3", v="1.24.3"})',
      );
    });

    it('regex-escapes in =~ and !~ but not in = and !=', () => {
      const query = 'x{a=~"{{version}}", b !~ "{{version}}", c="{{version}}", d!="{{version}}"}';
      expect(expandTemplate(query, values())).toBe(
        'x{a=~"1\\\\.25\\\\.1", b !~ "1\\\\.25\\\\.1", c="1.25.1", d!="1.25.1"}',
      );
    });

    it('keeps a prefix in a regex matcher working (Prometheus anchors it)', () => {
      expect(expandTemplate('x{pod=~"web-{{namespace}}-.*"}', values({ namespace: 'a.b' }))).toBe(
        'x{pod=~"web-a\\\\.b-.*"}',
      );
    });

    it.each(ADVERSARIAL)('no namespace can change the meaning of a query: %j', (name) => {
      const template =
        'sum(rate(x{namespace=~"{{namespaces}}",ns="{{namespace}}",y=\'{{namespace}}\'}[{{window}}])) / sum(rate(x{namespace!~`{{namespaces}}`}[5m]))';
      const rawOk = !/[`\n]/.test(name);
      const scope = { ...wave, namespaces: [name] };
      if (!rawOk) {
        expect(() => expandTemplate(template, templateValues(scope, '5m'))).toThrow(/raw/);
        return;
      }
      const query = expandTemplate(template, templateValues(scope, '5m'));
      expect(findSyntaxError(query)).toBeUndefined();
      expect(matcherValue(query, 'ns')).toBe(name);
      const regex = new RegExp(matcherValue(query, 'namespace'));
      expect(regex.test(name)).toBe(true);
      for (const decoy of ['a', 'b', 'x', 'weird', 'anything', ''])
        if (decoy !== name) expect(regex.test(decoy)).toBe(false);
      // The query has exactly the structure of the template: same number of selectors and operators.
      expect(query.match(/rate\(/g)).toHaveLength(2);
      expect(query.split('/')).toHaveLength(2 + (name.match(/\//g)?.length ?? 0));
    });

    it('escapes revision and version values too', () => {
      const evil = '1"} or vector(1) or x{a="';
      const query = expandTemplate(
        'sum(x{rev="{{revision}}",v=~"{{version}}"})',
        values({ revision: evil, version: evil }),
      );
      expect(findSyntaxError(query)).toBeUndefined();
      expect(matcherValue(query, 'rev')).toBe(evil);
      expect(query.startsWith('sum(x{rev=')).toBe(true);
      expect(query.endsWith('"})')).toBe(true);
    });

    it('ignores quotes in comments when finding contexts', () => {
      const query = expandTemplate(
        'sum(x{a="{{namespace}}"}) # don\'t "quote"\n+ sum(y{b=~"{{namespaces}}"})',
        values({ namespace: 'n' }),
      );
      expect(query).toBe('sum(x{a="n"}) # don\'t "quote"\n+ sum(y{b=~"^(shop|pay)$"})');
    });

    it.each([
      ['sum(x) by ({{namespace}})', /must sit inside a quoted label value/],
      ['x{a="{{namespaces}}"}', /{{namespaces}} is a regex: use it with =~/],
      ['x{a="{{namespace}}"}', /exactly one namespace/],
      ['x{a="{{nope}}"}', /unknown template variable/],
    ])('refuses %s', (template, message) => {
      expect(() => expandTemplate(template, values())).toThrow(message);
    });

    it('says why a value is missing', () => {
      expect(() => expandTemplate('x{a="{{namespace}}"}', templateValues(cohort, '5m'))).toThrow(/cohort baseline/);
      const { toVersion: _, ...noVersion } = wave;
      expect(() => expandTemplate('x{a="{{version}}"}', templateValues(noVersion, '5m'))).toThrow(
        /{{version}} is unknown/,
      );
    });

    it('builds custom checks through buildGateQueries without a traffic query', () => {
      const q = buildGateQueries(
        { name: 'c', query: 'sum(rate(x{namespace=~"{{namespaces}}"}[{{window}}]))', window: 90_000 },
        wave,
      );
      expect(q).toEqual({ value: 'sum(rate(x{namespace=~"^(shop|pay)$"}[90s]))', subject: 'wave [shop, pay]' });
    });
  });

  describe('coverage', () => {
    it('lists scraped proxies of the expected pods in one query', () => {
      const query = buildCoverageQuery([
        { namespace: 'shop', pod: 'web-1' },
        { namespace: 'pay', pod: 'api.1' },
      ]);
      expect(query).toBe(
        'max by (namespace,pod) (istio_build{component="proxy",namespace=~"^(shop|pay)$",pod=~"^(web-1|api\\\\.1)$"})',
      );
      expect(findSyntaxError(query)).toBeUndefined();
    });
  });
});
