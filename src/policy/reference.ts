/**
 * Artifacts generated from the zod schema: the JSON Schema editors use
 * (`schema/policy.schema.json`) and the Markdown reference (`docs/policy-reference.md`).
 * Both are rendered from the same JSON Schema so they cannot disagree; a contract test fails
 * when the committed files differ from what these functions produce.
 */
import { z } from 'zod';
import { PolicySchema } from './schema.ts';
import { TEMPLATE_VARIABLES } from './promql.ts';

/** Where the published schema lives; editors resolve `$schema` comments against files anyway. */
export const POLICY_SCHEMA_ID = 'https://revroll.dev/schema/policy.schema.json';

/** A JSON Schema node, as far as the renderer reads it. */
export type JsonSchemaNode = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  items?: JsonSchemaNode;
  additionalProperties?: boolean | JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  [key: string]: unknown;
};

let cached: JsonSchemaNode | undefined;

/**
 * The policy's JSON Schema as authors see it (`io: 'input'`: defaulted fields are optional).
 * Refinements (exactly-one-of, cross-field rules) cannot be expressed and are left to the loader.
 */
export function policyJsonSchema(): JsonSchemaNode {
  cached ??= {
    $id: POLICY_SCHEMA_ID,
    title: 'revroll UpgradePolicy',
    ...(z.toJSONSchema(PolicySchema, { io: 'input', target: 'draft-2020-12' }) as JsonSchemaNode),
  };
  return cached;
}

/** `schema/policy.schema.json`, exactly as committed. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}

/** The schema node at a path of keys and indices, or undefined when the schema has none. */
export function schemaAt(path: readonly PropertyKey[]): JsonSchemaNode | undefined {
  let node: JsonSchemaNode | undefined = policyJsonSchema();
  for (const segment of path) {
    if (node === undefined) return undefined;
    if (typeof segment === 'number') node = node.items;
    else if (node.properties !== undefined) node = node.properties[String(segment)];
    else node = typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
  }
  return node;
}

/** The field names the schema allows at a path (for "did you mean" hints). */
export function allowedKeysAt(path: readonly PropertyKey[]): string[] {
  return Object.keys(schemaAt(path)?.properties ?? {});
}

const SAFE = Number.MAX_SAFE_INTEGER;

function typeOf(node: JsonSchemaNode): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum !== undefined) return node.enum.map((value) => `\`${String(value)}\``).join(' | ');
  const type = Array.isArray(node.type) ? node.type.join(' | ') : node.type;
  if (type === 'array') return `list of ${node.items ? typeOf(node.items) : 'any'}`;
  if (type === 'object' && node.properties === undefined && typeof node.additionalProperties === 'object') {
    return `map of string to ${typeOf(node.additionalProperties)}`;
  }
  if (type === 'object') return 'mapping';
  if (type === 'integer' || type === 'number') {
    const low = node.minimum !== undefined && node.minimum > -SAFE ? node.minimum : node.exclusiveMinimum;
    const high = node.maximum !== undefined && node.maximum < SAFE ? node.maximum : undefined;
    const range =
      low === undefined && high === undefined
        ? ''
        : ` (${low ?? ''}..${high ?? ''}${node.exclusiveMinimum !== undefined ? ', exclusive min' : ''})`;
    return `${type}${range}`;
  }
  return type ?? 'any';
}

function defaultOf(node: JsonSchemaNode): string {
  return node.default === undefined ? '' : `\`${JSON.stringify(node.default)}\``;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The object schema that documents a field: itself, or the items of a list of objects. */
function objectBehind(node: JsonSchemaNode): JsonSchemaNode | undefined {
  if (node.properties !== undefined) return node;
  if (node.items?.properties !== undefined) return node.items;
  return undefined;
}

/** One flat `###` section per mapping; the dotted path in the heading shows the nesting. */
function renderSection(path: string, node: JsonSchemaNode, out: string[]): void {
  out.push(path === '' ? '### Top level' : `### \`${path}\``, '');
  if (node.description !== undefined) out.push(node.description, '');
  out.push('| Field | Type | Required | Default | Description |', '| --- | --- | --- | --- | --- |');
  const required = new Set(node.required ?? []);
  const children: [string, JsonSchemaNode][] = [];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    out.push(
      `| \`${name}\` | ${cell(typeOf(child))} | ${required.has(name) ? 'yes' : 'no'} | ${cell(defaultOf(child))} | ${cell(child.description ?? '')} |`,
    );
    const nested = objectBehind(child);
    const childPath = path === '' ? name : `${path}.${name}`;
    if (nested !== undefined)
      children.push([child.items?.properties !== undefined ? `${childPath}[]` : childPath, nested]);
  }
  out.push('');
  for (const [childPath, child] of children) renderSection(childPath, child, out);
}

/** `docs/policy-reference.md`, exactly as committed. */
export function renderReference(): string {
  const schema = policyJsonSchema();
  const out: string[] = [
    '# Policy reference',
    '',
    '<!-- Generated by `npm run gen` from src/policy/schema.ts. Do not edit by hand. -->',
    '',
    `A policy is one YAML document of kind \`UpgradePolicy\`. Add \`# yaml-language-server: $schema=../schema/policy.schema.json\` as its first line for editor completion. \`revroll lint\` checks everything below plus the cross-field rules.`,
    '',
    '- Durations are strings such as `90s`, `15m`, `1h30m`, `500ms` (units d, h, m, s, ms, largest first). A bare number is an error.',
    '- Secrets are never written in a policy: every secret field takes `{env: NAME}` or `{file: /path}`.',
    '- Gates: a wave fails when the Fail evaluations of one enforced check reach `failureLimit`; the wave follows `onError` when consecutive Error evaluations of one check reach `consecutiveErrorLimit`.',
    '',
    '## Query template variables',
    '',
    'Custom gate queries are PromQL with variables written `{{name}}`. Unknown variables are errors.',
    '',
    '| Variable | Expands to |',
    '| --- | --- |',
    ...Object.entries(TEMPLATE_VARIABLES).map(([name, text]) => `| \`{{${name}}}\` | ${cell(text)} |`),
    '',
    '## Fields',
    '',
  ];
  renderSection('', schema, out);
  return `${out.join('\n').trimEnd()}\n`;
}
