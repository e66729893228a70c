/**
 * Faults on demand: a revision's health profile (5xx, latency, xDS rejects, push send errors),
 * an istiod crash (its pods go not Ready, so injection through it fails), API faults (Status
 * errors, connection resets, lost responses, slow responses, dropped watches; seeded dice: same
 * seed, same sequence), admission webhooks that time out, and a metrics outage. Driven by the
 * scenario at start (its `seed` seeds the API faults), by code (`sandbox.faults`), or over HTTP
 * on the API server:
 *
 *   GET  /sandbox/state    summary of revisions, tags, pods, proxies and active faults
 *   GET  /sandbox/faults   active faults
 *   POST /sandbox/faults   {"revisions": {"1-25-1": {"errorRate": 0.3}}, "crash": ["1-25-1"],
 *                           "recover": ["1-25-1"], "api": {"seed": 7, "errorRate": 0.2, "codes": [500]} | null,
 *                           "webhooks": {"timeout": ["rev.namespace.sidecar-injector.istio.io"]},
 *                           "metricsOutage": true}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { ApiFaults } from './api-server.ts';
import type { KubeObject } from './store.ts';
import { HEALTHY, type HealthProfile } from './telemetry.ts';

export type FaultState = {
  revisions: Record<string, HealthProfile>;
  crashedRevisions: string[];
  metricsOutage: boolean;
  api: ApiFaults;
  /** Webhooks (by webhook or configuration name) whose calls time out. */
  webhookTimeouts: string[];
};

const healthPatch = z
  .object({
    errorRate: z.number().min(0).max(1),
    latencyMs: z.object({ p50: z.number().positive(), p99: z.number().positive() }).partial(),
    xdsRejectRate: z.number().min(0).max(1),
    pushErrorRate: z.number().min(0).max(1),
  })
  .partial();

const rate = z.number().min(0).max(1);

export const apiFaultsSchema = z
  .object({
    seed: z.number().int().optional(),
    errorRate: rate.default(0),
    codes: z
      .array(z.union([z.literal(429), z.literal(500), z.literal(409), z.literal(503), z.literal(504)]))
      .default([]),
    verbs: z.array(z.string()).optional(),
    resources: z.array(z.string()).optional(),
    latencyMs: z
      .union([
        z.number().min(0),
        z
          .object({ min: z.number().min(0), max: z.number().min(0) })
          .strict()
          .refine((l) => l.max >= l.min, 'max must be at least min'),
      ])
      .optional(),
    resetRate: rate.optional(),
    lostResponseRate: rate.optional(),
    lostResponse: z.enum(['reset', 'hang']).optional(),
    hangMs: z.number().int().min(0).optional(),
    watch: z
      .object({ dropAfterEvents: z.number().int().min(1), dropAfterMs: z.number().int().min(1) })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

export const faultRequestSchema = z
  .object({
    revisions: z.record(z.string(), healthPatch),
    crash: z.array(z.string()),
    recover: z.array(z.string()),
    api: apiFaultsSchema.nullable(),
    webhooks: z
      .object({ timeout: z.array(z.string()), recover: z.array(z.string()) })
      .partial()
      .strict(),
    metricsOutage: z.boolean(),
  })
  .partial()
  .strict();

export type FaultRequest = z.input<typeof faultRequestSchema>;
export type HealthPatch = z.infer<typeof healthPatch>;

export type FaultControl = {
  health(revision: string): HealthProfile;
  setRevisionHealth(revision: string, patch: HealthPatch): void;
  crashIstiod(revision: string): void;
  recoverIstiod(revision: string): void;
  isCrashed(revision: string): boolean;
  /** The kubelet's readiness gate: istiod pods of a crashed revision are not Ready. */
  podMayBeReady(pod: KubeObject): boolean;
  /** Replaces the API faults (`null` clears them) and restarts their dice from the seed. */
  setApiFaults(faults: z.input<typeof apiFaultsSchema> | null): void;
  setMetricsOutage(outage: boolean): void;
  /** Makes calls to a webhook (webhook name or configuration name) time out, or not. */
  setWebhookTimeout(name: string, timesOut: boolean): void;
  /** Whether calling this webhook times out (admission asks before calling it). */
  webhookTimesOut(configuration: string, webhook: string): boolean;
  apply(request: FaultRequest): FaultState;
  state(): FaultState;
};

export type FaultHooks = {
  /** Re-evaluates readiness of the istiod namespace after a crash or recovery. */
  refreshReadiness?: () => void;
  setMetricsOutage?: (outage: boolean) => void;
  apiFaults?: ApiFaults;
  /** Restarts the API server's dice after the API faults changed. */
  reseedApi?: () => void;
};

export function createFaults(
  initial: {
    revisions?: Record<string, HealthPatch>;
    crashedRevisions?: string[];
    metricsOutage?: boolean;
    /** Default seed of the API faults' dice (the scenario's seed). */
    seed?: number;
  } = {},
) {
  const revisions = new Map<string, HealthProfile>();
  const crashed = new Set(initial.crashedRevisions ?? []);
  const webhookTimeouts = new Set<string>();
  let metricsOutage = initial.metricsOutage ?? false;
  let hooks: FaultHooks = {};
  const detachedApi: ApiFaults = { errorRate: 0, codes: [] };

  const merge = (base: HealthProfile, patch: HealthPatch): HealthProfile => ({
    errorRate: patch.errorRate ?? base.errorRate,
    latencyMs: { p50: patch.latencyMs?.p50 ?? base.latencyMs.p50, p99: patch.latencyMs?.p99 ?? base.latencyMs.p99 },
    xdsRejectRate: patch.xdsRejectRate ?? base.xdsRejectRate,
    pushErrorRate: patch.pushErrorRate ?? base.pushErrorRate,
  });
  for (const [name, patch] of Object.entries(initial.revisions ?? {})) revisions.set(name, merge(HEALTHY, patch));

  const apiFaults = () => hooks.apiFaults ?? detachedApi;

  const control: FaultControl & { attach(next: FaultHooks): void } = {
    attach(next) {
      hooks = next;
      if (next.apiFaults) {
        Object.assign(next.apiFaults, detachedApi);
        next.reseedApi?.();
      }
      next.setMetricsOutage?.(metricsOutage);
    },
    health: (revision) => revisions.get(revision) ?? HEALTHY,
    setRevisionHealth(revision, patch) {
      revisions.set(revision, merge(control.health(revision), patch));
    },
    crashIstiod(revision) {
      crashed.add(revision);
      hooks.refreshReadiness?.();
    },
    recoverIstiod(revision) {
      crashed.delete(revision);
      hooks.refreshReadiness?.();
    },
    isCrashed: (revision) => crashed.has(revision),
    podMayBeReady(pod) {
      const labels = pod.metadata.labels;
      return !(labels?.app === 'istiod' && crashed.has(labels['istio.io/rev'] ?? 'default'));
    },
    setApiFaults(faults) {
      const target = apiFaults();
      // The API server's object is live: reset every field, then set the new ones.
      for (const key of Object.keys(target)) delete (target as Record<string, unknown>)[key];
      const parsed = apiFaultsSchema.parse(faults ?? {});
      Object.assign(target, { ...parsed, seed: parsed.seed ?? initial.seed ?? 1 });
      hooks.reseedApi?.();
    },
    setMetricsOutage(outage) {
      metricsOutage = outage;
      hooks.setMetricsOutage?.(outage);
    },
    setWebhookTimeout(name, timesOut) {
      if (timesOut) webhookTimeouts.add(name);
      else webhookTimeouts.delete(name);
    },
    webhookTimesOut: (configuration, webhook) => webhookTimeouts.has(webhook) || webhookTimeouts.has(configuration),
    apply(request) {
      for (const [name, patch] of Object.entries(request.revisions ?? {})) control.setRevisionHealth(name, patch);
      for (const name of request.crash ?? []) crashed.add(name);
      for (const name of request.recover ?? []) crashed.delete(name);
      if ((request.crash?.length ?? 0) + (request.recover?.length ?? 0) > 0) hooks.refreshReadiness?.();
      if (request.api !== undefined) control.setApiFaults(request.api);
      for (const name of request.webhooks?.timeout ?? []) control.setWebhookTimeout(name, true);
      for (const name of request.webhooks?.recover ?? []) control.setWebhookTimeout(name, false);
      if (request.metricsOutage !== undefined) control.setMetricsOutage(request.metricsOutage);
      return control.state();
    },
    state() {
      return {
        revisions: Object.fromEntries(revisions),
        crashedRevisions: [...crashed].sort(),
        metricsOutage,
        api: { ...apiFaults() },
        webhookTimeouts: [...webhookTimeouts].sort(),
      };
    },
  };
  return control;
}

export type Faults = ReturnType<typeof createFaults>;

/**
 * The control endpoint, as an API server route. `summary` supplies the `/sandbox/state` body.
 */
export function faultRoutes(faults: FaultControl, summary: () => unknown) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/sandbox/faults' && path !== '/sandbox/state') return false;
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(`${JSON.stringify(body, null, 2)}\n`);
    };
    if (req.method === 'GET') {
      send(200, path === '/sandbox/state' ? summary() : faults.state());
      return true;
    }
    if (req.method !== 'POST' || path !== '/sandbox/faults') {
      send(405, { error: `${req.method} ${path} is not supported (GET /sandbox/state, GET|POST /sandbox/faults)` });
      return true;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch (error) {
      send(400, { error: `invalid JSON: ${error instanceof Error ? error.message : String(error)}` });
      return true;
    }
    const result = faultRequestSchema.safeParse(parsed);
    if (!result.success) {
      send(400, {
        error: 'invalid fault request',
        issues: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      });
      return true;
    }
    send(200, faults.apply(result.data));
    return true;
  };
}
