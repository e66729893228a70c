import { describe, expect, it } from 'vitest';
import { displayUrl, redactSecrets, revrollVersion, toHttpError } from './http.ts';

describe('src/adapters/http', () => {
  it('redacts secrets raw and URL-encoded, longest first', () => {
    expect(redactSecrets('a=ab/c b=ab%2Fc c=ab', ['ab', 'ab/c'])).toBe('a=*** b=*** c=***');
    expect(redactSecrets('nothing', ['', 'zz'])).toBe('nothing');
  });

  it('shows URLs without credentials, query or fragment', () => {
    expect(displayUrl('https://user:pw@prom.example:9090/prometheus?token=x#y')).toBe(
      'https://prom.example:9090/prometheus',
    );
    expect(displayUrl('not a url')).toBe('(invalid URL)');
  });

  it('reads the version from package.json', () => {
    expect(revrollVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('classifies an unknown failure as unreachable, not transient, redacted', () => {
    const error = toHttpError(new Error('boom with s3cret'), (text) => text.replaceAll('s3cret', '***'));
    expect([error.kind, error.transient, error.detail]).toEqual(['unreachable', false, 'boom with ***']);
  });
});
