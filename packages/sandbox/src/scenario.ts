/**
 * Scenario files: what a sandbox cluster contains (namespaces, workloads, Istio revisions, tags,
 * gateways, nodes) and how it behaves (start latency, revision health, traffic, faults). The zod
 * schema below is the single source of the format; docs/sandbox.md documents it field by field.
 * Built-ins live in ./scenarios/*.yaml; `generateScenario` builds large clusters for benchmarks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';

/** A scenario that cannot be used (unknown name, unreadable file, invalid content): the caller's input is wrong. */
export class ScenarioError extends Error {
  readonly code = 'SCENARIO_INVALID';
  override name = 'ScenarioError';
}

const labels = z.record(z.string(), z.string());
const rate = z.number().min(0).max(1);

export const healthSchema = z
  .object({
    errorRate: rate
      .default(0)
      .describe('fraction of requests the proxies of this revision fail with 503 (response_flags UF)'),
    latencyMs: z
      .object({ p50: z.number().positive().default(8), p99: z.number().positive().default(60) })
      .strict()
      .default({ p50: 8, p99: 60 })
      .describe('request latency through the proxies of this revision'),
    xdsRejectRate: rate.default(0).describe('fraction of xDS pushes the proxies reject (pilot_total_xds_rejects)'),
    pushErrorRate: rate
      .default(0)
      .describe('fraction of xDS pushes that fail to send (pilot_xds_pushes{type=~".*_senderr"})'),
  })
  .strict();

export const workloadSchema = z
  .object({
    kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet']).default('Deployment'),
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
    replicas: z.number().int().min(0).default(2).describe('ignored for DaemonSets (one pod per node)'),
    rps: z.number().min(0).default(10).describe('requests per second served by the whole workload'),
    errorRate: rate.default(0).describe("the application's own 5xx ratio (500), whatever the revision"),
    podLabels: labels.default({}).describe('extra pod template labels, e.g. sidecar.istio.io/inject: "false"'),
    image: z.string().default('docker.io/library/nginx:1.27'),
    hostNetwork: z.boolean().default(false),
  })
  .strict();

export const namespaceSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
    labels: labels.default({}),
    ambient: z
      .boolean()
      .optional()
      .describe('true: label the namespace istio.io/dataplane-mode=ambient (its pods are captured by ztunnel)'),
    workloads: z.array(workloadSchema).default([]),
  })
  .strict();

export const revisionSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'revision names use dashes, not dots (1-25-1)'),
    version: z.string().regex(/^\d+\.\d+\.\d+/),
    ready: z.boolean().default(true).describe('false: istiod pods never become Ready (injection through it fails)'),
    replicas: z.number().int().min(1).default(1),
    health: healthSchema.default(healthSchema.parse({})),
    ambient: z.boolean().optional().describe('installed with profile=ambient (PILOT_ENABLE_AMBIENT): waypoints'),
    multiNetwork: z.boolean().optional().describe('AMBIENT_ENABLE_MULTI_NETWORK: the istio-east-west class'),
  })
  .strict();

const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a lowercase RFC 1123 name');

/** A tag as a string (webhook and, with tagServices, Service on one revision), or split. */
const tagSchema = z.union([
  z.string(),
  z
    .object({
      revision: z.string().describe('what the tag webhook istio-revision-tag-<tag> points at'),
      service: z.string().optional().describe('what the tag Service istiod-revision-tag-<tag> points at (1.28+)'),
    })
    .strict(),
]);

const nodeAgentSchema = z
  .object({
    revision: z.string().describe('the istiod revision it gets config and certificates from'),
    version: z
      .string()
      .regex(/^\d+\.\d+\.\d+/)
      .optional()
      .describe("image tag; default: that revision's version"),
  })
  .strict();

const listenerSchema = z
  .object({
    // A SectionName: an RFC 1123 subdomain (dots allowed, unlike Service port names).
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'a lowercase RFC 1123 subdomain'),
    port: z.number().int().min(1).max(65535),
    protocol: z.enum(['HTTP', 'HTTPS', 'TCP', 'TLS', 'UDP', 'HBONE']).default('HTTP'),
    hostname: z.string().optional(),
    allowedRoutes: z
      .enum(['Same', 'All'])
      .default('Same')
      .describe('allowedRoutes.namespaces.from: routes from the same namespace, or from all'),
  })
  .strict();

export const gatewayApiGatewaySchema = z
  .object({
    name: dnsName,
    namespace: dnsName,
    class: z.string().default('istio').describe('gatewayClassName: istio, istio-east-west, or any other class'),
    labels: labels.optional().describe('Gateway labels, e.g. istio.io/rev: <revision or tag> to pin it'),
    annotations: labels.optional(),
    listeners: z
      .array(listenerSchema)
      .min(1)
      .default([{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: 'Same' }]),
    addresses: z
      .array(z.object({ type: z.enum(['IPAddress', 'Hostname']).default('IPAddress'), value: z.string() }).strict())
      .optional()
      .describe('more than one, or a Hostname: a "manual deployment" Gateway istiod does not deploy'),
    rps: z.number().min(0).default(50).describe('requests per second through the gateway'),
  })
  .strict();

export const waypointSchema = z
  .object({
    name: dnsName.default('waypoint'),
    namespace: dnsName,
    for: z.enum(['service', 'workload', 'all', 'none']).default('service').describe('istio.io/waypoint-for'),
    labels: labels.optional().describe('Gateway labels, e.g. istio.io/rev: <revision or tag>'),
    enrollNamespace: z.boolean().default(true).describe('label the namespace istio.io/use-waypoint=<name>'),
  })
  .strict();

export const routeSchema = z
  .object({
    name: dnsName,
    namespace: dnsName,
    gateway: dnsName.describe('the parent Gateway'),
    gatewayNamespace: dnsName.optional().describe("default: the route's namespace"),
    hostnames: z.array(z.string()).optional(),
    backend: z.object({ service: dnsName, port: z.number().int().min(1).max(65535).default(80) }).strict(),
  })
  .strict();

export const gatewayApiSchema = z
  .object({
    crds: z
      .boolean()
      .optional()
      .describe('Gateway API CRDs installed; default: true when gateways, waypoints or routes are listed'),
    version: z.string().default('v1.4.1').describe('bundle version of the CRDs'),
    gateways: z.array(gatewayApiGatewaySchema).default([]),
    waypoints: z.array(waypointSchema).default([]),
    routes: z.array(routeSchema).default([]),
  })
  .strict();

export const gatewaySchema = z
  .object({
    name: z.string().default('istio-ingressgateway'),
    namespace: z.string().default('istio-system'),
    revision: z.string(),
    replicas: z.number().int().min(1).default(2),
    rps: z.number().min(0).default(50),
  })
  .strict();

export const scenarioSchema = z
  .object({
    name: z.string(),
    description: z.string().optional(),
    nodes: z.number().int().min(1).default(3).describe('simulated nodes (DaemonSets run one pod per node)'),
    startLatencyMs: z.number().min(0).default(200).describe('simulated time from pod creation to Ready'),
    seed: z.number().int().default(1).describe('seed of the traffic randomness'),
    istio: z
      .object({
        defaultInstall: z
          .object({
            version: z.string(),
            ready: z.boolean().default(true),
            health: healthSchema.default(healthSchema.parse({})),
            ambient: z.boolean().optional(),
            multiNetwork: z.boolean().optional(),
          })
          .strict()
          .optional()
          .describe('an unrevisioned control plane (istiod + istio-sidecar-injector), revision "default"'),
        revisions: z.array(revisionSchema).default([]),
        tags: z
          .record(z.string(), tagSchema)
          .default({})
          .describe('tag name -> revision, e.g. default: 1-24-3; or {revision, service} for a half-moved tag'),
        tagServices: z
          .boolean()
          .optional()
          .describe('also render the tag Services istiod-revision-tag-<tag>, as istioctl 1.28+ does'),
        gateways: z.array(gatewaySchema).default([]),
        ztunnel: nodeAgentSchema.optional().describe('the ztunnel DaemonSet (ambient)'),
        cni: nodeAgentSchema.optional().describe('the istio-cni-node DaemonSet (ambient)'),
      })
      .strict()
      .default({ revisions: [], tags: {}, gateways: [] }),
    gatewayApi: gatewayApiSchema.optional(),
    loadBalancer: z
      .boolean()
      .optional()
      .describe('a cloud load balancer gives LoadBalancer Services an external IP (default true)'),
    namespaces: z.array(namespaceSchema).default([]),
    telemetry: z
      .object({
        tickMs: z.number().positive().default(250),
        durationBuckets: z.array(z.number().positive()).optional().describe("default: Istio's 19 buckets"),
        labels: z
          .enum(['full', 'minimal'])
          .default('full')
          .describe('label detail of the proxy metrics (minimal for very large scenarios)'),
      })
      .strict()
      .default({ tickMs: 250, labels: 'full' }),
    faults: z
      .object({
        metricsOutage: z.boolean().default(false),
        api: z
          .object({
            errorRate: rate,
            codes: z.array(z.union([z.literal(429), z.literal(500), z.literal(409)])),
            verbs: z.array(z.string()).optional(),
            resources: z.array(z.string()).optional(),
            latencyMs: z.number().min(0).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ metricsOutage: false }),
  })
  .strict()
  .superRefine((scenario, ctx) => {
    const revisions = new Set(scenario.istio.revisions.map((r) => r.name));
    if (scenario.istio.defaultInstall) revisions.add('default');
    for (const [tag, value] of Object.entries(scenario.istio.tags)) {
      const pointers: [string[], string | undefined][] =
        typeof value === 'string'
          ? [[[], value]]
          : [
              [['revision'], value.revision],
              [['service'], value.service],
            ];
      for (const [sub, revision] of pointers) {
        if (revision !== undefined && !revisions.has(revision))
          ctx.addIssue({
            code: 'custom',
            path: ['istio', 'tags', tag, ...sub],
            message: `revision "${revision}" is not installed`,
          });
      }
    }
    for (const agent of ['ztunnel', 'cni'] as const) {
      const revision = scenario.istio[agent]?.revision;
      if (revision !== undefined && !revisions.has(revision))
        ctx.addIssue({
          code: 'custom',
          path: ['istio', agent, 'revision'],
          message: `revision "${revision}" is not installed (a revision, not a tag)`,
        });
    }
    checkGatewayApi(scenario, ctx);
    const targets = new Set([...revisions, ...Object.keys(scenario.istio.tags)]);
    scenario.istio.gateways.forEach((g, i) => {
      if (!targets.has(g.revision))
        ctx.addIssue({
          code: 'custom',
          path: ['istio', 'gateways', i, 'revision'],
          message: `no revision or tag "${g.revision}"`,
        });
    });
    const seen = new Set<string>();
    scenario.namespaces.forEach((ns, i) => {
      if (seen.has(ns.name))
        ctx.addIssue({ code: 'custom', path: ['namespaces', i, 'name'], message: `duplicate namespace "${ns.name}"` });
      seen.add(ns.name);
    });
  });

type ScenarioOutput = z.output<typeof scenarioSchema>;

/** Namespaces, gateways and routes of the Gateway API section must fit together. */
function checkGatewayApi(scenario: ScenarioOutput, ctx: z.RefinementCtx): void {
  const api = scenario.gatewayApi;
  if (!api) return;
  const known = new Set([
    'default',
    'kube-system',
    'kube-public',
    'kube-node-lease',
    'istio-system',
    ...scenario.namespaces.map((n) => n.name),
  ]);
  const listed = api.gateways.length + api.waypoints.length + api.routes.length;
  if (api.crds === false && listed > 0)
    ctx.addIssue({
      code: 'custom',
      path: ['gatewayApi', 'crds'],
      message: 'the Gateway API CRDs are off, but gateways, waypoints or routes are listed',
    });
  const names = new Set<string>();
  const each = (list: 'gateways' | 'waypoints' | 'routes', items: { name: string; namespace: string }[]) =>
    items.forEach((item, i) => {
      if (!known.has(item.namespace))
        ctx.addIssue({
          code: 'custom',
          path: ['gatewayApi', list, i, 'namespace'],
          message: `namespace "${item.namespace}" is not in the scenario's namespaces`,
        });
      if (list === 'routes') return;
      const key = `${item.namespace}/${item.name}`;
      if (names.has(key))
        ctx.addIssue({ code: 'custom', path: ['gatewayApi', list, i, 'name'], message: `duplicate Gateway "${key}"` });
      names.add(key);
    });
  each('gateways', api.gateways);
  each('waypoints', api.waypoints);
  each('routes', api.routes);
  api.routes.forEach((r, i) => {
    if (!names.has(`${r.gatewayNamespace ?? r.namespace}/${r.gateway}`))
      ctx.addIssue({
        code: 'custom',
        path: ['gatewayApi', 'routes', i, 'gateway'],
        message: `no Gateway "${r.gateway}" in namespace "${r.gatewayNamespace ?? r.namespace}"`,
      });
  });
}

export type Scenario = ScenarioOutput;
export type ScenarioGateway = z.output<typeof gatewayApiGatewaySchema>;
export type ScenarioWaypoint = z.output<typeof waypointSchema>;
export type ScenarioRoute = z.output<typeof routeSchema>;

/** The revision a tag's webhook points at. */
export function tagRevision(value: string | { revision: string }): string {
  return typeof value === 'string' ? value : value.revision;
}
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type ScenarioWorkload = z.output<typeof workloadSchema>;

export const BUILTIN_SCENARIOS = [
  'demo',
  'bad-canary',
  'gateway-api',
  'gateway-dual-owner',
  'gateway-half-moved-tag',
  'ambient-sidecar-trap',
] as const;

/** Validates a scenario object; problems are reported as `path: message`, all at once. */
export function parseScenario(input: unknown, source = 'scenario'): Scenario {
  const result = scenarioSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ScenarioError(`${source} is invalid:\n  ${problems.join('\n  ')}`);
}

function builtinPath(name: string): string | undefined {
  // The package ships its sources: the built-ins sit next to this module.
  const here = fileURLToPath(new URL(`./scenarios/${name}.yaml`, import.meta.url));
  return existsSync(here) ? here : undefined;
}

/** Loads a built-in scenario by name (`demo`, `bad-canary`) or a scenario file by path. */
export function loadScenario(nameOrPath: string, cwd = '.'): Scenario {
  const builtin = (BUILTIN_SCENARIOS as readonly string[]).includes(nameOrPath) ? builtinPath(nameOrPath) : undefined;
  const path = builtin ?? resolve(cwd, nameOrPath);
  if (!existsSync(path)) {
    throw new ScenarioError(
      `scenario "${nameOrPath}" is neither a built-in (${BUILTIN_SCENARIOS.join(', ')}) nor a readable file`,
    );
  }
  let document: unknown;
  try {
    document = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ScenarioError(
      `scenario ${path} is not valid YAML: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return parseScenario(document, `scenario ${path}`);
}

export type GenerateOptions = {
  namespaces: number;
  /** Deployments per namespace. */
  workloads: number;
  /** Pods per Deployment. */
  replicas?: number;
  /** Stable revision name and version (the `default` tag points at it). */
  stable?: { name: string; version: string };
  /** Canary revision installed and ready; omit for none. */
  canary?: { name: string; version: string; health?: z.input<typeof healthSchema> };
  /** Fraction of namespaces labelled `istio-injection=enabled` (the rest `istio.io/rev=<stable>`). */
  injectionEnabledShare?: number;
  nodes?: number;
  startLatencyMs?: number;
  rps?: number;
  seed?: number;
};

/**
 * A large cluster for benchmarks: `namespaces` × `workloads` Deployments of `replicas` pods.
 * Uses a coarse latency histogram (8 buckets) and minimal proxy labels so the exposition stays
 * scrapeable at 20k pods.
 */
export function generateScenario(options: GenerateOptions): Scenario {
  const stable = options.stable ?? { name: '1-24-3', version: '1.24.3' };
  const share = options.injectionEnabledShare ?? 0.5;
  const pad = String(options.namespaces).length;
  const namespaces = Array.from({ length: options.namespaces }, (_, i) => ({
    name: `ns-${String(i).padStart(pad, '0')}`,
    labels:
      i < Math.round(options.namespaces * share) ? { 'istio-injection': 'enabled' } : { 'istio.io/rev': stable.name },
    workloads: Array.from({ length: options.workloads }, (_, j) => ({
      name: `app-${j}`,
      replicas: options.replicas ?? 1,
      rps: options.rps ?? 5,
    })),
  }));
  return parseScenario({
    name: `generated-${options.namespaces}x${options.workloads}`,
    nodes: options.nodes ?? 10,
    startLatencyMs: options.startLatencyMs ?? 50,
    seed: options.seed ?? 1,
    istio: {
      revisions: [
        { name: stable.name, version: stable.version, replicas: 2 },
        ...(options.canary
          ? [
              {
                name: options.canary.name,
                version: options.canary.version,
                replicas: 2,
                health: options.canary.health ?? {},
              },
            ]
          : []),
      ],
      tags: { default: stable.name },
      gateways: [{ revision: stable.name }],
    },
    namespaces: [{ name: 'kube-system' }, ...namespaces],
    telemetry: { durationBuckets: [5, 10, 25, 50, 100, 250, 1000, 5000], labels: 'minimal' },
  });
}
