/**
 * charts/revroll without Helm: values against values.schema.json (draft-07, ajv), every template
 * well-formed (actions, blocks, YAML structure; see helm-template.ts for the skeleton rendering),
 * Chart.yaml metadata, and the Deployment's shape (serve, probes, hardening, mounts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadPolicyText } from '../../src/policy/load.ts';
import { actions, checkBlocks, PLACEHOLDER, skeleton } from './helm-template.ts';

const root = new URL('../../', import.meta.url).pathname;
const chart = join(root, 'charts/revroll');
const read = (path: string) => readFileSync(join(chart, path), 'utf8');

const values = parse(read('values.yaml')) as Record<string, unknown>;
const schema = JSON.parse(read('values.schema.json')) as object;
const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(schema);

/** values.yaml with `patch` merged in (objects merged, everything else replaced). */
function withValues(patch: Record<string, unknown>): Record<string, unknown> {
  const merge = (base: unknown, over: unknown): unknown => {
    if (
      typeof base !== 'object' ||
      base === null ||
      Array.isArray(base) ||
      typeof over !== 'object' ||
      over === null ||
      Array.isArray(over)
    )
      return over;
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [key, value] of Object.entries(over)) out[key] = merge(out[key], value);
    return out;
  };
  return merge(structuredClone(values), patch) as Record<string, unknown>;
}

describe('charts/revroll values', () => {
  it('values.yaml is valid against values.schema.json', () => {
    expect(validate(values), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it.each([
    [
      'two replicas, secrets from env and files, a ServiceMonitor, a digest',
      {
        replicaCount: 2,
        image: { repository: 'registry.example/mesh/revroll', digest: `sha256:${'a'.repeat(64)}` },
        secretEnv: [{ name: 'SLACK_BOT_TOKEN', secretName: 'revroll-slack', key: 'bot-token' }],
        secretMounts: [{ name: 'slack', secretName: 'revroll-slack', mountPath: '/var/run/secrets/revroll-slack' }],
        serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
        rbac: { uninstall: true },
        prometheusUrl: 'http://prometheus-operated.monitoring:9090',
      },
    ],
    ['policies inline', { policies: { 'nightly.yaml': 'apiVersion: revroll.dev/v1alpha1\n' } }],
    ['an existing policies ConfigMap', { existingPoliciesConfigMap: 'mesh-upgrade-policies' }],
    [
      'a percentage PDB and CPU as a number',
      { podDisruptionBudget: { enabled: true, maxUnavailable: '50%' }, resources: { requests: { cpu: 1 } } },
    ],
    ['as a subchart (Helm adds global)', { global: { imageRegistry: 'x' } }],
  ])('accepts %s', (_name, patch) => {
    const candidate = withValues(patch);
    expect(validate(candidate), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it.each([
    ['replicas as a string', { replicaCount: '2' }, '/replicaCount'],
    ['an unknown top-level key (a typo)', { replicas: 2 }, ''],
    ['a pull policy Kubernetes does not know', { image: { pullPolicy: 'Sometimes' } }, '/image/pullPolicy'],
    ['a policy file name without .yaml', { policies: { nightly: 'kind: UpgradePolicy' } }, '/policies'],
    [
      'a secret env var without its key',
      { secretEnv: [{ name: 'SLACK_BOT_TOKEN', secretName: 'revroll-slack' }] },
      '/secretEnv/0',
    ],
    [
      'a relative secret mount path',
      { secretMounts: [{ name: 'slack', secretName: 'revroll-slack', mountPath: 'secrets' }] },
      '/secretMounts/0/mountPath',
    ],
    [
      'a writable root filesystem',
      { securityContext: { readOnlyRootFilesystem: false } },
      '/securityContext/readOnlyRootFilesystem',
    ],
    [
      'privilege escalation',
      { securityContext: { allowPrivilegeEscalation: true } },
      '/securityContext/allowPrivilegeEscalation',
    ],
    ['rbac.uninstall as a string', { rbac: { uninstall: 'yes' } }, '/rbac/uninstall'],
    ['a port out of range', { service: { port: 70000 } }, '/service/port'],
    ['a Prometheus URL without scheme', { prometheusUrl: 'prometheus:9090' }, '/prometheusUrl'],
    ['a state namespace that is not a DNS label', { stateNamespace: 'Revroll_System' }, '/stateNamespace'],
  ])('rejects %s', (_name, patch, path) => {
    expect(validate(withValues(patch))).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toContain(path);
  });

  it('the example policy in the comments of values.yaml passes revroll lint', () => {
    const text = read('values.yaml');
    const block = /^# {2}nightly\.yaml: \|\n((?:# {4}.*\n)+)/m.exec(text)?.[1];
    expect(block).toBeDefined();
    const policy = (block ?? '').replace(/^# {4}/gm, '');
    const result = loadPolicyText(policy, 'values.yaml#policies');
    expect(result.problems).toEqual([]);
    expect(result.policy?.metadata.name).toBe('nightly');
  });
});

describe('charts/revroll Chart.yaml', () => {
  it('is a v2 chart named revroll whose appVersion is the package version', () => {
    const meta = parse(read('Chart.yaml')) as Record<string, unknown>;
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(meta).toMatchObject({ apiVersion: 'v2', name: 'revroll', type: 'application', appVersion: pkg.version });
    expect(meta.version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  });
});

const templateDir = join(chart, 'templates');
const templates = readdirSync(templateDir).sort();
const yamlTemplates = templates.filter((f) => f.endsWith('.yaml'));

describe('charts/revroll templates', () => {
  it('has every template of the chart', () => {
    expect(templates).toEqual(
      expect.arrayContaining([
        '_helpers.tpl',
        'NOTES.txt',
        'deployment.yaml',
        'serviceaccount.yaml',
        'clusterrole.yaml',
        'clusterrolebinding.yaml',
        'role.yaml',
        'rolebinding.yaml',
        'configmap-policies.yaml',
        'service.yaml',
        'servicemonitor.yaml',
        'pdb.yaml',
      ]),
    );
  });

  it.each(templates)('%s has balanced actions and blocks', (file) => {
    const text = readFileSync(join(templateDir, file), 'utf8');
    expect(actions(text, file).length).toBeGreaterThan(0);
    expect(() => checkBlocks(text, file)).not.toThrow();
  });

  it('_helpers.tpl defines every template the others include', () => {
    const helpers = readFileSync(join(templateDir, '_helpers.tpl'), 'utf8');
    const defined = new Set([...helpers.matchAll(/\{\{-? define "([^"]+)"/g)].map((m) => m[1]));
    const used = new Set(
      templates.flatMap((f) =>
        [...readFileSync(join(templateDir, f), 'utf8').matchAll(/include "([^"]+)"/g)].map((m) => m[1]),
      ),
    );
    expect([...used].filter((name) => !defined.has(name))).toEqual([]);
  });

  // Two skeletons per template: every `then` branch kept, then every `else` branch, so both
  // sides of each condition are parsed.
  it.each(yamlTemplates.flatMap((file) => [[file, 'then'] as const, [file, 'else'] as const]))(
    '%s parses as Kubernetes YAML (%s branches)',
    (file, branch) => {
      const text = readFileSync(join(templateDir, file), 'utf8');
      const rendered = skeleton(text, file, () => branch === 'then');
      const documents = parseAllDocuments(rendered);
      for (const doc of documents) {
        expect(doc.errors.map((e) => e.message)).toEqual([]);
        const object = doc.toJS() as Record<string, unknown> | null;
        if (object === null) continue;
        expect(object.apiVersion, `${file}: apiVersion`).toEqual(expect.any(String));
        expect(object.kind, `${file}: kind`).toEqual(expect.any(String));
        expect(object.metadata, `${file}: metadata`).toEqual(expect.objectContaining({ name: expect.any(String) }));
      }
      if (branch === 'then') expect(documents.filter((d) => d.toJS() !== null)).toHaveLength(1);
    },
  );
});

type Container = {
  args: string[];
  env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext: unknown;
  livenessProbe: unknown;
  readinessProbe: unknown;
  resources: unknown;
};

describe('charts/revroll Deployment', () => {
  const rendered = parse(
    skeleton(readFileSync(join(templateDir, 'deployment.yaml'), 'utf8'), 'deployment.yaml', () => true),
  ) as {
    spec: {
      template: {
        spec: {
          containers: Container[];
          volumes: { name: string; emptyDir?: unknown; configMap?: unknown }[];
          securityContext: unknown;
          serviceAccountName: string;
        };
      };
    };
  };
  const pod = rendered.spec.template.spec;
  const container = pod.containers[0] as Container;

  it('runs `revroll serve` on the mounted policies, listening on the http port', () => {
    expect(container.args.slice(0, 5)).toEqual([
      'serve',
      '--policies',
      '/etc/revroll/policies',
      '--listen',
      '0.0.0.0:8080',
    ]);
    expect(container.args).toContain('--state-namespace');
    expect(container.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: 8080 })]);
    expect(container.volumeMounts).toEqual(
      expect.arrayContaining([{ name: 'policies', mountPath: '/etc/revroll/policies', readOnly: true }]),
    );
    expect(pod.volumes.find((v) => v.name === 'policies')?.configMap).toEqual({ name: PLACEHOLDER });
  });

  it('names the replica from the downward API', () => {
    expect(container.env).toEqual(
      expect.arrayContaining([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]),
    );
  });

  it('gives the read-only root filesystem one writable emptyDir at /tmp', () => {
    expect(container.volumeMounts).toEqual(expect.arrayContaining([{ name: 'tmp', mountPath: '/tmp' }]));
    expect(pod.volumes.find((v) => v.name === 'tmp')?.emptyDir).toBeDefined();
  });

  it('takes probes, resources and security contexts from values, which are hardened by default', () => {
    const text = readFileSync(join(templateDir, 'deployment.yaml'), 'utf8');
    for (const key of ['livenessProbe', 'readinessProbe', 'resources', 'securityContext', 'podSecurityContext'])
      expect(text).toContain(`toYaml .Values.${key} |`);
    expect(values.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
    expect(values.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'http' } });
    expect(values.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(values.podSecurityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(values.resources).toMatchObject({
      requests: { cpu: expect.any(String), memory: expect.any(String) },
      limits: { memory: expect.any(String) },
    });
  });
});
