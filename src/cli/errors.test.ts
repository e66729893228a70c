import { describe, expect, it } from 'vitest';
import { ExternalError, PolicyError, UsageError } from '../errors.ts';
import { reportError } from './errors.ts';
import type { CliIo } from './io.ts';

function io() {
  let err = '';
  const value: CliIo = { out: () => undefined, err: (t) => void (err += t), isTty: false, env: {}, cwd: '/' };
  return { value, text: () => err };
}

describe('reportError (the one error boundary)', () => {
  it('prints every policy problem as file:line:col path: message and exits 2', () => {
    const e = io();
    const code = reportError(
      new PolicyError([
        {
          path: 'spec.waves[0].bake',
          message: 'not a duration',
          rule: 'duration',
          location: { file: 'p.yaml', line: 7, col: 12 },
        },
      ]),
      e.value,
      false,
    );
    expect(code).toBe(2);
    expect(e.text()).toBe('p.yaml:7:12 spec.waves[0].bake: not a duration\n');
  });

  it('prints one sentence for usage and external errors (exit 2 and 1), no stack without --debug', () => {
    const usage = io();
    expect(reportError(new UsageError('unknown scenario "x"'), usage.value, false)).toBe(2);
    expect(usage.text()).toBe('error: unknown scenario "x"\n');
    const external = io();
    expect(
      reportError(
        new ExternalError(
          'K8S',
          'Kubernetes API http://127.0.0.1:1 answered 403 Forbidden for namespaces',
          'namespaces',
        ),
        external.value,
        false,
      ),
    ).toBe(1);
    expect(external.text()).toBe('error: Kubernetes API http://127.0.0.1:1 answered 403 Forbidden for namespaces\n');
  });

  it('turns an unexpected exception into one line plus a --debug hint; --debug adds the stack', () => {
    const plain = io();
    expect(
      reportError(
        new TypeError("Cannot read properties of undefined (reading 'x')\n    at somewhere"),
        plain.value,
        false,
      ),
    ).toBe(1);
    expect(plain.text()).toBe(
      "unexpected error: Cannot read properties of undefined (reading 'x')\nhint: rerun with --debug for details\n",
    );
    const debug = io();
    reportError(new TypeError('boom'), debug.value, true);
    expect(debug.text()).toMatch(/unexpected error: boom\nTypeError: boom\n\s+at /);
  });
});
