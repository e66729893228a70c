/**
 * The mesh's telemetry, served on one `/metrics` endpoint of its own (127.0.0.1, port 0 by
 * default) that Prometheus scrapes with `honor_labels: true`. Since every proxy and istiod shares
 * this endpoint, the target labels a per-pod scrape would add (`namespace`, `pod`, and the pod
 * label `istio.io/rev` as `istio_io_rev`, reference §7) are written on each sample instead.
 *
 * - Proxies (injected Running pods): `istio_requests_total` and the
 *   `istio_request_duration_milliseconds` histogram (sidecars report `reporter="destination"`,
 *   gateways `reporter="source"`), plus `istio_build{component="proxy"}`.
 * - istiod pods: `istio_build{component="pilot"}`, `pilot_xds`, `pilot_xds_pushes` (with
 *   `*_senderr` types), `pilot_total_xds_rejects`, `pilot_proxy_convergence_time`,
 *   `sidecar_injection_*_total`.
 *
 * Traffic advances on a simulation tick: each Ready proxy receives its workload's `rps` split
 * across Ready replicas; 5xx and latency follow the health profile of the revision the proxy
 * belongs to, plus the workload's own error rate. Randomness is a seeded PRNG.
 *
 * Scale: istiod-level metrics and `istio_build` live in a prom-client Registry. The per-proxy
 * request counters and histograms (20,000 pods × 20+ lines) are kept as plain numbers per pod
 * and rendered to text at scrape time, which prom-client's per-child objects cannot do fast enough.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from './clock.ts';
import type { ChangeEvent, KubeObject, Store } from './store.ts';
import type { SimTypes } from './controllers/resource-types.ts';
import { workloadOf } from './controllers/pod-util.ts';
import type { InjectionRecord } from './admission.ts';

export type HealthProfile = {
  /** Fraction of requests a proxy of this revision fails with 503 (response_flags UF). */
  errorRate: number;
  /** Request latency through a proxy of this revision (log-normal through p50 and p99). */
  latencyMs: { p50: number; p99: number };
  /** NACKs per xDS push sent by istiod of this revision. */
  xdsRejectRate: number;
  /** Fraction of xDS pushes that fail to send (`*_senderr`). */
  pushErrorRate: number;
};

export const HEALTHY: HealthProfile = {
  errorRate: 0,
  latencyMs: { p50: 8, p99: 60 },
  xdsRejectRate: 0,
  pushErrorRate: 0,
};

export type WorkloadTraffic = { rps: number; errorRate: number };

/** Istio's default buckets for istio_request_duration_milliseconds. */
export const ISTIO_DURATION_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];
const CONVERGENCE_BUCKETS = [0.1, 0.5, 1, 3, 5, 10, 20, 30];
const XDS_TYPES = ['cds', 'eds', 'lds', 'rds'];
const CODES = [
  { code: '200', flags: '-' },
  { code: '500', flags: '-' }, // the application's own errors
  { code: '503', flags: 'UF' }, // failures the proxy itself produces (a bad revision)
] as const;

type ProxyEntry = {
  namespace: string;
  pod: string;
  workloadKey: string;
  workload: string;
  /** The scenario's traffic for the workload (static, looked up once). */
  traffic: WorkloadTraffic;
  revision: string;
  gateway: boolean;
  ready: boolean;
  /** Rendered label sets per code (without braces), built once. */
  labels: string[];
  /** Whether the series of a code has been created (inc(0) or first traffic). */
  live: boolean[];
  counts: Float64Array; // per code
  sums: Float64Array; // per code
  buckets: Float64Array; // code-major, one slot per finite bucket
  buildLabels: Record<string, string>;
};

type IstiodEntry = {
  namespace: string;
  pod: string;
  revision: string;
  version: string;
  ready: boolean;
  labels: Record<string, string>;
};

export type Telemetry = {
  /** URL of the metrics endpoint (`http://127.0.0.1:<port>/metrics`). */
  readonly url: string;
  readonly registry: Registry;
  /** The exposition text (what a scrape returns). */
  render(): Promise<string>;
  /** Advances traffic by the simulated time since the last tick (also runs on a timer). */
  tick(): void;
  /** 503 on /metrics while true (a metrics outage). */
  setOutage(outage: boolean): void;
  outage(): boolean;
  /** Counts an injection decision on the istiod of that revision. */
  recordInjection(record: InjectionRecord): void;
  proxyCount(): number;
  close(): Promise<void>;
};

export function createTelemetry(options: {
  store: Store;
  types: SimTypes;
  clock: Clock;
  seed?: number;
  tickMs?: number;
  port?: number;
  durationBuckets?: number[];
  /**
   * `full`: the labels Istio's stats filter writes for HTTP (canonical service/revision, service
   * name/namespace, protocol, security policy). `minimal`: only reporter, source/destination
   * workload, destination service, response code/flags, namespace, pod and istio_io_rev (halves
   * the exposition of very large scenarios).
   */
  labels?: 'full' | 'minimal';
  health: (revision: string) => HealthProfile;
  traffic: (namespace: string, workload: string, gateway: boolean) => WorkloadTraffic;
}): Promise<Telemetry> {
  const { store, types, clock } = options;
  const random = mulberry32(options.seed ?? 1);
  const bounds = options.durationBuckets ?? ISTIO_DURATION_BUCKETS;
  const boundLabels = bounds.map((b) => String(b));
  const nb = bounds.length;
  const proxies = new Map<string, ProxyEntry>();
  const istiods = new Map<string, IstiodEntry>();
  const readyByWorkload = new Map<string, number>();
  let outage = false;
  let lastTick = clock.elapsedMs();
  const cdfCache = new Map<string, { cdf: Float64Array; mean: number }>();

  const registry = new Registry();
  const podLabelNames = ['namespace', 'pod', 'istio_io_rev'];
  const build = new Gauge({
    name: 'istio_build',
    help: 'Istio component build info',
    labelNames: ['component', 'tag', ...podLabelNames],
    registers: [registry],
  });
  const xds = new Gauge({
    name: 'pilot_xds',
    help: 'Number of endpoints connected to this pilot using XDS.',
    labelNames: ['version', ...podLabelNames],
    registers: [registry],
  });
  const pushes = new Counter({
    name: 'pilot_xds_pushes',
    help: 'Pilot build and send errors for lds, rds, cds and eds.',
    labelNames: ['type', ...podLabelNames],
    registers: [registry],
  });
  const rejects = new Counter({
    name: 'pilot_total_xds_rejects',
    help: 'Total number of XDS responses from pilot rejected by proxy.',
    labelNames: ['type', ...podLabelNames],
    registers: [registry],
  });
  const convergence = new Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Delay in seconds between config change and a proxy receiving all required configuration.',
    labelNames: podLabelNames,
    buckets: CONVERGENCE_BUCKETS,
    registers: [registry],
  });
  const injection = {
    requests: new Counter({
      name: 'sidecar_injection_requests_total',
      help: 'Total number of sidecar injection requests.',
      labelNames: podLabelNames,
      registers: [registry],
    }),
    success: new Counter({
      name: 'sidecar_injection_success_total',
      help: 'Total number of successful sidecar injection requests.',
      labelNames: podLabelNames,
      registers: [registry],
    }),
    failure: new Counter({
      name: 'sidecar_injection_failure_total',
      help: 'Total number of failed sidecar injection requests.',
      labelNames: podLabelNames,
      registers: [registry],
    }),
    skip: new Counter({
      name: 'sidecar_injection_skip_total',
      help: 'Total number of skipped sidecar injection requests.',
      labelNames: podLabelNames,
      registers: [registry],
    }),
  };

  function distribution(profile: HealthProfile): { cdf: Float64Array; mean: number } {
    const p50 = Math.max(0.01, profile.latencyMs.p50);
    const p99 = Math.max(p50 * 1.0001, profile.latencyMs.p99);
    const cacheKey = `${p50}/${p99}`;
    let cached = cdfCache.get(cacheKey);
    if (!cached) {
      const mu = Math.log(p50);
      const sigma = (Math.log(p99) - mu) / 2.3263;
      const cdf = new Float64Array(nb);
      for (let i = 0; i < nb; i++) cdf[i] = normalCdf((Math.log(bounds[i] ?? 1) - mu) / sigma);
      cached = { cdf, mean: Math.exp(mu + (sigma * sigma) / 2) };
      cdfCache.set(cacheKey, cached);
    }
    return cached;
  }

  const podKey = (pod: KubeObject) => `${pod.metadata.namespace}/${pod.metadata.name}`;

  function podBaseLabels(pod: KubeObject): Record<string, string> {
    const out: Record<string, string> = { namespace: pod.metadata.namespace ?? '', pod: pod.metadata.name ?? '' };
    const rev = pod.metadata.labels?.['istio.io/rev'];
    if (rev !== undefined) out.istio_io_rev = rev;
    return out;
  }

  function addProxy(pod: KubeObject, ready: boolean): void {
    const key = podKey(pod);
    const status = pod.metadata.annotations?.['sidecar.istio.io/status'] ?? '{}';
    const revision =
      pod.metadata.annotations?.['istio.io/rev'] ?? (JSON.parse(status) as { revision?: string }).revision ?? 'default';
    const gateway = pod.metadata.annotations?.['inject.istio.io/templates'] === 'gateway';
    const namespace = pod.metadata.namespace ?? '';
    const workload = workloadOf(pod)?.name ?? pod.metadata.name ?? '';
    const image = [
      ...((pod.spec as { initContainers?: { name: string; image?: string }[] }).initContainers ?? []),
      ...((pod.spec as { containers?: { name: string; image?: string }[] }).containers ?? []),
    ].find((c) => c.name === 'istio-proxy')?.image;
    const version = image?.split(':').at(-1) ?? 'unknown';
    const base = podBaseLabels(pod);
    const canonical = pod.metadata.labels?.['service.istio.io/canonical-name'] ?? workload;
    const canonicalRevision = pod.metadata.labels?.['service.istio.io/canonical-revision'] ?? 'latest';
    const full = options.labels !== 'minimal';
    const common: [string, string][] = gateway
      ? [
          ['reporter', 'source'],
          ['source_workload', workload],
          ['source_workload_namespace', namespace],
          ...(full ? ([['source_canonical_service', canonical]] as [string, string][]) : []),
          ['destination_workload', 'unknown'],
          ['destination_workload_namespace', 'unknown'],
          ['destination_service', 'unknown'],
          ...(full ? ([['destination_canonical_service', 'unknown']] as [string, string][]) : []),
        ]
      : [
          ['reporter', 'destination'],
          ['source_workload', 'istio-ingressgateway'],
          ['source_workload_namespace', 'istio-system'],
          ...(full ? ([['source_canonical_service', 'istio-ingressgateway']] as [string, string][]) : []),
          ['destination_workload', workload],
          ['destination_workload_namespace', namespace],
          ['destination_service', `${workload}.${namespace}.svc.cluster.local`],
          ...(full
            ? ([
                ['destination_service_name', workload],
                ['destination_service_namespace', namespace],
                ['destination_canonical_service', canonical],
                ['destination_canonical_revision', canonicalRevision],
              ] as [string, string][])
            : []),
        ];
    const labels = CODES.map(({ code, flags }) =>
      renderLabels([
        ...common,
        ...(full ? ([['request_protocol', 'http']] as [string, string][]) : []),
        ['response_code', code],
        ['response_flags', flags],
        ...(full ? ([['connection_security_policy', gateway ? 'unknown' : 'mutual_tls']] as [string, string][]) : []),
        ...Object.entries(base),
      ]),
    );
    const existing = proxies.get(key);
    if (existing) removeProxy(key);
    const entry: ProxyEntry = {
      namespace,
      pod: pod.metadata.name ?? '',
      workloadKey: `${namespace}/${workload}/${gateway ? 'gw' : 'wl'}`,
      workload,
      traffic: options.traffic(namespace, workload, gateway),
      revision,
      gateway,
      ready: false,
      labels,
      live: CODES.map(() => false),
      counts: new Float64Array(CODES.length),
      sums: new Float64Array(CODES.length),
      buckets: new Float64Array(CODES.length * nb),
      buildLabels: { component: 'proxy', tag: version, ...base },
    };
    // Series exist from the start (the inc(labels, 0) rule): 200 always, error codes when
    // errors are expected; otherwise they appear with the first error, as Envoy's stats do.
    entry.live[0] = true;
    entry.live[1] = entry.traffic.errorRate > 0;
    entry.live[2] = options.health(revision).errorRate > 0;
    proxies.set(key, entry);
    build.set(entry.buildLabels, 1);
    setProxyReady(entry, ready);
  }

  function setProxyReady(entry: ProxyEntry, ready: boolean): void {
    if (entry.ready === ready) return;
    entry.ready = ready;
    readyByWorkload.set(entry.workloadKey, (readyByWorkload.get(entry.workloadKey) ?? 0) + (ready ? 1 : -1));
  }

  function removeProxy(key: string): void {
    const entry = proxies.get(key);
    if (!entry) return;
    setProxyReady(entry, false);
    proxies.delete(key);
    build.remove(entry.buildLabels);
  }

  function istiodLabelSets(entry: IstiodEntry) {
    return { base: entry.labels, build: { component: 'pilot', tag: entry.version, ...entry.labels } };
  }

  function addIstiod(pod: KubeObject, ready: boolean): void {
    const key = podKey(pod);
    const image = ((pod.spec as { containers?: { image?: string }[] }).containers ?? [])[0]?.image;
    const entry: IstiodEntry = {
      namespace: pod.metadata.namespace ?? '',
      pod: pod.metadata.name ?? '',
      revision: pod.metadata.labels?.['istio.io/rev'] ?? 'default',
      version: image?.split(':').at(-1) ?? 'unknown',
      ready,
      labels: podBaseLabels(pod),
    };
    istiods.set(key, entry);
    const { base, build: buildLabels } = istiodLabelSets(entry);
    build.set(buildLabels, 1);
    for (const type of XDS_TYPES) {
      pushes.inc({ ...base, type }, 0);
      pushes.inc({ ...base, type: `${type}_senderr` }, 0);
      rejects.inc({ ...base, type }, 0);
    }
    convergence.zero(base);
    for (const counter of Object.values(injection)) counter.inc(base, 0);
  }

  function removeIstiod(key: string): void {
    const entry = istiods.get(key);
    if (!entry) return;
    istiods.delete(key);
    const { base, build: buildLabels } = istiodLabelSets(entry);
    build.remove(buildLabels);
    for (const type of XDS_TYPES) {
      pushes.remove({ ...base, type });
      pushes.remove({ ...base, type: `${type}_senderr` });
      rejects.remove({ ...base, type });
    }
    for (const version of new Set([entry.version, ...lastXdsVersions(entry)])) xds.remove({ ...base, version });
    convergence.remove(base);
    for (const counter of Object.values(injection)) counter.remove(base);
  }

  const xdsVersions = new Map<string, Set<string>>();
  const lastXdsVersions = (entry: IstiodEntry) =>
    xdsVersions.get(`${entry.namespace}/${entry.pod}`) ?? new Set<string>();

  function onPod(event: ChangeEvent): void {
    if (event.resource !== types.pods) return;
    const pod = event.object;
    const key = podKey(pod);
    if (event.type === 'DELETED') {
      removeProxy(key);
      removeIstiod(key);
      return;
    }
    const status = pod.status as { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
    const running = status?.phase === 'Running';
    const ready =
      running &&
      !pod.metadata.deletionTimestamp &&
      (status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);
    const labels = pod.metadata.labels ?? {};
    if (labels.app === 'istiod' && labels['istio.io/rev'] !== undefined) {
      const entry = istiods.get(key);
      if (!entry && running) addIstiod(pod, ready);
      else if (entry) entry.ready = ready;
      return;
    }
    if (!pod.metadata.annotations?.['sidecar.istio.io/status']) return;
    const entry = proxies.get(key);
    if (!entry) {
      if (running) addProxy(pod, ready);
    } else setProxyReady(entry, ready);
  }

  const unwatch = store.watch(undefined, onPod);
  for (const pod of store.list(types.pods).items)
    onPod({ type: 'ADDED', resourceVersion: 0, resource: types.pods, object: pod });

  function tick(): void {
    const nowMs = clock.elapsedMs();
    const dt = Math.max(0, (nowMs - lastTick) / 1000);
    lastTick = nowMs;
    if (dt === 0) return;
    const connected = new Map<string, Map<string, number>>(); // revision -> proxy version -> count
    // Health can change at any time (faults), but only once per tick matters.
    const profiles = new Map<string, { health: HealthProfile; cdf: Float64Array; mean: number }>();
    const profileOf = (revision: string) => {
      let profile = profiles.get(revision);
      if (!profile) {
        const health = options.health(revision);
        profile = { health, ...distribution(health) };
        profiles.set(revision, profile);
      }
      return profile;
    };
    for (const entry of proxies.values()) {
      if (!entry.ready) continue;
      const tag = entry.buildLabels.tag ?? 'unknown';
      const perRevision = connected.get(entry.revision) ?? new Map<string, number>();
      perRevision.set(tag, (perRevision.get(tag) ?? 0) + 1);
      connected.set(entry.revision, perRevision);
      const traffic = entry.traffic;
      const replicas = Math.max(1, readyByWorkload.get(entry.workloadKey) ?? 1);
      const jitter = 0.9 + 0.2 * random();
      const n = (traffic.rps / replicas) * dt * jitter;
      if (n <= 0) continue;
      const { health, cdf, mean } = profileOf(entry.revision);
      const proxyErrors = health.errorRate > 0 ? n * clamp01(health.errorRate * (0.8 + 0.4 * random())) : 0;
      const appErrors =
        traffic.errorRate > 0 ? (n - proxyErrors) * clamp01(traffic.errorRate * (0.8 + 0.4 * random())) : 0;
      const perCode = [n - proxyErrors - appErrors, appErrors, proxyErrors];
      for (let c = 0; c < CODES.length; c++) {
        const k = perCode[c] ?? 0;
        if (k <= 0) continue;
        entry.live[c] = true;
        entry.counts[c] = (entry.counts[c] ?? 0) + k;
        entry.sums[c] = (entry.sums[c] ?? 0) + k * mean;
        const offset = c * nb;
        for (let b = 0; b < nb; b++) entry.buckets[offset + b] = (entry.buckets[offset + b] ?? 0) + k * (cdf[b] ?? 0);
      }
    }
    // istiod: connected proxies are split across the revision's Ready istiod pods.
    const readyIstiods = new Map<string, number>();
    for (const entry of istiods.values())
      if (entry.ready) readyIstiods.set(entry.revision, (readyIstiods.get(entry.revision) ?? 0) + 1);
    for (const entry of istiods.values()) {
      const base = entry.labels;
      const versions = xdsVersions.get(`${entry.namespace}/${entry.pod}`) ?? new Set<string>();
      xdsVersions.set(`${entry.namespace}/${entry.pod}`, versions);
      const perVersion = connected.get(entry.revision) ?? new Map<string, number>();
      const share = entry.ready ? 1 / (readyIstiods.get(entry.revision) ?? 1) : 0;
      for (const version of new Set([...versions, ...perVersion.keys()])) {
        versions.add(version);
        xds.set({ ...base, version }, Math.round((perVersion.get(version) ?? 0) * share));
      }
      if (!entry.ready) continue;
      const health = options.health(entry.revision);
      const proxiesHere = [...perVersion.values()].reduce((a, b) => a + b, 0) * share;
      for (const type of XDS_TYPES) {
        // Pushes follow config churn: a base rate plus a share per connected proxy.
        const sent = Math.round((0.5 + proxiesHere * 0.02) * dt * (0.5 + random()));
        if (sent <= 0) continue;
        pushes.inc({ ...base, type }, sent);
        const sendErrors = binomial(sent, health.pushErrorRate, random);
        if (sendErrors > 0) pushes.inc({ ...base, type: `${type}_senderr` }, sendErrors);
        const nacks = binomial(sent, health.xdsRejectRate, random);
        if (nacks > 0) rejects.inc({ ...base, type }, nacks);
      }
      const degraded = health.pushErrorRate > 0 || health.xdsRejectRate > 0 ? 20 : 1;
      const samples = Math.max(1, Math.round(dt * 2));
      for (let i = 0; i < samples; i++) convergence.observe(base, 0.05 * degraded * Math.exp(0.8 * gaussian(random)));
    }
  }

  /** The per-proxy families, in chunks of about 1 MB (a 20k-pod exposition is ~100 MB). */
  function* proxyChunks(): Generator<string> {
    let chunk = '# HELP istio_requests_total Total requests.\n# TYPE istio_requests_total counter\n';
    for (const entry of proxies.values()) {
      for (let c = 0; c < CODES.length; c++) {
        if (entry.live[c]) chunk += `istio_requests_total{${entry.labels[c]}} ${Math.floor(entry.counts[c] ?? 0)}\n`;
      }
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = '';
      }
    }
    chunk +=
      '# HELP istio_request_duration_milliseconds Request duration in milliseconds.\n# TYPE istio_request_duration_milliseconds histogram\n';
    for (const entry of proxies.values()) {
      for (let c = 0; c < CODES.length; c++) {
        if (!entry.live[c]) continue;
        const labels = entry.labels[c];
        const count = Math.floor(entry.counts[c] ?? 0);
        const offset = c * nb;
        for (let b = 0; b < nb; b++) {
          chunk += `istio_request_duration_milliseconds_bucket{${labels},le="${boundLabels[b]}"} ${Math.min(count, Math.floor(entry.buckets[offset + b] ?? 0))}\n`;
        }
        chunk += `istio_request_duration_milliseconds_bucket{${labels},le="+Inf"} ${count}\n`;
        chunk += `istio_request_duration_milliseconds_sum{${labels}} ${(entry.sums[c] ?? 0).toFixed(3)}\n`;
        chunk += `istio_request_duration_milliseconds_count{${labels}} ${count}\n`;
      }
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = '';
      }
    }
    yield chunk;
  }

  async function render(): Promise<string> {
    return (await registry.metrics()) + [...proxyChunks()].join('');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (outage) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics endpoint unavailable (simulated outage)\n');
      return;
    }
    // Streamed with backpressure so a huge exposition never sits in memory twice.
    res.writeHead(200, { 'content-type': registry.contentType });
    res.write(await registry.metrics());
    for (const chunk of proxyChunks()) {
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
      if (res.destroyed) return;
    }
    res.end();
  }

  const stopTicker = clock.every(options.tickMs ?? 250, tick);
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${error instanceof Error ? error.message : String(error)}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}/metrics`,
        registry,
        render,
        tick,
        setOutage(value) {
          outage = value;
        },
        outage: () => outage,
        recordInjection(record) {
          if (!record.revision || record.outcome === 'failed') return;
          // Attributed to a Ready istiod pod of the revision (the one the Service routed to).
          const targets = [...istiods.values()].filter((e) => e.revision === record.revision && e.ready);
          const target = targets[Math.floor(random() * targets.length)];
          if (!target) return;
          injection.requests.inc(target.labels);
          if (record.outcome === 'injected') injection.success.inc(target.labels);
          else injection.skip.inc(target.labels);
        },
        proxyCount: () => proxies.size,
        close() {
          unwatch();
          stopTicker();
          return new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          });
        },
      });
    });
  });
}

function renderLabels(pairs: [string, string][]): string {
  return pairs
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Seedable PRNG (mulberry32): the same seed gives the same traffic. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): number {
  const u = Math.max(1e-12, random());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function binomial(n: number, p: number, random: () => number): number {
  if (p <= 0 || n <= 0) return 0;
  if (n > 50) return Math.max(0, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * gaussian(random)));
  let k = 0;
  for (let i = 0; i < n; i++) if (random() < p) k++;
  return k;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf approximation). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}
