// Writes the artifacts generated from the policy schema: schema/policy.schema.json and
// docs/policy-reference.md. test/contract/generated.test.ts fails when they are stale.
import { mkdirSync, writeFileSync } from 'node:fs';
import { renderJsonSchema, renderReference } from '../src/policy/reference.ts';

const outputs: [URL, string][] = [
  [new URL('../schema/policy.schema.json', import.meta.url), renderJsonSchema()],
  [new URL('../docs/policy-reference.md', import.meta.url), renderReference()],
];

for (const [url, text] of outputs) {
  mkdirSync(new URL('.', url), { recursive: true });
  writeFileSync(url, text);
  console.log(`wrote ${url.pathname}`);
}
