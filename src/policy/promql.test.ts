import { describe, expect, it } from 'vitest';
import { checkQueryTemplate, findSyntaxError, findTemplateReferences } from './promql.ts';

describe('src/policy/promql', () => {
  it.each([
    'sum(rate(istio_requests_total{namespace=~"{{namespaces}}"}[{{window}}]))',
    'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{namespace="{{ namespace }}"}[{{window}}])))',
    'sum(pilot_xds{istio_io_rev="{{toRevision}}", version="{{toVersion}}"}) / sum(pilot_xds{istio_io_rev="{{fromRevision}}"})',
    'rate(sidecar_injection_failure_total[5m] offset {{window}})',
  ])('accepts %s', (query) => {
    expect(checkQueryTemplate(query)).toEqual([]);
  });

  it.each([
    ['sum(rate(x[5m])', 'promql-syntax', 'unexpected end of query', 14],
    ['rate(x[5m]) by (a)', 'promql-syntax', 'unexpected "by"', 12],
    ['sum(x{a="{{nope}}"})', 'template-variables', 'unknown template variable {{nope}}', 9],
    ['sum(x{a="{{namespaces"})', 'template-variables', 'unclosed "{{"', 9],
    ['   ', 'promql-syntax', 'the query is empty', 0],
  ])('reports %j as %s: %s at offset %d', (query, rule, message, offset) => {
    const [problem] = checkQueryTemplate(query);
    expect(problem).toMatchObject({ rule, offset });
    expect(problem?.message).toContain(message);
  });

  it('maps an error after a variable back to the template offset', () => {
    const template = 'rate(x{a="{{namespaces}}"}[5m]) by (a)';
    const [problem] = checkQueryTemplate(template);
    expect(problem?.rule).toBe('promql-syntax');
    expect(template.slice(problem?.offset)).toBe('by (a)');
  });

  it('finds every reference with its offsets', () => {
    expect(findTemplateReferences('a{{ window }}b{{x}}')).toEqual([
      { name: 'window', start: 1, end: 13 },
      { name: 'x', start: 14, end: 19 },
    ]);
  });

  it('parses valid PromQL without error', () => {
    expect(findSyntaxError('up == 1')).toBeUndefined();
  });
});
