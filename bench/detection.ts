/**
 * Detection of a bad canary (DESIGN section 10: within one gate interval plus two scrape
 * intervals after its wave finishes warming up). A real Prometheus scrapes the sandbox every
 * second; the canary's proxies fail 30% of requests; revroll runs as its own process with gates.
 * From revroll's run state records:
 *  - detection: `wave/first/warmup` finishedAt -> `wave/first/bake` finishedAt (the bake step
 *    fails when the gates decide on rollback);
 *  - restore: that decision -> the end of the last `rollback/*` record; the sandbox is then
 *    checked to have every proxy back on the old revision.
 */
import { startPrometheus } from '@revroll/sandbox/prometheus';
import { recordSpan, runRevroll } from './revroll-cli.ts';
import { hostSandbox } from './sandbox-host.ts';
import { benchScenario, CANARY, STABLE } from './scenario.ts';
import { median } from './stats.ts';

export type DetectionOptions = {
  cli: string;
  runs: number;
  scrapeIntervalMs: number;
  gateIntervalMs: number;
  log: (line: string) => void;
};

export type DetectionRun = {
  detectionMs: number;
  restoreMs: number;
  outcome: string;
  reason: string;
  restored: boolean;
};

export type DetectionResult = {
  runs: DetectionRun[];
  scrapeIntervalMs: number;
  gateIntervalMs: number;
  targetMs: number;
  medians: { detectionMs: number; restoreMs: number };
  meetsTarget: boolean;
};

const NAMESPACES = 8;
const WORKLOADS = 2;

function gatedPolicy(gateIntervalMs: number): string {
  return `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: detect}
spec:
  revisions: {from: ${STABLE.name}, to: ${CANARY.name}}
  waves:
    - {name: first, namespaces: {count: 2}, bake: 60s}
    - {name: rest, namespaces: {percent: 100}, bake: 60s}
  workloads: {kinds: [Deployment], rolloutTimeout: 60s}
  gates:
    interval: ${gateIntervalMs}ms
    warmup: 3s
    minTraffic: 0.5
    checks:
      - {name: errors, preset: proxy-5xx-ratio, threshold: {max: 0.05}, window: 10s}
  promote: {tags: []}
`;
}

export async function detectionBenchmark(options: DetectionOptions): Promise<DetectionResult> {
  const runs: DetectionRun[] = [];
  const scenario = benchScenario({
    namespaces: NAMESPACES,
    workloads: WORKLOADS,
    startLatencyMs: 200,
    canaryErrorRate: 0.3,
    rps: 20,
  });
  for (let run = 1; run <= options.runs; run++) {
    const host = await hostSandbox(scenario, { idleTimeoutMs: 60_000 });
    const prometheus = await startPrometheus({
      targets: [host.sandbox.metricsUrl],
      scrapeIntervalMs: options.scrapeIntervalMs,
    });
    try {
      // Pay Prometheus' first-scrape delay (about 5 s) before the run, as a running Prometheus would have.
      for (let i = 0; i < 150 && (await prometheus.query('istio_build{component="proxy"}')).length === 0; i++)
        await new Promise((r) => setTimeout(r, 200));
      const result = await runRevroll({
        cli: options.cli,
        kubeconfigFile: host.kubeconfigFile,
        policy: gatedPolicy(options.gateIntervalMs),
        timeoutMs: 300_000,
        prometheusUrl: prometheus.url,
      });
      const warmup = recordSpan(result.records, 'wave/first/warmup');
      const bake = recordSpan(result.records, 'wave/first/bake');
      const rollbackEnds = result.records
        .filter((r) => r.id.startsWith('rollback/') && r.finishedAt)
        .map((r) => Date.parse(r.finishedAt ?? ''));
      await host.sandbox.waitForIdle({ timeoutMs: 60_000 });
      const proxies = host.proxies();
      // Every application proxy (and the gateway's) on the stable revision, none on the canary.
      const restored = (proxies[CANARY.name] ?? 0) === 0 && (proxies[STABLE.name] ?? 0) >= NAMESPACES * WORKLOADS;
      if (result.outcome !== 'rolled-back' || warmup.end === undefined || bake.end === undefined) {
        throw new Error(`the bad canary was not rolled back in its first wave: ${result.outcome}: ${result.message}`);
      }
      const detectionMs = bake.end - warmup.end;
      const restoreMs = Math.max(...rollbackEnds) - bake.end;
      runs.push({
        detectionMs,
        restoreMs,
        outcome: result.outcome,
        reason: result.rollbackReason ?? result.message,
        restored,
      });
      options.log(
        `  detection run ${run}: detected ${detectionMs} ms after warm-up, restored ${restoreMs} ms later${restored ? '' : ` (NOT every proxy back on the old revision: ${JSON.stringify(proxies)})`}`,
      );
    } finally {
      await prometheus.stop();
      await host.close();
    }
  }
  const targetMs = options.gateIntervalMs + 2 * options.scrapeIntervalMs;
  const detectionMs = median(runs.map((r) => r.detectionMs));
  return {
    runs,
    scrapeIntervalMs: options.scrapeIntervalMs,
    gateIntervalMs: options.gateIntervalMs,
    targetMs,
    medians: { detectionMs, restoreMs: median(runs.map((r) => r.restoreMs)) },
    meetsTarget: detectionMs <= targetMs && runs.every((r) => r.restored),
  };
}
