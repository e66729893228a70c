import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderJsonSchema, renderReference } from '../../src/policy/reference.ts';

function committed(path: string): string {
  try {
    return readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
  } catch {
    return '';
  }
}

describe('generated artifacts', () => {
  it.each([
    ['schema/policy.schema.json', renderJsonSchema],
    ['docs/policy-reference.md', renderReference],
  ])('%s matches the schema (run npm run gen)', (path, render) => {
    expect(committed(path) === render(), `${path} is stale: run npm run gen`).toBe(true);
  });

  it('the JSON Schema keeps defaulted fields optional for authors', () => {
    const schema = JSON.parse(renderJsonSchema()) as { $id: string; properties: { spec: { required: string[] } } };
    expect(schema.$id).toBe('https://revroll.dev/schema/policy.schema.json');
    expect(schema.properties.spec.required.sort()).toEqual(['revisions', 'waves']);
  });
});
