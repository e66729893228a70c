/** The result as tables (stdout) and as a JSON document (bench/results/<date>-<size>.json). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult } from './harness.ts';
import { round } from './stats.ts';

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

const s = (ms: number) => `${round(ms / 1000, ms < 10_000 ? 2 : 1)} s`;

/** Markdown tables, also pasted into docs/performance.md. */
export function renderReport(result: BenchResult): string {
  const parts: string[] = [];
  const m = result.machine;
  parts.push(
    `revroll bench, size ${result.size}, ${result.date}: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, kubectl ${m.kubectl}, Prometheus ${m.prometheus}; revroll CLI from ${result.config.cliKind === 'build' ? 'compiled JavaScript' : 'TypeScript source'}`,
  );
  if (result.speed.length > 0) {
    parts.push(
      `\nSpeed: revroll (one wave, no gates, warm-up 0s, bake 0s, maxParallelRestarts ${result.config.maxParallelRestarts}) vs the manual procedure (kubectl label, rollout restart, rollout status per Deployment, namespace by namespace); start latency ${result.config.startLatencyMs} ms; medians of ${result.config.runs} run(s)`,
    );
    parts.push(
      table(
        [
          'namespaces x Deployments',
          'revroll (CLI wall)',
          'revroll wave',
          'manual',
          'manual per namespace',
          'manual / revroll',
          'manual measured how',
        ],
        result.speed.map((r) => [
          `${r.namespaces} x ${r.workloads}`,
          s(r.medians.revrollMs),
          s(r.medians.revrollWaveMs),
          s(r.medians.manualMs),
          `${Math.round(r.medians.manualPerNamespaceMs)} ms`,
          `${round(r.medians.ratio, 1)}x`,
          r.manualExtrapolated
            ? `EXTRAPOLATED from ${r.manual.map((x) => x.namespacesRun).join('/')} namespaces run for real`
            : 'run in full',
        ]),
      ),
    );
    parts.push('\nAPI requests of one revroll run (first run of each size; watches and Events apart)');
    parts.push(
      table(
        [
          'size',
          'setup (once)',
          'of which SSAR',
          'wave',
          'wave target',
          'met',
          'wave Events',
          'wave watches',
          'finish',
          'wave, largest',
        ],
        result.speed.map((r) => {
          const api = r.revroll[0]?.api;
          if (!api) return [`${r.namespaces} x ${r.workloads}`, '-', '-', '-', '-', '-', '-', '-', '-', '-'];
          return [
            `${r.namespaces} x ${r.workloads}`,
            api.setup.requests,
            api.accessReviews,
            api.waveBudgeted,
            api.waveTarget,
            api.meetsTarget ? 'yes' : 'NO',
            api.wave.events,
            api.wave.watches,
            api.finish.requests,
            api.dominant
              .filter((d) => d.key !== 'create events')
              .slice(0, 3)
              .map((d) => `${d.key} ${d.count}`)
              .join(', '),
          ];
        }),
      ),
    );
  }
  if (result.memory) {
    const mem = result.memory;
    parts.push(
      `\nMemory at ${mem.namespaces} x ${mem.workloads} (sandbox in its own process; peak RSS = VmHWM; target ${mem.targetMiB} MiB)`,
    );
    parts.push(
      table(
        ['command', 'wall', 'peak RSS', 'met'],
        [
          [
            'revroll plan -o json',
            s(mem.plan.wallMs),
            `${Math.round(mem.plan.peakRssMiB)} MiB`,
            mem.plan.peakRssMiB <= mem.targetMiB ? 'yes' : 'NO',
          ],
          [
            `revroll run (${mem.run.outcome}; wave ${s(mem.run.waveMs)})`,
            s(mem.run.wallMs),
            `${Math.round(mem.run.peakRssMiB)} MiB`,
            mem.run.peakRssMiB <= mem.targetMiB ? 'yes' : 'NO',
          ],
        ],
      ),
    );
  }
  if (result.detection) {
    const d = result.detection;
    parts.push(
      `\nDetection of a bad canary (30% proxy errors; scrape ${d.scrapeIntervalMs} ms, gate interval ${d.gateIntervalMs} ms; target ${d.targetMs} ms)`,
    );
    parts.push(
      table(
        ['run', 'warm-up end -> rollback decision', 'decision -> rollback done', 'all proxies back on old revision'],
        [
          ...d.runs.map((r, i) => [
            String(i + 1),
            `${r.detectionMs} ms`,
            `${r.restoreMs} ms`,
            r.restored ? 'yes' : 'NO',
          ]),
          [
            'median',
            `${d.medians.detectionMs} ms`,
            `${d.medians.restoreMs} ms`,
            d.meetsTarget ? 'target met' : 'target MISSED',
          ],
        ],
      ),
    );
  }
  return `${parts.join('\n')}\n`;
}

export function writeResult(result: BenchResult, directory: string): string {
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${result.date.slice(0, 10)}-${result.size}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}
