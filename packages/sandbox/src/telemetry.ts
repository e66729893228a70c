/**
 * The mesh's telemetry, served on one `/metrics` endpoint of its own (127.0.0.1, port 0 by
 * default) that Prometheus scrapes with `honor_labels: true`. Since every proxy and istiod shares
 * this endpoint, the target labels a per-pod scrape would add (`namespace`, `pod`, and the pod
 * label `istio.io/rev` as `istio_io_rev`, reference §7) are written on each sample instead.
 *
 * - Proxies (injected Running pods): `istio_requests_total` and the
 *   `istio_request_duration_milliseconds` histogram (sidecars report `reporter="destination"`,
 *   gateways `reporter="source"`), plus `istio_build{component="proxy"}`.
 * - Gateway API gateways and waypoints (pods a gateway controller rendered, not injected:
 *   label `gateway.istio.io/managed`): the same families with `reporter="source"` (gateways) or
 *   `reporter="waypoint"` (one series set per Service the waypoint carries), the pod label
 *   `gateway.networking.k8s.io/gateway-name` as `gateway_networking_k8s_io_gateway_name`, and
 *   `istio_io_rev` only when the Gateway's labels put `istio.io/rev` on the pod (reference
 *   istio-gateways-ambient-multicluster.md §7). A gateway pod whose istiod dropped the Gateway
 *   from xDS (#59959) is blackholed: it counts nothing, and the lost requests are counted apart.
 * - ztunnel pods: `istio_tcp_connections_{opened,closed}_total` and
 *   `istio_tcp_{sent,received}_bytes_total` (`reporter="destination"`) for the captured ambient
 *   pods on their node, and `istio_build{component="ztunnel"}`; no HTTP metrics and no
 *   istio_io_rev (the ztunnel pod has the annotation only). Connections fail at the error rate
 *   of the revision ztunnel's XDS_ADDRESS names; as in istio/ztunnel `src/proxy/metrics.rs`, a
 *   failed connection is counted on close with `response_flags="CONNECT"` (the flag is set
 *   before the close is recorded) and in the unstable `istio_tcp_connections_failed_total`
 *   (same flag), whose series appear with the first failure.
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

/** One set of request series a proxy reports (a sidecar or gateway has one; a waypoint one per Service). */
type Route = {
  /** The scenario's traffic for the destination workload (static, looked up once). */
  traffic: WorkloadTraffic;
  /** Rendered label sets per code (without braces), built once. */
  labels: string[];
  /** Whether the series of a code has been created (inc(0) or first traffic). */
  live: boolean[];
  counts: Float64Array; // per code
  sums: Float64Array; // per code
  buckets: Float64Array; // code-major, one slot per finite bucket
};

/** `sidecar`: injected; `gateway`: injected gateway or Gateway API gateway; `waypoint`: ambient. */
type ProxyKind = 'sidecar' | 'gateway' | 'waypoint';

type ProxyEntry = {
  namespace: string;
  pod: string;
  workloadKey: string;
  workload: string;
  kind: ProxyKind;
  /** The Gateway API Gateway the pod serves (rendered gateways and waypoints). */
  gatewayName: string | undefined;
  revision: string;
  ready: boolean;
  routes: Route[];
  /** Waypoints: the destinations the routes were built for, to notice enrolment changes. */
  routeKeys: string;
  base: Record<string, string>;
  buildLabels: Record<string, string>;
};

/**
 * One ztunnel flow (a destination workload on a node). `labels` carry `response_flags="-"` (how a
 * connection opens and closes cleanly), `failedLabels` `response_flags="CONNECT"`: a failed
 * connection is counted on close with that flag, and in `istio_tcp_connections_failed_total`.
 */
type TcpFlow = {
  labels: string;
  failedLabels: string;
  opened: number;
  closed: number;
  failed: number;
  sent: number;
  received: number;
};

type ZtunnelEntry = {
  namespace: string;
  pod: string;
  node: string;
  revision: string;
  ready: boolean;
  base: Record<string, string>;
  buildLabels: Record<string, string>;
  flows: Map<string, TcpFlow>;
};

/** An ambient-captured pod (the CNI enrolled it): ztunnel on its node carries its traffic. */
type CapturedPod = { namespace: string; workload: string; node: string; ready: boolean };

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
  /** Requests sent to blackholed gateway pods (#59959), per `namespace/gateway`. */
  droppedRequests(): Record<string, number>;
  close(): Promise<void>;
};

/** The Gateway API side of the mesh, as telemetry needs it (provided by the gateway controller). */
export type GatewayTelemetryHooks = {
  /** False when pods of `revision` get no config for the Gateway any more (#59959). */
  configServed(namespace: string, gateway: string, revision: string): boolean;
  /** The workloads whose Service traffic crosses the waypoint. */
  waypointDestinations(namespace: string, waypoint: string): { namespace: string; workload: string }[];
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
  gateways?: GatewayTelemetryHooks;
}): Promise<Telemetry> {
  const { store, types, clock } = options;
  const random = mulberry32(options.seed ?? 1);
  const bounds = options.durationBuckets ?? ISTIO_DURATION_BUCKETS;
  const boundLabels = bounds.map((b) => String(b));
  const nb = bounds.length;
  const proxies = new Map<string, ProxyEntry>();
  const istiods = new Map<string, IstiodEntry>();
  const ztunnels = new Map<string, ZtunnelEntry>();
  const captured = new Map<string, CapturedPod>();
  const dropped = new Map<string, number>();
  const readyByWorkload = new Map<string, number>();
  let outage = false;
  let lastTick = clock.elapsedMs();
  const cdfCache = new Map<string, { cdf: Float64Array; mean: number }>();

  const registry = new Registry();
  const podLabelNames = ['namespace', 'pod', 'istio_io_rev'];
  // Gateway API pods also carry their Gateway's name label (istio_build of gateways and waypoints).
  const buildLabelNames = ['component', 'tag', ...podLabelNames, 'gateway_networking_k8s_io_gateway_name'];
  const build = new Gauge({
    name: 'istio_build',
    help: 'Istio component build info',
    labelNames: buildLabelNames,
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
    // A Gateway API pod's label (the sample labelmap turns every pod label into a metric label).
    const gatewayName = pod.metadata.labels?.['gateway.networking.k8s.io/gateway-name'];
    if (gatewayName !== undefined) out.gateway_networking_k8s_io_gateway_name = gatewayName;
    return out;
  }

  const full = options.labels !== 'minimal';
  const only = (pairs: [string, string][]) => (full ? pairs : []);

  /** The destination labels of traffic served by `workload` in `namespace`. */
  function destinationLabels(workload: string, namespace: string, canonical: string, canonicalRevision: string) {
    return [
      ['destination_workload', workload],
      ['destination_workload_namespace', namespace],
      ['destination_service', `${workload}.${namespace}.svc.cluster.local`],
      ...only([
        ['destination_service_name', workload],
        ['destination_service_namespace', namespace],
        ['destination_canonical_service', canonical],
        ['destination_canonical_revision', canonicalRevision],
      ]),
    ] as [string, string][];
  }

  const INGRESS_SOURCE: [string, string][] = [
    ['source_workload', 'istio-ingressgateway'],
    ['source_workload_namespace', 'istio-system'],
  ];

  function makeRoute(
    common: [string, string][],
    base: Record<string, string>,
    traffic: WorkloadTraffic,
    revision: string,
    security: string,
  ): Route {
    const labels = CODES.map(({ code, flags }) =>
      renderLabels([
        ...common,
        ...only([['request_protocol', 'http']]),
        ['response_code', code],
        ['response_flags', flags],
        ...only([['connection_security_policy', security]]),
        ...Object.entries(base),
      ]),
    );
    const route: Route = {
      traffic,
      labels,
      live: CODES.map(() => false),
      counts: new Float64Array(CODES.length),
      sums: new Float64Array(CODES.length),
      buckets: new Float64Array(CODES.length * nb),
    };
    // Series exist from the start (the inc(labels, 0) rule): 200 always, error codes when
    // errors are expected; otherwise they appear with the first error, as Envoy's stats do.
    route.live[0] = true;
    route.live[1] = traffic.errorRate > 0;
    route.live[2] = options.health(revision).errorRate > 0;
    return route;
  }

  /** A waypoint's routes: one per destination Service it carries (enrolment can change). */
  function waypointRoutes(entry: Pick<ProxyEntry, 'namespace' | 'gatewayName' | 'revision' | 'base'>) {
    const destinations = options.gateways?.waypointDestinations(entry.namespace, entry.gatewayName ?? '') ?? [];
    const routes = destinations.map((d) =>
      makeRoute(
        [
          ['reporter', 'waypoint'],
          ...INGRESS_SOURCE,
          ...only([['source_canonical_service', 'istio-ingressgateway']]),
          ...destinationLabels(d.workload, d.namespace, d.workload, 'latest'),
        ],
        entry.base,
        options.traffic(d.namespace, d.workload, false),
        entry.revision,
        'mutual_tls',
      ),
    );
    return { routes, routeKeys: destinations.map((d) => `${d.namespace}/${d.workload}`).join(',') };
  }

  function proxyKind(pod: KubeObject): ProxyKind {
    const managed = pod.metadata.labels?.['gateway.istio.io/managed'];
    if (managed === 'istio.io-mesh-controller') return 'waypoint';
    if (managed !== undefined || pod.metadata.annotations?.['inject.istio.io/templates'] === 'gateway')
      return 'gateway';
    return 'sidecar';
  }

  function addProxy(pod: KubeObject, ready: boolean): void {
    const key = podKey(pod);
    const status = pod.metadata.annotations?.['sidecar.istio.io/status'] ?? '{}';
    const revision =
      pod.metadata.annotations?.['istio.io/rev'] ?? (JSON.parse(status) as { revision?: string }).revision ?? 'default';
    const kind = proxyKind(pod);
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
    const gatewayName = pod.metadata.labels?.['gateway.networking.k8s.io/gateway-name'];
    const existing = proxies.get(key);
    if (existing) removeProxy(key);
    const entry: ProxyEntry = {
      namespace,
      pod: pod.metadata.name ?? '',
      workloadKey: `${namespace}/${workload}/${kind === 'sidecar' ? 'wl' : 'gw'}`,
      workload,
      kind,
      gatewayName,
      revision,
      ready: false,
      routes: [],
      routeKeys: '',
      base,
      buildLabels: { component: 'proxy', tag: version, ...base },
    };
    if (kind === 'waypoint') Object.assign(entry, waypointRoutes(entry));
    else if (kind === 'gateway')
      entry.routes = [
        makeRoute(
          [
            ['reporter', 'source'],
            ['source_workload', workload],
            ['source_workload_namespace', namespace],
            ...only([['source_canonical_service', canonical]]),
            ['destination_workload', 'unknown'],
            ['destination_workload_namespace', 'unknown'],
            ['destination_service', 'unknown'],
            ...only([['destination_canonical_service', 'unknown']]),
          ],
          base,
          options.traffic(namespace, workload, true),
          revision,
          'unknown',
        ),
      ];
    else
      entry.routes = [
        makeRoute(
          [
            ['reporter', 'destination'],
            ...INGRESS_SOURCE,
            ...only([['source_canonical_service', 'istio-ingressgateway']]),
            ...destinationLabels(workload, namespace, canonical, canonicalRevision),
          ],
          base,
          options.traffic(namespace, workload, false),
          revision,
          'mutual_tls',
        ),
      ];
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

  /** ztunnel: one per node; its revision is the pod annotation, its version the image tag. */
  function addZtunnel(pod: KubeObject, ready: boolean): void {
    const key = podKey(pod);
    const image = ((pod.spec as { containers?: { image?: string }[] }).containers ?? [])[0]?.image;
    const base = podBaseLabels(pod);
    removeZtunnel(key);
    const entry: ZtunnelEntry = {
      namespace: pod.metadata.namespace ?? '',
      pod: pod.metadata.name ?? '',
      node: (pod.spec as { nodeName?: string }).nodeName ?? '',
      revision: pod.metadata.annotations?.['istio.io/rev'] ?? 'default',
      ready,
      base,
      buildLabels: { component: 'ztunnel', tag: image?.split(':').at(-1) ?? 'unknown', ...base },
      flows: new Map(),
    };
    ztunnels.set(key, entry);
    build.set(entry.buildLabels, 1);
  }

  function removeZtunnel(key: string): void {
    const entry = ztunnels.get(key);
    if (!entry) return;
    ztunnels.delete(key);
    build.remove(entry.buildLabels);
  }

  function trackCaptured(pod: KubeObject, ready: boolean): void {
    const key = podKey(pod);
    if (pod.metadata.annotations?.['ambient.istio.io/redirection'] !== 'enabled') {
      captured.delete(key);
      return;
    }
    captured.set(key, {
      namespace: pod.metadata.namespace ?? '',
      workload: workloadOf(pod)?.name ?? pod.metadata.name ?? '',
      node: (pod.spec as { nodeName?: string }).nodeName ?? '',
      ready,
    });
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
      removeZtunnel(key);
      captured.delete(key);
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
    if (labels.app === 'ztunnel') {
      const entry = ztunnels.get(key);
      if (!entry && running) addZtunnel(pod, ready);
      else if (entry) entry.ready = ready;
      return;
    }
    trackCaptured(pod, ready);
    // Proxies: injected pods, and the gateway pods a Gateway API controller rendered.
    const proxy =
      pod.metadata.annotations?.['sidecar.istio.io/status'] !== undefined ||
      labels['gateway.istio.io/managed'] !== undefined;
    if (!proxy) return;
    const entry = proxies.get(key);
    if (!entry) {
      if (running) addProxy(pod, ready);
    } else setProxyReady(entry, ready);
  }

  const unwatch = store.watch(undefined, onPod);
  for (const pod of store.list(types.pods).items)
    onPod({ type: 'ADDED', resourceVersion: 0, resource: types.pods, object: pod });

  type Profile = { health: HealthProfile; cdf: Float64Array; mean: number };

  function countRequests(route: Route, n: number, profile: Profile): void {
    const { health, cdf, mean } = profile;
    const traffic = route.traffic;
    const proxyErrors = health.errorRate > 0 ? n * clamp01(health.errorRate * (0.8 + 0.4 * random())) : 0;
    const appErrors =
      traffic.errorRate > 0 ? (n - proxyErrors) * clamp01(traffic.errorRate * (0.8 + 0.4 * random())) : 0;
    const perCode = [n - proxyErrors - appErrors, appErrors, proxyErrors];
    for (let c = 0; c < CODES.length; c++) {
      const k = perCode[c] ?? 0;
      if (k <= 0) continue;
      route.live[c] = true;
      route.counts[c] = (route.counts[c] ?? 0) + k;
      route.sums[c] = (route.sums[c] ?? 0) + k * mean;
      const offset = c * nb;
      for (let b = 0; b < nb; b++) route.buckets[offset + b] = (route.buckets[offset + b] ?? 0) + k * (cdf[b] ?? 0);
    }
  }

  let lastWaypointRefresh = -Infinity;

  /** Each Ready proxy serves its routes' traffic split across the Ready replicas of its workload. */
  function proxyTraffic(
    dt: number,
    profileOf: (revision: string) => Profile,
    connected: Map<string, Map<string, number>>,
  ) {
    // Enrolment can change at any time (namespace or Service labels); re-read it every 2 s.
    const refresh = clock.elapsedMs() - lastWaypointRefresh > 2000;
    if (refresh) lastWaypointRefresh = clock.elapsedMs();
    for (const entry of proxies.values()) {
      if (!entry.ready) continue;
      const tag = entry.buildLabels.tag ?? 'unknown';
      const perRevision = connected.get(entry.revision) ?? new Map<string, number>();
      perRevision.set(tag, (perRevision.get(tag) ?? 0) + 1);
      connected.set(entry.revision, perRevision);
      if (refresh && entry.kind === 'waypoint') {
        const next = waypointRoutes(entry);
        if (next.routeKeys !== entry.routeKeys) Object.assign(entry, next);
      }
      const replicas = Math.max(1, readyByWorkload.get(entry.workloadKey) ?? 1);
      // #59959: a gateway pod whose istiod dropped the Gateway from xDS has no listeners left.
      const blackholed =
        entry.kind !== 'sidecar' &&
        entry.gatewayName !== undefined &&
        options.gateways?.configServed(entry.namespace, entry.gatewayName, entry.revision) === false;
      for (const route of entry.routes) {
        const n = (route.traffic.rps / replicas) * dt * (0.9 + 0.2 * random());
        if (n <= 0) continue;
        if (blackholed) {
          const key = `${entry.namespace}/${entry.gatewayName}`;
          dropped.set(key, (dropped.get(key) ?? 0) + n);
          continue;
        }
        countRequests(route, n, profileOf(entry.revision));
      }
    }
  }

  /**
   * ztunnel carries the captured pods' traffic on its node: a connection per ~10 requests,
   * about 1.2 kB sent and 0.4 kB received per request, failures at the error rate of the
   * revision it gets its config from.
   */
  function ztunnelTraffic(dt: number, profileOf: (revision: string) => Profile) {
    const byNode = new Map<string, ZtunnelEntry>();
    for (const z of ztunnels.values()) if (z.ready) byNode.set(z.node, z);
    const readyPerWorkload = new Map<string, number>();
    for (const c of captured.values())
      if (c.ready)
        readyPerWorkload.set(
          `${c.namespace}/${c.workload}`,
          (readyPerWorkload.get(`${c.namespace}/${c.workload}`) ?? 0) + 1,
        );
    for (const c of captured.values()) {
      const z = byNode.get(c.node);
      if (!c.ready || !z) continue;
      const traffic = options.traffic(c.namespace, c.workload, false);
      const n =
        (traffic.rps / Math.max(1, readyPerWorkload.get(`${c.namespace}/${c.workload}`) ?? 1)) *
        dt *
        (0.9 + 0.2 * random());
      if (n <= 0) continue;
      const flowKey = `${c.namespace}/${c.workload}`;
      let flow = z.flows.get(flowKey);
      if (!flow) {
        const labels = (flags: string) =>
          renderLabels([
            ['reporter', 'destination'],
            ...INGRESS_SOURCE,
            ...destinationLabels(c.workload, c.namespace, c.workload, 'latest'),
            ...only([['request_protocol', 'tcp']]),
            ['response_flags', flags],
            ...only([['connection_security_policy', 'mutual_tls']]),
            ...Object.entries(z.base),
          ]);
        flow = {
          labels: labels('-'),
          failedLabels: labels('CONNECT'),
          opened: 0,
          closed: 0,
          failed: 0,
          sent: 0,
          received: 0,
        };
        z.flows.set(flowKey, flow);
      }
      const connections = n / 10;
      const failed = connections * clamp01(profileOf(z.revision).health.errorRate);
      flow.opened += connections;
      // A failed connection closes at once; about 98% of the others have closed by now.
      flow.failed += failed;
      flow.closed += (connections - failed) * 0.98;
      flow.sent += n * 1200;
      flow.received += n * 400;
    }
  }

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
    proxyTraffic(dt, profileOf, connected);
    ztunnelTraffic(dt, profileOf);
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
      for (const route of entry.routes)
        for (let c = 0; c < CODES.length; c++) {
          if (route.live[c]) chunk += `istio_requests_total{${route.labels[c]}} ${Math.floor(route.counts[c] ?? 0)}\n`;
        }
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = '';
      }
    }
    chunk +=
      '# HELP istio_request_duration_milliseconds Request duration in milliseconds.\n# TYPE istio_request_duration_milliseconds histogram\n';
    for (const entry of proxies.values()) {
      for (const route of entry.routes)
        for (let c = 0; c < CODES.length; c++) {
          if (!route.live[c]) continue;
          const labels = route.labels[c];
          const count = Math.floor(route.counts[c] ?? 0);
          const offset = c * nb;
          for (let b = 0; b < nb; b++) {
            chunk += `istio_request_duration_milliseconds_bucket{${labels},le="${boundLabels[b]}"} ${Math.min(count, Math.floor(route.buckets[offset + b] ?? 0))}\n`;
          }
          chunk += `istio_request_duration_milliseconds_bucket{${labels},le="+Inf"} ${count}\n`;
          chunk += `istio_request_duration_milliseconds_sum{${labels}} ${(route.sums[c] ?? 0).toFixed(3)}\n`;
          chunk += `istio_request_duration_milliseconds_count{${labels}} ${count}\n`;
        }
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = '';
      }
    }
    yield chunk + tcpChunk();
  }

  /** ztunnel's TCP families (no series until a captured pod on its node saw traffic). */
  function tcpChunk(): string {
    // `failed`: series with response_flags="CONNECT", created by the first failure (as ztunnel's
    // get_or_create does); the closed family counts failed connections under that flag too.
    const families: [
      name: string,
      help: string,
      value: ((f: TcpFlow) => number) | undefined,
      failed?: (f: TcpFlow) => number,
    ][] = [
      ['istio_tcp_connections_opened_total', 'The total number of TCP connections opened', (f) => f.opened],
      [
        'istio_tcp_connections_closed_total',
        'The total number of TCP connections closed',
        (f) => f.closed,
        (f) => f.failed,
      ],
      [
        'istio_tcp_connections_failed_total',
        'The total number of TCP connections that failed to establish (unstable)',
        undefined,
        (f) => f.failed,
      ],
      [
        'istio_tcp_sent_bytes_total',
        'The size of total bytes sent during response in case of a TCP connection',
        (f) => f.sent,
      ],
      [
        'istio_tcp_received_bytes_total',
        'The size of total bytes received during request in case of a TCP connection',
        (f) => f.received,
      ],
    ];
    const flows = [...ztunnels.values()].flatMap((z) => [...z.flows.values()]);
    if (flows.length === 0) return '';
    let out = '';
    for (const [name, help, value, failed] of families) {
      out += `# HELP ${name} ${help}.\n# TYPE ${name} counter\n`;
      for (const flow of flows) {
        if (value) out += `${name}{${flow.labels}} ${Math.floor(value(flow))}\n`;
        if (failed && flow.failed > 0) out += `${name}{${flow.failedLabels}} ${Math.floor(failed(flow))}\n`;
      }
    }
    return out;
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
        droppedRequests: () => Object.fromEntries([...dropped].map(([k, v]) => [k, Math.floor(v)])),
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
